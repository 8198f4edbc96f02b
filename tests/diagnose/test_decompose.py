"""Funnel decompositions: exact identities on generated data and a hand-computed example."""

from __future__ import annotations

import math

import pytest

from fb_analyst.diagnose.decompose import decompose_change, log_mean, volume_effect
from fb_analyst.diagnose.frames import build_cube
from fb_analyst.engine import table_from_pandas
from fb_analyst.sample import generate_sample
from fb_analyst.settings import Settings
from fb_analyst.windows import resolve_windows


def _sums(spend, impressions, clicks, purchases, revenue):
    return {"all__spend": spend, "all__impressions": impressions, "all__clicks": clicks,
            "all__purchases": purchases, "all__revenue": revenue, "all__n": 7}


def test_roas_decomposition_by_hand():
    base = _sums(1000.0, 100_000, 2000, 40, 3000.0)  # CTR 2%, CVR 2%, AOV 75, CPM 10, ROAS 3
    cur = _sums(1200.0, 100_000, 1800, 45, 3150.0)   # CTR 1.8%, CVR 2.5%, AOV 70, CPM 12, ROAS 2.625
    d = decompose_change("roas", base, cur)
    parts = {p.factor: p for p in d.parts}
    assert d.baseline == pytest.approx(3.0) and d.current == pytest.approx(2.625)
    assert parts["ctr"].log_points == pytest.approx(100 * math.log(0.018 / 0.02))
    assert parts["cvr"].log_points == pytest.approx(100 * math.log(0.025 / 0.02))
    assert parts["aov"].log_points == pytest.approx(100 * math.log(70 / 75))
    assert parts["cpm"].log_points == pytest.approx(-100 * math.log(12 / 10))
    assert d.total_log_points == pytest.approx(100 * math.log(2.625 / 3.0))
    # LMDI: spend_cur x L(ROAS_cur, ROAS_base) x dlog; the parts add up to spend_cur x dROAS.
    L = (2.625 - 3.0) / math.log(2.625 / 3.0)
    assert parts["cpm"].currency == pytest.approx(1200 * L * -math.log(1.2))
    assert d.total_currency == pytest.approx(1200 * (2.625 - 3.0))
    assert sum(p.currency for p in d.parts) == pytest.approx(d.total_currency)
    assert volume_effect(base, cur) == pytest.approx(3.0 * 200)


def test_cpa_decomposition_by_hand():
    base = _sums(1000.0, 100_000, 2000, 40, 3000.0)  # CPA 25
    cur = _sums(1200.0, 100_000, 1800, 45, 3150.0)   # CPA 26.67
    d = decompose_change("cpa", base, cur)
    assert d.current == pytest.approx(1200 / 45)
    assert sum(p.log_points for p in d.parts) == pytest.approx(100 * math.log((1200 / 45) / 25))
    assert sum(p.currency for p in d.parts) == pytest.approx(45 * (1200 / 45 - 25))


def test_undefined_factor_is_explicit():
    base = _sums(1000.0, 100_000, 2000, 0, 0.0)
    d = decompose_change("roas", base, _sums(1000.0, 100_000, 2000, 10, 500.0))
    assert d.total_log_points is None and "cvr" in d.undefined_reason and "aov" in d.undefined_reason


def test_log_mean():
    assert log_mean(2.0, 2.0) == pytest.approx(2.0)
    assert log_mean(3.0, 1.0) == pytest.approx(2 / math.log(3))


@pytest.mark.parametrize("scenario", ["cpm_spike_placement", "aov_drop_country", "mix_shift"])
def test_exact_identity_on_generated_data(scenario):
    data = generate_sample(scenario, seed=3)
    table = table_from_pandas(data.frame)
    windows = resolve_windows(table, None, Settings())
    cube = build_cube(table, windows, ["placement", "country"])
    sums = cube.window_sums()
    for kpi in ("roas", "cpa"):
        d = decompose_change(kpi, sums.loc["baseline"], sums.loc["current"])
        assert sum(p.log_points for p in d.parts) == pytest.approx(d.total_log_points, abs=1e-9)
        assert sum(p.currency for p in d.parts) == pytest.approx(d.total_currency, rel=1e-9)
    f = data.frame
    cur = f[(f.date.dt.date >= windows.current.start) & (f.date.dt.date <= windows.current.end)]
    roas = decompose_change("roas", sums.loc["baseline"], sums.loc["current"])
    assert roas.current == pytest.approx(cur.revenue.sum() / cur.spend.sum())
