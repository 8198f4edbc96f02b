"""Backtest, choose and forecast many prepared daily series at once; ratio KPIs from components.

``forecast_prepared`` runs one rolling-origin cross-validation per (tier, origins) group of series,
scores every candidate (MASE, coverage), picks a model per series, then fits only the chosen
models on all history. ``ratio_from_components`` forecasts a ratio KPI as forecast(numerator) /
forecast(denominator) with split-conformal intervals calibrated on the backtest errors (its
coverage is measured leave-one-origin-out, so it is not scored on its own calibration data).
``forecast_series`` is the one-series convenience API.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fb_analyst.forecast.backtest import (
    add_ensemble,
    candidates_for,
    choose_model,
    conformal_halfwidths,
    mase_scale,
    score_cv,
)
from fb_analyst.forecast.models import ENSEMBLE_MEMBERS, Forecaster, engine_for, order_bounds
from fb_analyst.forecast.result import Candidate, ForecastPoint, SeriesForecast
from fb_analyst.forecast.series import PreparedSeries, prepare_series
from fb_analyst.settings import Settings

_LIVE_TIERS = ("full", "simple")
#: A model must beat the historic mean's backtest MASE by this much for the verdict to claim movement.
MATERIAL_GAIN = 0.05


@dataclass
class Outcome:
    """One series' backtest and forecast (internal; turned into a SeriesForecast)."""

    prepared: PreparedSeries
    candidates: list[Candidate] = field(default_factory=list)
    chosen: Candidate | None = None
    cv: pd.DataFrame | None = None  # backtest rows of the chosen model
    forecast: pd.DataFrame | None = None  # ds, mean, lo80, hi80, lo95, hi95
    notes: list[str] = field(default_factory=list)


def _long(series: list[PreparedSeries]) -> pd.DataFrame:
    return pd.concat(
        [pd.DataFrame({"unique_id": p.uid, "ds": p.values.index, "y": p.values.to_numpy(float)}) for p in series],
        ignore_index=True,
    )


def _run_robust(call, models: list[str]) -> tuple[pd.DataFrame, list[str]]:  # noqa: ANN001
    """Run all models at once; if that fails, one by one, dropping (and naming) the failures."""
    try:
        return call(models), []
    except Exception:  # noqa: BLE001 - engine errors are isolated per model and reported
        parts, failed = [], []
        for m in models:
            try:
                parts.append(call([m]))
            except Exception:  # noqa: BLE001
                failed.append(m)
        if not parts:
            raise
        return pd.concat(parts, ignore_index=True), failed


def forecast_prepared(
    prepared: list[PreparedSeries], engine: Forecaster, *, horizon: int, last_date: pd.Timestamp,
    tolerance: float = 0.0,
) -> dict[str, Outcome]:
    """Backtest every candidate, choose per series, forecast ``horizon`` days after ``last_date``."""
    out = {p.uid: Outcome(p) for p in prepared}
    groups: dict[tuple[str, int], list[PreparedSeries]] = defaultdict(list)
    for p in prepared:
        if p.tier in _LIVE_TIERS and p.origins > 0:
            groups[(p.tier, p.origins)].append(p)
    for (tier, k), members in groups.items():
        models = engine.candidates(tier)
        df = _long(members)
        cv, failed = _run_robust(lambda ms: engine.cross_validate(df, ms, horizon, k), models)
        cv = add_ensemble(cv) if tier == "full" else cv
        scores = score_cv(cv, {p.uid: p.values for p in members})
        for p in members:
            o = out[p.uid]
            o.candidates = candidates_for(scores, p.uid)
            o.chosen = choose_model(o.candidates, tolerance)
            if failed:
                o.notes.append(f"models that failed to fit and were dropped: {', '.join(failed)}")
            if o.chosen is not None:
                o.cv = cv[(cv["unique_id"] == p.uid) & (cv["model"] == o.chosen.model)]
    # Final fits: only the chosen model (an ensemble's members) per series.
    plan: dict[tuple[str, int], list[PreparedSeries]] = defaultdict(list)
    for p in prepared:
        if p.tier not in _LIVE_TIERS:
            continue
        o = out[p.uid]
        if o.chosen is None:
            o.chosen = Candidate(model="HistoricAverage", origins=0)
            o.notes.append("too short to backtest: the historic mean is used without a measured error")
        plan[(o.chosen.model, p.steps_ahead)].append(p)
    for (model, steps), members in plan.items():
        models = [m for m in ENSEMBLE_MEMBERS if m in engine.candidates("full")] if model == "Ensemble" else [model]
        df = _long(members)
        fc, _ = _run_robust(lambda ms: engine.forecast(df, ms, steps), models)
        fc = add_ensemble(fc) if model == "Ensemble" else fc
        fc = fc[(fc["model"] == model) & (fc["ds"] > last_date)]
        for p in members:
            f = fc[fc["unique_id"] == p.uid].sort_values("ds").head(horizon)
            out[p.uid].forecast = order_bounds(f[["ds", "mean", "lo80", "hi80", "lo95", "hi95"]])
    return out


def ratio_from_components(
    ratio: PreparedSeries, num: Outcome, den: Outcome, scale: float, last_date: pd.Timestamp, horizon: int
) -> Outcome | None:
    """Ratio KPI = scale * forecast(num) / forecast(den); None when the components cannot give it."""
    if num.cv is None or den.cv is None or num.forecast is None or den.forecast is None or ratio.tier == "skip":
        return None
    keys = ["cutoff", "ds"]
    j = num.cv[[*keys, "mean"]].merge(den.cv[[*keys, "mean"]], on=keys, suffixes=("_n", "_d"))
    j = j[j["mean_d"] > 0]
    actual = ratio.values
    j = j[j["ds"].isin(actual.index)]
    if j.empty or j["cutoff"].nunique() < 2:
        return None
    j["pred"] = scale * j["mean_n"] / j["mean_d"]
    j["y"] = actual.reindex(j["ds"]).to_numpy(float)
    j["err"] = j["y"] - j["pred"]
    cuts = sorted(j["cutoff"].unique())
    mases, in80, in95 = [], 0, 0
    for c in cuts:
        test, calib = j[j["cutoff"] == c], j[j["cutoff"] != c]
        s = mase_scale(actual.loc[:c])
        if s:
            mases.append(float(test["err"].abs().mean()) / s)
        q = conformal_halfwidths(calib["err"].to_numpy())
        in80 += int((test["err"].abs() <= q[80]).sum())
        in95 += int((test["err"].abs() <= q[95]).sum())
    n = len(j)
    name = f"{num.chosen.model}/{den.chosen.model}"
    cand = Candidate(model=name, mase=round(float(np.mean(mases)), 4) if mases else None,
                     coverage80=round(in80 / n, 4), coverage95=round(in95 / n, 4), origins=len(cuts))
    q = conformal_halfwidths(j["err"].to_numpy())
    f = num.forecast[["ds", "mean"]].merge(den.forecast[["ds", "mean"]], on="ds", suffixes=("_n", "_d"))
    if f.empty or (f["mean_d"] <= 0).any():
        return None
    mean = scale * f["mean_n"].to_numpy(float) / f["mean_d"].to_numpy(float)
    fc = pd.DataFrame({"ds": f["ds"], "mean": mean, "lo80": mean - q[80], "hi80": mean + q[80],
                       "lo95": mean - q[95], "hi95": mean + q[95]})
    o = Outcome(ratio, candidates=[cand], chosen=cand, forecast=order_bounds(fc.head(horizon)))
    return o


def verdict(o: Outcome) -> str:
    """A plain sentence: what the backtest found and where the series is heading."""
    p = o.prepared
    if o.forecast is None or o.chosen is None:
        return f"no forecast: {p.reason or 'not enough usable history'}"
    model = o.chosen.model
    hist7 = float(p.values.iloc[-7:].mean())
    fmean = float(o.forecast["mean"].mean())
    change = (fmean / hist7 - 1) if hist7 > 0 else 0.0
    direction = "stay about level" if abs(change) < 0.03 else ("rise" if change > 0 else "fall")
    tail = f" (next {len(o.forecast)} days vs last 7: {change:+.0%})"
    if model in ("HistoricAverage", "HistoricAverage/HistoricAverage"):
        return "no predictable movement beyond the average" + tail
    if model == "Naive":
        return "best guess is the latest value; no stable level, trend or weekly pattern found" + tail
    if model == "SeasonalNaive":
        return "a repeating weekly pattern: next week looks like last week" + tail
    mean_c = next((c for c in o.candidates if c.model == "HistoricAverage"), None)
    if mean_c is not None and mean_c.mase and o.chosen.mase:
        gain = 1 - o.chosen.mase / mean_c.mase
        if gain < MATERIAL_GAIN:
            return (f"no predictable movement beyond the average: {model} is only {gain:.0%} more accurate "
                    f"than the historic mean in backtest{tail}")
        return f"expected to {direction}{tail}; backtest error {gain:.0%} below the historic mean"
    return f"expected to {direction}{tail}"


def to_series_forecast(o: Outcome, method: str) -> SeriesForecast:
    """Turn an internal Outcome into the public record."""
    p = o.prepared
    status = {"full": "ok", "simple": "simplified", "skip": "skipped"}[p.tier]
    points = []
    if o.forecast is not None:
        points = [
            ForecastPoint(date=r.ds.date(), mean=round(r.mean, 6), lo80=round(r.lo80, 6), hi80=round(r.hi80, 6),
                          lo95=round(r.lo95, 6), hi95=round(r.hi95, 6))
            for r in o.forecast.itertuples(index=False)
        ]
    if not points:
        status = "skipped"
    reason = p.reason if status != "ok" else None
    if status == "skipped" and reason is None:
        reason = "; ".join(o.notes) or "no model could produce a forecast"
    notes = list(p.notes) + ([p.reason] if status == "ok" and p.reason else []) + o.notes
    return SeriesForecast(
        key=p.key, metric=p.metric, method=method if points else "none",
        model=o.chosen.model if points and o.chosen else None, status=status,
        reason=reason, notes=notes, history_days=p.history_days,
        backtest=o.chosen if points and o.chosen and o.chosen.origins else None,
        candidates=o.candidates, forecast=points, verdict=verdict(o),
    )


def forecast_series(
    values: pd.Series, settings: Settings | None = None, *, metric: str = "value",
    key: dict[str, str] | None = None, ran: pd.Series | None = None, engine: Forecaster | None = None,
) -> SeriesForecast:
    """Backtest, choose and forecast one daily series (DatetimeIndex; NaN = unknown day).

    ``ran`` flags the days the ads ran (zeros on those days can be tracking outages); default all.
    ``engine`` overrides the one named in ``settings.forecast.engine`` (e.g. an in-memory fake).
    """
    settings = settings or Settings()
    fs = settings.forecast
    engine = engine or engine_for(settings)
    values = values.asfreq("D")
    ran = ran if ran is not None else pd.Series(True, index=values.index)
    p = prepare_series("s0", key or {"level": "account"}, metric, values, ran, horizon=fs.horizon,
                       origins=fs.backtest_origins, min_history_days=fs.min_history_days,
                       max_gap_days=fs.max_gap_days, outage_zero_share=fs.outage_zero_share)
    o = forecast_prepared([p], engine, horizon=fs.horizon, last_date=values.index.max(),
                          tolerance=fs.selection_tolerance)
    return to_series_forecast(o["s0"], "direct")
