"""Result records of the creative stage: ``creative_clusters.json`` and ``creatives.json``.

Frozen pydantic models (JSON-safe: no NaN/inf; undefined numbers are ``None`` with a reason).
``ThemeClusters`` holds the themes (how they were found, labels, members, performance, verdicts);
``CreativeFindings`` holds fatigue, the CTR model's validation and the recommendations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

Verdict = Literal["winner", "loser", "neutral"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class EmbedderInfo(_Frozen):
    name: str = Field(description="Embedder used, e.g. sentence-transformers:all-MiniLM-L6-v2 or tfidf-lsa.")
    fallback_reason: str | None = Field(None, description="Why the default embedder was not used.")
    dimensions: int
    n_messages: int = Field(description="Distinct messages embedded.")


class KScore(_Frozen):
    k: int
    partition: str = Field("k-means", description="Which partition the scores belong to.")
    silhouette: float | None = Field(description="Mean cosine silhouette of the k-means partition.")
    stability: float | None = Field(
        description="Mean adjusted Rand index between the full partition and partitions of random "
        "80% subsamples (1 = the same themes come back)."
    )


class KSelection(_Frozen):
    method: str
    chosen_k: int
    rule: str = Field(description="How k was chosen, in words.")
    scores: list[KScore]


class Keyword(_Frozen):
    term: str
    score: float = Field(description="c-TF-IDF weight of the term in this theme.")


class Interval(_Frozen):
    value: float | None
    lower: float | None = None
    upper: float | None = None
    level: float | None = Field(None, description="Coverage of [lower, upper], e.g. 0.95.")
    undefined_reason: str | None = None


class ThemeKpi(Interval):
    n_days: int = Field(0, description="Days with data (the unit of the interval).")


class AdjustedEffect(_Frozen):
    metric: str
    rate_ratio: float | None = Field(
        description="Theme's rate relative to the average theme, holding the context mix fixed."
    )
    lower: float | None = None
    upper: float | None = None
    p_value: float | None = None
    q_value: float | None = Field(None, description="Benjamini-Hochberg adjusted p-value.")
    verdict: Verdict = "neutral"
    undefined_reason: str | None = None


class Theme(_Frozen):
    id: str
    label: str
    keywords: list[Keyword]
    representative_message: str
    members: list[str]
    n_messages: int
    impressions: float
    spend: float | None
    kpis: dict[str, ThemeKpi] = Field(description="ctr, cvr, roas: ratio of sums with day-level intervals.")
    effects: dict[str, AdjustedEffect] = Field(description="Context-adjusted effects per KPI.")
    verdict: Verdict
    verdict_metric: str
    p_value: float | None
    q_value: float | None


class ThemeClusters(_Frozen):
    """``creative_clusters.json``."""

    schema_version: str = SCHEMA_VERSION
    embedder: EmbedderInfo
    k_selection: KSelection
    period: dict[str, str | None] = Field(description="First and last date the performance covers.")
    performance_method: str
    controls: list[str] = Field(description="Dimensions held fixed when comparing themes.")
    fdr_q: float
    min_effect: float
    themes: list[Theme]
    notes: list[str] = Field(default_factory=list)

    def theme_of(self) -> dict[str, str]:
        """message -> theme id."""
        return {m: t.id for t in self.themes for m in t.members}


class FatigueReport(_Frozen):
    source: str = Field(description="Where the findings come from (the diagnosis' detector).")
    available: bool
    reason: str | None = None
    by_message: list[dict[str, Any]] = Field(default_factory=list)
    by_theme: list[dict[str, Any]] = Field(default_factory=list)


class CalibrationBin(_Frozen):
    predicted_ctr: float
    observed_ctr: float
    impressions: float
    n_cells: int


class CtrModelReport(_Frozen):
    model: str
    features: list[str]
    n_cells: int
    n_messages: int
    cv_folds: int
    cv_grouping: str
    alpha: float | None = Field(None, description="Ridge penalty chosen by grouped CV.")
    spearman_message: float | None = Field(description="Out-of-fold rank correlation, message level.")
    spearman_message_p: float | None
    spearman_cell: float | None = Field(description="Out-of-fold rank correlation, message x context cell.")
    spearman_context_only: float | None = Field(
        description="Same score for a model that sees context but not text (the bar text must beat)."
    )
    spearman_text: float | None = Field(
        None,
        description="Out-of-fold rank correlation, over held-out messages, between the CTR beyond what "
        "their context predicts (observed / context-only prediction) and the text's predicted part "
        "(full / context-only prediction): the model's skill on copy itself.",
    )
    spearman_text_p: float | None = None
    calibration_slope: float | None = Field(description="Observed logit CTR on predicted (1 = calibrated).")
    calibration_intercept: float | None
    calibration_bins: list[CalibrationBin]
    has_predictive_power: bool
    statement: str
    interval_method: str


class ABTestPlan(_Frozen):
    baseline_ctr: float
    target_ctr: float
    expected_lift: float = Field(description="Relative CTR lift the test is sized to detect.")
    lift_source: str
    impressions_per_arm: int
    alpha: float
    power: float
    two_sided: bool = True
    method: str = "two-proportion z-test (normal approximation), equal arms"


class Suggestion(_Frozen):
    text: str
    theme: str = Field(description="Theme id whose phrasing the message borrows.")
    theme_label: str
    rationale: str
    hypothesis_ids: list[str]
    predicted_ctr: Interval
    ab_test: ABTestPlan


class CampaignRecommendations(_Frozen):
    campaign: str
    current_ctr: float | None
    selected_by: Literal["diagnosis", "quantile"]
    hypothesis_ids: list[str]
    suggestions: list[Suggestion]


class CreativeFindings(_Frozen):
    """``creatives.json``."""

    schema_version: str = SCHEMA_VERSION
    fatigue: FatigueReport
    ctr_model: CtrModelReport | None
    low_ctr_selection: str = Field(description="How the low-CTR campaigns were chosen, in words.")
    recommendations: list[CampaignRecommendations]
    notes: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class CreativeResult:
    """What :func:`fb_analyst.creative.analyze_creatives` returns."""

    clusters: ThemeClusters
    creatives: CreativeFindings
