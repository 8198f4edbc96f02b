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
    """The engines' long input frame (``unique_id, ds, y``), built from arrays in one go."""
    return pd.DataFrame({
        "unique_id": np.repeat(np.array([p.uid for p in series], dtype=object), [p.values.size for p in series]),
        "ds": np.concatenate([p.values.index.to_numpy("datetime64[ns]") for p in series]),
        "y": np.concatenate([p.values.to_numpy(float) for p in series]),
    })


class _Rows:
    """``frame``'s rows per value of ``keys`` (original order kept), taken on demand.

    One grouping pass instead of a boolean mask per series (which grew quadratically with the
    number of series), and no sub-frame built for the groups nobody asks for.
    """

    def __init__(self, frame: pd.DataFrame, keys: str | list[str]):
        self.frame = frame
        self.positions = frame.groupby(keys, sort=False).indices

    def __getitem__(self, key: object) -> pd.DataFrame:
        """The key's rows; no rows (same columns) for an unknown key."""
        return self.frame.take(self.positions.get(key, np.empty(0, dtype=np.intp)))


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
        _backtest_and_choose(members, out, engine, tier=tier, origins=k, horizon=horizon, tolerance=tolerance)
    _final_fits([p for p in prepared if p.tier in _LIVE_TIERS], out, engine, horizon=horizon, last_date=last_date)
    return out


def _backtest_and_choose(members: list[PreparedSeries], out: dict[str, Outcome], engine: Forecaster, *,
                         tier: str, origins: int, horizon: int, tolerance: float) -> None:
    """One cross-validation of the tier's candidates for ``members``; score, choose, keep the chosen rows."""
    df = _long(members)
    cv, failed = _run_robust(lambda ms: engine.cross_validate(df, ms, horizon, origins), engine.candidates(tier))
    cv = add_ensemble(cv) if tier == "full" else cv
    scores = _Rows(score_cv(cv, {p.uid: p.values for p in members}), "unique_id")
    rows = _Rows(cv, ["unique_id", "model"])
    for p in members:
        o = out[p.uid]
        o.candidates = candidates_for(scores[p.uid], p.uid)  # no rows: no candidates
        o.chosen = choose_model(o.candidates, tolerance)
        if failed:
            o.notes.append(f"models that failed to fit and were dropped: {', '.join(failed)}")
        if o.chosen is not None:
            o.cv = rows[(p.uid, o.chosen.model)]


def _final_fits(live: list[PreparedSeries], out: dict[str, Outcome], engine: Forecaster, *,
                horizon: int, last_date: pd.Timestamp) -> None:
    """Fit only the chosen model (an ensemble's members) per series on all history and forecast."""
    plan: dict[tuple[str, int], list[PreparedSeries]] = defaultdict(list)
    for p in live:
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
        per = _Rows(fc, "unique_id")
        for p in members:
            f = per[p.uid].sort_values("ds").head(horizon)
            out[p.uid].forecast = order_bounds(f[["ds", "mean", "lo80", "hi80", "lo95", "hi95"]])


def _ratio_backtest(num_cv: pd.DataFrame, den_cv: pd.DataFrame, actual: pd.Series,
                    scale: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(origin, error) per backtest day where both components forecast the same (origin, day),
    the denominator forecast is positive and the ratio's actual is known; None without two origins.

    Plain numpy on ~30 rows: called for every ratio series, where pandas merges cost 15 ms a call.
    """
    def keyed(cv: pd.DataFrame) -> dict[tuple[int, int], float]:
        cut, ds = (cv[c].to_numpy("datetime64[ns]").view("i8") for c in ("cutoff", "ds"))
        return dict(zip(zip(cut.tolist(), ds.tolist()), cv["mean"].to_numpy(float).tolist()))

    den = keyed(den_cv)
    rows = [(c, d, n, den[(c, d)]) for (c, d), n in keyed(num_cv).items() if den.get((c, d), 0.0) > 0]
    if not rows:
        return None
    cut, ds, n, d = (np.array(col) for col in zip(*rows))
    pos = actual.index.get_indexer(ds.astype("datetime64[ns]"))
    keep = pos >= 0
    if np.unique(cut[keep]).size < 2:
        return None
    err = actual.to_numpy(float)[pos[keep]] - scale * n[keep] / d[keep]
    return cut[keep], err


def ratio_from_components(
    ratio: PreparedSeries, num: Outcome, den: Outcome, scale: float, last_date: pd.Timestamp, horizon: int
) -> Outcome | None:
    """Ratio KPI = scale * forecast(num) / forecast(den); None when the components cannot give it."""
    if num.cv is None or den.cv is None or num.forecast is None or den.forecast is None or ratio.tier == "skip":
        return None
    actual = ratio.values
    joined = _ratio_backtest(num.cv, den.cv, actual, scale)
    if joined is None:
        return None
    cut, err = joined
    hist = actual.to_numpy(float)
    cuts = np.unique(cut)
    ends = actual.index.searchsorted(pd.to_datetime(cuts), side="right")
    mases, in80, in95 = [], 0, 0
    for c, end in zip(cuts, ends):
        test = np.abs(err[cut == c])
        s = mase_scale(hist[:end])
        if s:
            mases.append(float(test.mean()) / s)
        q = conformal_halfwidths(err[cut != c])
        in80 += int((test <= q[80]).sum())
        in95 += int((test <= q[95]).sum())
    n = err.size
    name = f"{num.chosen.model}/{den.chosen.model}"
    cand = Candidate(model=name, mase=round(float(np.mean(mases)), 4) if mases else None,
                     coverage80=round(in80 / n, 4), coverage95=round(in95 / n, 4), origins=int(cuts.size))
    q = conformal_halfwidths(err)
    fn, fd = num.forecast, den.forecast
    pos = pd.Index(fd["ds"]).get_indexer(fn["ds"])
    if not (pos >= 0).any():
        return None
    ds = fn["ds"].to_numpy()[pos >= 0]
    m_n, m_d = fn["mean"].to_numpy(float)[pos >= 0], fd["mean"].to_numpy(float)[pos[pos >= 0]]
    if (m_d <= 0).any():
        return None
    mean = scale * m_n / m_d
    fc = pd.DataFrame({"ds": ds, "mean": mean, "lo80": mean - q[80], "hi80": mean + q[80],
                       "lo95": mean - q[95], "hi95": mean + q[95]})
    return Outcome(ratio, candidates=[cand], chosen=cand, forecast=order_bounds(fc.head(horizon)))


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
