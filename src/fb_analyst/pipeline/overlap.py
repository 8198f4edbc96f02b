"""Overlapping independent work in ``fb-analyst run`` (performance only; results are unchanged).

Two things run alongside the plan's main thread, both started only by :func:`analyse` with
``parallel=True`` (the CLI's ``run``; the dashboard, the agent and the tests keep the plain
sequential order):

* :class:`EmbedderWarmup`: a background thread that imports sentence-transformers/torch and
  loads the embedding model (about 6 s) while windows, segments and the diagnosis run. The
  creative step joins it before it embeds, so the model is loaded exactly once.
* :class:`ParallelForecast`: the forecast/budget stage needs only the canonical table, the
  windows and the account daily series -- not the diagnosis or the creative analysis -- so it runs
  in a separate *process* (statsforecast's fits hold the GIL: a thread would not overlap) while
  the diagnosis and the creative analysis run here. The child reads the canonical table from a
  Parquet copy written once (:attr:`ParallelForecast.parquet`); the report step publishes that same
  file as ``canonical.parquet`` instead of writing the table a second time. Any failure to start
  the child (no DuckDB table, spawn refused, pool broken) falls back to running the stage in this
  process; an error *inside* the stage is raised here exactly as if it had run in-process.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
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
                    logging_target: tuple[str | None, str | None, str]) -> tuple[Any, str | None, float]:
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
    return result, detail, time.perf_counter() - t0


class ParallelForecast:
    """The forecast step submitted to a one-worker process pool (see the module docstring)."""

    def __init__(self, ctx: Any):
        self.parquet: Path | None = None
        self.future: Future | None = None
        self._pool: ProcessPoolExecutor | None = None
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
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
            self.future = self._pool.submit(_forecast_child, str(self.parquet), ctx.settings, ctx.windows,
                                            ctx.daily, _log_target())
            log.info("forecast.parallel_started", parquet=str(self.parquet))
        except Exception as exc:  # noqa: BLE001 - fall back to the in-process stage
            log.warning("forecast.parallel_unavailable", error=f"{type(exc).__name__}: {exc}")
            self.future = self.parquet = None
            self.shutdown()

    def result(self, ctx: Any) -> tuple[Any, str | None]:
        """The child's (result, detail); re-runs in-process if the child could not run at all."""
        from fb_analyst.pipeline.steps import _run_forecast

        if self.future is None:
            return _run_forecast(ctx)
        t0 = time.perf_counter()
        try:
            result, detail, seconds = self.future.result()
        except BrokenProcessPool as exc:
            log.warning("forecast.parallel_failed", error=str(exc))
            self.shutdown()
            return _run_forecast(ctx)
        finally:
            self.future = None
        waited = time.perf_counter() - t0
        note = f"computed in a parallel process in {seconds:.1f} s, waited {waited:.1f} s"
        log.info("forecast.parallel_done", seconds=round(seconds, 3), waited=round(waited, 3))
        self.shutdown()
        return result, (f"{detail}; {note}" if detail else note)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def cleanup(self) -> None:
        """Remove the Parquet copy (after the report step has published it)."""
        self.shutdown()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def has_creative_text(table: Any) -> bool:
    return table is not None and S.CREATIVE_MESSAGE in table.columns
