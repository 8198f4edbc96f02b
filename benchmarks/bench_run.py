"""Whole-process `fb-analyst run`: wall time and peak memory on the sample and on 1M/10M generated rows.

Each measurement is a fresh process (`/usr/bin/time -v .venv/bin/fb-analyst run INPUT --out DIR`), so
the time includes Python start-up, imports and the embedding-model load; peak memory is the maximum
resident set size the kernel reports (the largest single process: ``run`` computes the forecast in a
child process alongside the diagnosis, whose own peak -- its ``VmHWM``, not ``ru_maxrss``, which Linux
carries over from the parent at the spawn -- is in the forecast stage's detail and in
``forecast_child_peak_mib``). CPU seconds (user + system, the child included) are recorded too:
on a shared machine they move much less with the load than the wall time. Per-stage seconds
come from the run's own ``run.json``; the 1-minute load average is taken before each run.

Generated inputs (``fb_analyst.sample``, scenario no_change, seed 0, 56 days, scale = rows / 26,400)
are written once to ``benchmarks/data/ads_<rows>.parquet`` (gitignored; shared with bench_kpis.py).

    .venv/bin/python benchmarks/bench_run.py                 # sample (3 repeats)
    .venv/bin/python benchmarks/bench_run.py --rows 1000000 10000000 --repeats 1
Results: printed as a Markdown table and saved to ``benchmarks/results/run_<case>.json``.

Before measuring, the package's bytecode is compiled (``compileall`` on ``src/``, as ``pip install``
does): the development environment sets ``PYTHONDONTWRITEBYTECODE=1``, so an edited module's stale
``.pyc`` is never refreshed and every run would otherwise recompile those sources at start-up
(~0.15-0.2 CPU s on the sample, more under load). ``--no-compile`` measures without this step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results"
SAMPLE = ROOT / "data" / "synthetic_fb_ads_undergarments.csv"
CLI = ROOT / ".venv" / "bin" / "fb-analyst"
ROWS_PER_SCALE = 26_400


def generated_input(rows: int) -> Path:
    """``benchmarks/data/ads_<rows>.parquet``, generated once."""
    path = DATA / f"ads_{rows}.parquet"
    if not path.exists():
        sys.path.insert(0, str(ROOT / "src"))
        from fb_analyst.sample import generate_sample, write_sample

        DATA.mkdir(parents=True, exist_ok=True)
        write_sample(generate_sample("no_change", seed=0, days=56, scale=rows / ROWS_PER_SCALE), path)
    return path


def compile_sources() -> None:
    """Refresh ``src/``'s bytecode caches (see the module docstring); the caches are gitignored."""
    import compileall

    compileall.compile_dir(ROOT / "src", quiet=1)


def run_once(path: Path, out: Path, timeout: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    proc = subprocess.run(["/usr/bin/time", "-v", str(CLI), "run", str(path), "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    err = proc.stderr
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", err)
    h, m, s = (float(g) if g else 0.0 for g in wall.groups())
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", err).group(1)) for k in ("User", "System"))
    stages, child_peak = {}, None
    manifest = out / "run.json"
    if proc.returncode == 0 and manifest.exists():
        data = json.loads(manifest.read_text())
        stages = {s["name"]: (s["seconds"] if s["status"] == "ok" else s["status"]) for s in data["stages"]}
        for st in data["stages"]:
            found = re.search(r"parallel process in ([\d.]+) s \(peak (\d+) MiB\)", st.get("detail") or "")
            if st["name"] == "forecast" and found:
                stages["forecast"], child_peak = float(found.group(1)), float(found.group(2))
    return {"exit_code": proc.returncode, "seconds": h * 3600 + m * 60 + s, "cpu_seconds": cpu,
            "peak_mib": rss_kb / 1024, "forecast_child_peak_mib": child_peak, "load_avg_1m": load,
            "stages": stages, "tail": "" if proc.returncode == 0 else err[-2000:]}


def measure(case: str, path: Path, repeats: int, timeout: int) -> dict:
    runs = [run_once(path, DATA / f"run_out_{case}", timeout) for _ in range(repeats)]
    ok = [r for r in runs if r["exit_code"] == 0]
    result = {
        "case": case, "input": str(path.relative_to(ROOT)), "repeats": repeats, "ok_runs": len(ok),
        "median_seconds": statistics.median(r["seconds"] for r in ok) if ok else None,
        "median_peak_mib": statistics.median(r["peak_mib"] for r in ok) if ok else None,
        "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in ok) if ok else None,
        "stages_last_run": ok[-1]["stages"] if ok else {}, "runs": runs,
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"run_{case}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[], help="generated input sizes (rows)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-sample", action="store_true", help="skip the bundled sample")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run before giving up")
    parser.add_argument("--no-compile", action="store_true", help="do not refresh src/'s bytecode first")
    args = parser.parse_args()
    if not args.no_compile:
        compile_sources()
    cases = [] if args.no_sample else [("sample", SAMPLE)]
    cases += [(f"{rows // 1_000_000}M" if rows >= 1_000_000 else str(rows), generated_input(rows)) for rows in args.rows]
    print("| input | runs | median wall time | wall range | median CPU time | median peak memory | load avg | "
          "stages (last run; forecast overlaps diagnose+creative) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for case, path in cases:
        r = measure(case, path, args.repeats, args.timeout)
        stages = {k: v for k, v in r["stages_last_run"].items() if isinstance(v, (int, float))}
        top = ", ".join(f"{k} {v:.1f}s" for k, v in stages.items())
        t = "failed" if r["median_seconds"] is None else f"{r['median_seconds']:.1f} s"
        cpu = "" if r["median_cpu_seconds"] is None else f"{r['median_cpu_seconds']:.1f} s"
        mem = "" if r["median_peak_mib"] is None else f"{r['median_peak_mib']:.0f} MiB"
        loads = "-".join(f"{x['load_avg_1m']:.1f}" for x in r["runs"])
        walls = sorted(x["seconds"] for x in r["runs"] if x["exit_code"] == 0)
        spread = f"{walls[0]:.1f}-{walls[-1]:.1f} s" if walls else ""
        print(f"| {case} | {r['ok_runs']}/{r['repeats']} | {t} | {spread} | {cpu} | {mem} | {loads} | {top} |",
              flush=True)


if __name__ == "__main__":
    main()
