"""Overlapping independent work in ``fb-analyst run`` (performance only; results are unchanged).

Work that runs alongside the plan's main thread, all started only by :func:`analyse` with
``parallel=True`` (the CLI's ``run``; the dashboard, the agent and the tests keep the plain
sequential order):

* :class:`EmbedderWarmup`: for a sentence-transformers model (``creative.model_name`` other than
  the default), a background thread that imports sentence-transformers/torch, loads the model
  (about 6 s) and embeds the distinct messages while windows, segments and the diagnosis run. The
  creative step joins it first (the wait counts in its time), so the model is loaded exactly once
  and the messages are not embedded twice. The default model's numpy encoder needs no warm-up: it
  loads in 0.1 s and embeds the sample's 230 messages in about 1.2 CPU seconds, and on the 2-core
  machine a thread only competed with the diagnosis and the forecast child for the cores (sample
  run, 4 runs each at load 1.8-2.3: 7.5-7.8 s in run.json inline, 8.0-8.4 s with the thread).
* :func:`shared_cores`: this process' numeric thread pools (BLAS, OpenMP, torch) get half the
  cores (one on a 2-core machine) and the forecast child the other half, instead of both
  starting one thread per core and fighting over them.
* :class:`ParallelForecast`: the forecast/budget stage needs only a few per-day aggregates of
  the canonical table (:func:`fb_analyst.forecast.daily_inputs`) -- not the diagnosis or the
  creative analysis -- so this process computes those small frames and a separate *process*
  (``python -m fb_analyst.pipeline.overlap``; statsforecast's fits hold the GIL, so a thread would
  not overlap) forecasts them while the diagnosis and the creative analysis run here. The child
  never opens the table: no DuckDB, no copy of the data (it used to re-read a Parquet copy of the
  whole table, 10M rows at the largest benchmark). Any failure of the child itself (cannot start, killed, a result that
  cannot be read back) falls back to running the stage in this process; an error *inside* the
  stage is raised here exactly as if it had run in-process.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fb_analyst import schema as S
from fb_analyst.logs import get_logger

log = get_logger(__name__)


class EmbedderWarmup:
    """Load a sentence-transformers model in a daemon thread and embed the distinct messages
    (no-op for the default numpy encoder and the TF-IDF embedder, see the module docstring).
    torch releases the GIL while it computes, so the embedding overlaps the diagnosis; the
    creative step then finds its first vectors in the cache
    (:func:`fb_analyst.creative.analyze.prefetch_embeddings`: same calls, same vectors)."""

    def __init__(self, settings: Any, table: Any = None, threads: int | None = None):
        self.thread: threading.Thread | None = None
        if getattr(settings.creative, "embedder", "auto") == "tfidf":
            return
        try:
            from fb_analyst.creative.analyze import prefetch_embeddings
            from fb_analyst.creative.embed import SentenceTransformerEmbedder, get_embedder
            from fb_analyst.creative.frames import distinct_messages

            embedder = get_embedder(settings)
            inner = getattr(embedder, "inner", None)
            if not isinstance(inner, SentenceTransformerEmbedder) or inner.loaded:
                return  # cheap to load (numpy encoder), fitted on the corpus (TF-IDF) or loaded already
            messages = distinct_messages(table) if table is not None else []
        except Exception:  # noqa: BLE001 - the creative step reports its own errors
            return

        def load() -> None:
            try:
                inner.load()
                torch = sys.modules.get("torch")
                if threads is not None and torch is not None:
                    torch.set_num_threads(threads)  # this thread's pool (see join)
                if messages:
                    prefetch_embeddings(embedder, messages, settings)
            except Exception as exc:  # noqa: BLE001 - the creative step retries and reports it
                log.warning("embedder.warmup_failed", error=f"{type(exc).__name__}: {exc}")

        self.thread = threading.Thread(target=load, name="embedder-warmup", daemon=True)
        self.thread.start()

    def before(self, run: Callable[[Any], Any], threads: int | None) -> Callable[[Any], Any]:
        """The step function ``run`` preceded by :meth:`join`, so the wait counts in the step's time."""

        def joined(ctx: Any) -> Any:
            self.join(threads)
            return run(ctx)

        return joined

    def join(self, threads: int | None = None) -> None:
        """Wait for the model; with ``threads``, size torch's pool for the calling (encoding) thread
        (with OpenMP the pool size is a per-thread setting, so the warm-up thread cannot set it)."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        torch = sys.modules.get("torch")
        if threads is not None and torch is not None:
            torch.set_num_threads(threads)


def cores_per_process() -> int:
    """Cores for each of the two processes of a parallel run: this one and the forecast child."""
    return max(1, (os.cpu_count() or 2) // 2)


def capped_thread_env(threads: int) -> dict[str, str]:
    """This process' environment with the BLAS/OpenMP pools capped at ``threads``, for a child
    process: those libraries read it when they load, so the cap must be set before the start."""
    return {**os.environ, **dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"),
                                          str(threads))}


@contextmanager
def shared_cores(threads: int) -> Iterator[None]:
    """Cap this process' BLAS/OpenMP pools at ``threads`` while the forecast child runs beside it.

    With one thread per core by default, the pools fight the child (and each other) for the same
    cores: on the 2-core development machine a 230 x 384 PCA took 0.3-1 s with two OpenBLAS
    threads and 0.04 s with one, and embedding the sample's 230 messages 3.5-4.5 CPU seconds with
    two torch threads and 1.4 with one (BENCHMARKS.md, "Whole run"). Libraries loaded later
    (torch) are sized by :meth:`EmbedderWarmup.join`; the child gets the same cap by environment.
    """
    from threadpoolctl import threadpool_limits

    load_thread_pools()
    with threadpool_limits(threads):
        yield


def load_thread_pools() -> None:
    """Load the native pools the analysis uses -- numpy's and scipy's OpenBLAS, scikit-learn's
    OpenMP -- so that :func:`shared_cores` caps them: threadpoolctl caps only the libraries loaded
    when it is entered, and one loaded later starts one thread per core. (``run`` used to import
    scipy before the cap by accident, through the run history; when that import was deferred,
    scipy's BLAS ran two threads beside the forecast child and the sample's creative stage took
    1.6x the CPU.) Nothing extra: every run imports these for the diagnosis and creative stages."""
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import sklearn  # noqa: F401


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


def _forecast_child(inputs: Any, settings: Any, logging_target: tuple[str | None, str | None, str]
                    ) -> tuple[Any, tuple[float, float]]:
    """Runs in the child process: the forecast step on the per-day aggregates the parent computed;
    returns the result with the child's seconds and peak memory (MiB)."""
    t0 = time.perf_counter()
    run_id, path, level = logging_target
    if run_id is not None:
        from fb_analyst.logs import configure_logging

        configure_logging(run_id, path, level)
    from fb_analyst.forecast import forecast_daily

    result = forecast_daily(inputs, settings)
    return result, (time.perf_counter() - t0, own_peak_mib())


def own_peak_mib() -> float:
    """This process' peak resident memory since it started (MiB).

    ``VmHWM`` from /proc: Linux carries ``ru_maxrss`` over an exec, so in a freshly spawned child
    it reports the *parent's* resident size at the spawn (at 10M rows, about 3 GB that the child
    never used). Falls back to ``ru_maxrss`` where /proc is not available."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_main(folder: str) -> int:
    """``python -m fb_analyst.pipeline.overlap FOLDER``: import the forecasting libraries, then wait
    for the parent (one byte or end-of-file on stdin), read ``args.pkl`` and write ``result.pkl``
    (``("ok", value)`` or ``("error", exception)``). No ``args.pkl`` means the parent has nothing to
    forecast: exit quietly. A plain subprocess rather than multiprocessing: spawn would re-import
    the caller's ``__main__`` script in the child.

    ``run`` starts this process first, before its own imports of the analysis stack
    (:func:`fb_analyst.pipeline.run.start_forecast_child`), so the ~2 s import of statsforecast
    (and statsmodels through it) runs on the other core beside them instead of delaying the
    forecast; on the sample the forecast child was the run's critical path."""
    from fb_analyst.forecast.models import preload_engine

    preload_engine()  # the slow import (statsforecast, statsmodels), paid while the parent ingests

    work = Path(folder)
    sys.stdin.buffer.read(1)
    if not (work / "args.pkl").exists():
        return 0
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
    """The forecast step running in a child process (see the module docstring).

    ``ParallelForecast()`` starts the child at once (it imports while the parent imports and ingests);
    :meth:`submit` hands it the per-day inputs once the windows are known (or tells it to exit
    when there is nothing to forecast); :meth:`result` collects the outcome."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._dir: Path | None = None
        self._submitted = False
        try:
            self._dir = Path(tempfile.mkdtemp(prefix="fb-analyst-run-"))
            atexit.register(shutil.rmtree, self._dir, ignore_errors=True)
            self._proc = subprocess.Popen([sys.executable, "-m", __name__, str(self._dir)],
                                          stdin=subprocess.PIPE, env=capped_thread_env(cores_per_process()))
            atexit.register(self.shutdown)
            log.info("forecast.parallel_started", pid=self._proc.pid)
        except Exception as exc:  # noqa: BLE001 - fall back to the in-process stage
            log.warning("forecast.parallel_unavailable", error=f"{type(exc).__name__}: {exc}")
            self.cleanup()

    def submit(self, ctx: Any) -> None:
        """Give the child the forecast's inputs; with too few days (the in-process step skips with
        its reason) or on any failure here, release the child and leave the step in-process."""
        if self._proc is None:
            return
        from fb_analyst.pipeline.steps import forecast_history_short

        try:
            if ctx.table is not None and forecast_history_short(ctx) is None:
                from fb_analyst.forecast import daily_inputs

                inputs = daily_inputs(ctx.table, ctx.settings, windows=ctx.windows)
                args = (inputs, ctx.settings, _log_target())
                (self._dir / "args.tmp").write_bytes(pickle.dumps(args))
                os.replace(self._dir / "args.tmp", self._dir / "args.pkl")
                self._release()
                self._submitted = True
                return
        except Exception as exc:  # noqa: BLE001 - fall back to the in-process stage
            log.warning("forecast.parallel_unavailable", error=f"{type(exc).__name__}: {exc}")
        self.shutdown()

    def _release(self) -> None:
        """Wake the child: closing its stdin ends its wait (it then looks for ``args.pkl``)."""
        try:
            self._proc.stdin.close()
        except OSError:
            pass

    def result(self, ctx: Any) -> tuple[Any, str | None]:
        """The child's (result, detail); re-runs in-process if the child could not finish."""
        from fb_analyst.pipeline.steps import _run_forecast

        if self._proc is None or not self._submitted:  # never given inputs: release it, run here
            self.shutdown()
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
        result, (seconds, peak_mib) = value
        note = f"computed in a parallel process in {seconds:.1f} s (peak {peak_mib:.0f} MiB), waited {waited:.1f} s"
        log.info("forecast.parallel_done", seconds=round(seconds, 3), waited=round(waited, 3),
                 peak_mib=round(peak_mib))
        return result, note

    def shutdown(self) -> None:
        """Stop a child that is still running (the plan failed before the forecast step)."""
        if self._proc is not None and self._proc.poll() is None:
            self._release()
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
