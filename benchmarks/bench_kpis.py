"""Benchmark: every segment table for both windows on a generated 10M-row file (Parquet and CSV).

Compared with (a) DuckDB's plain single GROUP BY on the same file (the cost of reading it once)
and (b) the same aggregation written in plain pandas. Each case runs in a fresh subprocess;
wall time and CPU time (user + system, all threads) cover the work only (not interpreter
start-up or imports); peak memory is the subprocess's peak resident set size (``getrusage``),
imports included, and is also reported above the import baseline (the peak before the work).
``duckdb_cube_parquet`` is fb-analyst's first pass alone in plain DuckDB (one GROUP BY of the
rows in the two windows by window and every segment dimension): the floor of the two-pass design.

    .venv/bin/python benchmarks/bench_kpis.py                  # 10M rows, 3 repeats
    .venv/bin/python benchmarks/bench_kpis.py --rows 1000000 --repeats 1

Inputs are generated once into benchmarks/data/ (gitignored) with fb_analyst.sample.
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
from itertools import combinations
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
ROWS_PER_SCALE = 26_400  # fb_analyst.sample: about 26k rows per unit of scale at 56 days
CASES = ("fb_parquet", "fballpairs_parquet", "duckdb_plain_parquet", "duckdb_cube_parquet", "duckdbsets_parquet",
         "pandas_parquet", "fb_csv", "duckdb_plain_csv")


def input_files(rows: int) -> dict[str, Path]:
    """Generate (once) the Parquet and CSV inputs of about ``rows`` rows."""
    files = {fmt: DATA / f"ads_{rows}.{fmt}" for fmt in ("parquet", "csv")}
    if not all(p.exists() for p in files.values()):
        from fb_analyst.sample import generate_sample, write_sample

        DATA.mkdir(parents=True, exist_ok=True)
        data = generate_sample("no_change", seed=0, days=56, scale=rows / ROWS_PER_SCALE)
        for path in files.values():
            write_sample(data, path)
    return files


# --- the cases (each runs alone in a child process) ------------------------------------------


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _start() -> dict:
    """Called once a case's imports are done: the clocks and the import baseline."""
    return {"wall": time.perf_counter(), "cpu": _cpu_s(), "import_rss_mb": _peak_mb()}


def _done(start: dict, **result) -> dict:
    return {"seconds": time.perf_counter() - start["wall"], "cpu_s": _cpu_s() - start["cpu"],
            "import_rss_mb": start["import_rss_mb"], **result}


def run_fb(path: str, all_pairs: bool = False) -> dict:
    from fb_analyst.engine import read_file
    from fb_analyst.segments import compare_segments
    from fb_analyst.windows import resolve_windows

    start = _start()
    table = read_file(path)
    windows = resolve_windows(table)
    # every dimension and every pair (all_pairs: also those where one dimension determines the other)
    tables = compare_segments(table, windows, dependent_pairs=all_pairs)
    return _done(start, rows_out=len(tables.frame), groupings=int(tables.frame["dimension"].nunique()))


def run_duckdb_cube(path: str) -> dict:
    """fb-analyst's first pass alone, by hand: the rows of the two windows (last 7 days and the
    7 before) grouped by window and every segment dimension, the additive parts summed, kept in
    DuckDB (a temporary table, as fb-analyst does). No roll-up, no KPI columns, no frame."""
    import duckdb

    from fb_analyst import schema as S

    start = _start()
    con = duckdb.connect()
    con.execute(f"CREATE VIEW ads AS SELECT * FROM read_parquet('{path}')")
    dims = S.present_segment_dimensions([r[0] for r in con.execute("DESCRIBE ads").fetchall()])
    sums = ", ".join(f"sum({m})::DOUBLE AS {m}" for m in S.MEASURES)
    con.execute(
        f"""CREATE TEMP TABLE cube AS
            WITH w AS (SELECT *, date > (SELECT max(date) FROM ads) - 7 AS current FROM ads
                       WHERE date > (SELECT max(date) FROM ads) - 14)
            SELECT current, {", ".join(dims)}, count(*) AS n_rows, {sums} FROM w GROUP BY ALL"""
    )
    return _done(start, rows_out=con.execute("SELECT count(*) FROM cube").fetchone()[0])


def run_duckdb_sets(path: str) -> dict:
    """The same sums written by hand as one DuckDB GROUPING SETS query (all dimensions and pairs)."""
    import duckdb

    from fb_analyst import schema as S
    from fb_analyst.kpis import RATIO_KPIS

    start = _start()
    con = duckdb.connect()
    con.execute(f"CREATE VIEW ads AS SELECT * FROM read_parquet('{path}')")
    cols = [r[0] for r in con.execute("DESCRIBE ads").fetchall()]
    dims = S.present_segment_dimensions(cols)
    aggs = ["count(*) AS n_rows"]
    for m in S.MEASURES:
        aggs += [f"sum({m})::DOUBLE AS {m}", f"count({m}) AS n_{m}"]
    for k in RATIO_KPIS:
        both = f"{k.numerator} IS NOT NULL AND {k.denominator} IS NOT NULL"
        aggs += [f"sum({k.numerator}) FILTER (WHERE {both})::DOUBLE AS {k.name}_num",
                 f"sum({k.denominator}) FILTER (WHERE {both})::DOUBLE AS {k.name}_den",
                 f"count(*) FILTER (WHERE {both}) AS n_{k.name}"]
    sets = ["(win)"] + [f"(win, {d})" for d in dims] + [f"(win, {a}, {b})" for a, b in combinations(dims, 2)]
    out = con.execute(
        f"""WITH w AS (SELECT *, CASE WHEN date > (SELECT max(date) FROM ads) - 7 THEN 'current'
                                       ELSE 'baseline' END AS win
                       FROM ads WHERE date > (SELECT max(date) FROM ads) - 14)
            SELECT win, {", ".join(dims)}, {", ".join(aggs)} FROM w
            GROUP BY GROUPING SETS ({", ".join(sets)})"""
    ).fetchall()
    return _done(start, rows_out=len(out))


def run_duckdb_plain(path: str) -> dict:
    import duckdb

    reader = "read_parquet" if path.endswith(".parquet") else "read_csv"
    start = _start()
    out = duckdb.sql(
        f"SELECT campaign, sum(spend), sum(impressions), sum(clicks), sum(purchases), sum(revenue), "
        f"count(*) FROM {reader}('{path}') GROUP BY campaign"
    ).fetchall()
    return _done(start, rows_out=len(out))


def run_pandas(path: str) -> dict:
    """The same tables in straightforward, vectorised pandas (masked sums, one groupby per grouping)."""
    import pandas as pd

    from fb_analyst import schema as S
    from fb_analyst.kpis import RATIO_KPIS

    start = _start()
    df = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    day = pd.to_datetime(df[S.DATE])
    end = day.max()
    window = pd.Series(pd.NA, index=df.index, dtype="string")
    window[day > end - pd.Timedelta(days=7)] = "current"
    window[(day <= end - pd.Timedelta(days=7)) & (day > end - pd.Timedelta(days=14))] = "baseline"
    df = df.assign(window=window).dropna(subset=["window"])
    parts = {"n_rows": pd.Series(1, index=df.index)}
    for m in S.MEASURES:
        parts[m] = df[m]
        parts[f"n_{m}"] = df[m].notna().astype("int64")
    for k in RATIO_KPIS:
        both = df[k.numerator].notna() & df[k.denominator].notna()
        parts[f"{k.name}_num"] = df[k.numerator].where(both)
        parts[f"{k.name}_den"] = df[k.denominator].where(both)
        parts[f"n_{k.name}"] = both.astype("int64")
    dims = S.present_segment_dimensions(list(df.columns))
    values = pd.DataFrame(parts)
    keyed = pd.concat([df[["window", *dims]], values], axis=1)
    rows_out = 0
    for g in [(d,) for d in dims] + list(combinations(dims, 2)):
        agg = keyed.groupby(["window", *g], observed=True, dropna=False)[list(values.columns)].sum(min_count=1)
        wide = agg.unstack("window")
        for k in RATIO_KPIS:
            for w in ("baseline", "current"):
                if (f"{k.name}_num", w) in wide:
                    den = wide[(f"{k.name}_den", w)]
                    wide[(k.name, w)] = k.scale * wide[(f"{k.name}_num", w)] / den.where(den != 0)
        rows_out += len(wide)
    return _done(start, rows_out=rows_out)


def child(case: str, path: str) -> None:
    fn = {"fb_parquet": run_fb, "fb_csv": run_fb, "fballpairs_parquet": lambda p: run_fb(p, all_pairs=True),
          "duckdb_plain_parquet": run_duckdb_plain, "duckdb_plain_csv": run_duckdb_plain,
          "duckdb_cube_parquet": run_duckdb_cube, "duckdbsets_parquet": run_duckdb_sets,
          "pandas_parquet": run_pandas}[case]
    result = fn(path)
    result["peak_rss_mb"] = _peak_mb()
    print(json.dumps(result))


# --- the driver ------------------------------------------------------------------------------


def measure(case: str, path: Path, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, __file__, "--child", case, str(path)],
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "case": case, "file": path.name, "repeats": repeats,
        "median_s": statistics.median(r["seconds"] for r in runs),
        "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "import_rss_mb": max(r["import_rss_mb"] for r in runs),
        "rows_out": runs[0]["rows_out"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slow-repeats", type=int, default=1,
                        help="repeats of the slow comparisons (pandas, hand-written GROUPING SETS)")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    files = input_files(args.rows)
    slow = ("pandas_parquet", "duckdbsets_parquet")
    load_before = os.getloadavg()
    results = [measure(c, files[c.rsplit("_", 1)[1]], args.slow_repeats if c in slow else args.repeats)
               for c in args.cases]
    load_after = os.getloadavg()
    by_case = {r["case"]: r for r in results}
    print(f"rows: {args.rows:,}; machine: {platform.machine()}, {platform.python_version()}, "
          f"{os.cpu_count()} cores; repeats: {args.repeats} ({args.slow_repeats} for {', '.join(slow)}); "
          f"load average before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}")
    print("| case | file | runs | median s | median CPU s | peak RSS MB | above imports MB | rows out |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['case']} | {r['file']} | {r['repeats']} | {r['median_s']:.2f} | {r['median_cpu_s']:.2f} "
              f"| {r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] - r['import_rss_mb']:.0f} | {r['rows_out']:,} |")
    for ours, other in (("fb_parquet", "duckdb_plain_parquet"), ("duckdb_cube_parquet", "duckdb_plain_parquet"),
                        ("fballpairs_parquet", "duckdbsets_parquet"), ("fb_parquet", "pandas_parquet"),
                        ("fballpairs_parquet", "pandas_parquet"), ("fb_csv", "duckdb_plain_csv")):
        if {ours, other} <= by_case.keys():
            a, b = by_case[ours], by_case[other]
            print(f"{other} / {ours}: {b['median_s'] / a['median_s']:.2f}x time, "
                  f"{b['median_cpu_s'] / a['median_cpu_s']:.2f}x CPU, "
                  f"{b['peak_rss_mb'] / a['peak_rss_mb']:.2f}x peak memory "
                  f"({(b['peak_rss_mb'] - b['import_rss_mb']) / (a['peak_rss_mb'] - a['import_rss_mb']):.2f}x "
                  f"above imports)")
    out = {"load_average_before": load_before, "load_average_after": load_after, "results": results}
    (DATA / f"bench_kpis_{args.rows}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
