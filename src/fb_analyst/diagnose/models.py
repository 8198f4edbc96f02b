"""Result records of the diagnosis: the content of ``hypotheses.json`` (schema_version 1.0).

All models are frozen pydantic classes; every float is finite (undefined values are ``None`` with
a reason), so ``model_dump_json`` is strict JSON. Numbers are rounded only when rendered, never here.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fb_analyst.kpis import KpiValue
from fb_analyst.windows import Windows

SCHEMA_VERSION = "1.0"
Status = Literal["supported", "rejected", "inconclusive"]
Direction = Literal["up", "down", "flat"]
Kind = Literal["rate", "mix", "measurement", "fatigue"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class KpiChange(_Frozen):
    """One KPI in both windows (registry rule: ratio of sums over rows with both inputs known)."""

    kpi: str
    baseline: KpiValue
    current: KpiValue
    delta_pct: float | None = Field(None, description="current/baseline - 1; None when undefined.")


class DecompositionPart(_Frozen):
    """One factor of a multiplicative KPI identity."""

    factor: str
    sign: int = Field(description="+1 when the factor multiplies the KPI, -1 when it divides it.")
    baseline: float | None
    current: float | None
    log_points: float | None = Field(None, description="100 * sign * dlog(factor): contribution to 100*dlog(KPI).")
    currency: float | None = Field(None, description="LMDI currency attribution (see decompose.py).")


class Decomposition(_Frozen):
    """Exact split of dlog(KPI) into factors; ``log_points`` of the parts sum to ``total_log_points``."""

    kpi: str
    identity: str
    baseline: float | None
    current: float | None
    total_log_points: float | None
    total_currency: float | None
    currency_meaning: str
    parts: list[DecompositionPart]
    volume_effect: float | None = Field(
        None, description="ROAS only: revenue change from spending more/less at the baseline ROAS."
    )
    undefined_reason: str | None = None
    coverage_rows: dict[str, int] = Field(default_factory=dict)


class MixSegment(_Frozen):
    """One segment's shift-share terms for a KPI within a dimension."""

    value: str
    weight_baseline: float
    weight_current: float
    kpi_baseline: float | None
    kpi_current: float | None
    mix_effect: float
    rate_effect: float


class MixRate(_Frozen):
    """Shift-share of a KPI's account change over one dimension: change = mix + rate exactly."""

    dimension: str
    kpi: str
    weight: str
    kpi_baseline: float | None
    kpi_current: float | None
    change: float | None
    mix_effect: float | None
    rate_effect: float | None
    mix_share: float | None = Field(None, description="|mix| / (|mix| + |rate|).")
    segments: list[MixSegment]
    verdict: str


class Outage(_Frozen):
    """A day (in a segment or the account) where clicks are normal but purchases/revenue collapse."""

    date: date
    segment: dict[str, str]
    measure: str
    clicks: float
    expected_clicks: float
    observed: float
    expected: float
    drop: float
    window: str | None


class FatigueFinding(_Frozen):
    """CTR decay of one ad or creative message with its age (days since first seen)."""

    by: str
    key: str
    first_seen: date
    last_seen: date
    days_active: int
    impressions: float
    clicks: float
    ctr_start: float | None
    ctr_recent: float | None
    slope_per_day: float | None = Field(None, description="d log CTR / d day after onset.")
    decay_pct_per_week: float | None
    onset_date: date | None
    onset_age_days: int | None
    cumulative_impressions_at_onset: float | None
    dispersion: float | None
    p_value: float | None
    q_value: float | None = None
    fatigued: bool = False
    reason: str = ""


class EvidenceRow(_Frozen):
    """Sums a reader can recompute: rows of the canonical table in ``segment`` with ``start <= date
    <= end`` (minus ``excluded_dates``) where both ``numerator`` and ``denominator`` are known.
    ``window`` is 'baseline' or 'current', 'day' for a single day, 'reference' for the days an
    outage is compared with (both windows minus the flagged days)."""

    segment: dict[str, str]
    window: Literal["baseline", "current", "day", "reference"]
    start: date
    end: date
    excluded_dates: list[date] = Field(default_factory=list)
    numerator: str
    numerator_sum: float
    denominator: str
    denominator_sum: float
    kpi: str
    value: float | None
    days: int


class Impact(_Frozen):
    currency: str | None
    revenue_at_stake: float | None = Field(
        None, description="Current-window revenue gained (+) or lost (-) through this change."
    )
    spend_share: float | None = Field(None, description="Segment share of current-window spend.")


class Hypothesis(_Frozen):
    id: str
    kind: Kind
    title: str
    metric: str
    direction: Direction
    segment: dict[str, str]
    baseline: float | None
    current: float | None
    delta_pct: float | None = Field(None, description="current / baseline - 1 (plain ratio of sums).")
    rate_change_pct: float | None = Field(
        None, description="The tested change: the rate change with the mix of `mix_adjusted_by` held "
        "fixed, exp(log(A/E)) - 1 with A the current numerator and E the current denominators of each "
        "stratum at its baseline rate (equals delta_pct when mix_adjusted_by is None).")
    relative_change_pct: float | None = Field(
        None, description="Segments only: the segment's change relative to the rest of the account's, "
        "day-matched (shared daily shocks cancel).")
    ci: list[float] | None = Field(None, description="1 - alpha interval on rate_change_pct.")
    p_value: float | None = Field(None, description="Decision p-value (evaluate.decision_p / fatigue trend).")
    q_value: float | None = Field(None, description="Weighted Benjamini-Hochberg q-value over every test of the run.")
    confidence: float = Field(description="See stats.confidence: P(real, this direction, |effect| > min_effect).")
    impact: Impact
    status: Status
    reason: str
    evidence: list[EvidenceRow]
    actions: list[str]
    mix_adjusted_by: list[str] | None = Field(
        None, description="Dimensions whose mix the test holds fixed (strata); None = plain test.")
    explained_by: str | None = Field(None, description="Id of the hypothesis that explains this change.")


class Diagnosis(_Frozen):
    """The content of hypotheses.json."""

    schema_version: str = SCHEMA_VERSION
    windows: Windows
    currency: str | None
    dimensions: list[str]
    metrics: list[str]
    account_kpis: list[KpiChange]
    roas_decomposition: Decomposition | None
    cpa_decomposition: Decomposition | None
    mix_vs_rate: list[MixRate]
    outages: list[Outage]
    fatigue: list[FatigueFinding]
    hypotheses: list[Hypothesis]
    verdict: str
    summary: str
    settings: dict[str, float | int | str]
    notes: list[str] = Field(default_factory=list)

    @property
    def supported(self) -> list[Hypothesis]:
        return [h for h in self.hypotheses if h.status == "supported"]
