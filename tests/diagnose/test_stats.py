"""Day-level tests, BH and the empirical-Bayes confidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fb_analyst.diagnose.stats import bh_qvalues, confidence, contrast_change, fit_eb_prior, rate_change


def _days(n=14):
    return np.arange(n), np.arange(n) >= n // 2


def test_single_stratum_is_the_closed_form():
    rng = np.random.default_rng(0)
    day, cur = _days()
    x = rng.uniform(5e4, 8e4, 14)
    y = rng.poisson(x * np.where(cur, 0.012, 0.01))
    t = rate_change(y, x, np.zeros(14), cur, day, numerator="clicks")
    rb, rc = y[~cur].sum() / x[~cur].sum(), y[cur].sum() / x[cur].sum()
    assert t.log_ratio == pytest.approx(math.log(rc / rb))
    assert t.df == 12 and t.p_value < 1e-4
    lo, hi = t.ci_log
    assert lo < t.log_ratio < hi


def test_pure_mix_between_strata_is_not_a_rate_change():
    day = np.repeat(np.arange(14), 2)
    cur = day >= 7
    stratum = np.tile([0, 1], 14)
    rate = np.where(stratum == 0, 0.02, 0.005)
    x = np.where(cur, np.where(stratum == 0, 2e4, 8e4), np.where(stratum == 0, 8e4, 2e4))
    y = np.round(x * rate)
    plain = rate_change(y, x, np.zeros_like(stratum), cur, day, numerator="clicks")
    held = rate_change(y, x, stratum, cur, day, numerator="clicks")
    assert plain.log_ratio < -0.5 and plain.p_value < 0.05
    assert held.log_ratio == pytest.approx(0.0, abs=1e-12)


def test_contrast_cancels_shared_day_shocks():
    rng = np.random.default_rng(1)
    day, cur = _days()
    shock = np.exp(rng.normal(0, 0.15, 14))  # large shocks shared by both groups
    xs, xr = np.full(14, 2e4), np.full(14, 2e5)
    s = rng.poisson(xs * 0.01 * shock * np.where(cur, 1.15, 1.0))
    r = rng.poisson(xr * 0.01 * shock)
    own = rate_change(s, xs, np.zeros(14), cur, day, numerator="clicks")
    ct = contrast_change(s, xs * 0.01, r, xr * 0.01, cur, numerator="clicks")
    assert ct.p_value < own.p_value
    assert ct.log_ratio == pytest.approx(math.log(1.15), abs=0.05)


def test_null_p_values_are_roughly_uniform():
    rng = np.random.default_rng(2)
    day, cur = _days()
    ps = []
    for _ in range(400):
        x = rng.uniform(1e4, 3e4, 14)
        y = rng.negative_binomial(20, 20 / (20 + x * 0.01))
        ps.append(rate_change(y, x, np.zeros(14), cur, day, numerator="clicks").p_value)
    ps = np.array(ps)
    assert 0.02 <= (ps < 0.05).mean() <= 0.09
    assert 0.15 <= (ps < 0.2).mean() <= 0.27


def test_bh_matches_scipy_and_keeps_none():
    p = [0.01, None, 0.04, 0.2, 0.001]
    q = bh_qvalues(p)
    expected = stats.false_discovery_control([0.01, 0.04, 0.2, 0.001])
    assert q[1] is None
    assert [q[0], q[2], q[3], q[4]] == pytest.approx(list(expected))


def test_confidence_shrinks_when_nothing_changed():
    rng = np.random.default_rng(3)
    se = np.full(500, 0.05)
    null = fit_eb_prior(rng.normal(0, 0.05, 500), se)
    mixed = fit_eb_prior(np.concatenate([rng.normal(0, 0.05, 480), rng.normal(-0.4, 0.05, 20)]), se)
    assert null.pi0 > 0.9
    # the same 2-sigma estimate is far less credible in a run where nothing changed
    assert confidence(-0.1, 0.05, null, 0.05, -1) < 0.3
    assert confidence(-0.4, 0.05, mixed, 0.05, -1) > 0.95
    assert confidence(-0.4, 0.05, mixed, 0.05, +1) < 0.01
