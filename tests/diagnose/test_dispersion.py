"""Moderated dispersion (``diagnose/dispersion.py``): the prior's fit and the tests' size and power.

The size test simulates a run from the day-level test's own model: 80 segments of very different
volumes, 14 days, negative-binomial-type daily counts ``Var(y_d) = mu_d (phi0 + c mu_d)`` (own noise
plus a day shock shared by all segments), exposure moving from day to day, nothing changed. The
right answer is known: a test of size alpha rejects a share alpha of the segments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from fb_analyst.diagnose.dispersion import fit_dispersion_prior, moderate, trigamma_inverse
from fb_analyst.diagnose.stats import rate_change

N_DAYS = 14


def _run(rng: np.random.Generator, phi0: float, shock_sd: float, lift: float = 1.0, n_seg: int = 80):
    """One simulated run: per segment, daily counts y (gamma-Poisson with mean mu_d and extra
    variance phi0 - 1 per unit, times a day shock shared by every segment) over exposures x.
    ``lift`` multiplies the rate of the first segment (150 events a day) in the current window."""
    day = np.arange(N_DAYS)
    cur = day >= N_DAYS // 2
    shock = np.exp(rng.normal(0, shock_sd, N_DAYS) - shock_sd**2 / 2)
    sizes = np.exp(rng.uniform(math.log(5), math.log(3000), n_seg))  # mean daily counts
    sizes[0] = 150.0
    tests = []
    for i, size in enumerate(sizes):
        x = size * rng.uniform(0.6, 1.4, N_DAYS) * 100.0  # exposure moves between days
        mu = x * 0.01 * shock * np.where(cur & (i == 0), lift, 1.0)
        k = mu / (phi0 - 1.0)  # gamma-Poisson: Var = mu + mu^2 / k = phi0 mu
        y = rng.poisson(rng.gamma(k, mu / k))
        tests.append(rate_change(y, x, np.zeros(N_DAYS), cur, day, numerator="clicks"))
    return tests


def _moderated(tests):
    prior = fit_dispersion_prior(np.array([t.raw_dispersion for t in tests]), np.array([t.df for t in tests], float),
                                 np.array([t.size for t in tests]), floor=1.0)
    return [moderate(t, prior, 0.05) for t in tests], prior


def test_trigamma_inverse_inverts():
    for x in (0.01, 0.18, 1.0, 30.0):
        assert float(special.polygamma(1, trigamma_inverse(x))) == pytest.approx(x, rel=1e-6)


def _on_trend(seed: int, n: int):
    """(phi_hat, df, size, the generator) of n tests of 12 df whose true dispersions lie on 1.5 + 0.002 m."""
    rng = np.random.default_rng(seed)
    m = np.exp(rng.uniform(1, 8, n))
    return (1.5 + 0.002 * m) * rng.chisquare(12, n) / 12, np.full(n, 12.0), m, rng


def test_prior_recovers_the_trend_and_its_spread():
    on_trend, d, m, rng = _on_trend(0, 400)
    prior = fit_dispersion_prior(on_trend, d, m, floor=1.0)
    assert prior.phi0 == pytest.approx(1.5, rel=0.15) and prior.c == pytest.approx(0.002, rel=0.15)
    assert prior.d0 > 100  # the estimates are chi-square noise around the trend
    # true dispersions spread around the trend with 20 prior df: d0 is found again
    phi_true = (1.5 + 0.002 * m) * rng.chisquare(20, 400) / 20
    spread = fit_dispersion_prior(phi_true * rng.chisquare(12, 400) / 12, d, m, floor=1.0)
    assert 10 < spread.d0 < 40
    assert fit_dispersion_prior(on_trend[:5], d[:5], m[:5], floor=1.0) is None  # too few tests


def test_moderated_test_has_its_nominal_size_where_the_raw_one_is_conservative():
    rng = np.random.default_rng(1)
    raw_p, mod_p, dfs = [], [], []
    for _ in range(40):  # near-Poisson counts (phi0 1.1, as CVR's purchases), small shared shocks
        tests = _run(rng, phi0=1.1, shock_sd=0.01)
        mods, _ = _moderated(tests)
        raw_p += [t.p_value for t in tests]
        mod_p += [t.p_value for t in mods]
        dfs += [t.df for t in mods]
    raw_p, mod_p = np.array(raw_p), np.array(mod_p)
    # 3,200 null tests (correlated within a run through the shocks): about 5% and 1%
    assert 0.035 <= (mod_p < 0.05).mean() <= 0.065  # measured: 0.042 (raw: 0.024)
    assert 0.005 <= (mod_p < 0.01).mean() <= 0.018  # measured: 0.0075 (raw: 0.0013)
    # the 12-df test with the count floor rejects clearly less than 5% (conservative) ...
    assert (raw_p < 0.05).mean() < 0.035
    # ... and small segments, whose noise is their own, gain many df; shock-dominated large ones do not
    assert np.median(dfs) > 100 and min(dfs) >= 12


def test_moderated_test_finds_a_real_change_the_raw_one_misses():
    rng = np.random.default_rng(2)
    wins_mod = wins_raw = 0
    for _ in range(20):
        tests = _run(rng, phi0=1.1, shock_sd=0.01, lift=1.25)
        mods, _ = _moderated(tests)
        # a BH-like cut-off of one run with ~300 tests: 0.1 / 300
        wins_raw += tests[0].p_value < 0.1 / 300
        wins_mod += mods[0].p_value < 0.1 / 300
    assert wins_mod >= wins_raw + 5


def test_shared_shocks_keep_the_whole_account_near_its_own_df():
    rng = np.random.default_rng(3)
    tests = _run(rng, phi0=1.3, shock_sd=0.08)
    mods, prior = _moderated(tests)
    big = int(np.argmax([t.size for t in tests]))
    assert prior.c > 0
    assert mods[big].df < 3 * tests[big].df  # the shock part is known no better than from its 14 days


def test_a_test_whose_noise_contradicts_the_prior_keeps_its_own():
    phi_hat, d, m, _ = _on_trend(4, 200)
    prior = fit_dispersion_prior(phi_hat, d, m, floor=1.0)
    typical, _ = prior.posterior(1.5 + 0.002 * 100, 12, 100)
    assert typical == pytest.approx(prior.trend(100)[0], rel=0.01)  # on the trend (d0 large)
    wild = 4 * (1.5 + 0.002 * 100)  # P(chi2_12 / 12 >= 4) ~ 1e-6 under the prior
    assert prior.posterior(wild, 12, 100) == (wild, 12)
