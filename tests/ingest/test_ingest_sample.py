"""The bundled sample through the library, the CLI runner and the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fb_analyst import schema as S
from fb_analyst.cli import app
from fb_analyst.ingest import write_ingest_outputs
from fb_analyst.kpis import RATIO_KPIS

REPO = Path(__file__).resolve().parents[2]
CAMPAIGNS = {
    "Men Signature Soft", "Men Bold Colors Drop", "Men ComfortMax Launch", "Men Premium Modal",
    "Men | Athleisure Cooling", "Women Cotton Classics", "Women Seamless Everyday", "Women Fit & Lift",
    "Women | Studio Sports", "Women Summer Invisible",
}


def test_rows_and_entities(sample_ingest):
    r = sample_ingest.report
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined, r.duplicates_removed) == (4500, 4500, 0, 0)
    camp = r.name_resolution[S.CAMPAIGN]
    assert camp.raw_names == 367 and camp.canonical_names == 10
    assert set(camp.canonical) == CAMPAIGNS and set(camp.canonical.values()) == {450}
    assert sum(a.rows for a in camp.audit) == 4500
    assert {a.rule for a in camp.audit} == {"exact", "normalised", "fuzzy"}
    assert r.name_resolution[S.ADSET].canonical_names == 25  # Adset-1 vs Adset-2, LAL1 vs LAL2 kept apart


def test_imputations_by_rule_and_flags(sample_ingest, sample_canonical):
    rules = {(i.measure, i.rule): i.rows for i in sample_ingest.report.imputations}
    assert rules == {
        ("clicks", "clicks = ctr x impressions"): 152,
        ("spend", "spend = revenue / roas"): 102,
        ("revenue", "revenue = roas x spend"): 131,
    }
    assert int(sample_canonical[S.imputed_flag(S.CLICKS)].sum()) == 152
    # what cannot be recovered stays missing, never 0
    assert int(sample_canonical[S.SPEND].isna().sum()) == 113 - 102
    assert sample_ingest.report.missingness[S.REVENUE].missing == 2


def test_kpis_are_ratio_of_sums_with_coverage(sample_ingest, sample_canonical):
    kpis = sample_ingest.report.kpis
    c = sample_canonical
    for k in RATIO_KPIS:
        both = c[k.numerator].notna() & c[k.denominator].notna()
        expected = k.scale * c.loc[both, k.numerator].sum() / c.loc[both, k.denominator].sum()
        assert kpis.kpis[k.name].value == pytest.approx(expected, rel=1e-12)
        assert kpis.kpis[k.name].coverage == pytest.approx(both.mean(), abs=1e-6)
    row_mean_ctr = (c[S.CLICKS] / c[S.IMPRESSIONS]).mean()
    assert kpis.kpis["ctr"].value != pytest.approx(row_mean_ctr, rel=1e-6)


def test_canonical_types_and_absent_dimensions(sample_ingest):
    schema = sample_ingest.table.schema()
    assert schema[S.DATE].is_date()
    assert schema[S.SPEND].is_float64() and schema[S.CLICKS].is_int64()
    assert schema[S.CAMPAIGN].is_string()
    for absent in (S.AD, S.ACCOUNT, S.PLACEMENT, S.AGE):
        assert absent not in schema.names
    assert sample_ingest.report.schema_version == "1.0" and sample_ingest.report.drift is None


def test_write_outputs(sample_ingest, tmp_path):
    write_ingest_outputs(sample_ingest, tmp_path)
    frame = pd.read_parquet(tmp_path / "canonical.parquet")
    assert len(frame) == 4500 and frame[S.CAMPAIGN].nunique() == 10
    dq = json.loads((tmp_path / "data_quality.json").read_text())
    assert dq["schema_version"] == "1.0" and dq["rows_read"] == 4500
    assert list(pd.read_csv(tmp_path / "quarantine.csv").columns[:3]) == ["source_file", "source_row", "reason"]


def _check_cli_output(text: str, out: Path) -> None:
    assert "4,500 rows read" in text
    assert "10 campaigns resolved from 367 raw spellings" in text
    assert "clicks = ctr x impressions" in text and "152" in text
    assert "ratio of sums" in text
    assert json.loads((out / "data_quality.json").read_text())["rows_accepted"] == 4500


def test_cli_runner(sample_csv_path, tmp_path):
    result = CliRunner().invoke(app, ["ingest", str(sample_csv_path), "--out", str(tmp_path / "out")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    _check_cli_output(result.stdout, tmp_path / "out")


def test_console_script(sample_csv_path, tmp_path):
    exe = Path(sys.executable).parent / "fb-analyst"
    proc = subprocess.run([str(exe), "ingest", str(sample_csv_path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    _check_cli_output(proc.stdout, tmp_path / "out")
