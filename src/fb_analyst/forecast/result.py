"""The forecast stage's result records (``forecast.json``): frozen pydantic models, JSON-safe.

``ForecastResult`` holds one ``SeriesForecast`` per (segment key, metric) and an optional
``BudgetPlan``. Every float is finite (``allow_inf_nan=False``): undefined values are ``None``
with a reason, never NaN or inf.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

CAVEAT = (
    "These response curves are fitted to observational day-to-day variation in spend; other things "
    "that changed on the same days (seasonality, promotions, creative changes, auction pressure) can "
    "masquerade as a spend effect. Treat the plan as a hypothesis and confirm the moves with a lift "
    "test (e.g. a Meta Conversion Lift or geo holdout) before committing large budget shifts."
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)


class ForecastPoint(_Frozen):
    """One forecast day: mean with 80% and 95% prediction intervals (lo95<=lo80<=mean<=hi80<=hi95)."""

    date: dt.date
    mean: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float


class Candidate(_Frozen):
    """A model's rolling-origin backtest: MASE (mean over origins) and empirical interval coverage."""

    model: str
    mase: float | None = Field(None, description="Mean absolute scaled error; None when undefined.")
    coverage80: float | None = Field(None, description="Share of backtest days inside the 80% interval.")
    coverage95: float | None = Field(None, description="Share of backtest days inside the 95% interval.")
    origins: int = Field(0, description="Rolling origins the backtest used.")


class SeriesForecast(_Frozen):
    """The forecast of one daily series with the evidence for trusting it."""

    key: dict[str, str] = Field(description="{'level': 'account'} or {dimension: value}.")
    metric: str
    method: Literal["direct", "ratio_of_components", "none"] = Field(
        description="direct: the metric's own daily series was modelled; ratio_of_components: a ratio "
        "KPI forecast as forecast(numerator)/forecast(denominator) with backtest-calibrated intervals."
    )
    model: str | None = Field(None, description="Chosen model (for ratios: 'num_model/den_model').")
    status: Literal["ok", "simplified", "skipped"]
    reason: str | None = Field(None, description="Why the series was simplified or skipped.")
    notes: list[str] = Field(default_factory=list, description="Data repairs applied (gaps, outages).")
    history_days: int
    backtest: Candidate | None = Field(None, description="Backtest of the chosen model.")
    candidates: list[Candidate] = Field(default_factory=list)
    forecast: list[ForecastPoint] = Field(default_factory=list)
    verdict: str


class Estimate(_Frozen):
    """A bootstrap estimate: mean with 80% and 95% percentile intervals."""

    mean: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float


class CurveFit(_Frozen):
    """Hill response curve revenue(s) = vmax * s^shape / (half_sat^shape + s^shape) per day."""

    form: Literal["hill"] = "hill"
    vmax: float
    half_saturation: float
    shape: float
    r2: float = Field(description="In-sample R^2 of daily revenue on the curve.")
    days: int
    spend_cv: float = Field(description="Coefficient of variation of daily spend used in the fit.")
    bootstrap_samples: int


class CampaignAllocation(_Frozen):
    campaign: str
    current_spend: float = Field(description="Daily run-rate of the current window.")
    proposed_spend: float
    change_pct: float
    lower_bound: float
    upper_bound: float
    marginal_roas_current: Estimate | None = None
    marginal_roas_proposed: Estimate | None = None
    expected_revenue_current: Estimate | None = None
    expected_revenue_proposed: Estimate | None = None
    curve: CurveFit | None = None
    status: Literal["optimised", "kept"]
    reason: str | None = None


class BudgetPlan(_Frozen):
    """Daily budget allocation across campaigns that maximises expected revenue within bounds."""

    status: Literal["ok", "skipped"]
    reason: str | None = None
    total: float = Field(description="Daily budget allocated (sums exactly over campaigns).")
    current_total: float = Field(description="Current daily run-rate across the campaigns.")
    budget_change: float | None = Field(None, description="Requested relative change of the total.")
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    bounds: dict[str, float] = Field(default_factory=dict, description="Relative per-campaign bounds.")
    campaigns: list[CampaignAllocation] = Field(default_factory=list)
    expected_revenue_current: Estimate | None = None
    expected_revenue_proposed: Estimate | None = None
    expected_uplift: Estimate | None = Field(None, description="Proposed minus current revenue/day.")
    expected_roas_current: Estimate | None = None
    expected_roas_proposed: Estimate | None = None
    selection_optimism: float = Field(
        0.0, description="Revenue/day taken off the proposed plan: the bootstrap estimate of how much "
        "optimising on noisy curves inflates their own predicted uplift.",
    )
    verdict: str = Field("", description="Plain reading of the uplift interval.")
    caveat: str = CAVEAT


class ForecastResult(_Frozen):
    """Everything ``forecast.json`` holds."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    engine: str
    horizon: int
    ratio_method: str = Field(description="How ratio KPIs were forecast, and why (measured).")
    last_date: dt.date | None = None
    series: list[SeriesForecast] = Field(default_factory=list)
    budget: BudgetPlan | None = None

    def get(self, metric: str, **key: str) -> SeriesForecast:
        """The series for ``metric`` and key (no key = account), e.g. ``get('revenue', campaign='X')``."""
        want = key or {"level": "account"}
        for s in self.series:
            if s.metric == metric and s.key == want:
                return s
        raise KeyError(f"no forecast for metric {metric!r} and key {want}")
