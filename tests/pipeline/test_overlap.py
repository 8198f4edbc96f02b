"""``analyse(parallel=True)``: the overlapped run gives the same records as the sequential one."""

from __future__ import annotations

import subprocess

from fb_analyst.pipeline import analyse, overlap
from fb_analyst.windows import WindowSpec

FORECAST_ONLY = ("ingest", "windows", "forecast")


def test_parallel_forecast_equals_the_in_process_forecast(write_export, fast_settings):
    path = str(write_export(days=42))
    sequential = analyse([path], WindowSpec(), fast_settings, stages=FORECAST_ONLY)
    parallel = analyse([path], WindowSpec(), fast_settings, stages=FORECAST_ONLY, parallel=True)
    assert "parallel process" in (parallel.stage("forecast").detail or "")
    assert "parallel process" not in (sequential.stage("forecast").detail or "")
    assert parallel.forecast.model_dump() == sequential.forecast.model_dump()


def test_parallel_forecast_falls_back_in_process_when_the_child_cannot_start(write_export, fast_settings,
                                                                             monkeypatch):
    def no_process(*args, **kwargs):
        raise OSError("no process for you")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    path = str(write_export(days=42))
    analysis = analyse([path], WindowSpec(), fast_settings, stages=FORECAST_ONLY, parallel=True)
    assert analysis.stage("forecast").status == "ok"
    assert "parallel process" not in (analysis.stage("forecast").detail or "")
    assert analysis.forecast is not None and analysis.forecast.series


def test_shared_cores_gives_each_process_at_least_one_core():
    assert 1 <= overlap.cores_per_process() <= max(1, (overlap.os.cpu_count() or 2))


def test_early_started_child_exits_when_given_nothing_and_the_stage_runs_in_process(write_export, fast_settings):
    # Started before the ingest, the child waits for inputs; a run that never submits (here: the
    # windows step is not requested, so there are no windows) must not hang on it.
    child = overlap.ParallelForecast()
    assert child._proc is not None
    proc = child._proc
    child.shutdown()
    assert proc.wait(timeout=30) is not None
    path = str(write_export(days=42))
    analysis = analyse([path], WindowSpec(), fast_settings, stages=("ingest", "windows", "forecast"), parallel=True)
    assert analysis.stage("forecast").status == "ok"


def test_too_short_history_releases_the_child_and_skips_with_the_reason(write_export, fast_settings):
    path = str(write_export(days=21, keep_days=14))
    analysis = analyse([path], None, fast_settings, stages=FORECAST_ONLY, parallel=True)
    forecast = analysis.stage("forecast")
    assert forecast.status == "skipped" and "days" in (forecast.reason or "")
