"""CPU of the forecast child's work on the bundled sample (issue 6): ``forecast_daily`` in isolation.

``fb-analyst run`` forecasts in a child process (:mod:`fb_analyst.pipeline.overlap`) that imports
``fb_analyst.forecast`` while the parent ingests, then runs ``forecast_daily(daily_inputs(...))``.
This script reproduces that work without the rest of the run: the sample's ``DailyInputs`` are
computed once (ingest + two small queries) and cached as a pickle under ``benchmarks/data/``; then
each measurement runs in a fresh interpreter, like the child:

* ``import``: ``import fb_analyst.forecast`` (what the child pays while the parent ingests);
* ``engine``: :func:`fb_analyst.forecast.models.preload_engine` (statsforecast and the libraries
  it pulls in; paid on the first forecast call unless the child preloads it);
* ``first``: the first ``forecast_daily`` call (what the child computes for the run);
* ``warm``: later calls in the same process (min and median of ``--repeat``).

Times are CPU seconds (user + sys) of the process, steadier than wall time on a shared machine;
the load average is printed with them. BLAS/OpenMP pools get half the cores, as in the run. ``--out FILE`` writes the first call's ``forecast.json`` to
compare before/after a change.

    .venv/bin/python benchmarks/bench_forecast_child.py --runs 3 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / "data" / "forecast_inputs_sample.pkl"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def build_inputs(rebuild: bool = False) -> Path:
    """The sample's ``DailyInputs`` and default ``Settings``, pickled once (reused afterwards)."""
    if rebuild or not CACHE.exists():
        from fb_analyst.forecast import daily_inputs
        from fb_analyst.ingest import ingest_files
        from fb_analyst.settings import Settings

        settings = Settings()
        table = ingest_files([REPO / "data" / "synthetic_fb_ads_undergarments.csv"], settings).table
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_bytes(pickle.dumps((daily_inputs(table, settings), settings)))
    return CACHE


def measure(repeat: int, out: str | None) -> dict[str, float]:
    """One fresh process' timings (run by ``--child``): import, engine preload, first and warm calls."""
    times: dict[str, float] = {}
    c0 = _cpu()
    import fb_analyst.forecast as F
    from fb_analyst.forecast.models import preload_engine

    times["import"] = _cpu() - c0
    inputs, settings = pickle.loads(CACHE.read_bytes())
    c0 = _cpu()
    preload_engine()
    times["engine"] = _cpu() - c0
    calls = []
    for i in range(1 + repeat):
        c0, w0 = _cpu(), time.perf_counter()
        result = F.forecast_daily(inputs, settings)
        calls.append((_cpu() - c0, time.perf_counter() - w0))
        if i == 0 and out:
            Path(out).write_text(result.model_dump_json(indent=1))
    times["first"], times["first_wall"] = calls[0]
    warm = [c for c, _ in calls[1:]] or [calls[0][0]]
    times["warm_min"], times["warm_median"] = min(warm), statistics.median(warm)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="fresh processes")
    ap.add_argument("--repeat", type=int, default=3, help="warm calls per process")
    ap.add_argument("--out", help="write the first call's forecast.json here")
    ap.add_argument("--rebuild", action="store_true", help="recompute the cached inputs (after ingest, "
                    "DailyInputs or Settings changed)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeat, args.out)))
        return
    build_inputs(args.rebuild)
    # The run's forecast child gets half the cores for its BLAS/OpenMP pools (pipeline.overlap).
    from fb_analyst.pipeline.overlap import capped_thread_env, cores_per_process

    env = capped_thread_env(cores_per_process())
    rows = []
    for i in range(args.runs):
        cmd = [sys.executable, __file__, "--child", "--repeat", str(args.repeat)]
        if args.out and i == 0:
            cmd += ["--out", args.out]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout.strip().splitlines()[-1]
        rows.append(json.loads(line))
        print(f"run {i}: " + "  ".join(f"{k} {v:.2f}" for k, v in rows[-1].items()),
              f"(load {os.getloadavg()[0]:.2f})", flush=True)
    for k in rows[0]:
        print(f"{k:12s} median {statistics.median(r[k] for r in rows):.2f} s")


if __name__ == "__main__":
    main()
