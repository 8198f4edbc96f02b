"""The ingest result records (``DataQualityReport``, ``IngestResult``), their writer and summary.

``data_quality.json`` is ``DataQualityReport`` (schema_version "1.0"): rows read = accepted +
quarantined + duplicates removed, always; per-file detection decisions; name-resolution audit;
imputations by rule; soft warnings with examples; per-column missingness; account KPI totals
(ratio of sums over the rows where both inputs are known, with coverage); a ``drift`` slot that
the run-history stage fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from fb_analyst.kpis import KpiValue


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class FileStats(_Frozen):
    """What was detected in one input file and what became of its rows."""

    path: str
    format: str = Field(description="csv | tsv | xlsx | parquet | json")
    source_kind: str = Field(description="sample_schema | ads_manager | marketing_api | generic")
    delimiter: str | None = None
    encoding: str | None = None
    bom: bool = False
    decimal_mark: str | None = None
    decimal_evidence: str | None = None
    date_order: str = Field(description="ymd | dmy | mdy")
    date_order_evidence: str
    currency: str
    currency_source: str
    column_sources: dict[str, str] = Field(description="canonical/helper column -> raw header used")
    unmapped_columns: list[str] = Field(default_factory=list)
    blank_results_are_zero: bool = Field(
        False, description="Ads Manager: blank results cells (clicks, purchases, value, ROAS) read as 0"
    )
    purchase_action_types: dict[str, int] | None = Field(
        None, description="Marketing API: rows whose purchases came from each action type (counted once)"
    )
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    duplicates_removed: int


class NameAuditEntry(_Frozen):
    raw: str
    canonical: str
    rows: int
    score: float = Field(description="rapidfuzz similarity (0-100) of the normalised spelling to its entity")
    rule: str = Field(description="exact | normalised | fuzzy | override")


class NameResolution(_Frozen):
    level: str
    raw_names: int
    canonical_names: int
    canonical: dict[str, int] = Field(description="canonical name -> rows")
    audit: list[NameAuditEntry]


class Imputation(_Frozen):
    measure: str
    rule: str
    rows: int


class AnomalyWarning(_Frozen):
    kind: str
    description: str
    rows: int
    examples: list[str] = Field(description="'file:row' of up to 5 example rows")


class Missingness(_Frozen):
    missing: int
    share: float


class KpiTotals(_Frozen):
    rows: int
    totals: dict[str, float | None] = Field(description="sum of each measure over rows where it is known")
    known_rows: dict[str, int]
    kpis: dict[str, KpiValue] = Field(description="ratio of sums over rows with both inputs known; coverage = share of rows")


class DataQualityReport(_Frozen):
    """Contents of data_quality.json."""

    schema_version: str = "1.0"
    inputs: list[str]
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    quarantined_by_reason: dict[str, int] = Field(description="reason code -> rows (a row may have several)")
    reason_descriptions: dict[str, str]
    duplicates_removed: int
    files: list[FileStats]
    currency: str = Field(description="the single currency, or 'mixed' (see warnings)")
    columns: list[str] = Field(description="columns of the canonical table")
    date_range: tuple[str, str] | None = None
    name_resolution: dict[str, NameResolution]
    imputations: list[Imputation]
    warnings: list[AnomalyWarning]
    missingness: dict[str, Missingness]
    kpis: KpiTotals
    drift: dict[str, Any] | None = None


@dataclass(frozen=True)
class IngestResult:
    """The ingest stage's output: the canonical table in the engine, its report, rejected rows."""

    table: ibis.Table
    report: DataQualityReport
    quarantine: pd.DataFrame


def write_ingest_outputs(result: IngestResult, out_dir: Path, *, include_canonical: bool = True) -> None:
    """Write canonical.parquet, data_quality.json and quarantine.csv into ``out_dir``.

    ``include_canonical=False`` leaves the (large) table out, e.g. for the dashboard's downloads."""
    from fb_analyst.outputs import write_csv, write_json

    out_dir = Path(out_dir)
    if include_canonical:
        result.table.to_parquet(out_dir / "canonical.parquet")
    write_json(result.report, out_dir / "data_quality.json")
    write_csv(result.quarantine, out_dir / "quarantine.csv")


def render_ingest_summary(result: IngestResult) -> Any:
    """A Rich renderable: rows, files, entities with the audit, imputations, warnings, KPIs."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    r = result.report
    parts: list[Any] = []
    head = Text()
    head.append(
        f"{r.rows_read:,} rows read · {r.rows_accepted:,} accepted · {r.rows_quarantined:,} quarantined"
        f" · {r.duplicates_removed:,} duplicates removed\n"
    )
    if r.quarantined_by_reason:
        head.append("quarantined by reason: " + ", ".join(f"{k} {v:,}" for k, v in r.quarantined_by_reason.items()) + "\n")
    if r.date_range:
        head.append(f"dates {r.date_range[0]} .. {r.date_range[1]} · currency {r.currency}\n")
    parts.append(head)
    files = Table(title="Inputs")
    for col in ("file", "format", "read as", "rows"):
        files.add_column(col, overflow="fold")
    for f in r.files:
        how = [f.source_kind]
        if f.delimiter:
            how.append(f"{f.delimiter}-separated, {f.encoding}{' + BOM' if f.bom else ''}")
        if f.decimal_mark:
            how.append(f"decimal '{f.decimal_mark}'")
        how.append(f"dates {f.date_order} ({f.date_order_evidence})")
        how.append(f"currency {f.currency}")
        if f.purchase_action_types:
            how.append("purchases from " + ", ".join(f"{k} ({v:,})" for k, v in f.purchase_action_types.items()))
        files.add_row(Path(f.path).name, f.format, "; ".join(how), f"{f.rows_read:,}")
    parts.append(files)
    for level, res in r.name_resolution.items():
        t = Table(title=f"{res.canonical_names} {level}s resolved from {res.raw_names} raw spellings")
        t.add_column(level)
        t.add_column("rows", justify="right")
        t.add_column("spellings", justify="right")
        t.add_column("lowest score", justify="right")
        for name, rows in res.canonical.items():
            members = [a for a in res.audit if a.canonical == name]
            t.add_row(name, f"{rows:,}", str(len(members)), f"{min(a.score for a in members):.1f}")
        parts.append(t)
    if r.imputations:
        t = Table(title="Imputations (recomputed from the same row)")
        t.add_column("rule")
        t.add_column("rows", justify="right")
        for imp in r.imputations:
            t.add_row(imp.rule, f"{imp.rows:,}")
        parts.append(t)
    if r.warnings:
        t = Table(title="Warnings (rows kept)")
        t.add_column("kind")
        t.add_column("rows", justify="right")
        t.add_column("examples")
        for w in r.warnings:
            t.add_row(w.kind, f"{w.rows:,}", ", ".join(w.examples[:3]))
        parts.append(t)
    kpi_text = " · ".join(
        f"{name.upper()} {_fmt(name, v)} (coverage {v.coverage:.1%})" if v.value is not None and v.coverage is not None
        else f"{name.upper()} n/a ({v.undefined_reason})"
        for name, v in r.kpis.kpis.items()
    )
    parts.append(Text(f"KPIs (ratio of sums over rows with both inputs known): {kpi_text}"))
    return Group(*parts)


def _fmt(name: str, v: KpiValue) -> str:
    from fb_analyst.kpis import get_kpi

    return get_kpi(name).fmt.format(v.value)
