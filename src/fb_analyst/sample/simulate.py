"""Vectorised simulation of daily ad delivery: budgets -> spend -> impressions -> clicks -> purchases -> revenue.

Work is done with numpy on (days x cells) blocks of one week, written into preallocated columns,
so memory stays near the size of the final frame even at 10M rows. Noise is over-dispersed like
real ad data: day-level multiplicative shocks shared by every row of a day, fixed per-cell random
effects (in ``structure``), gamma-Poisson (negative binomial) counts, and revenue as a sum of
gamma-distributed order values.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from fb_analyst import schema as S
from fb_analyst.errors import InputError, UnknownNameError
from fb_analyst.sample import catalog as C
from fb_analyst.sample.curves import curve_params, hill_revenue
from fb_analyst.sample.scenarios import SCENARIOS, Plan, PlantedTruth, SampleData, plan_scenario
from fb_analyst.sample.structure import LOSING_THEME_CTR, Structure, build_structure

DEFAULT_START = dt.date(2025, 3, 3)  # a Monday
_AUTO_CATEGORICAL_ROWS = 1_000_000
_BLOCK_DAYS = 7
#: Share of the diminishing-returns log-effect carried by CTR (the rest by CVR).
_CTR_SHARE = 0.3
#: Day-level shock sd per rate; row-level gamma shape per count (lower = more over-dispersed).
_SHOCK_SD = {"cpm": 0.045, "ctr": 0.04, "cvr": 0.05, "aov": 0.03}
_ROW_SHAPE = {"spend": 10.0, "impressions": 40.0, "clicks": 20.0, "purchases": 12.0}
_ORDER_SHAPE = 2.5  # order values are gamma with CV 0.63 around the cell's AOV


def generate_sample(
    scenario: str = "no_change",
    seed: int = 0,
    days: int = 56,
    n_campaigns: int = 6,
    scale: float = 1.0,
    *,
    start: dt.date = DEFAULT_START,
    categorical: bool | None = None,
) -> SampleData:
    """Generate ad-level daily rows with the effect of ``scenario`` planted; same seed, same data.

    ``scale`` multiplies the number of ads (and budgets): about 25k rows at 1.0, 1M at ~40,
    10M at ~380. ``categorical`` stores dimension columns as pandas categoricals (default: only
    above 1M rows, where plain strings would cost gigabytes).
    """
    if scenario not in SCENARIOS:
        raise UnknownNameError("scenario", scenario, list(SCENARIOS))
    if days < 21:
        raise InputError(f"days must be at least 21 (two 7-day windows plus history); got {days}")
    if n_campaigns < 1 or not scale > 0:
        raise InputError(f"n_campaigns must be >= 1 and scale > 0; got {n_campaigns}, {scale}")

    r_struct, r_budget, r_noise, r_scen, r_curve = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    losing_theme = int(r_struct.integers(len(C.THEME_IDS)))
    st = build_structure(r_struct, n_campaigns, scale, days, losing_theme)
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    plan, fields = plan_scenario(scenario, st, dates, r_scen)
    sim = _Simulator(st, plan, dates, r_budget, r_noise, r_curve)
    frame = _to_frame(st, dates, sim.run(), categorical)

    extra = dict(fields.pop("extra"))
    extra.update(
        message_theme={m: C.THEME_IDS[t] for m, t in zip(st.messages, st.message_theme)},
        themes=list(C.THEME_IDS),
        losing_theme=C.THEME_IDS[losing_theme],
        losing_theme_ctr_effect=LOSING_THEME_CTR - 1.0,
        response_curves={
            name: {"vmax": float(sim.curves["vmax"][k]), "k": float(sim.curves["k"][k]),
                   "hill": float(sim.curves["hill"][k]), "base_budget": float(st.campaign_budget[k]),
                   "roas_at_base": float(sim.base_roas[k])}
            for k, name in enumerate(st.campaigns)
        },
        weekday_factors={k: v.round(4).tolist() for k, v in sim.weekday.items()},
        seed=seed, scale=scale, n_campaigns=n_campaigns,
    )
    return SampleData(frame=frame, truth=PlantedTruth(**fields, extra=extra))


class _Simulator:
    """Shared day- and campaign-level state; ``run`` simulates the cells one week at a time."""

    def __init__(self, st: Structure, plan: Plan, dates: list[dt.date], r_budget: np.random.Generator,
                 r_noise: np.random.Generator, r_curve: np.random.Generator):
        self.st, self.plan, self.rng = st, plan, r_noise
        self.n_days = len(dates)
        day = np.arange(self.n_days)
        weekday = np.array([d.weekday() for d in dates])
        amp = plan.weekday_amplitude
        wd = {k: 1.0 + amp * (f - 1.0) for k, f in
              (("ctr", C.WEEKDAY_CTR), ("cvr", C.WEEKDAY_CVR), ("cpm", C.WEEKDAY_CPM))}
        wd["cvr"] = wd["cvr"] / np.mean(wd["ctr"] * wd["cvr"] / wd["cpm"])  # weekly ROAS effect 1
        self.weekday = wd
        self.budgets = _budget_paths(r_budget, st.campaign_budget, self.n_days, plan.smooth_budgets)
        if plan.budget_trend is not None:
            self.budgets *= plan.budget_trend[:, None]
        self.active = day[:, None] >= st.ad_start[st.cell_ad][None, :]
        # Day-level multiplicative shocks (mean 1; for CPM the mean of 1/shock is 1).
        self.day_factor = {}
        for k, sd in _SHOCK_SD.items():
            z = r_noise.normal(0.0, sd, self.n_days) + (sd * sd / 2 if k == "cpm" else -sd * sd / 2)
            self.day_factor[k] = np.exp(z) * (wd[k][weekday] if k in wd else 1.0)
        self.cell_roas = st.cell_base_roas
        starts = st.campaign_starts
        self.base_roas = (np.add.reduceat(st.cell_weight * self.cell_roas, starts)
                          / np.add.reduceat(st.cell_weight, starts))
        self.curves = curve_params(r_curve, st.campaign_budget, self.base_roas)
        self.camp = st.cell_campaign

    def run(self) -> dict[str, np.ndarray]:
        """Columns of the live rows, date-major: day and cell indices, then the measures."""
        n = int(self.active.sum())
        out = {"day": np.empty(n, np.int32), "cell": np.empty(n, np.int32), S.SPEND: np.empty(n),
               S.IMPRESSIONS: np.empty(n, np.int64), S.CLICKS: np.empty(n, np.int64),
               S.PURCHASES: np.empty(n, np.int64), S.REVENUE: np.empty(n)}
        pos = 0
        for d0 in range(0, self.n_days, _BLOCK_DAYS):
            cols = self._block(slice(d0, min(self.n_days, d0 + _BLOCK_DAYS)))
            k = len(cols[0])
            for o, c in zip(out.values(), cols):
                o[pos: pos + k] = c
            pos += k
        return out

    def _rate(self, metric: str, base: np.ndarray, sl: slice) -> np.ndarray:
        out = base[None, :] * self.day_factor[metric][sl, None]
        for name, mask, factor in self.plan.rate_effects:
            if name == metric:
                out *= np.where(mask[None, :], factor[sl, None], 1.0)
        return out

    def _block(self, sl: slice) -> list[np.ndarray]:
        st, rng, camp, starts = self.st, self.rng, self.camp, self.st.campaign_starts
        act = self.active[sl]
        shape = act.shape

        def noise(kind: str) -> np.ndarray:
            s = _ROW_SHAPE[kind]
            return rng.gamma(s, 1.0 / s, shape)

        # Spend: each campaign's budget split over its live cells by fixed weights, daily jitter.
        base_w = st.cell_weight[None, :] * act
        w = base_w * noise("spend")
        for mult, on_days in self.plan.weight_shifts:
            w[on_days[sl]] *= mult[None, :]
        w_sum = np.add.reduceat(w, starts, axis=1)[:, camp]
        spend = np.divide(self.budgets[sl][:, camp] * w, w_sum, out=np.zeros(shape), where=w_sum > 0)
        spend = np.round(spend, 2)
        del w, w_sum
        # Diminishing returns: rates scale so expected campaign revenue follows its Hill curve.
        den = np.add.reduceat(base_w, starts, axis=1)
        rho = np.divide(np.add.reduceat(base_w * self.cell_roas, starts, axis=1), den,
                        out=np.ones_like(den), where=den > 0)
        del base_w
        camp_spend = np.add.reduceat(spend, starts, axis=1)
        c = self.curves
        expected = hill_revenue(camp_spend, c["vmax"][None, :], c["k"][None, :], c["hill"][None, :])
        m = np.divide(expected, rho * camp_spend, out=np.ones_like(expected), where=camp_spend > 0)

        lam = 1000.0 * spend / self._rate("cpm", st.cell_cpm, sl)
        impressions = rng.poisson(lam * noise("impressions"))
        lam = impressions * self._rate("ctr", st.cell_ctr, sl) * (m**_CTR_SHARE)[:, camp]
        clicks = np.minimum(rng.poisson(lam * noise("clicks")), impressions)
        lam = clicks * self._rate("cvr", st.cell_cvr, sl) * (m ** (1.0 - _CTR_SHARE))[:, camp]
        purchases = np.minimum(rng.poisson(lam * noise("purchases")), clicks)
        del lam
        aov = self._rate("aov", st.cell_aov, sl)
        revenue = np.round(rng.gamma(purchases * _ORDER_SHAPE, aov / _ORDER_SHAPE), 2)
        day, cell = np.nonzero(act)
        return [day + sl.start, cell, spend[act], impressions[act], clicks[act], purchases[act], revenue[act]]


def _budget_paths(rng: np.random.Generator, base: np.ndarray, days: int, smooth: bool) -> np.ndarray:
    """Daily budget per campaign: levels reset on ~40% of days (by +-20-40%), plus pacing noise.

    The current week replays a shuffle of the baseline week's levels, so budgets vary day to day
    (response curves are identifiable) without a week-over-week budget change that would move
    rates through diminishing returns in scenarios meant to hold them still.
    """
    k = len(base)
    if smooth:
        return base[None, :] * np.exp(rng.normal(0.0, 0.04, (days, k)))
    level = np.empty((days, k))
    cur = np.clip(np.exp(rng.normal(0.0, 0.3, k)), 0.55, 1.8)
    for t in range(days):
        new = np.clip(cur * np.exp(rng.choice([-1.0, 1.0], k) * rng.uniform(0.2, 0.4, k)), 0.55, 1.8)
        cur = np.where(rng.random(k) < 0.4, new, cur)
        level[t] = cur
    level *= np.exp(rng.normal(0.0, 0.05, (days, k)))
    perm = rng.permuted(np.tile(np.arange(7)[:, None], (1, k)), axis=0)
    level[days - 7:] = np.take_along_axis(level[days - 14: days - 7], perm, axis=0)
    return base[None, :] * level


def _to_frame(
    st: Structure, dates: list[dt.date], cols: dict[str, np.ndarray], categorical: bool | None
) -> pd.DataFrame:
    """Assemble the canonical frame from ``Simulator.run`` columns (consumed: popped as inserted,
    so each array is freed right after pandas copies it)."""
    cell = cols.pop("cell")
    as_cat = len(cell) > _AUTO_CATEGORICAL_ROWS if categorical is None else categorical

    def dim(codes_per_cell: np.ndarray, names) -> pd.Categorical | np.ndarray:  # noqa: ANN001
        codes = np.asarray(codes_per_cell, np.int32)[cell]
        if as_cat:
            return pd.Categorical.from_codes(codes, categories=list(names))
        return np.asarray(list(names), dtype=object)[codes]

    ad, adset = st.cell_ad, st.ad_adset[st.cell_ad]
    camp = st.adset_campaign[adset]
    platform = np.array([C.PLATFORMS.index(p[0]) for p in C.PLACEMENTS])[st.cell_pp]
    placement = np.array([C.PLACEMENT_NAMES.index(p[1]) for p in C.PLACEMENTS])[st.cell_pp]
    genders = sorted(set(st.campaign_gender))
    one = np.zeros(st.n_cells, np.int32)
    frame = pd.DataFrame({S.DATE: np.array(dates, dtype="datetime64[ns]")[cols.pop("day")]})
    # Column by column, popping the sources: no block consolidation, no second copy of everything.
    for name, values in (
        (S.ACCOUNT, lambda: dim(one, [C.ACCOUNT_NAME])),
        (S.CAMPAIGN, lambda: dim(camp, st.campaigns)),
        (S.ADSET, lambda: dim(adset, st.adsets)),
        (S.AD, lambda: dim(ad, st.ads)),
        (S.CREATIVE_MESSAGE, lambda: dim(st.ad_message[ad], st.messages)),
        (S.CREATIVE_TYPE, lambda: dim(st.ad_type[ad], C.CREATIVE_TYPES)),
        (S.AUDIENCE_TYPE, lambda: dim(st.adset_audience[adset], C.AUDIENCES)),
        (S.PLATFORM, lambda: dim(platform, C.PLATFORMS)),
        (S.PLACEMENT, lambda: dim(placement, C.PLACEMENT_NAMES)),
        (S.COUNTRY, lambda: dim(st.cell_country, [c[0] for c in C.COUNTRIES])),
        (S.AGE, lambda: dim(st.adset_age[adset], C.AGES)),
        (S.GENDER, lambda: dim(np.array([genders.index(g) for g in st.campaign_gender])[camp], genders)),
        (S.SPEND, lambda: cols.pop(S.SPEND)),
        (S.IMPRESSIONS, lambda: cols.pop(S.IMPRESSIONS)),
        (S.CLICKS, lambda: cols.pop(S.CLICKS)),
        (S.PURCHASES, lambda: cols.pop(S.PURCHASES)),
        (S.REVENUE, lambda: cols.pop(S.REVENUE)),
        (S.CURRENCY, lambda: dim(one, [C.CURRENCY])),
    ):
        frame[name] = values()
    return frame
