"""Scenarios: what is planted, where and how big, and the record of that truth.

``plan_scenario`` turns a scenario name into a :class:`Plan` (rate multipliers per cell and day,
budget shifts between cells, trend) for ``simulate`` to apply, plus the fields of the
:class:`PlantedTruth` that tests and benchmarks score against. Effects start on the first day of
the current window (the last 7 days) unless stated; sizes are relative changes of the rate
(``-0.3`` = 30% lower), drawn per seed from realistic ranges.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from fb_analyst.errors import UnknownNameError
from fb_analyst.sample import catalog as C
from fb_analyst.sample.structure import Structure

SCENARIOS: dict[str, str] = {
    "no_change": "nothing changes between baseline and current windows",
    "ctr_fatigue": "a few ads' CTR decays with age from a known onset (creative fatigue)",
    "cpm_spike_placement": "CPM jumps on one placement in the current window",
    "cvr_drop_audience": "CVR drops in one audience type in the current window",
    "aov_drop_country": "AOV drops in one country in the current window",
    "mix_shift": "budget moves from high-ROAS retargeting to low-ROAS broad audiences; no rate changes",
    "simpson": "CVR improves in every audience type while account CVR and ROAS fall because of mix",
    "tracking_outage": "purchases and revenue collapse to ~0 on 1-3 current days while clicks are normal",
    "two_causes": "CPM spike on one placement and CVR drop in one audience at the same time",
    "improvement": "CVR rises in one country in the current window",
    "trend_weekly": "no change-point: steady upward trend in spend and CVR with strong weekday effects",
}


@dataclass(frozen=True)
class PlantedTruth:
    """What the generator planted. ``segment`` is the main cause's segment; ``causes`` lists all."""

    scenario: str
    description: str
    metric: str | None
    direction: Literal["down", "up"] | None
    segment: dict[str, str] | None
    onset: dt.date | None
    baseline: tuple[dt.date, dt.date]
    current: tuple[dt.date, dt.date]
    causes: list[dict]
    extra: dict


@dataclass(frozen=True)
class SampleData:
    """Generated canonical frame and the truth planted in it."""

    frame: pd.DataFrame
    truth: PlantedTruth


@dataclass
class Plan:
    """How ``simulate`` perturbs the base process. Masks are over cells, factors over days."""

    rate_effects: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    weight_shifts: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    budget_trend: np.ndarray | None = None
    weekday_amplitude: float = 1.0
    smooth_budgets: bool = False


def _cause(metric: str, size: float, segment: dict[str, str] | None) -> dict[str, Any]:
    return {"metric": metric, "direction": "down" if size < 0 else "up", "segment": segment,
            "size": round(float(size), 4)}


def _campaign_sum(st: Structure, x: np.ndarray) -> np.ndarray:
    return np.add.reduceat(x, st.campaign_starts)


def _spend_share(st: Structure) -> np.ndarray:
    """Expected share of account spend of each cell (base allocation)."""
    camp = st.cell_campaign
    share = st.cell_weight / _campaign_sum(st, st.cell_weight)[camp] * st.campaign_budget[camp]
    return share / share.sum()


def _top_country(st: Structure, rng: np.random.Generator) -> int:
    """One of the two biggest countries, if it holds >= 10% of spend (so the effect is testable)."""
    spend = np.bincount(st.cell_country, _spend_share(st), minlength=len(C.COUNTRIES))
    top = [int(c) for c in np.argsort(spend)[::-1][:2] if spend[c] >= 0.10]
    return int(rng.choice(top))


def _shift(st: Structure, src: np.ndarray, dst: np.ndarray, frac: float) -> np.ndarray:
    """Cell weight multipliers moving ``frac`` of each campaign's ``src`` budget to its ``dst`` cells."""
    w_src = _campaign_sum(st, st.cell_weight * src)[st.cell_campaign]
    w_dst = _campaign_sum(st, st.cell_weight * dst)[st.cell_campaign]
    gain = np.divide(frac * w_src, w_dst, out=np.zeros_like(w_src), where=w_dst > 0)
    return np.where(src, 1.0 - frac, np.where(dst, 1.0 + gain, 1.0))


def plan_scenario(
    name: str, st: Structure, dates: list[dt.date], rng: np.random.Generator
) -> tuple[Plan, dict[str, Any]]:
    """The perturbations of scenario ``name`` and the truth fields describing them."""
    if name not in SCENARIOS:
        raise UnknownNameError("scenario", name, list(SCENARIOS))
    n = len(dates)
    day = np.arange(n)
    cur0 = n - 7
    current = (dates[cur0], dates[-1])
    baseline = (dates[n - 14], dates[n - 8])
    in_current = (day >= cur0).astype(float)
    plan = Plan()
    causes: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    onset: dt.date | None = current[0]
    placement_of = np.array([p[1] for p in C.PLACEMENTS])[st.cell_pp]
    audience_of = st.cell_audience
    everywhere = np.ones(st.n_cells, bool)

    def step(metric: str, mask: np.ndarray, size: float, segment: dict[str, str] | None) -> None:
        plan.rate_effects.append((metric, mask, 1.0 + size * in_current))
        causes.append(_cause(metric, size, segment))

    def placement_spike() -> None:
        place = str(rng.choice(["stories", "reels"]))
        step("cpm", placement_of == place, rng.uniform(0.30, 0.45), {"placement": place})

    def audience_drop() -> None:
        aud = int(rng.choice([2, 1]))
        step("cvr", audience_of == aud, -rng.uniform(0.25, 0.40), {"audience_type": C.AUDIENCES[aud]})

    if name == "no_change":
        onset = None
    elif name == "ctr_fatigue":
        start = n - 12  # two days into the baseline window, so the decay is a visible trend
        onset = dates[start]
        spend = np.bincount(st.cell_ad, _spend_share(st), minlength=len(st.ads))
        spend[st.ad_start > 0] = 0.0
        candidates = np.argsort(spend)[::-1][:8]
        ads = sorted(rng.choice(candidates, size=3, replace=False).tolist(), key=lambda a: -spend[a])
        rate = rng.uniform(0.045, 0.06)
        decay = np.exp(-rate * np.clip(day - start, 0, None))
        size = decay[cur0:].mean() / decay[n - 14: cur0].mean() - 1.0
        for a in ads:
            plan.rate_effects.append(("ctr", st.cell_ad == a, decay))
            causes.append(_cause("ctr", size, {"ad": st.ads[a]}))
        extra.update(fatigued_ads=[st.ads[a] for a in ads], decay_per_day=round(rate, 4),
                     fatigued_messages=[st.messages[st.ad_message[a]] for a in ads])
    elif name == "cpm_spike_placement":
        placement_spike()
    elif name == "cvr_drop_audience":
        audience_drop()
    elif name == "aov_drop_country":
        c = _top_country(st, rng)
        step("aov", st.cell_country == c, -rng.uniform(0.25, 0.35), {"country": C.COUNTRIES[c][0]})
    elif name in ("mix_shift", "simpson"):
        # Within each campaign (campaign budgets unchanged, so no diminishing-returns rate change).
        frac = rng.uniform(0.55, 0.70) if name == "mix_shift" else rng.uniform(0.70, 0.80)
        mult = _shift(st, audience_of == 2, audience_of == 0, frac)
        moved = {"Retargeting": round(frac, 4)}
        if name == "simpson":
            lal = rng.uniform(0.55, 0.65)
            mult = mult * _shift(st, audience_of == 1, audience_of == 0, lal)
            moved["Lookalike"] = round(lal, 4)
        plan.weight_shifts.append((mult, in_current.astype(bool)))
        extra.update(mix_dimension="audience_type", mix_from=list(moved), mix_to="Broad",
                     mix_fraction=moved)
        if name == "simpson":
            # Cap the lift so the expected account CVR still falls by >= 10% through the mix.
            share = _spend_share(st)
            clicks = share * st.cell_ctr / st.cell_cpm
            shifted = clicks * mult
            mix_ratio = (shifted @ st.cell_cvr / shifted.sum()) / (clicks @ st.cell_cvr / clicks.sum())
            lift = max(0.08, min(rng.uniform(0.18, 0.25), 0.90 / mix_ratio - 1.0))
            for a, aud in enumerate(C.AUDIENCES):
                step("cvr", audience_of == a, lift, {"audience_type": aud})
            extra.update(dimension="audience_type", account_direction="down",
                         segment_direction="up", segment_metric="cvr")
    elif name == "tracking_outage":
        k = int(rng.integers(1, 4))
        days_out = np.sort(rng.choice(np.arange(cur0, n), size=k, replace=False))
        factor = np.ones(n)
        factor[days_out] = 0.02
        plan.rate_effects.append(("cvr", everywhere, factor))
        causes.append(_cause("purchases", -0.98, None))
        onset = dates[days_out[0]]
        extra.update(outage_days=[dates[d] for d in days_out], outage_factor=0.02,
                     affected_metrics=["purchases", "revenue", "cvr", "roas", "cpa", "aov"])
    elif name == "two_causes":
        placement_spike()
        audience_drop()
    elif name == "improvement":
        c = _top_country(st, rng)
        step("cvr", st.cell_country == c, rng.uniform(0.25, 0.40), {"country": C.COUNTRIES[c][0]})
    elif name == "trend_weekly":
        onset = None
        growth, cvr_growth = rng.uniform(0.008, 0.012), 0.003
        plan.budget_trend = np.exp(growth * (day - (n - 1) / 2))
        plan.rate_effects.append(("cvr", everywhere, np.exp(cvr_growth * (day - (n - 1) / 2))))
        plan.weekday_amplitude = 2.5
        plan.smooth_budgets = True
        causes += [_cause("spend", np.expm1(7 * growth), None), _cause("cvr", np.expm1(7 * cvr_growth), None)]
        extra.update(trend_per_day={"spend": round(growth, 5), "cvr": cvr_growth}, weekday_amplitude=2.5)

    main = causes[0] if causes and name not in ("simpson",) else None
    fields = dict(
        scenario=name, description=SCENARIOS[name],
        metric=main["metric"] if main else ("cvr" if name == "simpson" else None),
        direction=main["direction"] if main else ("up" if name == "simpson" else None),
        segment=main["segment"] if main else None,
        onset=onset, baseline=baseline, current=current, causes=causes, extra=extra,
    )
    return plan, fields
