"""``analyse(parallel=True)``: the overlapped run gives the same records as the sequential one."""

from __future__ import annotations

import json
import subprocess
import sys

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


def test_shared_cores_caps_the_pools_that_later_stages_load():
    """threadpoolctl caps only loaded libraries: ``shared_cores`` loads scipy's BLAS and
    scikit-learn's OpenMP first (in a fresh process, where nothing has imported them yet)."""
    code = ("import json; from threadpoolctl import threadpool_info; "
            "from fb_analyst.pipeline.overlap import shared_cores\n"
            "with shared_cores(1):\n"
            "    print(json.dumps([[i['internal_api'], i['num_threads']] for i in threadpool_info()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pools = json.loads(out.stdout)
    assert sum(api == "openblas" for api, _ in pools) >= 2  # numpy's and scipy's own
    assert any(api == "openmp" for api, _ in pools)  # scikit-learn's
    assert all(threads == 1 for _, threads in pools)
