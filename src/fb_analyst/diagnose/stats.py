"""Day-level tests of a ratio KPI between two windows, FDR control and calibrated confidence.

**The test (quasi-Poisson rate ratio on daily sums).** For one segment and one ratio KPI
``R = num/den`` let ``y_d`` be the day's numerator sum and ``x_d`` its denominator sum. The model is
the GLM ``E[y_d] = x_d * exp(a + b * current_d)`` with ``Var[y_d] = phi * E[y_d]`` (quasi-Poisson:
only the mean-variance relation is assumed, so it also fits money numerators such as revenue or
spend). Its score equations give the closed form

    exp(a) = sum_base y / sum_base x,     exp(a + b) = sum_cur y / sum_cur x,

so ``b`` is exactly the log of the reported ratio-of-sums change (``delta = exp(b) - 1``): the test
and the number a reader recomputes agree. The Fisher information gives
``Var(b) = phi * (1/sum_base y + 1/sum_cur y)``, and the dispersion is estimated from the days,
``phi = Pearson X^2 / (n_days - 2)`` -- the day, not the impression, is the unit of evidence, so
day-to-day over-dispersion (ad auctions, weekdays) widens the interval instead of every wiggle
being significant. For count numerators phi is floored at 1 (a count cannot be less variable than
Poisson). With n_days - 2 residual degrees of freedom the Wald statistic ``b / se`` is referred to
a Student t (small-sample correction for the estimated phi); the interval is ``b +- t * se``.
A window whose numerator sums to 0 uses 0.5 in the variance (the usual continuity correction).
In a diagnosis the tests of one KPI then share what they learn about the noise: each test's
dispersion is moderated towards the trend of the run's tests (``dispersion.py``), which replaces
the 12 df of the t by many more where the noise is the segment's own; ``raw_dispersion`` keeps the
test's own estimate (before the count floor) for that step.

**FDR.** Benjamini-Hochberg (``scipy.stats.false_discovery_control``) over every test of a run.

**Confidence** (:func:`confidence`) is an empirical-Bayes posterior probability, see its docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import special, stats

from fb_analyst import schema as S


def t_test(estimate: float, se: float, df: float, alpha: float) -> tuple[float, tuple[float, float]]:
    """(two-sided p-value, 1 - ``alpha`` interval) of ``estimate`` with standard error ``se`` on a
    t with ``df`` degrees of freedom -- what every day-level test and its moderation report.
    On ``scipy.special``'s t functions: ``scipy.stats.t.sf`` / ``ppf`` return the same values
    (they call these) but cost ~50x more per scalar: ~20% of a diagnosis's CPU on the sample
    scenarios when every test went through them."""
    p = float(2 * special.stdtr(df, -abs(estimate / se)))
    half = float(special.stdtrit(df, 1 - alpha / 2)) * se
    return p, (estimate - half, estimate + half)


@dataclass(frozen=True)
class RateTest:
    """Result of :func:`rate_change`. ``log_ratio = log(current / baseline)`` where ``baseline`` is
    the baseline rate re-weighted to the current mix of strata (one stratum: the plain baseline)."""

    base_num: float  # numerator sum, baseline window, kept strata
    base_den: float
    cur_num: float
    cur_den: float
    expected_num: float  # sum_v cur_den_v * base_rate_v: current volume at baseline rates
    n_days_base: int
    n_days_cur: int
    n_strata: int
    strata_dropped: int
    log_ratio: float | None
    se: float | None
    df: float  # residual df of the dispersion: n_days - 2, more once moderated (dispersion.py)
    dispersion: float | None
    p_value: float | None
    ci_log: tuple[float, float] | None
    excess_var: float = 0.0  # phi * (Var(log E) - 1/B): what holding the strata fixed adds
    raw_dispersion: float | None = None  # the day-level estimate before the count floor (``dispersion``)

    @property
    def testable(self) -> bool:
        return self.p_value is not None

    @property
    def size(self) -> float:
        """Mean daily numerator of the tested rows, the covariate of the dispersion prior
        (``dispersion.py``)."""
        days = self.n_days_base + self.n_days_cur
        return (self.base_num + self.cur_num) / days if days else 0.0

    @property
    def se_normal(self) -> float | None:
        """Normal-equivalent standard error (the t variance df/(df-2) folded in) for the EB step."""
        if self.se is None:
            return None
        return self.se * math.sqrt(self.df / (self.df - 2)) if self.df > 2 else self.se * 3.0


def unique_codes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True)``; for the small non-negative integer codes of the
    cube (days, strata) by marking the values present instead of sorting, as these tests run
    thousands of times per diagnosis. Same result either way."""
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu" or len(codes) == 0:
        return np.unique(codes, return_inverse=True)
    low, high = int(codes.min()), int(codes.max())
    if low < 0 or high > 4 * len(codes) + 1024:  # sparse values: sorting is cheaper
        return np.unique(codes, return_inverse=True)
    present = np.zeros(high + 1, bool)
    present[codes] = True
    return np.flatnonzero(present).astype(codes.dtype, copy=False), (np.cumsum(present) - 1)[codes]


@dataclass(frozen=True)
class StratumCells:
    """The (day x stratum) cells that carry rate information (exposure ``x > 0``), each with its
    stratum's index ``inv`` into the per-stratum window sums: baseline numerator ``yb`` and
    exposure ``xb``, current numerator ``yc`` and exposure ``xc``."""

    y: np.ndarray
    x: np.ndarray
    current: np.ndarray
    day: np.ndarray
    inv: np.ndarray
    yb: np.ndarray
    xb: np.ndarray
    yc: np.ndarray
    xc: np.ndarray

    @classmethod
    def of(cls, y: np.ndarray, x: np.ndarray, stratum: np.ndarray, current: np.ndarray,
           day: np.ndarray) -> StratumCells:
        keep = x > 0  # a cell without exposure carries no information on the rate
        y, x, stratum, current, day = y[keep], x[keep], stratum[keep], current[keep], day[keep]
        codes, inv = unique_codes(stratum)
        k = len(codes)
        return cls(y, x, current, day, inv,
                   yb=np.bincount(inv, np.where(current, 0.0, y), k), xb=np.bincount(inv, np.where(current, 0.0, x), k),
                   yc=np.bincount(inv, np.where(current, y, 0.0), k), xc=np.bincount(inv, np.where(current, x, 0.0), k))


def rate_change(
    y: np.ndarray,
    x: np.ndarray,
    stratum: np.ndarray,
    current: np.ndarray,
    day: np.ndarray,
    *,
    numerator: str,
    alpha: float = 0.05,
) -> RateTest:
    """Mix-adjusted quasi-Poisson test of a rate change on day x stratum cells.

    Inputs are parallel arrays, one entry per (day, stratum) cell: numerator ``y``, denominator
    ``x``, stratum code, ``current`` flag and day code. With one stratum this is exactly the test
    of the module docstring. With strata v (e.g. audience types) the estimate is the Paasche-type
    index ``b = log(A / E)``, ``A = sum_v Yc_v`` and ``E = sum_v Xc_v * Yb_v / Xb_v`` -- the current
    numerator against what the current volumes would have produced at each stratum's baseline
    rate -- so budget moving between strata (mix) does not count as a rate change. Under
    ``Var(y) = phi * mu`` the delta method gives
    ``Var(b) = phi * (1/A + sum_v (Xc_v/Xb_v)^2 * Yb_v / E^2)`` (one stratum: ``phi (1/Yc + 1/Yb)``).
    ``phi`` is the Pearson statistic of the *daily* totals around their fitted values (each cell
    fitted at its stratum x window rate, then summed per day) over ``n_days - 2`` degrees of
    freedom: strata of one day share that day's shocks, so the day stays the unit of evidence. Strata seen in one window only carry no rate
    information (they are pure mix) and are dropped; ``strata_dropped`` counts them.
    """
    y, x = np.asarray(y, float), np.asarray(x, float)
    stratum, current, day = np.asarray(stratum), np.asarray(current, bool), np.asarray(day)
    c = StratumCells.of(y, x, stratum, current, day)
    y, x, current, day, inv, yb, xb, yc, xc = c.y, c.x, c.current, c.day, c.inv, c.yb, c.xb, c.yc, c.xc
    k = len(yb)
    live = (xb > 0) & (xc > 0)
    cell_live = live[inv]
    nb = len(unique_codes(day[cell_live & ~current])[0])
    nc = len(unique_codes(day[cell_live & current])[0])
    B, XB, A, XC = float(yb[live].sum()), float(xb[live].sum()), float(yc[live].sum()), float(xc[live].sum())
    E = float(np.sum(xc[live] * yb[live] / np.where(live, xb, 1.0)[live]))
    n_live = int(live.sum())
    df = max(nb + nc - 2, 0)
    base = dict(base_num=B, base_den=XB, cur_num=A, cur_den=XC, expected_num=E, n_days_base=nb,
                n_days_cur=nc, n_strata=n_live, strata_dropped=k - n_live)
    if n_live == 0 or (A <= 0 and B <= 0) or nb == 0 or nc == 0:
        return RateTest(**base, log_ratio=None, se=None, df=max(df, 0), dispersion=None,
                        p_value=None, ci_log=None)
    # A window whose numerator sums to 0 gets the usual 0.5 continuity correction.
    log_ratio = math.log(A / E) if A > 0 and E > 0 else math.log((A + 0.5) / (E + 0.5))
    rate_b = np.where(live, yb / np.where(xb > 0, xb, 1.0), 0.0)
    rate_c = np.where(live, yc / np.where(xc > 0, xc, 1.0), 0.0)
    mu = x * np.where(current, rate_c[inv], rate_b[inv])
    phi, df = _dispersion(y, x, mu, current, day, cell_live, n_live)
    if phi is None:
        return RateTest(**base, log_ratio=log_ratio, se=None, df=0, dispersion=None, p_value=None, ci_log=None)
    raw = phi
    phi = max(phi, dispersion_floor(numerator))
    # Variances under the null (each stratum at its pooled rate r0), stable when a stratum has
    # few or no events in one window: Var(A) = phi sum Xc r0, Var(E) = phi sum Xc^2 r0 / Xb.
    r0 = (yb[live] + yc[live]) / (xb[live] + xc[live])
    var_a = float(np.sum(xc[live] * r0))
    var_e = float(np.sum(xc[live] ** 2 * r0 / xb[live]))
    a_, e_ = max(A, 0.5), max(E, 0.5 * E / max(B, 1e-300)) if B > 0 else max(E, 0.5)
    se = math.sqrt(phi * (max(var_a, 0.5) / a_**2 + max(var_e, 0.5 * var_a / max(var_a, 1e-300)) / e_**2))
    p, ci = t_test(log_ratio, se, df, alpha)
    excess = phi * max(0.0, var_e / e_**2 - 1.0 / max(B, 0.5))
    return RateTest(**base, log_ratio=log_ratio, se=se, df=df, dispersion=phi, p_value=p,
                    ci_log=ci, excess_var=excess, raw_dispersion=raw)


def dispersion_floor(numerator: str) -> float:
    """Least dispersion of a test of ``numerator``: 1 for counts (a count cannot be less variable
    than Poisson), a tiny positive number for money."""
    return 1.0 if numerator in S.COUNT_MEASURES else 1e-12


def _dispersion(y, x, mu, current, day, cell_live, n_live) -> tuple[float | None, int]:
    """max(cell-level Pearson phi, day-level Pearson phi) and the day-level df.

    The cell-level estimate (day x stratum cells around their stratum x window rates, over
    ``n_cells - 2 n_strata`` df) sees over-dispersion inside strata; the day-level estimate (daily
    totals around the sum of their cells' fitted values, ``n_days - 2`` df) sees shocks shared by
    every stratum of a day, which cell residuals cannot add up. Taking the larger keeps the day
    the unit of evidence.
    """
    yl, xl, ml, cl, dl = y[cell_live], x[cell_live], mu[cell_live], current[cell_live], day[cell_live]
    d_codes, d_inv = unique_codes(dl)
    obs_d = np.bincount(d_inv, yl, len(d_codes))
    x_d = np.bincount(d_inv, xl, len(d_codes))
    cur_d = np.bincount(d_inv, cl.astype(float), len(d_codes)) > 0
    df_day = len(d_codes) - 2
    if df_day < 1:
        return None, 0
    mu_d = np.bincount(d_inv, ml, len(d_codes))
    pos = mu_d > 0
    phi_day = float(np.sum((obs_d[pos] - mu_d[pos]) ** 2 / mu_d[pos])) / df_day
    df_cell = int(len(yl)) - 2 * n_live
    phi_cell = 0.0
    if df_cell >= 1:
        pc = ml > 0
        phi_cell = float(np.sum((yl[pc] - ml[pc]) ** 2 / ml[pc])) / df_cell
    return max(phi_day, phi_cell), df_day


@dataclass(frozen=True)
class ContrastTest:
    """Result of :func:`contrast_change`: log of (segment's change) / (rest's change)."""

    log_ratio: float | None
    se: float | None
    df: float  # as RateTest.df
    dispersion: float | None
    p_value: float | None
    ci_log: tuple[float, float] | None
    raw_dispersion: float | None = None  # Pearson estimate before the count floor
    size: float = 0.0  # mean daily numerator of the segment, the dispersion prior's covariate

    @property
    def se_normal(self) -> float | None:
        if self.se is None:
            return None
        return self.se * math.sqrt(self.df / (self.df - 2)) if self.df > 2 else self.se * 3.0


def contrast_change(
    seg: np.ndarray, seg_exposure: np.ndarray, rest: np.ndarray, rest_exposure: np.ndarray,
    current: np.ndarray, *, numerator: str, alpha: float = 0.05,
) -> ContrastTest:
    """Day-matched test that a segment changed differently from the rest of the account.

    Per day d: the segment's numerator ``s_d`` and the rest's ``r_d``, with exposures (the
    denominators, or the numerators expected at baseline stratum rates when mix is held fixed).
    With a multiplicative day effect shared by both (``E[s_d] = e_sd * exp(a_d + b + g * cur_d)``,
    ``E[r_d] = e_rd * exp(a_d)``), conditioning on the day total ``n_d = s_d + r_d`` removes the
    day effects exactly: ``s_d | n_d ~ Binomial(n_d, pi_d)``, ``logit pi_d = log(e_sd / e_rd) + b +
    g * cur_d``. ``g`` -- the log ratio of the segment's change to the rest's -- is fitted by
    Newton-Raphson, the dispersion is Pearson X^2 / (n_days - 2) (quasi-binomial; floored at 1 for
    counts), and ``g / se`` is referred to a t with n_days - 2 df. Shocks shared by the whole
    account (weekdays, auctions) thus cancel instead of drowning segment effects, and a change of
    the whole account is not attributed to any one segment.
    """
    s, es, r, er = (np.asarray(a, float) for a in (seg, seg_exposure, rest, rest_exposure))
    cur = np.asarray(current, bool)
    ok = (es > 0) & (er > 0) & (s + r > 0)
    s, es, r, er, cur = s[ok], es[ok], r[ok], er[ok], cur[ok]
    df = len(s) - 2
    none = ContrastTest(None, None, max(df, 0), None, None, None)
    if df < 1 or cur.all() or not cur.any() or s.sum() <= 0 or r.sum() <= 0:
        return none
    n = s + r
    off = np.log(es / er)
    X = np.column_stack([np.ones_like(off), cur.astype(float)])
    theta = np.array([math.log(max(s.sum(), 0.5) / max(r.sum(), 0.5)) - float(np.mean(off)), 0.0])
    for _ in range(50):
        pi = 1.0 / (1.0 + np.exp(-(off + X @ theta)))
        w = n * pi * (1 - pi)
        info = X.T @ (X * w[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(info, X.T @ (s - n * pi))
        step = np.clip(step, -5, 5)
        theta = theta + step
        if np.max(np.abs(step)) < 1e-9:
            break
    pi = 1.0 / (1.0 + np.exp(-(off + X @ theta)))
    w = n * pi * (1 - pi)
    info = X.T @ (X * w[:, None]) + 1e-9 * np.eye(2)
    pos = w > 0
    raw = float(np.sum((s[pos] - n[pos] * pi[pos]) ** 2 / w[pos])) / df
    phi = max(raw, dispersion_floor(numerator))
    g = float(theta[1])
    se = math.sqrt(phi * float(np.linalg.inv(info)[1, 1]))
    if not math.isfinite(g) or not math.isfinite(se) or se <= 0:
        return none
    p, ci = t_test(g, se, df, alpha)
    return ContrastTest(g, se, df, phi, p, ci, raw_dispersion=raw, size=float(s.mean()))


def widen(t: ContrastTest, extra_var: float, alpha: float) -> ContrastTest:
    """The same contrast with ``extra_var`` added to its variance (p-value and interval redone)."""
    if t.se is None or t.log_ratio is None or extra_var <= 0 or t.df < 1:
        return t
    se = math.sqrt(t.se**2 + extra_var)
    p, ci = t_test(t.log_ratio, se, t.df, alpha)
    return replace(t, se=se, p_value=p, ci_log=ci)


def bh_qvalues(p_values: list[float | None], weights: list[float] | None = None) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (q-values) over the defined p-values; None stays None.

    With ``weights`` (positive, rescaled here to average 1 over the defined p-values) this is the
    weighted BH procedure of Genovese, Roeder & Wasserman (2006): BH on ``p_i / w_i``, which still
    controls the FDR; a test with weight 2 gets twice the share of the error budget.
    """
    idx = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if idx:
        p = np.array([p_values[i] for i in idx], dtype=float)
        if weights is not None:
            w = np.array([weights[i] for i in idx], dtype=float)
            w = w / w.mean()
            p = np.minimum(p / w, 1.0)
        q = stats.false_discovery_control(p, method="bh")
        for i, v in zip(idx, q):
            out[i] = float(v)
    return out


#: Standard deviations (log points) of the non-null prior components: a grid, as in adaptive shrinkage.
SLAB_GRID = (0.03, 0.06, 0.12, 0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class EBPrior:
    """Prior fitted to one run's tests: P(null) = pi0, non-null effects ~ sum_k w_k N(0, tau_k^2)."""

    pi0: float
    weights: tuple[float, ...]
    taus: tuple[float, ...] = SLAB_GRID


def fit_eb_prior(estimates: np.ndarray, ses: np.ndarray, floor: float = 1e-3) -> EBPrior:
    """Marginal maximum likelihood (EM) of the mixture weights of the point mass at 0 and the
    normal components of ``SLAB_GRID`` (adaptive shrinkage, Stephens 2017). Each non-null
    component keeps at least ``floor`` weight so a single extreme effect is never shrunk to 0."""
    est, se = np.asarray(estimates, float), np.asarray(ses, float)
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
    est, se = est[ok], se[ok]
    k = len(SLAB_GRID)
    if len(est) == 0:
        return EBPrior(pi0=1.0 - k * floor, weights=tuple([floor] * k))
    sds = np.sqrt(se[:, None] ** 2 + np.concatenate([[0.0], np.array(SLAB_GRID) ** 2])[None, :])
    lik = stats.norm.pdf(est[:, None], 0.0, sds)
    w = np.full(k + 1, 1.0 / (k + 1))
    w[0] = 0.5
    w /= w.sum()
    for _ in range(300):
        post = lik * w
        post /= np.maximum(post.sum(axis=1, keepdims=True), 1e-300)
        new = post.mean(axis=0)
        new[1:] = np.maximum(new[1:], floor)
        new /= new.sum()
        if np.max(np.abs(new - w)) < 1e-7:
            w = new
            break
        w = new
    return EBPrior(pi0=float(w[0]), weights=tuple(float(x) for x in w[1:]))


def z_se(estimate: float | None, p_value: float | None, fallback: float | None) -> float | None:
    """Normal-equivalent standard error of ``estimate`` implied by its two-sided ``p_value``:
    ``|estimate| / z_(1 - p/2)``. This carries whatever test decided the candidate (t with few
    df, day-matched contrast, fatigue trend, search penalty) into the normal model of the EB step;
    ``fallback`` is used when the p-value says nothing (p >= 0.5 or missing)."""
    if estimate is None or p_value is None or p_value >= 0.5 or estimate == 0:
        return fallback
    z = float(stats.norm.isf(max(p_value, 1e-300) / 2))
    return abs(estimate) / z if z > 0 else fallback


def confidence(estimate: float, se: float, prior: EBPrior, min_effect: float, sign: int) -> float:
    """Posterior probability that the true log change is real, has the stated ``sign`` and exceeds
    the minimum practical effect: ``P(delta > log(1 + min_effect) | estimate)`` for increases,
    ``P(delta < log(1 - min_effect) | estimate)`` for decreases.

    Derivation: prior ``delta ~ pi0 * point-mass(0) + sum_k w_k N(0, tau_k^2)`` fitted to all tests
    of the run by :func:`fit_eb_prior` (a run where nothing changed gets pi0 near 1 and shrinks
    every estimate towards 0); likelihood ``estimate ~ N(delta, se^2)`` (se normal-equivalent).
    Component k has posterior weight proportional to ``w_k N(est; 0, se^2 + tau_k^2)`` and, given
    k, ``delta | est ~ N(est tau_k^2/(tau_k^2+se^2), tau_k^2 se^2/(tau_k^2+se^2))``. The point mass
    never clears the threshold, so the answer is the weighted sum over components of the normal
    tail beyond the threshold. Its calibration on generated scenarios is checked in
    ``tests/diagnose/test_calibration.py``.
    """
    if not (math.isfinite(estimate) and math.isfinite(se)) or se <= 0:
        return 0.0
    taus = np.array(prior.taus)
    w = np.concatenate([[prior.pi0], np.array(prior.weights)])
    sds = np.sqrt(se**2 + np.concatenate([[0.0], taus**2]))
    logl = np.log(np.maximum(w, 1e-300)) + stats.norm.logpdf(estimate, 0.0, sds)
    post = np.exp(logl - logl.max())
    post /= post.sum()
    shrink = taus**2 / (taus**2 + se**2)
    mean, sd = estimate * shrink, np.sqrt(taus**2 * se**2 / (taus**2 + se**2))
    thr = math.log(1 + min_effect) if sign > 0 else math.log(max(1 - min_effect, 1e-9))
    tail = stats.norm.sf(thr, mean, sd) if sign > 0 else stats.norm.cdf(thr, mean, sd)
    return float(min(max(float(np.sum(post[1:] * tail)), 0.0), 1.0))
