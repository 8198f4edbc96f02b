"""run_pipeline / `fb-analyst run`: outputs, run.json, atomicity on failure, the CLI surface."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from fb_analyst import schema as S
from fb_analyst.cli import app
from fb_analyst.pipeline import run_pipeline
from fb_analyst.windows import WindowSpec

QUICK = ("ingest", "windows", "segments", "diagnose")


def _quiet() -> Console:
    return Console(file=open("/dev/null", "w"), width=120)  # noqa: SIM115


def test_run_writes_outputs_and_a_complete_manifest(write_export, fast_settings, tmp_path):
    path = write_export()
    out = tmp_path / "out"
    result = run_pipeline([str(path)], out, WindowSpec(), fast_settings, run_id="abc123", console=_quiet(),
                          stages=QUICK)
    for name in ("canonical.parquet", "data_quality.json", "quarantine.csv", "kpis.json", "hypotheses.json",
                 "report.md", "report.html", "run.json"):
        assert (out / name).is_file(), name
    assert not (out / "forecast.json").exists()  # skipped stages write nothing
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["run_id"] == "abc123" and manifest["schema_version"] == "1.0"
    assert manifest["inputs"][0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [s["name"] for s in manifest["stages"]] == [
        "ingest", "windows", "segments", "diagnose", "creative", "forecast", "report"]
    assert manifest["skipped"]["forecast"] == "not requested by the caller"
    assert "duckdb" in manifest["versions"] and "python" in manifest["versions"]
    assert manifest["settings"]["creative"]["embedder"] == "tfidf"
    assert manifest["headline"] == result.headline.text
    assert (out / "runs" / "abc123" / "snapshot.json").is_file()
    assert not list(out.glob(".staging-*"))


def test_secrets_are_redacted_in_run_json(write_export, tmp_path):
    from fb_analyst.settings import Settings

    settings = Settings(creative={"embedder": "tfidf"}, llm={"api_key": "sk-secret"})
    out = tmp_path / "out"
    run_pipeline([str(write_export())], out, None, settings, run_id="r1", console=_quiet(), stages=QUICK)
    text = (out / "run.json").read_text()
    assert "sk-secret" not in text and '"api_key": "***"' in text


def test_failed_stage_keeps_previous_outputs_and_cli_exits_1_naming_it(write_export, tmp_path, monkeypatch):
    path = write_export(keep_days=21, drop=(S.CREATIVE_MESSAGE,))
    out = tmp_path / "out"
    runner = CliRunner()
    first = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert first.exit_code == 0, first.output
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "logs.jsonl"}
    assert "hypotheses.json" in before and "run.json" in before

    def broken(*args, **kwargs):
        raise RuntimeError("localiser exploded")

    monkeypatch.setattr("fb_analyst.diagnose.diagnose", broken)
    second = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert second.exit_code == 1
    assert "stage 'diagnose' failed" in second.output and "localiser exploded" in second.output
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "logs.jsonl"}
    assert after == before
    assert not list(out.glob(".staging-*"))
    assert len(list((out / "runs").iterdir())) == 1  # the failed run is not kept in history
    assert "traceback" in (out / "logs.jsonl").read_text()


def test_report_stage_failure_is_named_and_atomic(write_export, fast_settings, tmp_path, monkeypatch):
    from fb_analyst.errors import StageError

    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("previous report\n")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("fb_analyst.report.write_reports", broken)
    with pytest.raises(StageError) as err:
        run_pipeline([str(write_export())], out, None, fast_settings, run_id="r2", console=_quiet(), stages=QUICK)
    assert err.value.stage == "report" and "disk full" in str(err.value)
    assert (out / "report.md").read_text() == "previous report\n"
    assert sorted(p.name for p in out.iterdir()) == ["report.md"]


def test_bad_window_exits_2_with_one_clear_line(write_export, tmp_path):
    result = CliRunner().invoke(app, ["run", str(write_export()), "--out", str(tmp_path / "o"),
                                      "--current", "1999-01-01:1999-01-07"])
    assert result.exit_code == 2
    assert "outside the data" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_demo_command_runs_end_to_end_and_prints_the_headline(sample_csv_path: Path, tmp_path):
    """`make demo`: fb-analyst run data/synthetic_fb_ads_undergarments.csv --out DIR (every stage)."""
    out = tmp_path / "outputs"
    result = CliRunner().invoke(app, ["run", str(sample_csv_path), "--out", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "headline" in result.output and "ROAS " in result.output
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["headline"].split(";")[0] in result.output.replace("\n", " ")
    statuses = {s["name"]: s["status"] for s in manifest["stages"]}
    assert all(statuses[s] == "ok" for s in ("ingest", "windows", "segments", "diagnose", "report"))
    for stage, status in statuses.items():  # a stage that did not run says why
        assert status == "ok" or manifest["skipped"][stage]
    html = (out / "report.html").read_text()
    # self-contained: plotly.js inlined once, nothing loaded from elsewhere
    assert not re.search(r"<script[^>]*\ssrc=", html) and not re.search(r"<link[^>]*\shref=", html)
    assert html.count("Plotly.newPlot") >= 2 and html.count("plotly.js v") >= 1


def test_run_modules_import_without_the_analysis_stack():
    """``run`` starts its forecast child before pandas/Ibis are imported (the child's imports then
    overlap this process' own): importing the run module and the child's launcher must stay light."""
    code = ("import sys, fb_analyst.cli, fb_analyst.pipeline.run, fb_analyst.pipeline.overlap; "
            "print(sorted(m for m in ('pandas', 'ibis', 'scipy.stats', 'sklearn', 'duckdb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_window_spec_is_parsed_without_the_analysis_stack():
    """The CLI parses ``--current``/``--baseline`` before ``run_pipeline`` starts the forecast child:
    the windows module loads pandas and Ibis only when a window is resolved."""
    code = ("import sys, fb_analyst.windows as w; w.WindowSpec(current_days=7); "
            "print(sorted(m for m in ('pandas', 'ibis', 'duckdb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_forecast_child_starts_early_only_when_it_can_be_used(write_export, tmp_path):
    from fb_analyst.pipeline.run import start_forecast_child

    assert start_forecast_child([str(tmp_path / "missing.csv")]) is None  # ingest fails at once: no child
    path = str(write_export())
    assert start_forecast_child([path], stages={"ingest", "windows"}) is None  # forecast not requested
    child = start_forecast_child([str(tmp_path / "*.csv")])
    try:
        assert child is not None and child._proc is not None and child._proc.poll() is None
    finally:
        child.cleanup()
    assert child._proc is None
