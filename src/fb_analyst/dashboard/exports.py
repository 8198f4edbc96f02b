"""Downloads: the JSON outputs and HTML report of ``fb-analyst run`` for the current selection,
and the name-override (correction) file for the ingest stage.

The files are produced by the same writers the CLI uses (:func:`fb_analyst.pipeline.run.write_stage_outputs`,
:func:`fb_analyst.report.write_reports`) in a temporary folder and handed to the browser as bytes.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from fb_analyst.outputs import neutralise_csv_cell



def name_audit_frame(report: Any) -> pd.DataFrame:
    """Every raw spelling with the canonical name ingest chose, rows, score and rule."""
    rows = [{"level": level, "raw_name": a.raw, "canonical_name": a.canonical, "rows": a.rows,
             "score": a.score, "rule": a.rule}
            for level, res in report.name_resolution.items() for a in res.audit]
    cols = ["level", "raw_name", "canonical_name", "rows", "score", "rule"]
    return pd.DataFrame(rows, columns=cols)


def overrides_csv(audit: pd.DataFrame) -> bytes:
    """The correction file ``ingest.name_overrides_file`` reads: ``raw_name,canonical_name,level``."""
    out = audit[["raw_name", "canonical_name", "level"]].copy()
    out = out[out["canonical_name"].astype(str).str.strip() != ""]
    return out.map(neutralise_csv_cell).to_csv(index=False).encode("utf-8")




def output_files(analysis: Any) -> dict[str, bytes]:
    """The JSON outputs of ``fb-analyst run`` (plus quarantine.csv) for ``analysis``, in memory."""
    from fb_analyst.pipeline.run import write_stage_outputs

    with tempfile.TemporaryDirectory(prefix="fb-analyst-export-") as tmp:
        out = Path(tmp)
        write_stage_outputs(analysis, out, include_canonical=False)
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def report_html(analysis: Any, run_id: str) -> bytes:
    """``report.html`` for ``analysis`` (self-contained, opens offline)."""
    from fb_analyst.report import write_reports

    with tempfile.TemporaryDirectory(prefix="fb-analyst-report-") as tmp:
        write_reports(analysis, tmp, run_id=run_id)
        return (Path(tmp) / "report.html").read_bytes()


def outputs_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()
