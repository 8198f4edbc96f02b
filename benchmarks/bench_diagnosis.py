"""Diagnosis hit rate and false-positive rate on the generator's scenarios (issue 8).

For every scenario and seed: generate the sample, resolve the default windows (last 7 days vs the
7 before), run ``diagnose`` and score it against the planted truth (``fb_analyst.diagnose.scoring``).

    .venv/bin/python benchmarks/bench_diagnosis.py --seeds 10            # table on stdout
    .venv/bin/python benchmarks/bench_diagnosis.py --seeds 10 --markdown  # rows for BENCHMARKS.md

Hit rate: share of runs scored a hit. Each miss is classified (``scoring.MISS_REASONS``): a false
supported hypothesis (runs without a change), the planted cause not among the hypotheses, not
significant after FDR (power), held back by the confidence gate, significant but held by another
rule, attributed to another segment, outranked by another hypothesis, a required part missing, or
contradicted by a false rate hypothesis. False-positive rate: share of runs with at least one
supported hypothesis that no planted fact backs; also the share of supported hypotheses that are
false. Times are wall-clock per ``diagnose`` call (median). Then the reliability of ``confidence``
over every hypothesis written and over the supported ones. ``--support-confidence 0`` turns the
confidence gate of the status rule off (``hypotheses.SUPPORT_CONFIDENCE``), for the FDR-only
figures and the reliability of the FDR-significant hypotheses the gate acts on. ``--no-moderation``
gives every day-level test its own 12-df dispersion again (``diagnose/dispersion.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from fb_analyst.diagnose import diagnose
from fb_analyst.diagnose.scoring import MISS_REASONS, NOT_LISTED, is_backed, miss_reason, score
from fb_analyst.engine import connect, table_from_pandas
from fb_analyst.sample import SCENARIOS, generate_sample
from fb_analyst.settings import Settings
from fb_analyst.windows import resolve_windows


#: Confidence bins of the reliability table.
BINS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0001)


def one_run(job: tuple[str, int]) -> dict:
    """Generate, diagnose and score one (scenario, seed); module-level so a process pool can run it."""
    sc, seed = job
    settings = Settings()
    data = generate_sample(sc, seed=seed)
    table = table_from_pandas(data.frame, _connection())
    windows = resolve_windows(table, None, settings)
    t0 = time.perf_counter()
    d = diagnose(table, windows, settings)
    elapsed = time.perf_counter() - t0
    miss = miss_reason(d, data.truth, settings.diagnose)
    if miss is not None and miss[0] == NOT_LISTED:
        # Beyond the listed max_hypotheses? Statuses are decided before the list is cut, so the
        # full list has the same ones and tells why.
        full = settings.model_copy(update={"diagnose": settings.diagnose.model_copy(update={"max_hypotheses": 10**6})})
        miss = miss_reason(diagnose(table, windows, full), data.truth, settings.diagnose)
    return dict(scenario=sc, seed=seed, score=score(d, data.truth), seconds=elapsed, miss=miss,
                pairs=[(h.confidence, is_backed(h, data.truth), h.status) for h in d.hypotheses])


_CON = None


def _connection():
    global _CON
    if _CON is None:
        _CON = connect("duckdb")
    return _CON


def run(scenarios: list[str], seeds: int, first_seed: int = 0, verbose: bool = False,
        pairs: list | None = None, jobs: int = 1, misses: list | None = None) -> list[dict]:
    """Hit/false-positive rows per scenario; (confidence, backed) of every hypothesis into ``pairs``,
    (scenario, seed, reason, detail) of every miss into ``misses``."""
    work = [(sc, seed) for sc in scenarios for seed in range(first_seed, first_seed + seeds)]
    if jobs > 1:
        import multiprocessing

        # fork: the workers inherit the switches main() set on the modules (--support-confidence, ...)
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            done = pool.map(one_run, work, chunksize=1)
    else:
        done = [one_run(w) for w in work]
    rows = []
    for sc in scenarios:
        mine = [r for r in done if r["scenario"] == sc]
        scores = [r["score"] for r in mine]
        for r in mine:
            s = r["score"]
            if pairs is not None:
                pairs.extend(r["pairs"])
            if misses is not None and r["miss"] is not None:
                misses.append((sc, r["seed"], *r["miss"]))
            if verbose:
                print(f"  {sc} seed={r['seed']} hit={s.hit} supported={s.supported} false={s.false_supported} "
                      f"top={s.top}", file=sys.stderr)
        n_sup = sum(s.supported for s in scores)
        rows.append(dict(
            scenario=sc, runs=len(scores), hit_rate=sum(s.hit for s in scores) / len(scores),
            fp_run_rate=sum(s.false_supported > 0 for s in scores) / len(scores),
            false_share=(sum(s.false_supported for s in scores) / n_sup) if n_sup else 0.0,
            supported_mean=n_sup / len(scores), median_s=statistics.median(r["seconds"] for r in mine)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--jobs", type=int, default=1,
                    help="processes (times per run are then measured under contention)")
    ap.add_argument("--support-confidence", type=float, default=None,
                    help="sensitivity check: the confidence a supported hypothesis needs "
                         "(hypotheses.SUPPORT_CONFIDENCE; 0 = the FDR test alone)")
    ap.add_argument("--no-moderation", action="store_true",
                    help="sensitivity check: every day-level test keeps its own 12-df dispersion "
                         "(evaluate.MODERATE_DISPERSION off; see diagnose/dispersion.py)")
    a = ap.parse_args()
    if a.no_moderation:
        import fb_analyst.diagnose.evaluate as EV

        EV.MODERATE_DISPERSION = False
    if a.support_confidence is not None:
        import fb_analyst.diagnose.hypotheses as H

        H.SUPPORT_CONFIDENCE = a.support_confidence
    pairs: list = []
    misses: list = []
    rows = run(a.scenarios, a.seeds, a.first_seed, a.verbose, pairs, a.jobs, misses)
    if a.markdown:
        print("| scenario | runs | hit rate | runs with a false supported hypothesis | false share of supported "
              "| supported per run | median s/run |")
        print("|---|---|---|---|---|---|---|")
    for r in rows:
        if a.markdown:
            print(f"| {r['scenario']} | {r['runs']} | {r['hit_rate']:.0%} | {r['fp_run_rate']:.0%} | "
                  f"{r['false_share']:.0%} | {r['supported_mean']:.1f} | {r['median_s']:.2f} |")
        else:
            print(f"{r['scenario']:22s} runs={r['runs']} hit={r['hit_rate']:.0%} fp_runs={r['fp_run_rate']:.0%} "
                  f"false_share={r['false_share']:.0%} sup/run={r['supported_mean']:.1f} t={r['median_s']:.2f}s")
    n = sum(r["runs"] for r in rows)
    hit = sum(r["hit_rate"] * r["runs"] for r in rows) / n
    fp = sum(r["fp_run_rate"] * r["runs"] for r in rows) / n
    print(f"{'overall' if not a.markdown else '| **overall** |'} {n} runs: hit rate {hit:.0%}, "
          f"runs with a false supported hypothesis {fp:.0%}")
    print("\nWhy the misses missed (diagnose.scoring.miss_reason):")
    print("| reason | runs | scenario seed: the planted hypothesis |\n|---|---|---|")
    for reason in MISS_REASONS:
        mine = [m for m in misses if m[2] == reason]
        if mine:
            print(f"| {reason} | {len(mine)} | " + "; ".join(f"{sc} {seed}: {d}".replace("|", "/")
                                                             for sc, seed, _, d in mine) + " |")
    print("\nConfidence reliability (every hypothesis written; backed = a planted fact supports it):")
    reliability([(c, b) for c, b, _ in pairs])
    print("\nThe same, supported hypotheses only:")
    reliability([(c, b) for c, b, st in pairs if st == "supported"])


def reliability(pairs: list[tuple[float, bool]]) -> None:
    """Print the binned reliability table and the Brier score of (confidence, backed) pairs."""
    print("| confidence bin | hypotheses | mean confidence | share backed |\n|---|---|---|---|")
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        sel = [(c, b) for c, b in pairs if lo <= c < hi]
        if sel:
            mc = sum(c for c, _ in sel) / len(sel)
            mb = sum(b for _, b in sel) / len(sel)
            print(f"| [{lo:.1f}, {min(hi, 1.0):.1f}{']' if hi > 1 else ')'} | {len(sel)} | {mc:.2f} | {mb:.2f} |")
    if pairs:
        brier = sum((c - b) ** 2 for c, b in pairs) / len(pairs)
        base = sum(b for _, b in pairs) / len(pairs)
        print(f"Brier score {brier:.3f} (constant base-rate forecast: {base * (1 - base):.3f})")


if __name__ == "__main__":
    main()
