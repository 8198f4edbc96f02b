"""The stage end to end: the bundled sample (after name resolution) and a small generated account."""

from __future__ import annotations

import json

import pytest

from fb_analyst import schema as S
from fb_analyst.engine import table_from_pandas
from fb_analyst.forecast import ForecastResult, allocate_budget, forecast_and_allocate
from fb_analyst.forecast.series import ADDITIVE_METRICS, RATIO_METRICS, daily_sums
from fb_analyst.sample import generate_sample
from fb_analyst.windows import resolve_windows

METRICS = set(ADDITIVE_METRICS) | set(RATIO_METRICS)


def _strict_json(result: ForecastResult) -> dict:
    def no_constant(name: str) -> None:
        raise AssertionError(f"{name} in forecast.json")

    return json.loads(result.model_dump_json(), parse_constant=no_constant)


def _check_series_and_budget(result: ForecastResult, n_campaigns: int) -> None:
    keys = {tuple(s.key.items()) for s in result.series}
    assert len(keys) == 1 + n_campaigns
    for key in keys:
        assert {s.metric for s in result.series if tuple(s.key.items()) == key} == METRICS
    for s in result.series:
        assert s.status in ("ok", "simplified"), (s.key, s.metric, s.reason)
        assert s.model and s.verdict and len(s.forecast) == result.horizon
        assert s.backtest is not None and s.backtest.mase is not None and s.backtest.coverage80 is not None
        for p in s.forecast:
            assert p.lo95 <= p.lo80 <= p.mean <= p.hi80 <= p.hi95
    b = result.budget
    assert b.status == "ok" and len(b.campaigns) == n_campaigns
    assert sum(c.proposed_spend for c in b.campaigns) == pytest.approx(b.total, abs=1e-6)
    for c in b.campaigns:
        assert c.lower_bound - 0.01 <= c.proposed_spend <= c.upper_bound + 0.01
    _strict_json(result)


@pytest.fixture(scope="module")
def sample_table(sample_csv_path):
    from fb_analyst.ingest import ingest_files
    from fb_analyst.settings import Settings

    return ingest_files([sample_csv_path], Settings()).table


@pytest.mark.slow
def test_sample_forecasts_account_and_ten_campaigns(sample_table, forecast_settings):
    result = forecast_and_allocate(sample_table, forecast_settings)
    _check_series_and_budget(result, 10)
    assert result.budget.total == pytest.approx(result.budget.current_total, abs=0.01)
    assert str(result.last_date) == "2025-03-31"
    # The sample is noise around a level: the honest answer for most series is "the average".
    flat = [s for s in result.series if s.verdict.startswith("no predictable movement beyond the average")]
    assert len(flat) >= len(result.series) / 2
    assert "lift test" in result.budget.caveat and result.budget.verdict


def test_sample_what_if_twenty_percent_more_budget(sample_table, forecast_settings):
    windows = resolve_windows(sample_table, settings=forecast_settings)
    daily = daily_sums(sample_table, [S.CAMPAIGN])
    plan = allocate_budget(daily, forecast_settings.forecast, window=(windows.current.start, windows.current.end),
                           budget_change=0.2)
    assert plan.total == pytest.approx(plan.current_total * 1.2, abs=0.01)
    assert sum(c.proposed_spend for c in plan.campaigns) == pytest.approx(plan.total, abs=1e-6)
    e = plan.expected_revenue_proposed
    assert e.lo95 <= e.lo80 <= e.mean <= e.hi80 <= e.hi95


def test_small_generated_account_end_to_end(forecast_settings):
    sd = generate_sample("trend_weekly", seed=1, days=35, n_campaigns=2)
    table = table_from_pandas(sd.frame, name="small_trend_weekly")
    result = forecast_and_allocate(table, forecast_settings, budget_change=0.1)
    _check_series_and_budget(result, 2)
    assert result.budget.total == pytest.approx(result.budget.current_total * 1.1, abs=0.01)
    assert result.schema_version == "1.0"


def test_table_without_revenue_skips_revenue_series_and_budget(forecast_settings):
    sd = generate_sample("no_change", seed=2, days=28, n_campaigns=1)
    table = table_from_pandas(sd.frame.drop(columns=[S.REVENUE]), name="no_revenue")
    result = forecast_and_allocate(table, forecast_settings)
    for s in result.series:
        if s.metric in ("revenue", "roas"):
            assert s.status == "skipped" and s.reason and s.forecast == []
        else:
            assert s.forecast, (s.metric, s.reason)
    assert result.budget.status == "skipped" and "revenue" in result.budget.reason
    _strict_json(result)


def _cut_off_last_day(settings):
    """A generated account whose last day holds 30% of its usual volume (a partial day): the frame,
    the last day's row mask, the table and its default windows."""
    frame = generate_sample("no_change", seed=0).frame.copy()
    last = frame[S.DATE] == frame[S.DATE].max()
    for col in (S.SPEND, S.IMPRESSIONS, S.CLICKS, S.PURCHASES, S.REVENUE):
        frame.loc[last, col] = (frame.loc[last, col] * 0.3).round().astype(frame[col].dtype)
    table = table_from_pandas(frame)
    return frame, last, table, resolve_windows(table, settings=settings)


def test_partial_last_day_is_left_out_of_the_budget_history_whatever_the_segments(forecast_settings):
    """A cut-off last day (30% of the usual impressions) would read as a low-spend, low-revenue day
    on every response curve; it is left out of the budget's history as it is of the forecasts',
    also when campaign is not among the forecast segments."""
    from fb_analyst.forecast.stage import daily_inputs

    frame, last, table, windows = _cut_off_last_day(forecast_settings)
    assert [p.edge for p in windows.partial_days] == ["last"]
    for segments in ((S.CAMPAIGN,), ()):
        inputs = daily_inputs(table, forecast_settings, windows=windows, segments=segments)
        assert inputs.budget_daily[S.DATE].max() == inputs.last_date < frame[S.DATE].max()


def test_budget_run_rate_counts_only_the_days_of_its_history(forecast_settings):
    """With a cut-off last day left out of the history, the current run-rate is the spend per day
    of the days kept (the window's day count follows), not that spend spread over one day more."""
    from fb_analyst.forecast.stage import daily_inputs, forecast_daily

    frame, last, table, windows = _cut_off_last_day(forecast_settings)
    inputs = daily_inputs(table, forecast_settings, windows=windows)
    plan = forecast_daily(inputs, forecast_settings).budget
    kept = frame[(frame[S.DATE] >= str(windows.current.start)) & ~last]
    per_day = kept.groupby(S.DATE)[S.SPEND].sum()
    assert len(per_day) == 6 and plan.window_end == inputs.last_date.date()
    assert plan.current_total == pytest.approx(per_day.mean(), rel=1e-6)
