"""Ingestion: exports people really have (CSV/TSV, XLSX, Parquet, Marketing API JSON) -> canonical table.

Public API (the CLI, the pipeline and the dashboard call these)::

    result = ingest_files(["export.csv"], settings)      # IngestResult
    result.table        # ibis.Table: the canonical table in the engine (schema.py names)
    result.report       # DataQualityReport -> data_quality.json
    result.quarantine   # pandas DataFrame: source_file, source_row, reason, raw columns
    write_ingest_outputs(result, out_dir)                # canonical.parquet, data_quality.json, quarantine.csv
    render_ingest_summary(result)                        # Rich renderable

Modules: readers (formats, encodings, delimiters), mapping (headers), parsing (numbers, dates),
prepare (per-file cleaning expression), validate (recovery, hard/soft rules, pandera schema),
names (mojibake repair, entity resolution), stage (orchestration), summaries/report (the record).
"""

from fb_analyst.ingest.report import (
    DataQualityReport,
    IngestResult,
    render_ingest_summary,
    write_ingest_outputs,
)
from fb_analyst.ingest.stage import ingest_files

__all__ = [
    "DataQualityReport",
    "IngestResult",
    "ingest_files",
    "render_ingest_summary",
    "write_ingest_outputs",
]
