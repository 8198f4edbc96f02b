"""Benchmark of the creative stage (issue 4): CTR-model CV scores, template recovery, timings.

Measures, on this machine:
* embedding time per 1,000 distinct messages (all-MiniLM-L6-v2 via sentence-transformers, CPU,
  batch 64, cache bypassed; and the TF-IDF/LSA fallback), median of ``--repeats``;
* on generated data (``generate_sample('no_change', seed, n_campaigns=10)``): adjusted Rand index
  of the themes against the generator's templates, whether the planted losing theme is the loser,
  and the CTR model's grouped-CV scores;
* on the bundled sample (ingested, diagnosed): the CTR model's grouped-CV scores and the
  wall time of ``analyze_creatives`` (median of ``--repeats``, model already loaded).

Run: ``.venv/bin/python benchmarks/bench_creative.py [--repeats 3] [--parts embedding generated sample]
[--json OUT]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from fb_analyst.creative import analyze_creatives
from fb_analyst.creative.embed import SentenceTransformerEmbedder, TfidfLsaEmbedder, get_embedder
from fb_analyst.diagnose import diagnose
from fb_analyst.engine import table_from_pandas
from fb_analyst.ingest import ingest_files
from fb_analyst.sample import catalog as C
from fb_analyst.sample import generate_sample
from fb_analyst.settings import Settings
from fb_analyst.windows import resolve_windows

REPO = Path(__file__).resolve().parents[1]


def distinct_messages(n: int, seed: int = 0) -> list[str]:
    """n distinct realistic messages from the generator's templates (suffixed where needed)."""
    rng = np.random.default_rng(seed)
    out: dict[str, None] = {}
    i = 0
    while len(out) < n:
        theme = C.THEME_IDS[i % len(C.THEME_IDS)]
        text = C.make_message(theme, ("male", "female")[i % 2], rng)
        out.setdefault(text if text not in out else f"{text} #{i}", None)
        i += 1
    return list(out)


def time_embedding(repeats: int) -> dict:
    texts = distinct_messages(1000)
    st = SentenceTransformerEmbedder()
    t0 = time.perf_counter()
    st.embed(texts[:8])
    load_s = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        st.embed(texts)
        runs.append(time.perf_counter() - t0)
    tfidf = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        TfidfLsaEmbedder().embed(texts)
        tfidf.append(time.perf_counter() - t0)
    return {"minilm_s_per_1000": statistics.median(runs), "minilm_runs": runs, "model_load_s": load_s,
            "tfidf_s_per_1000": statistics.median(tfidf)}


def model_scores(report) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in {
        "spearman_message": report.spearman_message, "spearman_message_p": report.spearman_message_p,
        "spearman_cell": report.spearman_cell, "spearman_context_only": report.spearman_context_only,
        "spearman_text": report.spearman_text, "spearman_text_p": report.spearman_text_p,
        "calibration_slope": report.calibration_slope, "calibration_intercept": report.calibration_intercept,
        "has_predictive_power": report.has_predictive_power, "n_messages": report.n_messages,
        "n_cells": report.n_cells, "folds": report.cv_folds}.items()}


def generated(settings: Settings, embedder, seeds: list[int]) -> list[dict]:
    from sklearn.metrics import adjusted_rand_score

    rows = []
    for seed in seeds:
        data = generate_sample("no_change", seed=seed, n_campaigns=10)
        table = table_from_pandas(data.frame, name=f"bench_gen_{seed}")
        windows = resolve_windows(table, settings=settings)
        t0 = time.perf_counter()
        res = analyze_creatives(table, windows, None, settings, embedder=embedder)
        wall = time.perf_counter() - t0
        truth = data.truth.extra
        theme_of = res.clusters.theme_of()
        msgs = sorted(truth["message_theme"])
        ari = adjusted_rand_score([truth["message_theme"][m] for m in msgs], [theme_of[m] for m in msgs])
        share = {t.id: sum(truth["message_theme"][m] == truth["losing_theme"] for m in t.members)
                 for t in res.clusters.themes}
        main = max(share, key=share.get)
        loser = next(t for t in res.clusters.themes if t.id == main)
        rows.append({"seed": seed, "rows": len(data.frame), "messages": len(msgs), "themes": len(res.clusters.themes),
                     "ari": round(ari, 4), "losing_theme": truth["losing_theme"], "loser_verdict": loser.verdict,
                     "loser_rate_ratio": round(loser.effects["ctr"].rate_ratio, 4),
                     "loser_q": loser.effects["ctr"].q_value, "seconds": round(wall, 2),
                     "ctr_model": model_scores(res.creatives.ctr_model)})
    return rows


def sample(settings: Settings, embedder, repeats: int) -> dict:
    table = ingest_files([REPO / "data" / "synthetic_fb_ads_undergarments.csv"], settings).table
    windows = resolve_windows(table, settings=settings)
    diagnosis = diagnose(table, windows, settings)
    walls, res = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = analyze_creatives(table, windows, diagnosis, settings, embedder=embedder)
        walls.append(time.perf_counter() - t0)
    assert res is not None
    return {"seconds_median": round(statistics.median(walls), 2), "seconds": [round(w, 2) for w in walls],
            "themes": [t.label for t in res.clusters.themes],
            "campaigns_with_suggestions": len(res.creatives.recommendations),
            "ctr_model": model_scores(res.creatives.ctr_model)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3])
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--parts", nargs="*", default=["embedding", "generated", "sample"],
                    choices=["embedding", "generated", "sample"])
    args = ap.parse_args()
    settings = Settings()
    embedder = get_embedder(settings)
    out: dict = {"machine": f"{platform.machine()} {platform.system()}, Python {platform.python_version()}, "
                            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start"}
    for key, fn in (("embedding", lambda: time_embedding(args.repeats)),
                    ("generated", lambda: generated(settings, embedder, args.seeds)),
                    ("sample", lambda: sample(settings, embedder, args.repeats))):
        if key not in args.parts:
            continue
        out[key] = fn()
        print(f"{key}: {json.dumps(out[key], default=str)}", file=sys.stderr, flush=True)
    if "generated" in out:
        out["generated_mean_ari"] = round(float(np.mean([r["ari"] for r in out["generated"]])), 4)
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
