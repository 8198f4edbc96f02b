"""Data-quality and drift part of the report's view model."""

from __future__ import annotations

from typing import Any

from fb_analyst.pipeline.analysis import Analysis, field_of

#: Scalar data_quality.json fields shown first when the ingest report has them.
_COUNTS = ("rows_read", "rows_accepted", "rows_quarantined", "duplicates_removed", "summary_rows_removed")


def _scalar_items(data: dict[str, Any]) -> list[tuple[str, str]]:
    keys = [k for k in _COUNTS if k in data] + sorted(
        k for k, v in data.items() if k not in _COUNTS and isinstance(v, (int, float, str, bool)) and k != "schema_version")
    return [(k.replace("_", " "), f"{data[k]:,}" if isinstance(data[k], int) and not isinstance(data[k], bool)
             else str(data[k])) for k in keys]


def quality_view(analysis: Analysis, drift: Any) -> dict[str, Any]:
    report = field_of(analysis.ingest, "report")
    data: dict[str, Any] = report.model_dump(mode="json") if hasattr(report, "model_dump") else (report or {})
    quarantine = data.get("quarantined_by_reason") or data.get("quarantine_reasons") or {}
    warnings = data.get("warnings") or []
    return {
        "available": bool(data),
        "reason": None if data else "the table was given by the caller (no ingest report)",
        "counts": _scalar_items(data) if data else [],
        "quarantine": [(str(k), str(v)) for k, v in quarantine.items()] if isinstance(quarantine, dict) else [],
        "warnings": [(f"{w.get('kind')}: {w.get('description')}", f"{w.get('rows', 0):,} rows")
                     for w in warnings if isinstance(w, dict)] if isinstance(warnings, list) else [],
        "drift": None if drift is None else {
            "previous_run_id": drift.previous_run_id, "summary": list(drift.summary),
            "kpis": [{"kpi": k.kpi.upper(), "status": k.status, "psi": "n/a" if k.psi is None else f"{k.psi:.3f}",
                      "p": "n/a" if k.ks_p_value is None else f"{k.ks_p_value:.2g}"} for k in drift.kpis],
        },
    }
