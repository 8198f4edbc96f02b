"""Hill curve grid fit: the day-count form of the bootstrap equals fitting each resample directly."""

from __future__ import annotations

import numpy as np

from fb_analyst.forecast.curves import _day_counts, _grid_fit, _grid_shapes, fit_hill


def _direct_fit(spend: np.ndarray, revenue: np.ndarray, scale: float) -> tuple[float, float, float]:
    """Reference: least squares on the resampled days themselves, grid point by grid point."""
    kk, hh, _ = _grid_shapes(spend, scale)
    best = (np.inf, 0.0, 0.0, 0.0)
    for k, h in zip(kk, hh):
        g = spend**h / (k**h + spend**h)
        v = max(float(g @ revenue / (g @ g)), 0.0) if g @ g > 0 else 0.0
        sse = float(((revenue - v * g) ** 2).sum())
        if sse < best[0] * (1 - 1e-12):
            best = (sse, v, k, h)
    return best[1], best[2], best[3]


def test_bootstrap_by_day_counts_equals_fitting_each_resample():
    rng = np.random.default_rng(3)
    n = 40
    spend = rng.gamma(2.0, 100.0, size=n)
    revenue = np.maximum(0.0, 4 * spend / (1 + spend / 250) + rng.normal(0, 60, n))
    scale = float(np.median(spend))
    idx = rng.integers(0, n, size=(12, n))
    v, k, h = _grid_fit(_grid_shapes(spend, scale), revenue, _day_counts(idx, n))
    for b in range(len(idx)):
        rv, rk, rh = _direct_fit(spend[idx[b]], revenue[idx[b]], scale)
        assert (k[b], h[b]) == (rk, rh)
        assert np.isclose(v[b], rv, rtol=1e-9)


def test_day_counts_count_every_draw():
    idx = np.array([[0, 0, 2], [1, 2, 2]])
    np.testing.assert_array_equal(_day_counts(idx, 3), [[2, 0, 1], [0, 1, 2]])


def test_fit_hill_recovers_a_known_curve():
    spend = np.linspace(50, 800, 60)
    revenue = 1200 * spend**1.25 / (300**1.25 + spend**1.25)
    fit = fit_hill(spend, revenue, samples=50, seed=0)
    assert fit.r2 > 0.999 and len(fit.boot_vmax) == 50
    assert np.isclose(fit.revenue(400.0), 1200 * 400**1.25 / (300**1.25 + 400**1.25), rtol=0.02)
