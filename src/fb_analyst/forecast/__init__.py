"""Forecasts with honest uncertainty, and budget allocation on fitted response curves.

``forecast_and_allocate(table, settings, ...)`` -> :class:`ForecastResult` (``forecast.json``);
it is ``forecast_daily(daily_inputs(table, ...))``, split so ``run`` can forecast the small
per-day aggregates in a parallel process that never opens the table.
Modules: ``series`` (daily series from the table, repaired on purpose), ``models`` (engine seam:
statsforecast default, Prophet optional), ``backtest`` (MASE, coverage, ensemble, model choice),
``forecasting`` (many series at once; ratio KPIs from components), ``curves`` (Hill response
curves with a day bootstrap), ``budget`` (allocation), ``stage`` (the stage function),
``result`` (the records).
"""

from fb_analyst.forecast.budget import allocate_budget
from fb_analyst.forecast.forecasting import forecast_series
from fb_analyst.forecast.result import (
    CAVEAT,
    BudgetPlan,
    CampaignAllocation,
    Candidate,
    CurveFit,
    Estimate,
    ForecastPoint,
    ForecastResult,
    SeriesForecast,
)
from fb_analyst.forecast.stage import DailyInputs, daily_inputs, forecast_and_allocate, forecast_daily

__all__ = [
    "CAVEAT",
    "BudgetPlan",
    "CampaignAllocation",
    "Candidate",
    "CurveFit",
    "DailyInputs",
    "Estimate",
    "ForecastPoint",
    "ForecastResult",
    "SeriesForecast",
    "allocate_budget",
    "daily_inputs",
    "forecast_and_allocate",
    "forecast_daily",
    "forecast_series",
]
