"""Run every benchmark in ``benchmarks/`` one after the other (``make bench``).

Default: the *quick* sizes (1M generated rows, fewer seeds/repeats) -- about 20-30 minutes on the
2-core development machine, enough to see a regression. ``--full`` runs the sizes whose numbers are
recorded in BENCHMARKS.md (10M rows, 10 seeds; a few hours). Each script prints its own table; this
runner stops at the first script that fails and exits with its status.

    .venv/bin/python benchmarks/run_all.py            # quick
    .venv/bin/python benchmarks/run_all.py --full     # as recorded in BENCHMARKS.md
    .venv/bin/python benchmarks/run_all.py --only ingest kpis
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (quick arguments, full arguments), for ``bench_<name>.py``.
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "ingest": (["--rows", "1000000", "--repeats", "1"], ["--rows", "10000000", "--repeats", "3"]),
    "kpis": (["--rows", "1000000", "--repeats", "1"], []),
    "rca": ([], []),
    "diagnosis": (["--seeds", "2"], ["--seeds", "10", "--markdown"]),
    "creative": (["--repeats", "1", "--seeds", "0"], ["--repeats", "3"]),
    "forecast": (["--no-prophet", "--budget-seeds", "2"], ["--arima"]),
    "run": (["--repeats", "1", "--rows", "1000000"], ["--rows", "1000000", "10000000", "--timeout", "2300"]),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the sizes recorded in BENCHMARKS.md")
    parser.add_argument("--only", nargs="*", choices=list(BENCHES), default=list(BENCHES))
    args = parser.parse_args(argv)
    for name in args.only:
        quick, full = BENCHES[name]
        cmd = [sys.executable, str(HERE / f"bench_{name}.py"), *(full if args.full else quick)]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"=== {name}: exit {rc} after {time.perf_counter() - start:.0f} s", flush=True)
        if rc != 0:
            return rc
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
