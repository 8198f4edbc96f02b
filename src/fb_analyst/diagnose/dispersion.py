"""Moderated dispersion: the run's day-level tests of one KPI share what they learn about noise.

Why. Every day-level test (``stats.rate_change``, ``stats.contrast_change``) estimates its
over-dispersion ``phi`` from its own 14 daily totals, so ``phi_hat`` has ``d = n_days - 2 = 12``
degrees of freedom and the Wald statistic is referred to a t with 12 df. That is exact for one
test in isolation, but a run tests 70-90 segments per KPI whose dispersions follow one smooth law
of their size (measured on generated runs where nothing changed: ``log phi_hat`` regressed on the
log of the segment's mean daily numerator leaves *no* spread beyond the chi-square sampling noise
of 12 df, i.e. the true dispersions lie on the trend). Using the t with 12 df then costs most of
the power in the tail where BH decides: a t statistic of 5.5 has p = 1.3e-4 under t(12) but 4e-8
under N(0, 1), and the weighted BH cut-off of a run is about 1e-3 for an audience type, 1e-4 for an
ad. For counts the floor ``phi >= 1`` makes it worse: a segment with Poisson noise gets
``max(phi_hat, 1)``, above its true dispersion whenever the estimate fell below 1.

Model (Smyth 2004, limma's ``squeezeVar`` with a trend, as edgeR's quasi-likelihood F-tests use it
for dispersions), with the trend of a negative-binomial-type day-level variance. For test i with
size ``m_i`` (mean daily numerator of the tested rows), ``phi_hat_i | phi_i ~ phi_i chi2_d / d``
and the prior ``d0 s0_i^2 / phi_i ~ chi2_d0`` around ``s0_i^2 = phi0 + c m_i``: a day's numerator
varies by ``Var(y_d) = mu_d (phi0 + c mu_d)``, ``phi0`` from the segment's own rows (Poisson,
row-level over-dispersion, order values) and ``c mu_d`` from multiplicative day shocks shared by
its rows (``c`` = their variance), which grow with the volume. Then:

* the trend is fitted by weighted least squares of ``phi_hat`` on ``[1, m]`` (``E phi_hat = phi``,
  ``Var phi_hat = 2 phi^2 / d``, so weights ``1 / trend^2``, iterated; ``phi0, c >= 0``);
* ``e_i = log phi_hat_i - digamma(d/2) + log(d/2) - log s0_i^2`` has variance ``trigamma(d/2)``
  if the dispersions lie on the trend; the excess of its variance is ``trigamma(d0/2)``, solved
  for ``d0`` (no excess: ``d0 = inf``);
* the posterior dispersion is ``phi_tilde = (d0 s0^2 + d phi_hat) / (d0 + d)`` (``d0 = inf``:
  the trend) and ``b / se(phi_tilde)`` is referred to a t with ``d + d0`` df (the moderated t),
  capped as follows. The tests share days: ``c`` is learnt from the same 14 days of shocks that
  every test sees, so the trend knows the shock part ``c m_i`` no better than the test's own ``d``
  df, while ``phi0`` is pooled over the run's ``sum_i d_i`` df. By Satterthwaite the trend at
  ``m_i`` is worth ``df_i = s0_i^4 / (phi0^2 / sum d + (c m_i)^2 / d)`` df: about ``d`` for the
  whole account (shock-dominated, so no false precision there), the pooled df for a small segment
  whose noise is its own. The test's df are ``min(d + d0, df_i)``;
* robustness (the role of limma's ``robust=TRUE``): under the model ``phi_hat_i / s0_i^2`` is
  ``F(d, d0)`` (``chi2_d / d`` when ``d0 = inf``). A test whose own estimate lies in the upper
  ``OUTLIER_LEVEL`` tail of that law is not taken to share the run's noise (an ad whose CTR wobbles
  three times as much as the trend says, seen on a generated run, otherwise got p = 2e-6 instead
  of 0.01): it keeps its own estimate and its own ``d`` df, and the trend is refitted without
  such tests. Under the model this costs the power of 1% of the tests; a wrong "shared" dispersion
  would cost false discoveries.

The floor for counts (a count cannot be less variable than Poisson) applies to ``phi_tilde``.
The prior is fitted to the run's raw (unfloored) estimates, separately for each KPI and each kind
of test (own baseline, day-matched contrast), on the candidate segments tested before the
evaluator looks at any p-value; re-tests of parts of segments in the evaluator use the same prior
at their own size (clamped to the fitted range of sizes). Validity on generated data: see
``tests/diagnose/test_dispersion.py`` (nominal size under the test's own model, where the 12-df
test with the count floor is conservative) and ``BENCHMARKS.md`` (null p-values of every test of
generated runs, hit and false-positive rates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
from scipy import optimize, special

from fb_analyst.diagnose.stats import t_test

#: Fewest tests with a usable dispersion estimate for a prior to be fitted (else no moderation).
MIN_TESTS = 10
#: Upper-tail probability of a test's own dispersion under the prior below which it keeps its own.
OUTLIER_LEVEL = 0.01


@dataclass(frozen=True)
class DispersionPrior:
    """Fitted prior of one (KPI, kind of test): trend ``s0^2 = phi0 + c m``, prior df ``d0``
    (``inf``: on the trend), the pooled df, the floor and the fitted range of sizes ``m``."""

    phi0: float
    c: float
    d0: float
    df_pool: float
    floor: float
    size_range: tuple[float, float]

    def trend(self, size: float) -> tuple[float, float]:
        """(``s0^2``, its shared part ``c m``) at a test of size ``size``, clamped to the fitted range."""
        shared = self.c * min(max(size, self.size_range[0]), self.size_range[1])
        return self.phi0 + shared, shared

    def posterior(self, phi_hat: float, df: float, size: float) -> tuple[float, float]:
        """(moderated dispersion, its df): module doc."""
        s0, shared = self.trend(size)
        if s0 <= 0 or outlier_tail(phi_hat / s0, df, self.d0) < OUTLIER_LEVEL:
            return max(phi_hat, self.floor, 1e-12), df
        df_trend = s0**2 / (self.phi0**2 / self.df_pool + shared**2 / df)
        if math.isinf(self.d0):
            phi, df_new = s0, df_trend
        else:
            phi = (self.d0 * s0 + df * max(phi_hat, 0.0)) / (self.d0 + df)
            df_new = min(df + self.d0, df_trend)
        return max(phi, self.floor, 1e-12), min(df_new, self.df_pool)


def trigamma_inverse(x: float) -> float:
    """``y`` with ``trigamma(y) = x`` (Newton's method on ``1/trigamma``, as limma's
    ``trigammaInverse``; ``1/trigamma`` is nearly linear, so it converges in a few steps)."""
    if x > 1e7:
        return 1.0 / math.sqrt(x)
    if x < 1e-6:
        return 1.0 / x
    y = 0.5 + 1.0 / x
    for _ in range(50):
        tri = float(special.polygamma(1, y))
        step = tri * (1.0 - tri / x) / float(special.polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


def outlier_tail(ratio: float | np.ndarray, df: float | np.ndarray, d0: float) -> float | np.ndarray:
    """``P(F(df, d0) >= ratio)``: how surprising a test's own dispersion is under the prior
    (``ratio = phi_hat / s0^2``; ``chi2_df / df`` when ``d0 = inf``)."""
    # scipy.special's ufuncs, not scipy.stats: this runs for every test and re-test of a diagnosis
    if math.isinf(d0):
        return special.chdtrc(df, np.multiply(ratio, df))
    return special.fdtrc(df, d0, ratio)


def fit_dispersion_prior(phi_hat: np.ndarray, df: np.ndarray, size: np.ndarray,
                         floor: float) -> DispersionPrior | None:
    """Fit the module's prior to raw dispersion estimates (``df`` each) of tests of size ``size``,
    then once more without the tests it calls outliers; None with fewer than ``MIN_TESTS`` usable
    estimates (then tests keep their own)."""
    s2, d, m = (np.asarray(a, float) for a in (phi_hat, df, size))
    ok = np.isfinite(s2) & (s2 > 0) & np.isfinite(d) & (d >= 1) & np.isfinite(m) & (m > 0)
    prior = _fit(s2[ok], d[ok], m[ok], floor)
    if prior is None:
        return None
    s0 = np.array([prior.trend(x)[0] for x in m[ok]])
    keep = outlier_tail(s2[ok] / s0, d[ok], prior.d0) >= OUTLIER_LEVEL
    if keep.all():
        return prior
    return _fit(s2[ok][keep], d[ok][keep], m[ok][keep], floor) or prior


def _fit(s2: np.ndarray, d: np.ndarray, m: np.ndarray, floor: float) -> DispersionPrior | None:
    """One fit of the trend and ``d0`` (module doc) to usable estimates."""
    n = len(s2)
    if n < MIN_TESTS:
        return None
    phi0, c = _trend(s2, d, m)
    s0 = phi0 + c * m
    if not np.all(s0 > 0):
        return None
    e = np.log(s2) - special.digamma(d / 2) + np.log(d / 2) - np.log(s0)
    excess = float(np.sum((e - e.mean()) ** 2)) / (n - 2) - float(np.mean(special.polygamma(1, d / 2)))
    d0 = 2.0 * trigamma_inverse(excess) if excess > 0 else math.inf
    return DispersionPrior(phi0=phi0, c=c, d0=d0, df_pool=float(d.sum()), floor=floor,
                           size_range=(float(m.min()), float(m.max())))


def _trend(s2: np.ndarray, d: np.ndarray, m: np.ndarray, rounds: int = 5) -> tuple[float, float]:
    """Non-negative weighted least squares of ``s2`` on ``[1, m]`` with weights ``d / trend^2``
    (the inverse variance of a scaled chi-square estimate), re-weighted ``rounds`` times."""
    X = np.column_stack([np.ones_like(m), m])
    fit = np.full_like(s2, float(np.median(s2)))
    coef = np.zeros(2)
    for _ in range(rounds):
        w = np.sqrt(d) / np.maximum(fit, 1e-300)
        coef, _ = optimize.nnls(X * w[:, None], s2 * w)
        fit = X @ coef
        if not np.all(fit > 0):
            break
    return float(coef[0]), float(coef[1])


T = TypeVar("T")


def moderate(test: T, prior: DispersionPrior | None, alpha: float) -> T:
    """``test`` (a ``stats.RateTest`` or ``stats.ContrastTest``) with its dispersion replaced by
    the moderated one: ``se`` rescaled by ``sqrt(phi_tilde / phi)``, df ``d + d0`` (capped), p-value
    and interval redone on the t with those df; a RateTest's ``excess_var`` (proportional to phi)
    is rescaled too. Unchanged without a prior or a raw estimate."""
    raw, phi, se = getattr(test, "raw_dispersion", None), test.dispersion, test.se
    if prior is None or raw is None or phi is None or se is None or test.log_ratio is None or test.df < 1:
        return test
    new_phi, new_df = prior.posterior(raw, test.df, test.size)
    scale = new_phi / phi
    new_se = se * math.sqrt(scale)
    p, ci = t_test(test.log_ratio, new_se, new_df, alpha)
    changes = dict(se=new_se, df=new_df, dispersion=new_phi, p_value=p, ci_log=ci)
    if hasattr(test, "excess_var"):
        changes["excess_var"] = test.excess_var * scale
    return replace(test, **changes)
