"""Every bad-input class: exit code 2, one exact line on stderr, previous outputs untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fb_analyst.cli import app
from fb_analyst.ingest.readers import SUPPORTED


def _write(tmp: Path, name: str, content: bytes) -> Path:
    p = tmp / name
    p.write_bytes(content)
    return p


CASES = {
    "missing_file": (lambda t: t / "nope.csv", "{p}: file not found; check the path and the file name"),
    "no_glob_match": (lambda t: t / "none_*.csv", "{p}: no file matches this pattern; check the glob and the folder"),
    "empty_file": (lambda t: _write(t, "empty.csv", b""),
                   "{p}: file is empty; export the report again with at least one row"),
    "header_only": (lambda t: _write(t, "header.csv", b"date,campaign_name,spend,impressions\n"),
                    "{p}: has a header but no data rows; export the report again with at least one row"),
    "binary_file": (lambda t: _write(t, "image.csv", bytes(range(256)) * 4),
                    "{p}: binary file, not a text or spreadsheet export; export the report as CSV, XLSX, JSON or Parquet"),
    "unknown_format": (lambda t: _write(t, "report.xml", b"<?xml version='1.0'?><rows></rows>"),
                       "{p}: unknown format '.xml'; supported: " + SUPPORTED),
    "all_rows_invalid": (
        lambda t: _write(t, "bad.csv", b"date,campaign_name,spend,impressions\n"
                         b"2025-01-01,A,-1,10\n2025-01-02,B,-2,10\nnot a date,C,3,10\n"),
        "{p}: every one of its 3 rows is invalid (negative_spend 2, unparseable_date 1; "
        "e.g. row 2: negative_spend); fix those cells or export the report again",
    ),
    "missing_required_columns": (
        lambda t: _write(t, "cols.csv", b"Day,Campaign name,Clicks\n2025-01-01,A,3\n"),
        "{p}: missing required columns spend, impressions (found: Day, Campaign name, Clicks; "
        "needed: date, campaign, spend, impressions); rename those headers or map them under "
        "ingest.column_mapping in the --config file",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exit_2_exact_message_outputs_untouched(case, tmp_path):
    make, template = CASES[case]
    path = make(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    previous = {"canonical.parquet": b"previous run", "data_quality.json": b'{"old": true}'}
    for name, content in previous.items():
        (out / name).write_bytes(content)
    result = CliRunner().invoke(app, ["ingest", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == "error: " + template.format(p=path)
    assert len(result.stderr.strip().splitlines()) == 1
    for name, content in previous.items():
        assert (out / name).read_bytes() == content
    assert not (out / "quarantine.csv").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]
