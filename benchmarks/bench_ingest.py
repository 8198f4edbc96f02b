"""Ingest benchmark: ``ingest_files`` on a generated N-row CSV and Parquet vs DuckDB's floor.

The floor is DuckDB alone doing the least any ingestion must do: ``read_csv`` (or
``read_parquet``) with type auto-detection plus one GROUP BY campaign x date summing the measures.
A second reference, ``materialise``, is DuckDB copying the file into an in-memory table with
auto-detected types: the least any ingestion that *keeps* a table must do. A third, ``copy``, is
DuckDB's plain ``COPY (SELECT * FROM read_...) TO 'x.parquet'``: the least any ingestion that
*writes* a table must do, in bounded memory.
Each measurement runs in a fresh subprocess; wall time is measured inside it and peak memory is
the child's own ``ru_maxrss`` (resident set, includes Python, DuckDB and Ibis).

Data: ``fb_analyst.sample.generate_sample(scale=...)`` (ad-level daily rows), written by DuckDB
with sample-schema headers, ``ctr``/``roas`` columns, ~1% of clicks blank (recoverable from ctr)
and ~3% of campaign names misspelt (case, separators, a dropped letter) so that name resolution
has real work. Files go to ``benchmarks/data/`` (gitignored) and are reused when present.

    .venv/bin/python benchmarks/bench_ingest.py --rows 10000000 --repeats 3
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
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
ROWS_PER_SCALE = 26_300  # generate_sample rows per unit of scale at 56 days (measured)


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
        from fb_analyst.engine import connect
        from fb_analyst.ingest import ingest_files
        from fb_analyst.settings import Settings
    import_s = time.perf_counter() - t_imp
    use0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = use0.ru_utime + use0.ru_stime
    t0 = time.perf_counter()
    reader = "read_parquet" if path.endswith(".parquet") else "read_csv"
    if kind == "floor":
        rows = duckdb.connect().execute(
            f"SELECT count(*) FROM (SELECT campaign_name, date, sum(spend), sum(impressions), sum(clicks), "
            f"sum(purchases), sum(revenue) FROM {reader}('{path}') GROUP BY ALL)"
        ).fetchone()[0]
        extra: dict[str, object] = {"groups": rows}
    elif kind == "copy":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "copy.parquet"
            duckdb.connect().execute(f"COPY (SELECT * FROM {reader}('{path}')) TO '{out}' (FORMAT PARQUET)")
            extra = {"bytes": out.stat().st_size}
    elif kind == "materialise":
        con = duckdb.connect()
        con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{path}')")
        extra = {"rows": con.execute("SELECT count(*) FROM t").fetchone()[0]}
    else:
        result = ingest_files([path], Settings(), con=connect())
        r = result.report
        extra = {"rows_read": r.rows_read, "accepted": r.rows_accepted,
                 "campaigns": r.name_resolution["campaign"].canonical_names,
                 "campaign_spellings": r.name_resolution["campaign"].raw_names}
    seconds = time.perf_counter() - t0
    use = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"kind": kind, "seconds": seconds, "cpu_seconds": use.ru_utime + use.ru_stime - cpu0,
                      "import_s": import_s, "peak_mib": use.ru_maxrss / 1024, **extra}))


def measure(kind: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    csv_path, pq_path = generate(args.rows)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"median of {args.repeats}; load average at start {os.getloadavg()[0]:.1f}")
    kinds = ("floor", "materialise", "copy", "ingest")
    print("| input | rows | kind | wall s | CPU s | wall / floor | CPU / floor | peak MiB | imports s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in (csv_path, pq_path):
        runs = {k: [measure(k, path) for _ in range(args.repeats)] for k in kinds}
        med = {k: {f: statistics.median(r[f] for r in v) for f in ("seconds", "cpu_seconds", "peak_mib", "import_s")}
               for k, v in runs.items()}
        size = f"{path.suffix[1:]} ({path.stat().st_size / 2**20:,.0f} MiB)"
        for k in kinds:
            m = med[k]
            print(f"| {size} | {args.rows:,} | {k} | {m['seconds']:.2f} | {m['cpu_seconds']:.2f} | "
                  f"{m['seconds'] / med['floor']['seconds']:.2f}x | {m['cpu_seconds'] / med['floor']['cpu_seconds']:.2f}x | "
                  f"{m['peak_mib']:,.0f} | {m['import_s']:.2f} |", flush=True)
        info = runs["ingest"][0]
        print(f"<!-- {size}: ingest {info['accepted']:,} accepted, {info['campaigns']} campaigns from "
              f"{info['campaign_spellings']} spellings; wall per run "
              + json.dumps({k: [round(r['seconds'], 2) for r in v] for k, v in runs.items()}) + " -->", flush=True)


if __name__ == "__main__":
    main()
