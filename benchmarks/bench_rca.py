"""Benchmark root-cause localisation on the RS dataset (135 cases) with the shared RCA harness.

Runs ``rca_harness.py`` (RiskLoc's loading and scoring, re-implemented) on every case with
``fb_analyst.diagnose.localize:localize_root_cause`` at its default settings, and writes F1,
precision, recall and time per case (median, mean; the localiser call only) to
``benchmarks/results/rca_rs.json``.

    .venv/bin/python benchmarks/bench_rca.py [--dataset-dir ../shared/data/rca_rs]
        [--harness ../shared/tools/rca_harness.py] [--limit N] [--out benchmarks/results/rca_rs.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CANDIDATE = "fb_analyst.diagnose.localize:localize_root_cause"


def run_harness(harness: Path, dataset_dir: Path, limit: int | None) -> tuple[dict, list[dict]]:
    """Run the harness in a subprocess (one worker); return its summary and per-case rows."""
    with tempfile.TemporaryDirectory() as tmp:
        summary, per_case = Path(tmp) / "summary.json", Path(tmp) / "cases.jsonl"
        cmd = [sys.executable, str(harness), "--dataset-dir", str(dataset_dir),
               "--candidate", CANDIDATE, "--pythonpath", str(REPO / "src"),
               "--summary", str(summary), "--out", str(per_case)]
        if limit:
            cmd += ["--limit", str(limit)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        rows = [json.loads(line) for line in per_case.read_text().splitlines() if line.strip()]
        return json.loads(summary.read_text()), rows


def f1_of(rows: list[dict]) -> float:
    """Micro F1 over cases (TP/FP/FN summed first), the harness's and RiskLoc's summary."""
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("TP", "FP", "FN"))
    return round(2 * tp / (2 * tp + fp + fn), 4) if (2 * tp + fp + fn) else float("nan")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset-dir", type=Path, default=REPO.parent / "shared" / "data" / "rca_rs")
    ap.add_argument("--harness", type=Path, default=REPO.parent / "shared" / "tools" / "rca_harness.py")
    ap.add_argument("--limit", type=int, default=None, help="first N cases only (smoke runs)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "rca_rs.json")
    args = ap.parse_args(argv)

    s, rows = run_harness(args.harness, args.dataset_dir, args.limit)
    result = {
        "dataset": "RS (RiskLoc/RobustSpot), derived failure ratio",
        "candidate": CANDIDATE,
        "settings": "defaults",
        "n_cases": s["n_cases"],
        "TP": s["TP"], "FP": s["FP"], "FN": s["FN"],
        "F1": round(s["F1"], 4),
        "precision": round(s["precision"], 4),
        "recall": round(s["recall"], 4),
        "median_seconds_per_case": round(s["median_seconds"], 5),
        "mean_seconds_per_case": round(s["mean_seconds"], 5),
        "n_errors": s["n_errors"],
        # The issue quotes Squeeze on the first 89 and HotSpot on the first 59 cases (sorted stems).
        "F1_first_89": f1_of(rows[:89]),
        "F1_first_59": f1_of(rows[:59]),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
