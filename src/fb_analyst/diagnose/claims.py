"""Mix and measurement claims: budget shifts (shift-share) and tracking outages as hypotheses.

**Mix test.** The centred mix effect of a dimension is ``m = sum_v dw_v * Rbar_v`` (``dw``: change
of the value's weight, ``Rbar_v``: its midpoint KPI; see ``mix.py``). Weights are observed budget
decisions, not samples, so the uncertainty is in the ``Rbar_v``: under the quasi-Poisson model
``Var(R_wv) = R_wv^2 * phi_v / Y_wv`` (``Y``: numerator sum, ``phi_v`` the value's day-level
dispersion), hence ``Var(m) = sum_v dw_v^2 (Var(R_bv) + Var(R_cv)) / 4`` and ``z = m / sd(m)``.
The claim's relative size is ``m / R_base``: the account KPI change the shift alone caused.

**Outage test.** Over the flagged days, observed ``P`` against expected ``E`` = clicks x the
reference ratio (ratio of sums over the other analysed days). Under ``Var = phi * E`` (phi from
the reference days) ``z = (P - E) / sqrt(phi E)``, one-sided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy import stats

from fb_analyst import schema as S
from fb_analyst.diagnose.frames import CubeIndex
from fb_analyst.diagnose.frames import SUM, den_col, num_col
from fb_analyst.diagnose.models import EvidenceRow, MixRate, Outage
from fb_analyst.kpis import get_kpi, safe_ratio


@dataclass
class Claim:
    """A mix or measurement claim before ids and confidence are attached."""

    kind: str
    metric: str
    direction: str
    segment: dict[str, str]
    title: str
    baseline: float | None
    current: float | None
    log_ratio: float | None
    se: float | None
    p_value: float | None
    ci: list[float] | None
    revenue_at_stake: float | None
    spend_share: float | None
    evidence: list[EvidenceRow]
    actions_fmt: dict[str, str]
    q_value: float | None = None
    bh_weight: float = 1.0  # its weight in the run's BH step (mean-1 scale); sets its prior odds


def mix_claim(idx: CubeIndex, mr: MixRate, alpha: float) -> Claim | None:
    """The mix claim of one dimension's shift-share (module doc)."""
    if mr.mix_effect is None or not mr.kpi_baseline or mr.kpi_baseline <= 0:
        return None
    kpi, dim = mr.kpi, mr.dimension
    k = get_kpi(kpi)
    cube = idx.cube
    var = 0.0
    evidence: list[EvidenceRow] = []
    for s in mr.segments:
        mask = cube.mask({dim: s.value})
        # the raw (unmoderated) test: the shift-share variance below is calibrated on each
        # segment's own dispersion estimate, not on one shrunk towards the run's prior
        t = idx.raw_test(mask, kpi, None, alpha)
        phi = t.dispersion or 1.0
        dw = s.weight_current - s.weight_baseline
        vs = []
        for r, y in ((s.kpi_baseline, t.base_num), (s.kpi_current, t.cur_num)):
            if r is not None and y > 0:
                vs.append(r * r * phi / y)
        if vs:
            var += dw * dw * (sum(vs) / len(vs) if len(vs) == 1 else sum(vs) / 4)
        for cur, (w, win) in zip((False, True), (("baseline", cube.windows.baseline), ("current", cube.windows.current))):
            num = idx.window_sum(mask, num_col(kpi), cur)
            den = idx.window_sum(mask, den_col(kpi), cur)
            evidence.append(EvidenceRow(
                segment={dim: s.value}, window=w, start=win.start, end=win.end,
                excluded_dates=_excluded(idx, win.start, win.end),
                numerator=k.numerator, numerator_sum=num, denominator=k.denominator, denominator_sum=den,
                kpi=kpi, value=safe_ratio(num, den, k.scale), days=len(cube.dates[w])))
    m, rb = mr.mix_effect, mr.kpi_baseline
    rel = m / rb
    if rel <= -1:
        return None
    sd = math.sqrt(var) if var > 0 else None
    p = float(2 * stats.norm.sf(abs(m) / sd)) if sd else None
    z = stats.norm.ppf(1 - alpha / 2)
    ci = [(m - z * sd) / rb, (m + z * sd) / rb] if sd else None
    gainers = sorted(mr.segments, key=lambda s: s.weight_current - s.weight_baseline)
    src, dst = gainers[0], gainers[-1]
    move = (f"from {dim}={src.value} ({src.weight_baseline:.0%} -> {src.weight_current:.0%} of "
            f"{k.denominator}) to {dim}={dst.value} ({dst.weight_baseline:.0%} -> {dst.weight_current:.0%})")
    top = max(mr.segments, key=lambda s: abs(s.mix_effect))
    rev_cur = idx.window_sum(np.ones(len(cube.frame), bool), SUM + S.REVENUE, True) if SUM + S.REVENUE in idx.values else None
    log_ratio = math.log1p(rel)
    stake = None if rev_cur is None else rev_cur * (1 - math.exp(-log_ratio)) * (1 if kpi in ("ctr", "cvr", "aov", "roas") else -1)
    return Claim(
        kind="mix", metric=kpi, direction="up" if m > 0 else "down", segment={dim: top.value},
        title=f"Budget mix over {dim} moved account {k.label} {rel:+.0%}: {move}",
        baseline=rb, current=rb + m, log_ratio=log_ratio, se=(sd / rb) if sd else None, p_value=p,
        ci=ci, revenue_at_stake=stake, spend_share=None, evidence=evidence, actions_fmt={"move": move},
    )


def _excluded(idx: CubeIndex, start: date, end: date) -> list[date]:
    f = idx.cube.frame
    days = sorted(set(f.loc[~idx.include, S.DATE]))
    return [d for d in days if start <= d <= end]


def outage_claims(idx: CubeIndex, outages: list[Outage]) -> list[Claim]:
    """One measurement claim per segment with flagged days (module doc)."""
    cube = idx.cube
    f = cube.frame
    by_seg: dict[tuple, list[Outage]] = {}
    for o in outages:
        by_seg.setdefault(tuple(sorted(o.segment.items())), []).append(o)
    claims = []
    for key, outs in by_seg.items():
        seg = dict(key)
        measure = S.PURCHASES if any(o.measure == S.PURCHASES for o in outs) else S.REVENUE
        days = sorted({o.date for o in outs})
        mask = cube.mask(seg)
        on_day = np.isin(f[S.DATE].to_numpy(), np.array(days, dtype=object))
        ref = mask & ~on_day
        ref_clicks = float(f.loc[ref, SUM + S.CLICKS].sum())
        ref_obs = float(f.loc[ref, SUM + measure].sum())
        if ref_clicks <= 0 or ref_obs <= 0:
            continue
        ratio = ref_obs / ref_clicks
        day_clicks = float(f.loc[mask & on_day, SUM + S.CLICKS].sum())
        obs = float(f.loc[mask & on_day, SUM + measure].sum())
        exp = day_clicks * ratio
        daily = f[ref].groupby(S.DATE)[[SUM + S.CLICKS, SUM + measure]].sum()
        mu = daily[SUM + S.CLICKS].to_numpy() * ratio
        ok = mu > 0
        phi = max(float(np.sum((daily[SUM + measure].to_numpy()[ok] - mu[ok]) ** 2 / mu[ok])) / max(ok.sum() - 1, 1), 1.0)
        z = (obs - exp) / math.sqrt(phi * exp)
        p = float(stats.norm.cdf(z))
        log_ratio = math.log(max(obs, 0.5) / exp)
        se = math.sqrt(phi * (1 / max(obs, 0.5) + 1 / ref_obs))
        evidence = [
            EvidenceRow(segment={a: str(b) for a, b in seg.items()}, window="day", start=d, end=d,
                        numerator=measure, numerator_sum=float(f.loc[mask & (f[S.DATE] == d).to_numpy(), SUM + measure].sum()),
                        denominator=S.CLICKS, denominator_sum=float(f.loc[mask & (f[S.DATE] == d).to_numpy(), SUM + S.CLICKS].sum()),
                        kpi=f"{measure}_per_click", value=None, days=1)
            for d in days
        ]
        evidence = [e.model_copy(update={"value": safe_ratio(e.numerator_sum, e.denominator_sum)}) for e in evidence]
        start, end = cube.windows.baseline.start, cube.windows.current.end
        evidence.append(EvidenceRow(
            segment={a: str(b) for a, b in seg.items()}, window="reference", start=start, end=end,
            excluded_dates=days, numerator=measure, numerator_sum=ref_obs, denominator=S.CLICKS,
            denominator_sum=ref_clicks, kpi=f"{measure}_per_click", value=ratio,
            days=len(cube.dates["baseline"]) + len(cube.dates["current"]) - len(days)))
        rev_missing = None
        if SUM + S.REVENUE in f:
            rev_ref = float(f.loc[ref, SUM + S.REVENUE].sum()) / ref_clicks
            rev_missing = float(f.loc[mask & on_day, SUM + S.REVENUE].sum()) - day_clicks * rev_ref
        label = ", ".join(d.isoformat() for d in days)
        claims.append(Claim(
            kind="measurement", metric=measure, direction="down", segment={a: str(b) for a, b in seg.items()},
            title=(f"Probable tracking outage on {label}: {measure} {obs:,.0f} vs {exp:,.0f} expected from "
                   f"normal clicks ({day_clicks:,.0f}) in {'the whole account' if not seg else seg}; "
                   "a measurement problem, not a performance drop"),
            baseline=exp, current=obs, log_ratio=log_ratio, se=se, p_value=p,
            ci=[math.expm1(log_ratio - 1.96 * se), math.expm1(log_ratio + 1.96 * se)],
            revenue_at_stake=rev_missing, spend_share=None, evidence=evidence, actions_fmt={"days": label},
        ))
    return claims
