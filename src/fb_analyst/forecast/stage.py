"""The forecast/budget stage: canonical table in, :class:`ForecastResult` (``forecast.json``) out.

Series: the account and every value of each requested segment dimension, for impressions, clicks,
spend, purchases, revenue (modelled directly) and CTR, CPC, CVR, ROAS (per ``ratio_method``: as the
ratio of the component forecasts, directly, or -- ``auto`` -- whichever backtests better per
series). Budget: a per-campaign allocation of the daily budget on fitted response curves.

``forecast_and_allocate`` = :func:`daily_inputs` (the only step that reads the table: a few
per-day aggregates) then :func:`forecast_daily` (everything else, on those small frames).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import pandas as pd

from fb_analyst import schema as S
from fb_analyst.errors import UnknownNameError
from fb_analyst.forecast.budget import allocate_budget
from fb_analyst.forecast.forecasting import Outcome, forecast_prepared, ratio_from_components, to_series_forecast
from fb_analyst.forecast.models import engine_for
from fb_analyst.forecast.result import BudgetPlan, ForecastResult, SeriesForecast
from fb_analyst.forecast.series import (
    ADDITIVE_METRICS,
    RATIO_METRICS,
    daily_sums,
    metric_values,
    on_calendar,
    prepare_series,
)
from fb_analyst.kpis import get_kpi
from fb_analyst.settings import Settings
from fb_analyst.windows import Windows, resolve_windows

RATIO_NOTE = {
    "components": "ratio KPIs = forecast(numerator) / forecast(denominator), conformal intervals from the backtest",
    "direct": "ratio KPIs forecast from their own daily series (ratio of the day's sums)",
    "auto": "ratio KPIs: per series, the lower-backtest-MASE of forecast(numerator)/forecast(denominator) "
    "and the ratio's own daily series",
}


def _keys(daily_by: dict[str, pd.DataFrame]) -> list[tuple[dict[str, str], pd.DataFrame]]:
    out = []
    for dim, frame in daily_by.items():
        if dim == "__account__":
            out.append(({"level": "account"}, frame))
            continue
        for value, g in frame.groupby(dim, sort=True):
            out.append(({dim: str(value)}, g.drop(columns=[dim])))
    return out


def build_forecasts(
    daily_by: dict[str, pd.DataFrame], settings: Settings, last_date: pd.Timestamp
) -> tuple[list[SeriesForecast], str]:
    """Forecast every key x metric from per-day aggregates (``{'__account__': frame, dim: frame}``)."""
    fs = settings.forecast
    engine = engine_for(settings)
    method = fs.ratio_method
    common = dict(horizon=fs.horizon, origins=fs.backtest_origins, min_history_days=fs.min_history_days,
                  max_gap_days=fs.max_gap_days, outage_zero_share=fs.outage_zero_share)
    additive, ratios = [], []
    for n, (key, day) in enumerate(_keys(daily_by)):
        calendar = on_calendar(day, last_date)
        for metric in (*ADDITIVE_METRICS, *RATIO_METRICS):
            raw, ran, notes = metric_values(day, metric, last_date, calendar)
            p = prepare_series(f"{n}:{metric}", key, metric, raw, ran, notes=notes, **common)
            (additive if metric in ADDITIVE_METRICS else ratios).append(p)
    direct_ratio = ratios if method in ("direct", "auto") else []
    outcomes = forecast_prepared(additive + direct_ratio, engine, horizon=fs.horizon, last_date=last_date,
                                 tolerance=fs.selection_tolerance)
    series: list[SeriesForecast] = [to_series_forecast(outcomes[p.uid], "direct") for p in additive]
    comps: dict[str, Outcome | None] = {}
    if method in ("components", "auto"):
        for p in ratios:
            kpi = get_kpi(p.metric)
            prefix = p.uid.split(":")[0]
            comps[p.uid] = ratio_from_components(p, outcomes[f"{prefix}:{kpi.numerator}"],
                                                 outcomes[f"{prefix}:{kpi.denominator}"], kpi.scale, last_date,
                                                 fs.horizon)
    if method == "components":
        # A ratio whose components give no forecast (e.g. a zero denominator forecast) is modelled directly.
        missing = [p for p in ratios if comps.get(p.uid) is None]
        outcomes.update(forecast_prepared(missing, engine, horizon=fs.horizon, last_date=last_date,
                                          tolerance=fs.selection_tolerance))
        for p in missing:
            outcomes[p.uid].notes.append("component forecasts could not form the ratio; modelled directly")
    for p in ratios:
        comp, direct = comps.get(p.uid), outcomes.get(p.uid)
        chosen, how = _pick_ratio(comp, direct, method)
        if chosen is None:
            chosen, how = (direct or Outcome(p)), "direct"
        if comp is not None and direct is not None and method == "auto":
            chosen.candidates = [*direct.candidates, *comp.candidates]
        series.append(to_series_forecast(chosen, how))
    return series, RATIO_NOTE[method]


def _pick_ratio(comp: Outcome | None, direct: Outcome | None, method: str) -> tuple[Outcome | None, str]:
    if comp is not None and (method == "components" or direct is None or direct.forecast is None):
        return comp, "ratio_of_components"
    if method == "direct" or comp is None:
        return direct, "direct"
    cm = comp.chosen.mase if comp.chosen else None
    dm = direct.chosen.mase if direct.chosen else None
    if cm is not None and (dm is None or cm <= dm):
        return comp, "ratio_of_components"
    return direct, "direct"


@dataclass(frozen=True)
class DailyInputs:
    """Everything the stage reads from the canonical table: small per-day frames (picklable).

    ``daily_by``: ``{'__account__': frame, dim: frame}`` per-day sums up to ``last_date``;
    ``budget_daily``: per campaign and day for the budget (None without a campaign column).
    ``fb-analyst run`` computes these in the main process and forecasts them in a parallel one,
    which then never opens the table (see :mod:`fb_analyst.pipeline.overlap`).
    """

    daily_by: dict[str, pd.DataFrame]
    budget_daily: pd.DataFrame | None
    windows: Windows
    last_date: pd.Timestamp


def daily_inputs(
    table: ibis.Table, settings: Settings, *, windows: Windows | None = None, segments: Sequence[str] = (S.CAMPAIGN,)
) -> DailyInputs:
    """The per-day aggregates of ``table`` the forecasts and the budget need (one query per level).

    A partial last day (see :mod:`fb_analyst.windows`) is left out of the history.
    """
    windows = windows or resolve_windows(table, settings=settings)
    present = S.present_segment_dimensions(table.columns)
    for d in segments:
        if d not in present:
            raise UnknownNameError("segment dimension", d, present)
    last = windows.data_end
    if any(p.edge == "last" for p in windows.partial_days):
        last = last - dt.timedelta(days=1)
    last_date = pd.Timestamp(last)

    def history(by: list[str]) -> pd.DataFrame:
        daily = daily_sums(table, by)
        return daily[daily[S.DATE] <= last_date]

    daily_by = {"__account__": history([]), **{d: history([d]) for d in segments}}
    budget_daily = None
    if S.CAMPAIGN in table.columns:  # the same history as the forecasts
        budget_daily = daily_by[S.CAMPAIGN] if S.CAMPAIGN in daily_by else history([S.CAMPAIGN])
    return DailyInputs(daily_by=daily_by, budget_daily=budget_daily, windows=windows, last_date=last_date)


def forecast_daily(
    inputs: DailyInputs, settings: Settings, *, budget_total: float | None = None,
    budget_change: float | None = None,
) -> ForecastResult:
    """Forecast every series of ``inputs`` and allocate the daily budget (see :func:`forecast_and_allocate`)."""
    series, note = build_forecasts(inputs.daily_by, settings, inputs.last_date)
    budget = _budget(inputs, settings, budget_total, budget_change)
    return ForecastResult(engine=settings.forecast.engine, horizon=settings.forecast.horizon, ratio_method=note,
                          last_date=inputs.last_date.date(), series=series, budget=budget)


def forecast_and_allocate(
    table: ibis.Table,
    settings: Settings,
    *,
    windows: Windows | None = None,
    segments: Sequence[str] = (S.CAMPAIGN,),
    budget_total: float | None = None,
    budget_change: float | None = None,
) -> ForecastResult:
    """Forecast the account and each segment's daily KPIs, and allocate the daily budget.

    ``budget_total``: daily budget to allocate (default: settings, else the current window's
    run-rate); ``budget_change``: relative change of the run-rate instead (+0.2 = add 20%).
    """
    inputs = daily_inputs(table, settings, windows=windows, segments=segments)
    return forecast_daily(inputs, settings, budget_total=budget_total, budget_change=budget_change)


def _budget(inputs: DailyInputs, settings: Settings, budget_total: float | None,
            budget_change: float | None) -> BudgetPlan:
    if inputs.budget_daily is None:
        return BudgetPlan(status="skipped", reason="the data has no campaign column", total=0.0, current_total=0.0)
    # The run-rate is spend per day of the history: a partial last day left out of it is left out
    # of the window's day count too.
    window = (inputs.windows.current.start, min(inputs.windows.current.end, inputs.last_date.date()))
    return allocate_budget(inputs.budget_daily, settings.forecast, window=window, budget_total=budget_total,
                           budget_change=budget_change, seed=settings.seed)
