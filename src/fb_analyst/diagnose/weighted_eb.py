"""Empirical-Bayes prior whose non-null odds follow the weights of the weighted BH step.

Why. The run's tests are not exchangeable a priori: ``evaluate.bh_weights`` gives the whole
account's test of each driver a quarter of the FDR budget and splits the rest equally by
dimension, so a value of a 4-value dimension (an audience type) weighs 6-8 times one of 100
ads. Weighted BH (Genovese, Roeder & Wasserman 2006) is the powerful choice exactly when the weight
``w_i`` grows with the prior probability that hypothesis i is false; the weights *are* our prior
information. An exchangeable empirical-Bayes prior (``stats.fit_eb_prior``) ignores it, so the
confidence of a test could contradict the test itself: a -30% CVR drop in one audience type, q =
0.009, got confidence 0.40 because the prior treated it like one of the ~100 ad-level tests of its
KPI (0.55 with the weighted prior).

Model (one run). Effect of test i: ``delta_i ~ (1 - pi_i) point-mass(0) + pi_i sum_k g_k N(0,
tau_k^2)``, prior odds of a real effect ``pi_i / (1 - pi_i) = theta w_i`` (weights rescaled to
mean 1 over the tests, as in the BH step), ``tau_k`` on ``stats.SLAB_GRID``; observation
``est_i ~ N(delta_i, se_i^2)``. With all weights equal this is the exchangeable prior of
``stats.fit_eb_prior``.

Fit: marginal maximum likelihood by EM. E-step: responsibilities ``r_i0`` (null) and ``r_ik``
(slab k) from ``(1-pi_i) N(est; 0, se^2)`` and ``pi_i g_k N(est; 0, se^2 + tau_k^2)``. M-step:
``g_k = sum_i r_ik / sum_i (1 - r_i0)``; for theta the expected log-likelihood
``sum_i (1 - r_i0) log(theta w_i) - log(1 + theta w_i)`` has the stationarity condition
``theta = sum_i (1 - r_i0) / sum_i w_i / (1 + theta w_i)``, iterated (a fixed point that increases
the likelihood). Floor, as in the exchangeable fit: for a test of weight 1 every slab component
keeps a prior mass ``pi(1) g_k >= floor`` (so ``pi(1) >= len(SLAB_GRID) * floor``), so a single
extreme effect is never shrunk to nothing. (Flooring only the total and letting ``g`` free was
tried: with one planted change among ~300 tests ``g`` then collapses on the 3% component that the
many slightly moved tests fill, and a real 30% change gets a confidence of about 0.1.)

The theoretical null N(0, se^2) is kept. An empirical null (Efron 2004: the se scaled by
``1.4826 x MAD`` of the run's z-scores, 0.65-1.05 on generated runs because the day-level tests
were conservative before ``dispersion.py``) was measured and rejected: on the 110 generated runs it made the confidence
over-confident in the middle (hypotheses given 0.5-0.7 were backed 9% of the time, Brier score
0.038 instead of 0.021) without raising the hit rate.

The tests (300-390 per generated run) are fitted as if independent although many share rows (a
segment and its localised children, one segment under several KPIs, crossing segments such as
gender x audience). Giving each test a share of the likelihood of ``1 / sum_j rho_ij^2``
(``rho_ij = |i & j| / sqrt(|i| |j|)`` on the cube's rows, same KPI: the part of test i's null
variance that test j repeats), of ``1 / sum_j rho_ij``, or of one over the number of tests with
the same rows (same KPI, or any KPI) was measured and rejected: on the 110 generated runs theta
stays at its floor in 67-72 runs whatever the weighting -- a real effect's own test shares its
rows (with the account and its children) as much as the null tests do, so de-weighting removes
signal and null mass alike -- and the hit rate stayed at 79-80% with 5% false-positive runs,
Brier score 0.021-0.025. Tying the floor to the run's size instead, ``pi(1) >= 1 / n_eff`` with
the ``rho^2`` count ``n_eff = sum_i 1 / sum_j rho_ij^2`` (102-138 per run), is the present 1/125
and changes nothing; only undercounts (``rho`` for ``rho^2``: n_eff about 55) raised the hit rate
(84%), and they made the band [0.3, 0.5) over all hypotheses over-confident (0.37 stated, 11%
backed). One prior per KPI: hit rate 89%, false-positive runs 7%, but a KPI that drifts across
the whole account gets theta >> 1 and its hypotheses are stated 0.7-0.9 and backed 4% of the time
(Brier score 0.166).

``prior_for(w)`` gives the :class:`~fb_analyst.diagnose.stats.EBPrior` of a test of weight ``w``;
:meth:`WeightedPrior.confidence` computes ``stats.confidence`` with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from fb_analyst.diagnose.stats import SLAB_GRID, EBPrior, confidence


@dataclass(frozen=True)
class WeightedPrior:
    """Fitted prior: non-null odds ``theta`` for a test of weight 1, slab mixture ``g``."""

    theta: float
    g: tuple[float, ...]
    taus: tuple[float, ...] = SLAB_GRID

    def confidence(self, estimate: float, se: float, weight: float, min_effect: float, sign: int) -> float:
        """``stats.confidence`` of a test of BH weight ``weight`` (mean-1 scale)."""
        return confidence(estimate, se, self.prior_for(weight), min_effect, sign)

    def prior_for(self, weight: float) -> EBPrior:
        """The prior of a test whose BH weight (mean-1 scale) is ``weight``."""
        odds = self.theta * max(weight, 0.0)
        pi1 = odds / (1.0 + odds)
        return EBPrior(pi0=1.0 - pi1, weights=tuple(pi1 * x for x in self.g), taus=self.taus)


def fit_weighted_prior(estimates: np.ndarray, ses: np.ndarray, weights: np.ndarray,
                       floor: float = 1e-3) -> WeightedPrior:
    """EM fit of the module's model (see its docstring); ``weights`` on the BH step's mean-1 scale."""
    est, se, w = (np.asarray(a, float) for a in (estimates, ses, weights))
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0) & np.isfinite(w) & (w > 0)
    est, se, w = est[ok], se[ok], w[ok]
    k = len(SLAB_GRID)
    theta_min = k * floor / (1.0 - k * floor)
    if len(est) == 0:
        return WeightedPrior(theta=theta_min, g=tuple([1.0 / k] * k))
    lik0 = stats.norm.pdf(est, 0.0, se)
    lik = stats.norm.pdf(est[:, None], 0.0, np.sqrt(se[:, None] ** 2 + np.array(SLAB_GRID)[None, :] ** 2))
    g = np.full(k, 1.0 / k)
    theta = 1.0
    for _ in range(500):
        odds = theta * w
        null = lik0 / (1.0 + odds)
        slab = (odds / (1.0 + odds))[:, None] * g[None, :] * lik
        tot = np.maximum(null + slab.sum(axis=1), 1e-300)
        r0, rk = null / tot, slab / tot[:, None]
        theta_new = max(float(np.sum(1.0 - r0) / np.sum(w / (1.0 + theta * w))), theta_min)
        g_new = _floored(rk.sum(axis=0) / max(float(rk.sum()), 1e-300), floor * (1.0 + theta_new) / theta_new)
        done = np.max(np.abs(g_new - g)) < 1e-7 and abs(theta_new - theta) < 1e-7 * max(theta, 1e-3)
        g, theta = g_new, theta_new
        if done:
            break
    return WeightedPrior(theta=float(theta), g=tuple(float(x) for x in g))


def _floored(g: np.ndarray, least: float) -> np.ndarray:
    """``g`` (summing to 1) with every entry at least ``least``, the excess taken proportionally
    from the entries above it (uniform when ``least`` leaves no room)."""
    k = len(g)
    if least * k >= 1.0:
        return np.full(k, 1.0 / k)
    low = g < least
    out = np.where(low, least, g)
    free = 1.0 - least * int(low.sum())
    out[~low] = g[~low] / g[~low].sum() * free
    return np.maximum(out, least) / np.maximum(out, least).sum()
