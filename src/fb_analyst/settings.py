"""One typed Settings object: defaults in code, overrides from a YAML file and the environment.

Precedence (highest first): explicit keyword overrides > environment (``FB_ANALYST_<SECTION>__<FIELD>``,
e.g. ``FB_ANALYST_DIAGNOSE__FDR_Q=0.05``) > YAML file (``--config FILE``) > defaults below.
Parsed once at start-up and passed down; no module reads ``os.environ`` itself.
Every threshold the analyses use is a named, documented field here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from fb_analyst.errors import ConfigError


class IngestSettings(BaseModel):
    column_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="User mapping raw header -> canonical column, applied before built-in aliases.",
    )
    name_overrides_file: Path | None = Field(
        None, description="CSV raw_name,canonical_name forcing entity-name resolution."
    )
    fuzzy_threshold: float = Field(
        90.0, description="rapidfuzz score (0-100) above which two normalised names are merged."
    )
    ctr_tolerance: float = Field(
        0.1, description="Relative disagreement of a ctr column with clicks/impressions that warns."
    )
    default_currency: str = Field("USD", description="Currency when the input does not say.")
    purchase_action_types: list[str] = Field(
        default_factory=lambda: [
            "omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase",
            "onsite_web_purchase", "onsite_web_app_purchase", "web_in_store_purchase",
        ],
        description="Marketing API action types meaning a purchase, in preference order; "
        "each row counts the first one present (once).",
    )
    decision_sample_rows: int = Field(
        50_000, ge=100, description="Rows per file read to decide the decimal mark and date order."
    )
    disk_stage_rows: int = Field(
        2_000_000, ge=0, description="Inputs estimated above this many rows are staged in a temporary "
        "on-disk DuckDB database (compressed, bounded memory) instead of in memory.",
    )
    disk_stage_memory_limit: str = Field(
        "1GB", description="DuckDB memory_limit while a large (disk-staged) input is ingested; the "
        "connection's own limit is restored afterwards.",
    )
    date_order: Literal["auto", "dmy", "mdy", "ymd"] = Field(
        "auto", description="Order of day/month in ambiguous dates; auto decides from the data."
    )


class WindowSettings(BaseModel):
    current_days: int = Field(7, ge=1, description="Length of the current window (days).")
    baseline_days: int = Field(7, ge=1, description="Length of the baseline window (days).")
    wow_days: int = Field(7, ge=1, description="Window length of the week-over-week preset (days).")
    mom_days: int = Field(
        28, ge=1,
        description="Window length of the month-over-month preset (days); 28 keeps the weekday mix equal.",
    )
    partial_day_ratio: float = Field(
        0.5, gt=0, lt=1,
        description="An edge day (first/last in the data) whose impressions, spend or row count is below "
        "this share of the median of its neighbouring days is reported as partial (export cut mid-day).",
    )
    partial_day_reference_days: int = Field(
        7, ge=2, description="Neighbouring days whose median is the reference for partial-day detection."
    )
    exclude_partial_days: bool = Field(
        False,
        description="When True, default (days-based) windows end before a partial last day and start "
        "after a partial first day; when False partial days are only reported.",
    )


class DiagnoseSettings(BaseModel):
    fdr_q: float = Field(0.10, gt=0, lt=1, description="Benjamini-Hochberg false discovery rate.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level for single tests/intervals.")
    min_spend_share: float = Field(
        0.02, ge=0, le=1, description="Minimum share of account spend for a segment to be tested."
    )
    min_impressions: int = Field(1000, ge=0, description="Minimum impressions per window per segment.")
    min_effect: float = Field(
        0.05, ge=0, description="Minimum practical relative change (|delta|) for a supported hypothesis."
    )
    max_depth: int = Field(2, ge=1, le=3, description="Maximum number of dimensions combined in a segment.")
    max_hypotheses: int = Field(20, ge=1, description="Maximum hypotheses written.")
    outage_drop: float = Field(
        0.8, gt=0, le=1, description="Relative drop of purchases with normal clicks flagged as an outage."
    )
    min_confidence: float = Field(
        0.0, ge=0, lt=1, description="Minimum confidence (posterior probability of an effect beyond "
        "min_effect in its direction) for 'supported'. The status rule already requires 0.5 on top of FDR "
        "significance; a higher value is stricter, a lower one has no effect."
    )
    outage_min_expected: float = Field(
        10.0, ge=0, description="Minimum expected purchases on a day (clicks x reference CVR) for a "
        "collapse to be flagged as a tracking outage (fewer cannot be told from chance)."
    )
    outage_clicks_band: float = Field(
        0.5, gt=0, lt=1, description="Clicks count as normal on a day within [band, 1/band] x their "
        "median over the analysed days."
    )


class CreativeSettings(BaseModel):
    embedder: Literal["auto", "sentence-transformers", "tfidf"] = Field(
        "auto", description="auto = the all-MiniLM-L6-v2 model (its packaged weights run by the built-in "
        "numpy encoder, same vectors as sentence-transformers; other models through sentence-transformers) "
        "when installed, else TF-IDF/LSA (reported)."
    )
    model_name: str = Field(
        "all-MiniLM-L6-v2", description="Sentence-transformers model name or local path."
    )
    min_themes: int = Field(2, ge=2)
    max_themes: int = Field(12, ge=2)
    low_ctr_quantile: float = Field(
        0.34, gt=0, lt=1, description="Campaigns below this CTR quantile count as low-CTR."
    )
    suggestions_per_campaign: int = Field(3, ge=1)
    max_primary_text_chars: int = Field(125, description="Meta's primary-text guidance (chars).")
    ab_power: float = Field(0.8, gt=0, lt=1, description="Power for A/B test sizing.")
    cache_dir: Path | None = Field(
        None, description="Optional on-disk embedding cache (one .npy per text hash); None = in-process only."
    )
    batch_size: int = Field(64, ge=1, description="Texts per embedding batch.")
    mask_template_slots: bool = Field(
        True,
        description="Before clustering, drop words that messages swap in and out of otherwise identical "
        "copy (product, material, discount slots) so themes group by what is said, not which product.",
    )
    guide_with_angles: bool = Field(
        True,
        description="Seed the clustering with well-known ad-copy angles (comfort, price, urgency, ...): "
        "themes start at the angles nearest to some message and k-means refines them; the data "
        "decides which angles exist and who belongs where. False = plain k-means with k from silhouette.",
    )
    min_angle_similarity: float = Field(
        0.2, ge=-1, le=1,
        description="Cosine similarity to the nearest angle below which a message is clustered "
        "on its own (no angle fits it).",
    )
    stability_min: float = Field(
        0.8, ge=0, le=1, description="Minimum subsample stability (mean ARI) for a number of themes to be chosen."
    )
    verdict_metric: Literal["ctr", "cvr", "roas"] = Field(
        "ctr", description="KPI whose context-adjusted effect decides a theme's winner/loser verdict."
    )
    control_for_date: bool = Field(
        True, description="Add day fixed effects to the theme comparison (themes that ran in good weeks)."
    )
    cv_folds: int = Field(5, ge=2, description="Grouped (by message) CV folds for the CTR model.")
    hooks_per_theme: int = Field(4, ge=1, description="Opening phrases taken from each winning theme.")


class ForecastSettings(BaseModel):
    engine: Literal["statsforecast", "prophet"] = "statsforecast"
    horizon: int = Field(7, description="Forecast horizon in days (7 or 14).")
    backtest_origins: int = Field(4, ge=1)
    min_history_days: int = Field(21, ge=7, description="Shorter series get a simpler model or none.")
    budget_total: float | None = Field(None, description="Daily budget to allocate; None = run-rate.")
    budget_change_bound: float = Field(0.30, ge=0, le=1, description="Max relative change per campaign.")
    bootstrap_samples: int = Field(200, ge=20)
    models: list[str] = Field(
        default_factory=lambda: ["HistoricAverage", "SeasonalNaive", "AutoETS", "AutoTheta", "Ensemble"],
        description="statsforecast candidates chosen per series by backtest; also available: Naive, "
        "AutoARIMA (left out by default: no accuracy gain for their cost, see BENCHMARKS.md). "
        "Ensemble = mean of the AutoETS/AutoTheta/AutoARIMA candidates present.",
    )
    ratio_method: Literal["components", "direct", "auto"] = Field(
        "components", description="Ratio KPIs (CTR, CPC, CVR, ROAS): forecast(num)/forecast(den) (default: "
        "as accurate as the alternatives in BENCHMARKS.md, ratio-of-sums, no extra fits), the ratio's own "
        "daily series, or per series whichever has the lower backtest MASE.",
    )
    selection_tolerance: float = Field(
        0.15, ge=0, description="A simpler model (the historic mean first) within this relative backtest "
        "MASE of the best is chosen instead: a few backtest weeks cannot tell smaller gains from luck.",
    )
    ets_model: str = Field(
        "ZZA", pattern=r"^[ZAM][ZNAM]d?[ZNAM]$",
        description="AutoETS search space (error, trend, season; Z = chosen by AICc among undamped forms, "
        "see forecast/models.py). ZZA (additive weekly season): same accuracy as ZZZ on the sample, better "
        "on trend+weekday data, ~2x faster (BENCHMARKS.md).",
    )
    backtest_refit: bool = Field(
        False, description="Re-estimate statsforecast parameters at every backtest origin (about 4x slower); "
        "False estimates them at the first origin and updates the state with later data.",
    )
    max_gap_days: int = Field(
        3, ge=0, description="Gaps up to this many days are interpolated; history before a longer gap is dropped."
    )
    outage_zero_share: float = Field(
        0.2, ge=0, le=1, description="Zero days while ads ran, in a series with at most this share of zeros, "
        "are treated as tracking outages (missing), not real zeros.",
    )
    min_curve_days: int = Field(14, ge=3, description="Days with spend and revenue needed to fit a response curve.")
    min_spend_cv: float = Field(
        0.1, ge=0, description="Minimum coefficient of variation of daily spend to fit a response curve; "
        "below it the campaign keeps its budget.",
    )


class LLMSettings(BaseModel):
    enabled: bool = False
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key: str | None = None


class DashboardSettings(BaseModel):
    max_upload_mb: int = Field(200, ge=1)


class Settings(BaseSettings):
    """All settings. Construct with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="FB_ANALYST_", env_nested_delimiter="__", extra="forbid"
    )

    engine: Literal["duckdb", "pyspark"] = Field("duckdb", description="Ibis backend.")
    memory_limit: str | None = Field(
        "1GB", pattern=r"(?i)^\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)\s*$",
        description="DuckDB memory_limit for a run (e.g. 1GB, 4GiB); beyond it DuckDB spills to a "
        "private temporary folder instead of growing. Unset (null) = DuckDB's default, 80% of RAM.",
    )
    seed: int = Field(0, description="Seed for every random step (bootstrap, clustering).")
    log_level: str = "INFO"
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    windows: WindowSettings = Field(default_factory=WindowSettings)
    diagnose: DiagnoseSettings = Field(default_factory=DiagnoseSettings)
    creative: CreativeSettings = Field(default_factory=CreativeSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, an optional YAML file, the environment and overrides.

    Raises ConfigError (exit 2) naming the file and the invalid field.
    """
    data: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path}: not found; pass an existing YAML file to --config")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path}: not valid YAML ({exc})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: top level must be a mapping of setting names")
        data = loaded
    data = _deep_merge(data, overrides)
    try:
        # YAML values are passed as init kwargs; environment variables override them below.
        file_settings = Settings.model_validate(data) if data else None
        env_only = Settings()
        if file_settings is None:
            return env_only
        merged = _deep_merge(
            file_settings.model_dump(), env_only.model_dump(exclude_defaults=True)
        )
        merged = _deep_merge(merged, overrides)
        return Settings.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        src = f"config file {config_file}" if config_file else "settings"
        raise ConfigError(f"{src}: {where}: {first['msg']} (got {first.get('input')!r})") from None
