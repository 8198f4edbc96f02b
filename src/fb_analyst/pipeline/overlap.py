"""Overlapping independent work in ``fb-analyst run`` (performance only; results are unchanged).

Two things run alongside the plan's main thread, both started only by :func:`analyse` with
``parallel=True`` (the CLI's ``run``; the dashboard, the agent and the tests keep the plain
sequential order):

* :class:`EmbedderWarmup`: a background thread that imports sentence-transformers/torch and
  loads the embedding model (about 6 s) while windows, segments and the diagnosis run. The
  creative step joins it before it embeds, so the model is loaded exactly once.
* :class:`ParallelForecast`: the forecast/budget stage needs only the canonical table, the
  windows and the account daily series -- not the diagnosis or the creative analysis -- so it runs
  in a separate *process* (``python -m fb_analyst.pipeline.overlap``; statsforecast's fits
  hold the GIL, so a thread would not overlap) while
  the diagnosis and the creative analysis run here. The child reads the canonical table from a
  Parquet copy written once (:attr:`ParallelForecast.parquet`); the report step publishes that same
  file as ``canonical.parquet`` instead of writing the table a second time. Any failure of the
  child itself (cannot start, killed, a result that cannot be read back) falls back to running the stage in this
  process; an error *inside* the stage is raised here exactly as if it had run in-process.
"""

from __future__ import annotations

import atexit
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fb_analyst import schema as S
from fb_analyst.logs import get_logger

log = get_logger(__name__)


class EmbedderWarmup:
    """Load the sentence-transformers model in a daemon thread (no-op for the TF-IDF embedder)."""

    def __init__(self, settings: Any):
        self.thread: threading.Thread | None = None
        if getattr(settings.creative, "embedder", "auto") == "tfidf":
            return
        try:
            from fb_analyst.creative.embed import SentenceTransformerEmbedder, get_embedder

            embedder = get_embedder(settings)
        except Exception:  # noqa: BLE001 - the creative step reports its own errors
            return
        inner = getattr(embedder, "inner", None)
        if not isinstance(inner, SentenceTransformerEmbedder) or inner._model is not None:
            return

        def load() -> None:
            try:
                inner._load()
            except Exception as exc:  # noqa: BLE001 - the creative step retries and reports it
                log.warning("embedder.warmup_failed", error=f"{type(exc).__name__}: {exc}")

        self.thread = threading.Thread(target=load, name="embedder-warmup", daemon=True)
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None


def _log_target() -> tuple[str | None, str | None, str]:
    """(run_id, log file path or None for stderr, level) of this process' logging, for the child."""
    import logging

    import structlog

    run_id = structlog.contextvars.get_contextvars().get("run_id")
    config = structlog.get_config()
    stream = getattr(config.get("logger_factory"), "_file", None)
    path = getattr(stream, "name", None)
    path = path if isinstance(path, str) and not path.startswith("<") else None
    level = "INFO"
    wrapper = config.get("wrapper_class")
    for name in ("DEBUG", "INFO", "WARNING", "ERROR"):
        if wrapper is structlog.make_filtering_bound_logger(getattr(logging, name)):
            level = name
    return run_id, path, level


def _forecast_child(parquet: str, settings: Any, windows: Any, daily: Any,
                    logging_target: tuple[str | None, str | None, str]) -> tuple[Any, str | None, tuple[float, float]]:
    """Runs in the child process: the forecast step on the Parquet copy of the canonical table."""
    t0 = time.perf_counter()
    run_id, path, level = logging_target
    if run_id is not None:
        from fb_analyst.logs import configure_logging

        configure_logging(run_id, path, level)
    from fb_analyst.engine import read_canonical
    from fb_analyst.pipeline.steps import Context, _run_forecast

    ctx = Context(settings=settings, spec=None, con=None)
    ctx.table, ctx.windows, ctx.daily = read_canonical(parquet), windows, daily
    result, detail = _run_forecast(ctx)
    import resource

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result, detail, (time.perf_counter() - t0, peak_mib)


def _child_main(folder: str) -> int:
    """``python -m fb_analyst.pipeline.overlap FOLDER``: read ``args.pkl``, write ``result.pkl``
    (``("ok", value)`` or ``("error", exception)``). A plain subprocess rather than
    multiprocessing: spawn would re-import the caller's ``__main__`` script in the child."""
    work = Path(folder)
    args = pickle.loads((work / "args.pkl").read_bytes())
    try:
        outcome: tuple[str, Any] = ("ok", _forecast_child(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        outcome = ("error", exc)
    try:
        data = pickle.dumps(outcome)
    except Exception:  # noqa: BLE001 - an unpicklable error: the parent re-runs in-process
        return 1
    (work / "result.tmp").write_bytes(data)
    os.replace(work / "result.tmp", work / "result.pkl")
    return 0


class ParallelForecast:
    """The forecast step running in a child process (see the module docstring)."""

    def __init__(self, ctx: Any):
        self.parquet: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._dir: Path | None = None
        table = ctx.table
        need = ctx.settings.forecast.min_history_days
        days = len(ctx.daily) if ctx.daily is not None else 0
        if table is None or days < need or getattr(table.get_backend(), "name", None) != "duckdb":
            return  # the in-process step skips (too few days) or runs as before
        try:
            self._dir = Path(tempfile.mkdtemp(prefix="fb-analyst-run-"))
            atexit.register(shutil.rmtree, self._dir, ignore_errors=True)
            self.parquet = self._dir / "canonical.parquet"
            table.to_parquet(self.parquet)  # exactly what the report step would write
            args = (str(self.parquet), ctx.settings, ctx.windows, ctx.daily, _log_target())
            (self._dir / "args.pkl").write_bytes(pickle.dumps(args))
            self._proc = subprocess.Popen([sys.executable, "-m", __name__, str(self._dir)],
                                          stdin=subprocess.DEVNULL)
            atexit.register(self.shutdown)
            log.info("forecast.parallel_started", pid=self._proc.pid)
        except Exception as exc:  # noqa: BLE001 - fall back to the in-process stage
            log.warning("forecast.parallel_unavailable", error=f"{type(exc).__name__}: {exc}")
            self.parquet = None
            self.shutdown()

    def result(self, ctx: Any) -> tuple[Any, str | None]:
        """The child's (result, detail); re-runs in-process if the child could not finish."""
        from fb_analyst.pipeline.steps import _run_forecast

        if self._proc is None:
            return _run_forecast(ctx)
        t0 = time.perf_counter()
        rc = self._proc.wait()
        self._proc = None
        waited = time.perf_counter() - t0
        path = self._dir / "result.pkl" if self._dir is not None else None
        try:
            status, value = pickle.loads(path.read_bytes()) if rc == 0 and path is not None else (None, None)
        except Exception as exc:  # noqa: BLE001 - e.g. an exception type that cannot be rebuilt
            log.warning("forecast.parallel_unreadable", error=f"{type(exc).__name__}: {exc}")
            status, value = None, None
        if status == "error":
            raise value
        if status != "ok":
            log.warning("forecast.parallel_failed", exit_code=rc)
            return _run_forecast(ctx)
        result, detail, (seconds, peak_mib) = value
        note = f"computed in a parallel process in {seconds:.1f} s (peak {peak_mib:.0f} MiB), waited {waited:.1f} s"
        log.info("forecast.parallel_done", seconds=round(seconds, 3), waited=round(waited, 3),
                 peak_mib=round(peak_mib))
        return result, (f"{detail}; {note}" if detail else note)

    def shutdown(self) -> None:
        """Stop a child that is still running (the plan failed before the forecast step)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None

    def cleanup(self) -> None:
        """Stop the child and remove the temporary folder."""
        self.shutdown()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def has_creative_text(table: Any) -> bool:
    return table is not None and S.CREATIVE_MESSAGE in table.columns


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
