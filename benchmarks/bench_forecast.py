"""Forecast accuracy, interval coverage and speed: default engine vs Prophet vs simple baselines (issue 5).

Series: the bundled sample (account + 10 campaigns after ingest's name resolution) and a generated
``trend_weekly`` account (trend + weekday effects; account + 6 campaigns), each with impressions,
clicks, spend, purchases, revenue and CTR, CPC, CVR, ROAS, prepared exactly as the product does.

Backtest: 4 outer rolling origins x 7 days (the last 28 days). The default engine is evaluated
*nested*: the product's own ``build_forecasts`` is re-run at each outer origin on the data up to it
(so it chooses its models from its own inner backtest) and scored on the next 7 days.
"sim:" rows replay the model-choice rule on one statsforecast cross-validation with 8 independently
refitted windows (the inner windows of outer origin o are the 4 windows before it): cheap enough
to compare choice rules (tolerance, candidate set, ratio method) -- that grid set the defaults.
Baselines (seasonal naive, historic mean, single models, Prophet with its defaults) forecast every
series directly (ratio KPIs from their own daily series). MASE: forecast MAE / in-sample MAE of the
weekly seasonal naive up to the origin, averaged over origins then series. Coverage: share of
backtest days inside the 80% interval. Times: wall-clock and CPU (children included, for Prophet's
Stan) of (a) the product path -- backtest + choice + final fit -- with each engine, (b) one
fit+predict of each single model on all series, (c) the budget step.

    .venv/bin/python benchmarks/bench_forecast.py --arima --cache /tmp/fb_forecast_cv   # tables for BENCHMARKS.md
    .venv/bin/python benchmarks/bench_forecast.py --explore --no-prophet --cache /tmp/fb_forecast_cv  # choice-rule grid
    .venv/bin/python benchmarks/bench_forecast.py --budget-seeds 10   # allocation vs known response curves
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fb_analyst import schema as S
from fb_analyst.engine import table_from_pandas
from fb_analyst.forecast.budget import allocate_budget
from fb_analyst.forecast.backtest import add_ensemble, candidates_for, choose_model, conformal_halfwidths, mase_scale, score_cv
from fb_analyst.forecast.models import ENSEMBLE_MEMBERS, StatsForecastEngine
from fb_analyst.forecast.series import ADDITIVE_METRICS, RATIO_METRICS, daily_sums, metric_values, prepare_series
from fb_analyst.forecast.stage import _keys, build_forecasts
from fb_analyst.kpis import get_kpi
from fb_analyst.sample import generate_sample
from fb_analyst.settings import Settings

REPO = Path(__file__).resolve().parents[1]
H, OUTER, INNER = 7, 4, 4
TIMES: list[dict] = []


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def datasets(settings: Settings) -> dict[str, tuple[dict[str, pd.DataFrame], pd.Timestamp]]:
    from fb_analyst.ingest import ingest_files

    out = {}
    table = ingest_files([REPO / "data" / "synthetic_fb_ads_undergarments.csv"], settings).table
    gen = generate_sample("trend_weekly", seed=0, days=90, n_campaigns=6)
    for name, t in (("sample", table), ("trend_weekly", table_from_pandas(gen.frame, name="bench_tw"))):
        by = {"__account__": daily_sums(t), S.CAMPAIGN: daily_sums(t, [S.CAMPAIGN])}
        out[name] = (by, by["__account__"][S.DATE].max())
    return out


def prepared_series(daily_by: dict, last: pd.Timestamp, settings: Settings) -> list:
    fs = settings.forecast
    out = []
    for n, (key, day) in enumerate(_keys(daily_by)):
        for metric in (*ADDITIVE_METRICS, *RATIO_METRICS):
            raw, ran, notes = metric_values(day, metric, last)
            p = prepare_series(f"{n}:{metric}", key, metric, raw, ran, horizon=H, origins=OUTER + INNER,
                               min_history_days=fs.min_history_days, max_gap_days=fs.max_gap_days,
                               outage_zero_share=fs.outage_zero_share, notes=notes)
            assert p.tier == "full" and p.origins == OUTER + INNER, (p.key, p.metric, p.reason)
            out.append(p)
    return out


def _long(series: list) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"unique_id": p.uid, "ds": p.values.index, "y": p.values.to_numpy(float)})
                      for p in series], ignore_index=True)


def outer_scores(rows: pd.DataFrame, hist: dict) -> pd.DataFrame:
    """rows: unique_id, cutoff, ds, y, mean, lo80, hi80 -> per series: MASE (mean over origins), coverage."""
    r = rows.copy()
    r["ae"] = (r["y"] - r["mean"]).abs()
    r["in80"] = (r["y"] >= r["lo80"]) & (r["y"] <= r["hi80"])
    per = r.groupby(["unique_id", "cutoff"]).agg(mae=("ae", "mean"), in80=("in80", "mean")).reset_index()
    per["mase"] = [m / (mase_scale(hist[u].loc[:c]) or np.nan) for u, c, m in zip(per.unique_id, per.cutoff, per.mae)]
    return per.groupby("unique_id").agg(mase=("mase", "mean"), cov80=("in80", "mean")).reset_index()


def nested_default(cv: pd.DataFrame, series: list, cutoffs: list, models: list[str], tol: float, ratio: str) -> pd.DataFrame:
    """Outer-origin rows of the engine's per-origin choice (models, tolerance, ratio method)."""
    hist = {p.uid: p.values for p in series}
    cv = cv[cv["model"].isin(models)]
    rows, chosen_rows = [], {}
    for i, c in enumerate(cutoffs):
        inner_cuts = [c - pd.Timedelta(days=H * k) for k in range(1, INNER + 1)]
        inner = cv[cv["cutoff"].isin(inner_cuts)]
        scores = score_cv(inner, hist)
        for p in series:
            ch = choose_model(candidates_for(scores, p.uid), tol)
            outer = cv[(cv["unique_id"] == p.uid) & (cv["cutoff"] == c) & (cv["model"] == ch.model)]
            inn = inner[(inner["unique_id"] == p.uid) & (inner["model"] == ch.model)]
            chosen_rows[(p.uid, c)] = (ch, outer, inn)
    by_uid = {p.uid: p for p in series}
    for p in series:
        for c in cutoffs:
            ch, outer, inn = chosen_rows[(p.uid, c)]
            use = outer
            if p.metric in RATIO_METRICS and ratio != "direct":
                comp = _components(p, c, chosen_rows, by_uid)
                if comp is not None:
                    comp_rows, comp_inner_mase = comp
                    if ratio == "components" or (ch.mase is None or comp_inner_mase <= ch.mase):
                        use = comp_rows
            rows.append(use[["unique_id", "cutoff", "ds", "y", "mean", "lo80", "hi80"]])
    return pd.concat(rows, ignore_index=True)


def _components(p, c, chosen_rows, by_uid):  # noqa: ANN001, ANN202
    kpi = get_kpi(p.metric)
    prefix = p.uid.split(":")[0]
    _, on, inn_n = chosen_rows[(f"{prefix}:{kpi.numerator}", c)]
    _, od, inn_d = chosen_rows[(f"{prefix}:{kpi.denominator}", c)]
    y = by_uid[p.uid].values
    keys = ["cutoff", "ds"]
    inner = inn_n[[*keys, "mean"]].merge(inn_d[[*keys, "mean"]], on=keys, suffixes=("_n", "_d"))
    inner["pred"] = kpi.scale * inner["mean_n"] / inner["mean_d"]
    inner["err"] = y.reindex(inner["ds"]).to_numpy() - inner["pred"]
    q = conformal_halfwidths(inner["err"].to_numpy())
    mases = [inner[inner.cutoff == k]["err"].abs().mean() / (mase_scale(y.loc[:k]) or np.nan) for k in inner.cutoff.unique()]
    o = on[[*keys, "mean"]].merge(od[[*keys, "mean"]], on=keys, suffixes=("_n", "_d"))
    mean = kpi.scale * o["mean_n"] / o["mean_d"]
    rows = pd.DataFrame({"unique_id": p.uid, "cutoff": o["cutoff"], "ds": o["ds"], "y": y.reindex(o["ds"]).to_numpy(),
                         "mean": mean, "lo80": mean - q[80], "hi80": mean + q[80]})
    return rows, float(np.nanmean(mases))


def nested_product(daily_by: dict, cutoffs: list, settings: Settings, series: list) -> pd.DataFrame:
    """The product itself (``build_forecasts``) re-run at each outer origin on the data up to it."""
    uid = {(tuple(p.key.items()), p.metric): p.uid for p in series}
    hist = {p.uid: p.values for p in series}
    rows = []
    for c in cutoffs:
        trunc = {k: v[v[S.DATE] <= c] for k, v in daily_by.items()}
        out, _ = build_forecasts(trunc, settings, pd.Timestamp(c))
        for sf in out:
            u = uid[(tuple(sf.key.items()), sf.metric)]
            f = pd.DataFrame([p.model_dump() for p in sf.forecast])
            if f.empty:
                continue
            f["ds"] = pd.to_datetime(f["date"])
            rows.append(f.assign(unique_id=u, cutoff=c, y=hist[u].reindex(f["ds"]).to_numpy()))
    return pd.concat(rows, ignore_index=True)


def timed(fn):  # noqa: ANN001, ANN201
    w, c = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - w, _cpu() - c


def run(prophet: bool, arima: bool, cache: Path | None = None, explore: bool = False) -> list[dict]:
    settings = Settings()
    fs = settings.forecast
    results = []
    for name, (daily_by, last) in datasets(settings).items():
        series = prepared_series(daily_by, last, settings)
        hist = {p.uid: p.values for p in series}
        df = _long(series)
        base_models = ["HistoricAverage", "Naive", "SeasonalNaive", "AutoETS", "AutoTheta"] + (["AutoARIMA"] if arima else [])
        eng = StatsForecastEngine(base_models, refit=True, ets_model=fs.ets_model)  # independent windows for the nested simulation
        parts = []
        for m in base_models:  # one CV per model so a cache can be reused when models are added
            tag = f"{m}_{fs.ets_model}" if m == "AutoETS" else m
            cached = cache / f"cv_{name}_{tag}.pkl" if cache else None
            if cached is not None and cached.exists():
                parts.append(pd.read_pickle(cached))
                continue
            part = eng.cross_validate(df, [m], H, OUTER + INNER)
            if cached is not None:
                cache.mkdir(parents=True, exist_ok=True)
                part.to_pickle(cached)
            parts.append(part)
        cv = pd.concat(parts, ignore_index=True)
        ens2 = add_ensemble(cv[cv.model != "AutoARIMA"], ("AutoETS", "AutoTheta"))
        cv_all = ens2
        if arima:
            e3 = add_ensemble(cv, ENSEMBLE_MEMBERS)
            e3 = e3[e3.model == "Ensemble"].assign(model="Ensemble3")
            cv_all = pd.concat([ens2, cv[cv.model == "AutoARIMA"], e3], ignore_index=True)
        cutoffs = sorted(cv_all["cutoff"].unique())[-OUTER:]
        outer = cv_all[cv_all["cutoff"].isin(cutoffs)]
        kinds = {p.uid: ("ratio" if p.metric in RATIO_METRICS else "additive") for p in series}

        def add(method: str, rows: pd.DataFrame) -> None:
            sc = outer_scores(rows, hist)
            sc["kind"] = sc["unique_id"].map(kinds)
            for kind, g in [("all", sc), *sc.groupby("kind")]:
                results.append(dict(data=name, method=method, kind=kind, n=len(g), mase=g["mase"].mean(),
                                    cov80=g["cov80"].mean()))

        if not explore:  # headline: the product re-run at each outer origin (truly nested)
            add("**default engine** (product re-run per origin)", nested_product(daily_by, cutoffs, settings, series))
            rs = settings.model_copy(update={"forecast": fs.model_copy(update={"backtest_refit": True})})
            add("default engine, backtest_refit=True", nested_product(daily_by, cutoffs, rs, series))
        variants = {
            "sim: default choice rule": (fs.models, fs.selection_tolerance, fs.ratio_method),
            "sim: ratios direct": (fs.models, fs.selection_tolerance, "direct"),
            "sim: ratios auto": (fs.models, fs.selection_tolerance, "auto"),
            "sim: tolerance 0 (pure best MASE)": (fs.models, 0.0, fs.ratio_method),
        }
        if explore:  # the grid behind the defaults (see BENCHMARKS.md)
            plain = ["HistoricAverage", "SeasonalNaive", "AutoETS", "AutoTheta", "Ensemble"]
            for tol in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3):
                for extra in ([], ["Naive"]):
                    for ratio in ("components", "direct", "auto"):
                        label = f"sim: tolerance {tol}, {'+Naive' if extra else 'no Naive'}, ratios {ratio}"
                        variants[label] = (plain + extra, tol, ratio)
        if arima:
            variants["sim: + AutoARIMA candidates"] = ([*fs.models, "AutoARIMA", "Ensemble3"], fs.selection_tolerance, fs.ratio_method)
        if not explore:  # product path: selection backtest + final fit, as forecast_and_allocate runs it
            _, w, c = timed(lambda: build_forecasts(daily_by, settings, last))
            TIMES.append(dict(data=name, what="product path, statsforecast: 4-origin backtest of every "
                              "candidate + choice + final fit", wall=w, cpu=c))
            cd = daily_by[S.CAMPAIGN]
            window = ((last - pd.Timedelta(days=6)).date(), last.date())
            _, w, c = timed(lambda: allocate_budget(cd, fs, window=window))
            TIMES.append(dict(data=name, what=f"budget: curves with {fs.bootstrap_samples} bootstrap samples "
                              "+ allocation, all campaigns", wall=w, cpu=c))
            if prophet:
                ps = settings.model_copy(update={"forecast": fs.model_copy(update={"engine": "prophet"})})
                _, w, c = timed(lambda: build_forecasts(daily_by, ps, last))
                TIMES.append(dict(data=name, what="product path, prophet engine: 4-origin backtest + final fit",
                                  wall=w, cpu=c))
        for label, (models, tol, ratio) in variants.items():
            rows = nested_default(cv_all, series, cutoffs, list(models), tol, ratio)
            add(label, rows)
        for m in ("SeasonalNaive", "HistoricAverage", "AutoETS", "AutoTheta") + (("AutoARIMA",) if arima else ()):
            _, w, c = timed(lambda m=m: eng.forecast(df, [m], H))
            TIMES.append(dict(data=name, what=f"fit+predict once on all {len(series)} series: {m}", wall=w, cpu=c))
            add(m, outer[outer.model == m])
        if prophet:
            from fb_analyst.forecast.models import ProphetEngine

            pe = ProphetEngine(seed=0)
            pcv = pe.cross_validate(df, ["Prophet"], H, OUTER)
            _, w, c = timed(lambda: pe.forecast(df, ["Prophet"], H))
            TIMES.append(dict(data=name, what=f"fit+predict once on all {len(series)} series: Prophet", wall=w, cpu=c))
            add("Prophet (defaults)", pcv)
    return results


def budget_check(seeds: int, days: int = 90) -> str:
    """Allocation on generated data with known Hill curves: direction and uplift-interval coverage."""
    from scipy.optimize import minimize

    from fb_analyst.sample import expected_revenue

    settings = Settings()
    fs = settings.forecast
    lines = ["| seed | campaigns | materially moved by the true optimum | moved the right way | true uplift/day "
             "| claimed uplift (80% / 95%) | true inside 80% / 95% | share of the best possible uplift | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for seed in range(seeds):
        sd = generate_sample("no_change", seed=seed, days=days)
        daily = daily_sums(table_from_pandas(sd.frame, name=f"bench_curves_{seed}"), [S.CAMPAIGN])
        end = daily[S.DATE].max()
        t0 = time.perf_counter()
        plan = allocate_budget(daily, fs, window=((end - pd.Timedelta(days=6)).date(), end.date()), seed=settings.seed)
        took = time.perf_counter() - t0
        names = [c.campaign for c in plan.campaigns]
        cur = np.array([c.current_spend for c in plan.campaigns])
        new = np.array([c.proposed_spend for c in plan.campaigns])

        def rev(x: np.ndarray) -> float:
            return sum(expected_revenue(sd.truth, n, v) for n, v in zip(names, x))

        b = fs.budget_change_bound
        opt = minimize(lambda x: -rev(x), cur, method="SLSQP", bounds=list(zip(cur * (1 - b), cur * (1 + b))),
                       constraints=[{"type": "eq", "fun": lambda x: x.sum() - cur.sum()}]).x
        moved = np.abs(opt / cur - 1) >= 0.1
        right = int(np.sum(np.sign(new - cur)[moved] == np.sign(opt - cur)[moved]))
        true_up, best = rev(new) - rev(cur), rev(opt) - rev(cur)
        u = plan.expected_uplift
        lines.append(f"| {seed} | {len(names)} | {int(moved.sum())} | {right} | {true_up:,.0f} | {u.mean:,.0f} "
                     f"({u.lo80:,.0f}..{u.hi80:,.0f} / {u.lo95:,.0f}..{u.hi95:,.0f}) | "
                     f"{'yes' if u.lo80 <= true_up <= u.hi80 else 'no'} / {'yes' if u.lo95 <= true_up <= u.hi95 else 'no'} "
                     f"| {true_up / best:.0%} | {took:.1f} |")
    return "\n".join(lines)


def markdown(results: list[dict]) -> str:
    lines = ["| data | method | series | MASE (all) | MASE additive | MASE ratios | 80% coverage |",
             "|---|---|---|---|---|---|---|"]
    table = pd.DataFrame(results)
    for (data, method), g in table.groupby(["data", "method"], sort=False):
        m = g.groupby("kind")["mase"].first()
        a = g[g["kind"] == "all"].iloc[0]
        lines.append(f"| {data} | {method} | {int(a['n'])} | {a['mase']:.3f} | {m.get('additive', np.nan):.3f} | "
                     f"{m.get('ratio', np.nan):.3f} | {a['cov80']:.1%} |")
    lines += ["", "| data | what | wall s | CPU s (incl. child processes) |", "|---|---|---|---|"]
    lines += [f"| {t['data']} | {t['what']} | {t['wall']:.1f} | {t['cpu']:.1f} |" for t in TIMES]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-prophet", action="store_true", help="skip Prophet (not installed / slow)")
    ap.add_argument("--arima", action="store_true", help="also evaluate AutoARIMA as a candidate (slow)")
    ap.add_argument("--explore", action="store_true", help="grid of selection tolerances / candidate sets")
    ap.add_argument("--budget-seeds", type=int, default=0, help="only the budget check on N generated seeds")
    ap.add_argument("--cache", type=Path, default=None, help="folder to cache the cross-validation frames in")
    args = ap.parse_args()
    os.environ.setdefault("NIXTLA_ID_AS_COL", "1")
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    if args.budget_seeds:
        print(budget_check(args.budget_seeds))
        raise SystemExit(0)
    results = run(prophet=not args.no_prophet, arima=args.arima, cache=args.cache, explore=args.explore)
    if args.cache is not None:
        pd.DataFrame(results).to_csv(args.cache / "results.csv", index=False)
        pd.DataFrame(TIMES).to_csv(args.cache / "times.csv", index=False)
    print(markdown(results))
