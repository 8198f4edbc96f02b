"""One-series forecasts: model choice by backtest, honest verdicts, ordered intervals, degraded cases."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from fb_analyst.errors import InputError
from fb_analyst.forecast import SeriesForecast, forecast_series
from fb_analyst.forecast.models import ProphetEngine


def assert_ordered(sf: SeriesForecast) -> None:
    for p in sf.forecast:
        assert p.lo95 <= p.lo80 <= p.mean <= p.hi80 <= p.hi95, p


def test_trend_and_weekday_series_beats_the_mean(trend_weekly_series, forecast_settings):
    sf = forecast_series(trend_weekly_series, forecast_settings, metric="clicks")
    assert sf.status == "ok" and len(sf.forecast) == 7
    assert sf.model not in ("HistoricAverage", "Naive")
    mean_c = next(c for c in sf.candidates if c.model == "HistoricAverage")
    assert sf.backtest.mase < 0.5 * mean_c.mase
    assert sf.backtest.origins == 4 and sf.backtest.coverage80 is not None
    assert sf.forecast[0].date == pd.Timestamp("2025-03-26").date()
    assert_ordered(sf)


def test_pure_noise_says_no_predictable_movement(noise_series, forecast_settings):
    fs = forecast_settings.model_copy(update={"forecast": forecast_settings.forecast.model_copy(
        update={"selection_tolerance": 0.05})})
    sf = forecast_series(noise_series, fs, metric="revenue")
    assert sf.model == "HistoricAverage"
    assert sf.verdict.startswith("no predictable movement beyond the average")
    assert_ordered(sf)


def test_short_series_is_simplified_with_reason(noise_series, forecast_settings):
    sf = forecast_series(noise_series.iloc[:16], forecast_settings, metric="spend")
    assert sf.status == "simplified" and "min_history_days" in sf.reason
    assert sf.model in ("HistoricAverage", "Naive") and len(sf.forecast) == 7
    assert {c.model for c in sf.candidates} <= {"HistoricAverage", "Naive"}
    assert_ordered(sf)


def test_too_short_series_is_skipped_with_reason(noise_series, forecast_settings):
    sf = forecast_series(noise_series.iloc[:4], forecast_settings)
    assert sf.status == "skipped" and sf.forecast == [] and sf.model is None
    assert "at least 7" in sf.reason and sf.verdict.startswith("no forecast")


def test_gappy_outage_series_is_repaired_and_noted(noise_series, forecast_settings):
    v = noise_series.copy()
    v.iloc[[30, 31, 60]] = np.nan
    v.iloc[70:72] = 0.0
    sf = forecast_series(v, forecast_settings, metric="purchases")
    assert sf.status == "ok" and len(sf.forecast) == 7
    assert any("interpolated" in n for n in sf.notes)
    assert any("tracking outage" in n for n in sf.notes)
    assert all(p.lo95 >= 0 for p in sf.forecast)


def test_horizon_14(trend_weekly_series, forecast_settings):
    fs = forecast_settings.model_copy(update={"forecast": forecast_settings.forecast.model_copy(
        update={"horizon": 14, "backtest_origins": 3})})
    sf = forecast_series(trend_weekly_series, fs)
    assert len(sf.forecast) == 14 and sf.backtest.origins == 3
    assert_ordered(sf)


def test_prophet_engine_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "prophet", None)  # makes `import prophet` fail as if absent
    with pytest.raises(InputError, match=r"pip install '\.\[prophet\]'"):
        ProphetEngine()


@pytest.mark.slow
def test_prophet_engine_forecasts_when_installed(trend_weekly_series, forecast_settings):
    pytest.importorskip("prophet")
    fs = forecast_settings.model_copy(update={"forecast": forecast_settings.forecast.model_copy(
        update={"engine": "prophet", "backtest_origins": 2})})
    sf = forecast_series(trend_weekly_series, fs)
    assert sf.model == "Prophet" and sf.backtest.origins == 2 and len(sf.forecast) == 7
    assert_ordered(sf)
