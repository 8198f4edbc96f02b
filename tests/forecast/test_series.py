"""Short, gappy and outage series are repaired or downgraded on purpose, with the reason recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fb_analyst.forecast.series import prepare_series

KW = dict(horizon=7, origins=4, min_history_days=21, max_gap_days=3, outage_zero_share=0.2)


def _series(n: int, start: str = "2025-01-01", level: float = 100.0) -> pd.Series:
    rng = np.random.default_rng(0)
    return pd.Series(level + rng.normal(0, 5, n), index=pd.date_range(start, periods=n, freq="D"))


def _prep(v: pd.Series, ran: pd.Series | None = None):
    ran = ran if ran is not None else pd.Series(True, index=v.index)
    return prepare_series("u", {"level": "account"}, "clicks", v, ran, **KW)


def test_long_clean_series_gets_full_tier_and_all_origins():
    p = _prep(_series(90))
    assert (p.tier, p.origins, p.reason, p.notes) == ("full", 4, None, [])


def test_fewer_days_than_min_history_gets_simple_models_with_reason():
    p = _prep(_series(15))
    assert p.tier == "simple"
    assert "only 15 days" in p.reason and "min_history_days=21" in p.reason
    assert p.origins == 1  # (15 - 7) // 7 backtest windows still fit


def test_under_a_week_is_skipped():
    p = _prep(_series(5))
    assert p.tier == "skip" and "at least 7" in p.reason


def test_few_origins_when_history_is_between_min_and_full_backtest():
    p = _prep(_series(30))
    assert p.tier == "full" and p.origins == 2
    assert "only 2 of 4 backtest origins" in p.reason


def test_short_gaps_are_interpolated_and_noted():
    v = _series(60)
    v.iloc[[20, 21, 40]] = np.nan
    p = _prep(v)
    assert p.values.notna().all() and p.history_days == 60
    assert any("3 missing days" in n for n in p.notes)
    assert v.isna().sum() == 3  # input untouched


def test_history_before_a_long_gap_is_dropped():
    v = _series(80)
    v.iloc[20:30] = np.nan
    p = _prep(v)
    assert p.values.index[0] == v.index[30]
    assert any("dropped after a gap" in n for n in p.notes)


def test_tracking_outage_zeros_are_missing_not_zero():
    v = _series(60)
    v.iloc[50:53] = 0.0  # purchases vanish while the ads ran
    p = _prep(v)
    assert (p.values.iloc[50:53] > 50).all()
    assert any("tracking outage" in n for n in p.notes)


def test_zero_days_when_ads_did_not_run_stay_zero():
    v = _series(60)
    v.iloc[50:53] = 0.0
    ran = pd.Series(True, index=v.index)
    ran.iloc[50:53] = False  # paused: a real zero
    p = _prep(v, ran)
    assert (p.values.iloc[50:53] == 0).all()


def test_trailing_missing_days_forecast_further_ahead_or_skip():
    v = _series(60)
    v.iloc[-2:] = np.nan
    p = _prep(v)
    assert p.tier == "full" and p.steps_ahead == 9 and p.history_days == 58
    v.iloc[-10:] = np.nan
    q = _prep(v)
    assert q.tier == "skip" and "no data for the last 10 days" in q.reason


def test_constant_series_is_simplified():
    v = pd.Series(0.0, index=pd.date_range("2025-01-01", periods=40, freq="D"))
    p = _prep(v)
    assert p.tier == "simple" and "constant series" in p.reason
