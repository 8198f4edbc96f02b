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


def test_ratio_from_components_joins_backtests_and_calibrates_leave_one_origin_out():
    """Worked example: scale 2 x num/den. Backtest rows with a zero denominator or without a
    matching denominator row are dropped; coverage of each origin is scored with half-widths from
    the other origins' errors; the forecast's half-widths come from all errors."""
    from fb_analyst.forecast.forecasting import Outcome, ratio_from_components
    from fb_analyst.forecast.result import Candidate
    from fb_analyst.forecast.series import PreparedSeries

    day = pd.Timestamp("2025-01-01")
    d = [day + pd.Timedelta(days=i) for i in range(18)]  # d[0] = Jan 1
    actual = pd.Series([10, 12] * 5 + [11, 12, 8, 13, 10, 14], index=pd.DatetimeIndex(d[:16]))
    ratio = PreparedSeries("0:ctr", {"level": "account"}, "ctr", actual, "full", 3, 7)
    # Origins Jan 10, 12, 14, two days each; every pair of component forecasts predicts 2 x 5 / 1 = 10.
    cut = [d[9], d[9], d[11], d[11], d[13], d[13]]
    ds = [d[10], d[11], d[12], d[13], d[14], d[15]]
    num_cv = pd.DataFrame({"cutoff": [*cut, d[13]], "ds": [*ds, d[16]], "mean": 5.0})  # Jan 17: no den row
    den_cv = pd.DataFrame({"cutoff": cut, "ds": ds, "mean": [1.0, 0.0, 1.0, 1.0, 1.0, 1.0]})  # Jan 12: den 0
    num = Outcome(ratio, chosen=Candidate(model="HistoricAverage", origins=3), cv=num_cv,
                  forecast=pd.DataFrame({"ds": [d[16], d[17]], "mean": [6.0, 6.0]}))
    den = Outcome(ratio, chosen=Candidate(model="SeasonalNaive", origins=3), cv=den_cv,
                  forecast=pd.DataFrame({"ds": [d[17], d[16]], "mean": [3.0, 2.0]}))
    o = ratio_from_components(ratio, num, den, 2.0, d[15], 7)
    # Errors y - 10: origin 1 [+1], origin 2 [-2, +3], origin 3 [0, +4]. Leave-one-origin-out
    # half-widths (both levels): 4, 4, 3 -> the +4 of origin 3 is the one miss: 4/5 covered.
    # MASE per origin: |err| mean / in-sample naive MAE (lag 1 before two weeks, then lag 7):
    # 1/2, 2.5/(20/11), 2/(16/7) -> mean 0.9167.
    assert o.chosen == Candidate(model="HistoricAverage/SeasonalNaive", mase=0.9167, coverage80=0.8,
                                 coverage95=0.8, origins=3)
    f = o.forecast
    assert list(f["ds"]) == [d[16], d[17]]
    assert f["mean"].tolist() == [6.0, 4.0]
    assert f["lo80"].tolist() == [2.0, 0.0] and f["hi80"].tolist() == [10.0, 8.0]  # +-4, clipped at 0
    assert f["hi95"].tolist() == [10.0, 8.0]

    one_origin = Outcome(ratio, chosen=den.chosen, cv=den_cv.assign(mean=[1.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
                         forecast=den.forecast)
    assert ratio_from_components(ratio, num, one_origin, 2.0, d[15], 7) is None
