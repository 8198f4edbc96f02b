"""Theme KPIs with day-level intervals, the fixed-effects Poisson fit, adjusted effects and FDR."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fb_analyst.creative.performance import (
    bh_qvalues,
    day_level_interval,
    poisson_fixed_effects,
    theme_effects,
    theme_kpis,
)


def test_day_level_interval_is_ratio_of_sums_with_t_interval():
    daily = pd.DataFrame({"n": [10.0, 20.0, 30.0], "d": [1000.0, 1000.0, 1000.0]})
    k = day_level_interval(daily, "n", "d", 0.95)
    assert k.value == pytest.approx(0.02)
    # Equal denominators: the estimator's sd is the sd of daily rates / sqrt(n).
    half = 4.302653 * np.std([0.01, 0.02, 0.03], ddof=1) / np.sqrt(3)
    assert k.upper - k.value == pytest.approx(half, rel=1e-4)
    assert k.n_days == 3


def test_day_level_interval_without_data_says_why():
    k = day_level_interval(pd.DataFrame({"n": [0.0], "d": [0.0]}), "n", "d", 0.95)
    assert k.value is None and "denominator" in k.undefined_reason


def test_poisson_fixed_effects_recover_planted_rates():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 3, 4000)
    b = rng.integers(0, 4, 4000)
    true_a, true_b = np.log([0.01, 0.02, 0.015]), np.log([1.0, 1.3, 0.7, 1.1])
    exposure = rng.uniform(5e3, 2e4, 4000)
    y = rng.poisson(exposure * np.exp(true_a[a] + true_b[b]))
    (ea, eb), mu = poisson_fixed_effects(y.astype(float), exposure, [a, b])
    fitted = ea[a] + eb[b]
    np.testing.assert_allclose(fitted, true_a[a] + true_b[b], atol=0.03)
    assert mu.sum() == pytest.approx(y.sum(), rel=1e-6)  # Poisson MLE reproduces totals


def context_confounded_cells(seed: int = 0, loser_size: float = 0.8) -> tuple[pd.DataFrame, int]:
    """Three themes x 6 messages; theme 0 runs mostly on a low-CTR placement but is not worse;
    theme 2 is truly worse (x loser_size)."""
    rng = np.random.default_rng(seed)
    rows = []
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(28)]
    for theme in range(3):
        for m in range(6):
            msg = f"theme{theme} message{m}"
            quality = np.exp(rng.normal(0, 0.05))
            for day in days:
                for placement, base in (("feed", 0.015), ("stories", 0.007)):
                    share = 0.9 if (theme == 0) == (placement == "stories") else 0.1
                    imps = rng.poisson(20000 * share) + 1
                    rate = base * quality * (loser_size if theme == 2 else 1.0) * np.exp(rng.normal(0, 0.1))
                    clicks = rng.poisson(imps * rate)
                    rows.append(dict(date=day, creative_message=msg, placement=placement, _theme=theme,
                                     ctr_num=float(clicks), ctr_den=float(imps), impressions=float(imps),
                                     cvr_num=0.0, cvr_den=0.0, roas_num=0.0, roas_den=0.0))
    return pd.DataFrame(rows), 3


def test_adjusted_effects_control_for_placement_and_find_the_loser():
    cells, k = context_confounded_cells()
    raw = cells.groupby("_theme")[["ctr_num", "ctr_den"]].sum()
    raw_ctr = raw["ctr_num"] / raw["ctr_den"]
    assert raw_ctr.idxmin() == 0  # naive comparison blames theme 0 (it ran on stories)
    effects, _ = theme_effects(cells, "_theme", ["placement", "date"], k, alpha=0.05, fdr_q=0.1,
                               min_effect=0.05, min_impressions=1000)
    ctr = effects["ctr"]
    assert ctr[2].verdict == "loser" and ctr[2].rate_ratio < 0.9
    assert ctr[0].verdict != "loser"
    assert all(e.undefined_reason for e in effects["cvr"])  # no clicks->purchases data: said, not faked


def test_theme_kpis_have_intervals_per_theme():
    cells, k = context_confounded_cells()
    kpis = theme_kpis(cells, "_theme", k, 0.95)
    assert len(kpis) == 3
    ctr = kpis[1]["ctr"]
    assert ctr.lower < ctr.value < ctr.upper and ctr.n_days == 28


def test_bh_qvalues_keep_nan_and_are_monotone():
    q = bh_qvalues(np.array([0.01, np.nan, 0.04, 0.03]))
    assert np.isnan(q[1])
    assert q[0] == pytest.approx(0.03) and q[2] == pytest.approx(0.04) and q[3] == pytest.approx(0.04)
