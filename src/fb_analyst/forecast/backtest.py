"""Rolling-origin backtest scoring: MASE, interval coverage, the ensemble, and model choice.

Input is the engines' long cross-validation frame (``unique_id, ds, cutoff, y, model, mean,
lo80, hi80, lo95, hi95``) and each series' history. MASE at an origin is the forecast MAE over the
horizon divided by the in-sample MAE of the weekly seasonal naive forecast on the history up to
that origin (lag 1 when the history is shorter than two weeks or the weekly scale is zero); the
reported MASE is the mean over origins. Coverage is the share of backtest days whose actual lies
inside the interval. The chosen model has the lowest MASE; ties (within ``tolerance`` relative)
go to the simpler model in ``MODEL_ORDER``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fb_analyst.forecast.models import ENSEMBLE_MEMBERS, MODEL_ORDER, OUT_COLS
from fb_analyst.forecast.result import Candidate


def add_ensemble(long: pd.DataFrame, members: Sequence[str] = ENSEMBLE_MEMBERS) -> pd.DataFrame:
    """Append 'Ensemble' rows: the mean of the members' points and of their interval bounds.

    Averaging quantiles (Vincentization) keeps the bounds ordered; its coverage is measured like
    any other model's. Series with fewer than two members present get no ensemble.
    """
    mem = long[long["model"].isin(members)]
    if mem.empty:
        return long
    keys = [c for c in ("unique_id", "ds", "cutoff", "y") if c in long.columns]
    grp = mem.groupby(keys, sort=False)
    ens = grp[list(OUT_COLS)].mean()
    ens = ens[grp["model"].nunique() >= 2].reset_index()
    if ens.empty:
        return long
    ens["model"] = "Ensemble"
    return pd.concat([long, ens[long.columns]], ignore_index=True)


def mase_scale(history: pd.Series | np.ndarray, season: int = 7) -> float | None:
    """In-sample MAE of the seasonal naive forecast (lag ``season``, else lag 1); None if zero."""
    y = np.asarray(history, dtype=float)
    for lag in (season, 1):
        if y.size > lag and (lag == 1 or y.size >= 2 * lag):
            s = float(np.mean(np.abs(y[lag:] - y[:-lag])))
            if s > 0:
                return s
    return None


def score_cv(cv: pd.DataFrame, histories: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Per (unique_id, model): mean MASE over origins, 80%/95% coverage, number of origins."""
    if cv.empty:
        return pd.DataFrame(columns=["unique_id", "model", "mase", "coverage80", "coverage95", "origins"])
    cv = cv.copy()
    cv["abs_err"] = (cv["y"] - cv["mean"]).abs()
    cv["in80"] = (cv["y"] >= cv["lo80"]) & (cv["y"] <= cv["hi80"])
    cv["in95"] = (cv["y"] >= cv["lo95"]) & (cv["y"] <= cv["hi95"])
    scales = {}
    for uid, cut in cv[["unique_id", "cutoff"]].drop_duplicates().itertuples(index=False):
        h = histories[uid]
        scales[(uid, cut)] = mase_scale(h.loc[:cut])
    per = cv.groupby(["unique_id", "model", "cutoff"], sort=False).agg(
        mae=("abs_err", "mean"), in80=("in80", "sum"), in95=("in95", "sum"), n=("y", "size")
    ).reset_index()
    per["scale"] = [scales[(u, c)] for u, c in zip(per["unique_id"], per["cutoff"])]
    per["mase"] = per["mae"] / per["scale"].astype(float)
    out = per.groupby(["unique_id", "model"], sort=False).agg(
        mase=("mase", "mean"), in80=("in80", "sum"), in95=("in95", "sum"), n=("n", "sum"),
        origins=("cutoff", "nunique"),
    ).reset_index()
    out["coverage80"] = out["in80"] / out["n"]
    out["coverage95"] = out["in95"] / out["n"]
    return out[["unique_id", "model", "mase", "coverage80", "coverage95", "origins"]]


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def candidates_for(scores: pd.DataFrame, uid: str) -> list[Candidate]:
    """The scored candidates of one series, in ``MODEL_ORDER``."""
    s = scores[scores["unique_id"] == uid]
    rank = {m: i for i, m in enumerate(MODEL_ORDER)}
    rows = sorted(s.itertuples(index=False), key=lambda r: rank.get(r.model, 99))
    return [
        Candidate(model=r.model, mase=_num(r.mase), coverage80=_num(r.coverage80),
                  coverage95=_num(r.coverage95), origins=int(r.origins))
        for r in rows
    ]


def choose_model(cands: Sequence[Candidate], tolerance: float = 0.0) -> Candidate | None:
    """Lowest MASE; a simpler model within ``tolerance`` (relative) of the best wins the tie."""
    scored = [c for c in cands if c.mase is not None]
    if not scored:
        return None
    best = min(c.mase for c in scored)
    rank = {m: i for i, m in enumerate(MODEL_ORDER)}
    close = [c for c in scored if c.mase <= best * (1 + tolerance) + 1e-12]
    return min(close, key=lambda c: rank.get(c.model, 99))


def conformal_halfwidths(errors: np.ndarray, levels: Sequence[int] = (80, 95)) -> dict[int, float]:
    """Split-conformal half-widths: the ceil((n+1)L)/n empirical quantile of |errors| per level."""
    e = np.sort(np.abs(errors[np.isfinite(errors)]))
    out = {}
    for lv in levels:
        if e.size == 0:
            out[lv] = float("nan")
            continue
        k = int(np.ceil((e.size + 1) * lv / 100.0)) - 1
        out[lv] = float(e[min(k, e.size - 1)])
    return out
