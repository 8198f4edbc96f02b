"""``fb-analyst run``: the analysis plan plus the report step, written atomically, with a manifest.

``run_pipeline(inputs, out_dir, spec, settings, run_id=..., console=...)`` runs
:func:`~fb_analyst.pipeline.analysis.analyse` under a Rich progress display, then the *report*
step writes every output into a staging folder (:func:`fb_analyst.outputs.atomic_output_dir`):
ingest outputs, ``kpis.json``, ``hypotheses.json``, ``creative_clusters.json``, ``creatives.json``,
``forecast.json``, ``report.md``/``report.html`` and ``run.json`` (run id, input SHA-256, settings,
package versions, stage timings, skipped stages). Only when everything is written are the files
moved over the previous ones; a failure leaves the previous outputs intact and raises StageError.
After publishing, the run is kept in ``DIR/runs/<run_id>/`` (see :mod:`fb_analyst.history`).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from fb_analyst.errors import FbAnalystError, StageError
from fb_analyst.logs import get_logger
from fb_analyst.outputs import atomic_output_dir, write_json
from fb_analyst.pipeline.steps import PLAN, StageOutcome

if TYPE_CHECKING:  # the analysis stack (pandas, Ibis, ...) is imported by run_pipeline, after the
    # forecast child has started (see start_forecast_child)
    from fb_analyst.pipeline.analysis import Analysis, Headline
    from fb_analyst.pipeline.overlap import ParallelForecast

log = get_logger(__name__)

SCHEMA_VERSION = "1.0"
_VERSIONED = ("fb-analyst", "ibis-framework", "duckdb", "pandas", "numpy", "scipy", "scikit-learn",
              "statsforecast", "sentence-transformers", "torch", "pydantic", "pydantic-ai-slim",
              "jinja2", "plotly")


class InputFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    bytes: int
    sha256: str


class RunManifest(BaseModel):
    """The content of ``run.json``."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    run_id: str
    started_at: str
    finished_at: str
    seconds: float
    inputs: list[InputFile]
    settings: dict[str, Any] = Field(description="Effective settings (secrets redacted).")
    versions: dict[str, str]
    stages: list[StageOutcome]
    skipped: dict[str, str] = Field(description="Skipped stage -> reason.")
    headline: str
    outputs: list[str]
    previous_run_id: str | None = None


def input_paths(inputs: list[str]) -> list[Path]:
    """The input files that exist (globs expanded; missing paths are left to the ingest stage,
    which names them in its error)."""
    found: list[Path] = []
    for item in inputs:
        paths = sorted(glob.glob(item, recursive=True)) if any(ch in item for ch in "*?[") else [item]
        found.extend(Path(p) for p in paths if Path(p).is_file())
    return found


def hash_inputs(inputs: list[str]) -> list[InputFile]:
    """SHA-256 of every existing input file (see :func:`input_paths`)."""
    files: list[InputFile] = []
    for path in input_paths(inputs):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        files.append(InputFile(path=str(path), bytes=path.stat().st_size, sha256=digest.hexdigest()))
    return files


def start_forecast_child(inputs: list[str], stages: Any = None) -> ParallelForecast | None:
    """Start ``run``'s forecast child now, before this process imports the analysis stack.

    The child spends about 2 s importing statsforecast; started first, those imports overlap this
    process' own imports (pandas, Ibis, scipy: ~2 s on one core while the other core idled) instead
    of the ingest, and the child is ready when the windows are known. Not started when the forecast
    step is not requested or no input file exists (the ingest stage then fails at once: an error
    exit should not spawn a process). :func:`~fb_analyst.pipeline.analysis.analyse` adopts it.
    """
    if (stages is not None and "forecast" not in stages) or not input_paths(inputs):
        return None
    from fb_analyst.pipeline.overlap import ParallelForecast

    return ParallelForecast()


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def redacted_settings(settings: Any) -> dict[str, Any]:
    data = settings.model_dump(mode="json")
    if data.get("llm", {}).get("api_key"):
        data["llm"]["api_key"] = "***"
    return data


@dataclass(frozen=True)
class RunResult:
    """A finished run: where it wrote, its manifest, the in-memory analysis and the drift."""

    out_dir: Path
    run_id: str
    analysis: Analysis
    manifest: RunManifest
    drift: Any = None

    @property
    def headline(self) -> Headline:
        return self.analysis.headline

    def render(self, console: Console) -> None:
        """Print the compact KPI summary, skipped stages, drift and the headline answer."""
        from fb_analyst.report.console import render_run_summary

        render_run_summary(self, console)


class _RichProgress:
    """Adapter from the plan's ``progress(stage, event, detail)`` callback to a Rich progress bar."""

    def __init__(self, progress: Progress, console: Console, total: int):
        self.progress, self.console = progress, console
        self.task = progress.add_task("starting", total=total)

    def __call__(self, stage: str, event: str, detail: str | None) -> None:
        if event == "start":
            self.progress.update(self.task, description=f"{stage}...")
            return
        self.progress.advance(self.task)
        mark = {"ok": "[green]done[/]", "provided": "[green]given[/]"}.get(event, "[yellow]skipped[/]")
        self.console.print(f"  {stage:<9} {mark}" + (f" - {escape(detail)}" if detail else ""))


def write_stage_outputs(
    analysis: Analysis, staging: Path, drift: Any = None, *, include_canonical: bool = True
) -> None:
    """Write every stage record that exists (skipped stages write nothing).

    The one list of ``run``'s data outputs; the dashboard's downloads reuse it
    (``include_canonical=False``)."""
    if analysis.ingest is not None:
        from fb_analyst.ingest import write_ingest_outputs

        ingest = analysis.ingest
        if drift is not None:
            report = ingest.report.model_copy(update={"drift": drift.model_dump(mode="json")})
            ingest = dataclasses.replace(ingest, report=report)
        write_ingest_outputs(ingest, staging, include_canonical=include_canonical)
    if analysis.windows is not None and analysis.segments is not None:
        from fb_analyst.segments import kpi_tables

        write_json(kpi_tables(analysis.table, analysis.windows, analysis.segments, daily=analysis.daily),
                   staging / "kpis.json")
    if analysis.diagnosis is not None:
        write_json(analysis.diagnosis, staging / "hypotheses.json")
    if analysis.creative is not None:
        write_json(analysis.creative.clusters, staging / "creative_clusters.json")
        write_json(analysis.creative.creatives, staging / "creatives.json")
    if analysis.forecast is not None:
        write_json(analysis.forecast, staging / "forecast.json")


def run_pipeline(
    inputs: list[str],
    out_dir: str | Path,
    spec: Any,
    settings: Any,
    *,
    run_id: str,
    console: Console | None = None,
    stages: Any = None,
) -> RunResult:
    """Run the whole analysis and publish its outputs into ``out_dir`` atomically.

    ``stages`` optionally restricts the analysis steps (see :func:`analyse`); the CLI runs all.
    """
    inputs = [str(p) for p in inputs]
    child = start_forecast_child(inputs, stages)
    try:
        return _run(inputs, Path(out_dir), spec, settings, run_id, console, stages, child)
    finally:
        if child is not None:
            child.cleanup()  # idempotent: normally collected by the forecast step already


def _run(inputs: list[str], out: Path, spec: Any, settings: Any, run_id: str, console: Console | None,
         stages: Any, child: ParallelForecast | None) -> RunResult:
    """:func:`run_pipeline` once its forecast child is running (the caller stops the child)."""
    from fb_analyst import history
    from fb_analyst.pipeline.analysis import analyse

    console = console or Console(stderr=True)
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    log.info("run_started", inputs=inputs, out=str(out))
    files = hash_inputs(inputs)
    previous = history.load_previous_snapshot(out)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        cb = _RichProgress(bar, console, total=len(PLAN) + 1)
        # Without any input file the ingest fails at once: nothing to overlap, no child to start.
        analysis = analyse(inputs, spec, settings, progress=cb, stages=stages, parallel=bool(files),
                           forecast_child=child)
        cb("report", "start", None)
        t_report = time.perf_counter()
        from fb_analyst.report import write_reports  # not before: an early error exit needs no Jinja/Plotly

        try:
            snapshot = history.snapshot_run(run_id, analysis.table, analysis.daily, analysis.diagnosis) \
                if analysis.table is not None else None
            drift = history.compare_runs(previous, snapshot) if previous and snapshot else None
            with atomic_output_dir(out) as staging:
                write_stage_outputs(analysis, staging, drift)
                write_reports(analysis, staging, run_id=run_id, drift=drift)
                report_stage = StageOutcome(name="report", status="ok",
                                            seconds=round(time.perf_counter() - t_report, 4))
                outcomes = [*analysis.stages, report_stage]
                names = sorted(p.name for p in staging.iterdir()) + ["run.json"]
                manifest = RunManifest(
                    run_id=run_id, started_at=started.isoformat(),
                    finished_at=datetime.now(timezone.utc).isoformat(),
                    seconds=round(time.perf_counter() - t0, 3), inputs=files,
                    settings=redacted_settings(settings), versions=package_versions(), stages=outcomes,
                    skipped={s.name: s.reason or "" for s in outcomes if s.status == "skipped"},
                    headline=analysis.headline.text, outputs=names,
                    previous_run_id=previous.run_id if previous else None,
                )
                write_json(manifest, staging / "run.json")
        except FbAnalystError:
            raise
        except Exception as exc:  # a failure while writing is the report stage's failure
            log.error("stage_failed", stage="report", error=f"{type(exc).__name__}: {exc}")
            raise StageError("report", f"{type(exc).__name__}: {exc}") from exc
        log.info("stage_done", stage="report", status="ok", seconds=report_stage.seconds)
        cb("report", "ok", f"wrote {len(names)} files to {out}")
    if snapshot is not None:
        try:
            history.keep_run(out, snapshot)
        except OSError as exc:  # outputs are published; only the per-run copy failed: say so, don't fail
            log.warning("run_history_not_kept", error=str(exc))
            console.print(f"[yellow]warning[/]: run kept as latest only; could not copy it to runs/ ({escape(str(exc))})",
                          highlight=False)
    log.info("run_finished", seconds=manifest.seconds, headline=manifest.headline)
    return RunResult(out_dir=out, run_id=run_id, analysis=analysis, manifest=manifest, drift=drift)
