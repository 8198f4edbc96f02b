"""Budget allocation across campaigns on fitted response curves, with bootstrap intervals.

Input: per campaign-day aggregates (``daily_sums(table, ['campaign'])``), the current window and
the budget. Each campaign's daily revenue-vs-spend Hill curve is fitted on its days with spend and
revenue both known (:mod:`fb_analyst.forecast.curves`); campaigns with too few days or too little
spend variation keep their budget, with the reason. The remaining budget is split by
``scipy.optimize`` (SLSQP, several starts) to maximise expected revenue subject to per-campaign
bounds (current run-rate x (1 +/- bound)) and to summing exactly to the budget. Expected revenue,
uplift and ROAS of the current and proposed plans are evaluated on every bootstrap curve:
intervals are percentiles, the point value is the all-days fit. The proposed revenue is lowered by
the selection optimism (:func:`_optimism`), taken off each optimised campaign by its own share of it,
so the campaigns' proposed revenues add up to the plan's (point values; percentiles do not add).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from fb_analyst import schema as S
from fb_analyst.errors import InputError
from fb_analyst.forecast.curves import HillFit, fit_hill, hill, hill_slope
from fb_analyst.forecast.result import BudgetPlan, CampaignAllocation, CurveFit, Estimate
from fb_analyst.kpis import den_col, num_col
from fb_analyst.settings import ForecastSettings


def estimate(point: float, draws: np.ndarray) -> Estimate:
    """Point value with 80%/95% bootstrap percentile intervals (ordered around the point)."""
    d = np.asarray(draws, float)
    d = d[np.isfinite(d)]
    q = np.quantile(d, [0.025, 0.1, 0.9, 0.975]) if d.size else np.full(4, point)
    lo95, lo80 = min(q[0], q[1], point), min(q[1], point)
    hi80, hi95 = max(q[2], point), max(q[3], q[2], point)
    return Estimate(mean=round(point, 4), lo80=round(lo80, 4), hi80=round(hi80, 4),
                    lo95=round(min(lo95, lo80), 4), hi95=round(max(hi95, hi80), 4))


def _campaign_days(daily: pd.DataFrame, campaign: str) -> tuple[np.ndarray, np.ndarray]:
    """Daily (spend, revenue) over rows where both are known; outage days (revenue 0 with spend,
    in a mostly positive series) are dropped."""
    d = daily[daily[S.CAMPAIGN] == campaign]
    s = d[den_col("roas")].to_numpy(float)
    r = d[num_col("roas")].to_numpy(float)
    ok = np.isfinite(s) & np.isfinite(r)
    s, r = s[ok], r[ok]
    if r.size and (r > 0).mean() >= 0.8:
        keep = ~((r == 0) & (s > 0))
        s, r = s[keep], r[keep]
    return s, r


def _solve(params: tuple[np.ndarray, np.ndarray, np.ndarray], lo: np.ndarray, hi: np.ndarray, total: float,
           seed: int, x0: np.ndarray | None = None) -> np.ndarray:
    """Maximise the summed curves (vmax, k, h arrays) subject to bounds and sum == total.

    Multi-start SLSQP (a proportional start and 4 random ones), or one start at ``x0``.
    """
    vm, kk, hh = params
    scale = max(total, 1e-9)

    def neg(x: np.ndarray) -> float:
        return -float(hill(x * scale, vm, kk, hh).sum()) / scale

    def grad(x: np.ndarray) -> np.ndarray:
        return -hill_slope(x * scale, vm, kk, hh)

    cons = [{"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones_like(x)}]
    bounds = list(zip(lo / scale, hi / scale))
    rng = np.random.default_rng(seed)
    if x0 is not None:
        starts = [x0]
    else:
        starts = [lo + (hi - lo) * (total - lo.sum()) / max(hi.sum() - lo.sum(), 1e-12)]
        starts += [lo + (hi - lo) * rng.uniform(size=lo.size) for _ in range(4)]
    best, best_val = None, np.inf
    for x0 in starts:
        x0 = _repair(x0, lo, hi, total) / scale
        res = minimize(neg, x0, jac=grad, bounds=bounds, constraints=cons, method="SLSQP",
                       options={"maxiter": 500, "ftol": 1e-12})
        x = _repair(res.x * scale, lo, hi, total)
        val = neg(x / scale)
        if val < best_val:
            best, best_val = x, val
    return best


def _optimism(fits: list[HillFit], point: tuple, lo: np.ndarray, hi: np.ndarray, total: float, x: np.ndarray,
              cur: np.ndarray, seed: int, draws: int = 50) -> np.ndarray:
    """Bootstrap estimate, per campaign, of how much optimising on noisy curves inflates their own uplift.

    For a bootstrap curve set b: plan_b = its optimum; optimism_b = uplift of plan_b under curves b
    minus its uplift under the all-days curves (Harrell's optimism bootstrap). Both uplifts are sums
    over campaigns, so optimism_b splits exactly into one term per campaign j,
    ``(hill_b,j(plan_b,j) - hill_b,j(cur_j)) - (hill_j(plan_b,j) - hill_j(cur_j))``; the mean over the
    same draws of each term is that campaign's share, and the shares add up to the plan's optimism.
    Returns the shares. The plan is never raised: when their sum is <= 0 every share is 0. A share
    may be negative (that campaign's own curves under-predict its gain at plan_b) so that the
    shares still add up. A campaign that cannot move (lower == upper bound) has plan_b,j == cur_j in
    every draw, so its share is exactly 0.
    """
    n = min(draws, fits[0].boot_vmax.size)
    # (draws, campaigns) arrays, built once; row b is bootstrap curve set b.
    boot = tuple(np.stack([getattr(f, a)[:n] for f in fits], axis=1) for a in ("boot_vmax", "boot_k", "boot_h"))
    gaps = np.empty((n, len(fits)))
    for b in range(n):
        pb = tuple(a[b] for a in boot)
        xb = _solve(pb, lo, hi, total, seed, x0=x)
        gaps[b] = (hill(xb, *pb) - hill(cur, *pb)) - (hill(xb, *point) - hill(cur, *point))
    share = gaps.mean(axis=0)
    return share if share.sum() > 0 else np.zeros_like(share)


def _repair(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float) -> np.ndarray:
    """Clip to bounds and spread any residual over the campaigns with room, so sum == total."""
    x = np.clip(np.asarray(x, float), lo, hi)
    for _ in range(50):
        gap = total - x.sum()
        if abs(gap) <= 1e-9 * max(total, 1.0):
            break
        room = (hi - x) if gap > 0 else (x - lo)
        if room.sum() <= 0:
            break
        x = np.clip(x + gap * room / room.sum(), lo, hi)
    return x


def allocate_budget(
    daily: pd.DataFrame,
    settings: ForecastSettings,
    *,
    window: tuple[dt.date, dt.date],
    budget_total: float | None = None,
    budget_change: float | None = None,
    seed: int = 0,
) -> BudgetPlan:
    """Allocate a daily budget across campaigns (see module docstring)."""
    start, end = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    days = (end - start).days + 1
    cur_rows = daily[(daily[S.DATE] >= start) & (daily[S.DATE] <= end)]
    current = (cur_rows.groupby(S.CAMPAIGN)[S.SPEND].sum(min_count=1) / days).dropna()
    current = current[current > 0].sort_index()
    bound = settings.budget_change_bound
    common = dict(window_start=start.date(), window_end=end.date(), bounds={"lower": -bound, "upper": bound},
                  budget_change=budget_change)
    if current.empty:
        return BudgetPlan(status="skipped", reason="no campaign spent in the current window", total=0.0,
                          current_total=0.0, **common)
    cur_total = float(current.sum())
    if budget_total is None and budget_change is None and settings.budget_total is not None:
        budget_total = settings.budget_total
    total = float(budget_total) if budget_total is not None else cur_total * (1 + (budget_change or 0.0))
    if total <= 0:
        raise InputError(f"budget_total must be > 0 (got {total:g}); pass a positive daily budget")

    names = list(current.index)
    if all(_campaign_days(daily, c)[0].size == 0 for c in names):
        return BudgetPlan(status="skipped", reason="no days with both spend and revenue known: no response "
                          "curve can be fitted", total=round(total, 2), current_total=round(cur_total, 2), **common)
    cur = current.to_numpy(float)
    lo, hi = cur * (1 - bound), cur * (1 + bound)
    fits: dict[str, HillFit] = {}
    reasons: dict[str, str] = {}
    for i, c in enumerate(names):
        s, r = _campaign_days(daily, c)
        f = fit_hill(s, r, settings.bootstrap_samples, seed + i) if s.size >= 2 else None
        if s.size < settings.min_curve_days:
            reasons[c] = f"only {s.size} days with spend and revenue known (< min_curve_days={settings.min_curve_days})"
        elif f.spend_cv < settings.min_spend_cv:
            reasons[c] = (f"too little spend variation to fit a response curve (CV {f.spend_cv:.2f} < "
                          f"min_spend_cv={settings.min_spend_cv:.2f}); budget kept")
        elif f.vmax <= 0:
            reasons[c] = "no revenue response to spend could be fitted; budget kept"
        if f is not None:
            fits[c] = f
    opt = [i for i, c in enumerate(names) if c not in reasons]
    kept = [i for i, c in enumerate(names) if c in reasons]
    x = cur.copy()
    free = total - cur[kept].sum()
    share = np.zeros(len(names))  # selection optimism per campaign (see _optimism); 0 where kept
    if opt and lo[opt].sum() <= free <= hi[opt].sum():
        fo = [fits[names[i]] for i in opt]
        point = tuple(np.array([getattr(f, a) for f in fo]) for a in ("vmax", "k", "h"))
        x[opt] = _solve(point, lo[opt], hi[opt], free, seed)
        share[opt] = _optimism(fo, point, lo[opt], hi[opt], free, x[opt], cur[opt], seed)
    else:
        # Curves alone cannot absorb the change: move curve campaigns to their bound, then the
        # kept campaigns proportionally (within the same bounds).
        if opt:
            x[opt] = hi[opt] if free > hi[opt].sum() else lo[opt]
        rest = total - x[opt].sum()
        if not (lo[kept].sum() - 1e-9 <= rest <= hi[kept].sum() + 1e-9):
            raise InputError(
                f"budget {total:,.2f}/day cannot be reached within +/-{bound:.0%} of each campaign's "
                f"run-rate (reachable {lo.sum():,.2f}..{hi.sum():,.2f}); change budget_total/budget_change "
                "or raise forecast.budget_change_bound"
            )
        x[kept] = _repair(cur[kept] * rest / max(cur[kept].sum(), 1e-12), lo[kept], hi[kept], rest)
        for i in kept:
            if abs(x[i] - cur[i]) > 1e-9:
                reasons[names[i]] += "; scaled with the total because curve campaigns hit their bounds"
    x = _exact_cents(x, lo, hi, total)

    # Bootstrap evaluation of both plans.
    B = settings.bootstrap_samples
    rev_cur_b, rev_new_b = np.zeros(B), np.zeros(B)
    rev_cur_p = rev_new_p = 0.0
    rows, with_rev = [], np.zeros(len(names), bool)
    for i, c in enumerate(names):
        f = fits.get(c)
        s, r = _campaign_days(daily, c)
        with_rev[i] = s.size > 0
        mc = mn = None
        if not with_rev[i]:
            pc = pn = 0.0
            bc = bn = np.zeros(B)
        elif c in reasons or f is None:
            rng = np.random.default_rng(seed + 1000 + i)
            idx = rng.integers(0, max(s.size, 1), size=(B, max(s.size, 1)))
            roas = float(r.sum() / s.sum()) if s.size and s.sum() > 0 else 0.0
            roas_b = (r[idx].sum(1) / np.maximum(s[idx].sum(1), 1e-12)) if s.size else np.zeros(B)
            pc, pn, bc, bn = roas * cur[i], roas * x[i], roas_b * cur[i], roas_b * x[i]
        else:
            # Selection optimism comes off this campaign's proposed revenue (point and every draw).
            pc, pn = f.revenue(cur[i]), f.revenue(x[i]) - share[i]
            bc, bn = f.boot_revenue(cur[i]), f.boot_revenue(x[i]) - share[i]
            mc, mn = estimate(f.slope(cur[i]), f.boot_slope(cur[i])), estimate(f.slope(x[i]), f.boot_slope(x[i]))
        rev_cur_p += pc
        rev_new_p += pn
        rev_cur_b += bc
        rev_new_b += bn
        curve = None
        if f is not None and c not in reasons:
            curve = CurveFit(vmax=round(f.vmax, 4), half_saturation=round(f.k, 4), shape=round(f.h, 4),
                             r2=round(f.r2, 4), days=f.days, spend_cv=round(f.spend_cv, 4), bootstrap_samples=B)
        rows.append(CampaignAllocation(
            campaign=c, current_spend=round(cur[i], 2), proposed_spend=float(x[i]),
            change_pct=round(x[i] / cur[i] - 1, 4), lower_bound=round(lo[i], 2), upper_bound=round(hi[i], 2),
            marginal_roas_current=mc, marginal_roas_proposed=mn,
            expected_revenue_current=estimate(pc, bc) if with_rev[i] else None,
            expected_revenue_proposed=estimate(pn, bn) if with_rev[i] else None,
            curve=curve, status="kept" if c in reasons else "optimised", reason=reasons.get(c),
        ))
    uplift = estimate(rev_new_p - rev_cur_p, rev_new_b - rev_cur_b)
    verdict = _plan_verdict(uplift, total, cur_total, kept=len(kept), n=len(names))
    if not with_rev.all():
        verdict += f"; {int((~with_rev).sum())} campaigns without revenue data are left out of revenue and ROAS"
    return BudgetPlan(
        status="ok", total=float(x.sum()), current_total=round(cur_total, 2), campaigns=rows,
        expected_revenue_current=estimate(rev_cur_p, rev_cur_b),
        expected_revenue_proposed=estimate(rev_new_p, rev_new_b),
        expected_uplift=uplift, verdict=verdict, selection_optimism=round(float(share.sum()), 4),
        expected_roas_current=estimate(rev_cur_p / cur[with_rev].sum(), rev_cur_b / cur[with_rev].sum()),
        expected_roas_proposed=estimate(rev_new_p / x[with_rev].sum(), rev_new_b / x[with_rev].sum()),
        **common,
    )


def _plan_verdict(uplift: Estimate, total: float, cur_total: float, kept: int, n: int) -> str:
    """What the uplift interval supports, in words."""
    same = abs(total - cur_total) <= 0.005 * cur_total
    what = "reallocating the same budget" if same else f"moving to {total:,.2f}/day (from {cur_total:,.2f})"
    span = f"{uplift.mean:+,.2f} revenue/day (80% interval {uplift.lo80:+,.2f} to {uplift.hi80:+,.2f})"
    note = f"; {kept} of {n} campaigns keep their budget (see reasons)" if kept else ""
    if not same:
        note = f" ({uplift.mean / (total - cur_total):.2f} revenue per unit of spend changed){note}"
    if uplift.lo80 > 0:
        return f"{what} is expected to add {span}{note}"
    if uplift.hi80 < 0:
        return f"{what} is expected to lose {span}{note}"
    return (f"the curves cannot tell {what} apart from the current plan: {span} includes zero; "
            f"keep the current split or test the largest moves{note}")


def _exact_cents(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float) -> np.ndarray:
    """Round to cents where that keeps the exact sum; the residual goes to the campaign with most room."""
    total_c = round(total, 2)
    if abs(total_c - total) > 1e-9:
        return _repair(x, lo, hi, total)
    y = np.round(x, 2)
    resid = round(total_c - float(y.sum()), 2)
    if resid:
        room = (hi - y) if resid > 0 else (y - lo)
        j = int(np.argmax(room))
        y[j] = round(y[j] + resid, 2)
    return y
