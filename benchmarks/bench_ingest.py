"""Ingest benchmark: ``ingest_files`` on a generated N-row CSV and Parquet vs DuckDB's floor.

The floor is DuckDB alone doing the least any ingestion must do: ``read_csv`` (or
``read_parquet``) with type auto-detection plus one GROUP BY campaign x date summing the measures.
A second reference, ``materialise``, is DuckDB copying the file into an in-memory table with
auto-detected types: the least any ingestion that *keeps* a table must do. A third, ``copy``, is
DuckDB's plain ``COPY (SELECT * FROM read_...) TO 'x.parquet'``: the least any ingestion that
*writes* a table must do, in bounded memory.
Each measurement runs in a fresh subprocess; wall time is measured inside it and peak memory is
the child's own peak resident set (``VmHWM``, see ``pipeline.overlap.own_peak_mib``: ``ru_maxrss``
would carry the parent's size over the spawn; includes Python, DuckDB and Ibis). "runnable threads"
is the mean number of the child's threads running or waiting for a core (see ``RunnableThreads``):
unlike CPU / wall time it does not depend on what else the machine is running.

Data: ``fb_analyst.sample.generate_sample(scale=...)`` (ad-level daily rows), written by DuckDB
with sample-schema headers, ``ctr``/``roas`` columns, ~1% of clicks blank (recoverable from ctr)
and ~3% of campaign names misspelt (case, separators, a dropped letter) so that name resolution
has real work. Files go to ``benchmarks/data/`` (gitignored) and are reused when present.

    .venv/bin/python benchmarks/bench_ingest.py --rows 10000000 --repeats 3
    .venv/bin/python benchmarks/bench_ingest.py --rows 1000000 --inputs csv --kinds floor ingest
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
ROWS_PER_SCALE = 26_300  # generate_sample rows per unit of scale at 56 days (measured)
INPUTS = ("csv", "parquet")
KINDS = ("floor", "materialise", "copy", "ingest")


def generate(rows: int) -> tuple[Path, Path]:
    """Write the CSV and Parquet inputs (reused when they already exist)."""
    DATA.mkdir(parents=True, exist_ok=True)
    csv_path, pq_path = DATA / f"ingest_{rows}.csv", DATA / f"ingest_{rows}.parquet"
    if csv_path.exists() and pq_path.exists():
        return csv_path, pq_path
    import duckdb

    from fb_analyst.sample import generate_sample

    t0 = time.perf_counter()
    frame = generate_sample(scale=rows / ROWS_PER_SCALE, days=56).frame
    frame = frame.iloc[:rows]
    con = duckdb.connect()
    con.register("frame", frame)
    messy = """
        CASE h % 100
          WHEN 0 THEN lower(campaign)
          WHEN 1 THEN replace(campaign, ' ', '_')
          WHEN 2 THEN left(campaign, (h // 100 % (length(campaign) - 1))::INT)
                      || substr(campaign, (h // 100 % (length(campaign) - 1))::INT + 2)
          ELSE campaign END"""
    con.execute(f"""
        CREATE TEMP TABLE bench AS
        WITH f AS (SELECT *, hash(row_number() OVER ()) AS h FROM frame)
        SELECT CAST(date AS DATE) AS date, account AS account_name, {messy} AS campaign_name,
               adset AS adset_name, ad AS ad_name, creative_message, creative_type, audience_type,
               platform, placement, country, age, gender, round(spend, 2) AS spend, impressions,
               CASE WHEN h % 97 = 0 THEN NULL ELSE clicks END AS clicks,
               round(clicks / nullif(impressions, 0), 6) AS ctr, purchases, round(revenue, 2) AS revenue,
               round(revenue / nullif(spend, 0), 4) AS roas
        FROM f""")
    con.execute(f"COPY bench TO '{csv_path}' (HEADER, DELIMITER ',')")
    con.execute(f"COPY bench TO '{pq_path}' (FORMAT PARQUET)")
    print(f"generated {rows:,} rows in {time.perf_counter() - t0:.1f}s -> {csv_path.name}, {pq_path.name}",
          file=sys.stderr)
    return csv_path, pq_path


def child(kind: str, path: str) -> None:
    """Run one measurement in this (fresh) process and print a JSON line.

    The timer starts after the imports (reported separately as ``import_s``). CPU seconds (user +
    system, all threads) are reported beside wall time because the machine is shared.
    """
    t_imp = time.perf_counter()
    import duckdb

    if kind != "floor":
        import fb_analyst.ingest  # noqa: F401 - imported here so that the timer leaves it out
    import_s = time.perf_counter() - t_imp
    use0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = use0.ru_utime + use0.ru_stime
    t0 = time.perf_counter()
    with RunnableThreads() as runnable:
        extra = _work(kind, path, duckdb)
    seconds = time.perf_counter() - t0
    use = resource.getrusage(resource.RUSAGE_SELF)
    from fb_analyst.pipeline.overlap import own_peak_mib  # after the timed work: not in its imports

    print(json.dumps({"kind": kind, "seconds": seconds, "cpu_seconds": use.ru_utime + use.ru_stime - cpu0,
                      "runnable_threads": runnable.mean,
                      "import_s": import_s, "peak_mib": own_peak_mib(), **extra}))


def _work(kind: str, path: str, duckdb: Any) -> dict[str, object]:
    """The measured work of one ``kind`` on ``path``; returns what to report beside the timings."""
    reader = "read_parquet" if path.endswith(".parquet") else "read_csv"
    if kind == "floor":
        rows = duckdb.connect().execute(
            f"SELECT count(*) FROM (SELECT campaign_name, date, sum(spend), sum(impressions), sum(clicks), "
            f"sum(purchases), sum(revenue) FROM {reader}('{path}') GROUP BY ALL)"
        ).fetchone()[0]
        return {"groups": rows}
    if kind == "copy":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "copy.parquet"
            duckdb.connect().execute(f"COPY (SELECT * FROM {reader}('{path}')) TO '{out}' (FORMAT PARQUET)")
            return {"bytes": out.stat().st_size}
    if kind == "materialise":
        con = duckdb.connect()
        con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{path}')")
        return {"rows": con.execute("SELECT count(*) FROM t").fetchone()[0]}
    from fb_analyst.engine import connect
    from fb_analyst.ingest import ingest_files
    from fb_analyst.settings import Settings

    r = ingest_files([path], Settings(), con=connect()).report
    return {"rows_read": r.rows_read, "accepted": r.rows_accepted,
            "campaigns": r.name_resolution["campaign"].canonical_names,
            "campaign_spellings": r.name_resolution["campaign"].raw_names}


class RunnableThreads:
    """Mean number of this process' threads that are running or waiting for a core (state R in
    ``/proc``, Linux), sampled every 20 ms while the work runs. Unlike CPU / wall time this does not
    depend on what else the machine runs: about 1 means the work ran one thread at a time, 2 that
    two threads had work throughout (what a 2-core machine can use)."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RunnableThreads:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_native_id()
        while not self._stop.wait(0.02):
            running = 0
            for tid in os.listdir("/proc/self/task"):
                try:
                    with open(f"/proc/self/task/{tid}/stat") as fh:
                        state = fh.read().rsplit(")", 1)[1].split()[0]
                except FileNotFoundError:  # a thread that just ended
                    continue
                running += state == "R" and int(tid) != me
            self.samples.append(running)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples) if self.samples else float("nan")


def measure(kind: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--inputs", nargs="+", choices=INPUTS, default=list(INPUTS), help="formats to measure")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                    help="what to measure (the ratios need floor)")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    csv_path, pq_path = generate(args.rows)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"median of {args.repeats}; load average at start {os.getloadavg()[0]:.1f}")
    kinds = [k for k in KINDS if k in args.kinds]
    print("| input | rows | kind | wall s | CPU s | wall / floor | CPU / floor | runnable threads | peak MiB | imports s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path in [p for p, fmt in ((csv_path, "csv"), (pq_path, "parquet")) if fmt in args.inputs]:
        runs = {k: [measure(k, path) for _ in range(args.repeats)] for k in kinds}
        med = {k: {f: statistics.median(r[f] for r in v)
                   for f in ("seconds", "cpu_seconds", "runnable_threads", "peak_mib", "import_s")}
               for k, v in runs.items()}
        size = f"{path.suffix[1:]} ({path.stat().st_size / 2**20:,.0f} MiB)"
        for k in kinds:
            m = med[k]
            floor = med.get("floor")
            ratios = (f"{m['seconds'] / floor['seconds']:.2f}x | {m['cpu_seconds'] / floor['cpu_seconds']:.2f}x"
                      if floor else " | ")
            print(f"| {size} | {args.rows:,} | {k} | {m['seconds']:.2f} | {m['cpu_seconds']:.2f} | {ratios} | "
                  f"{m['runnable_threads']:.2f} | {m['peak_mib']:,.0f} | {m['import_s']:.2f} |", flush=True)
        if "ingest" not in runs:
            continue
        info = runs["ingest"][0]
        print(f"<!-- {size}: ingest {info['accepted']:,} accepted, {info['campaigns']} campaigns from "
              f"{info['campaign_spellings']} spellings; wall per run "
              + json.dumps({k: [round(r['seconds'], 2) for r in v] for k, v in runs.items()}) + " -->", flush=True)


if __name__ == "__main__":
    main()
