"""The forecasting engine seam: statsforecast (default) and Prophet (optional extra).

An engine takes a long frame ``unique_id, ds, y`` (daily, no NaN) and returns long frames with
one row per (series, day, model): ``unique_id, ds, [cutoff, y,] model, mean, lo80, hi80, lo95, hi95``.
``cross_validate`` is a rolling-origin backtest (``n_windows`` origins, step = horizon);
``forecast`` fits on all history. The ensemble is not an engine model: it is formed from its
members' rows (point and interval bounds averaged) in :mod:`fb_analyst.forecast.backtest`.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import pandas as pd

from fb_analyst.errors import InputError, UnknownNameError

LEVELS = (80, 95)
BOUNDS = ("lo80", "hi80", "lo95", "hi95")
OUT_COLS = ("mean", *BOUNDS)

#: Simplest first: ties in backtest error go to the simpler model.
MODEL_ORDER = ("HistoricAverage", "Naive", "SeasonalNaive", "AutoETS", "AutoTheta", "AutoARIMA", "Ensemble")
SIMPLE_MODELS = ("HistoricAverage", "Naive")
ENSEMBLE_MEMBERS = ("AutoETS", "AutoTheta", "AutoARIMA")
#: statsforecast models without ``forward``: always refitted at every backtest origin.
NO_FORWARD = frozenset({"HistoricAverage"})


class Forecaster(Protocol):
    """What the forecast stage needs from an engine."""

    name: str

    def candidates(self, tier: str) -> list[str]: ...

    def cross_validate(self, df: pd.DataFrame, models: Sequence[str], h: int, n_windows: int) -> pd.DataFrame: ...

    def forecast(self, df: pd.DataFrame, models: Sequence[str], h: int) -> pd.DataFrame: ...


def preload_engine() -> None:
    """Import statsforecast (and statsmodels and scipy.stats through it): ~1 CPU second.

    The engine imports it lazily so that importing :mod:`fb_analyst.forecast` stays cheap for the
    processes that never forecast; the parallel forecast child calls this while it waits for its
    inputs, so the import is not paid inside the forecast itself.
    """
    import statsforecast.core  # noqa: F401
    import statsforecast.models  # noqa: F401


class _NormalQuantiles:
    """Swaps statsforecast's interval z-values (``utils._quantiles``) for a direct computation.

    statsforecast derives every interval's z-values from a freshly frozen scipy distribution, which
    rebuilds the distribution's docstring each time: ~1 ms per model, series and origin, 0.45 CPU s
    on the sample. For normal errors (the models used here) the values are
    ``ndtri(0.5 + level / 200)``, bit for bit what scipy's ``norm.ppf`` returns (checked against
    statsforecast's own output in ``tests/forecast/test_engine_seam.py``); other distributions keep
    statsforecast's path. Installed while at least one engine call runs (counted under a lock, so
    concurrent calls from threads nest) and removed after the last one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._original: Any = None

    def _quantiles(self, level, distribution="normal", dist_params=None):  # noqa: ANN001, ANN202 - statsforecast's signature
        if distribution != "normal" or dist_params:
            return self._original(level, distribution, dist_params)
        from scipy.special import ndtri

        return ndtri(0.5 + np.asarray(level) / 200)

    def __enter__(self) -> None:
        from statsforecast import utils

        with self._lock:
            if self._depth == 0:
                self._original, utils._quantiles = utils._quantiles, self._quantiles
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        from statsforecast import utils

        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                utils._quantiles = self._original


_NORMAL_QUANTILES = _NormalQuantiles()


@contextmanager
def _statsforecast_call() -> Iterator[None]:
    """Around every statsforecast call: its convergence warnings silenced, direct z-values."""
    with _NORMAL_QUANTILES, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"statsforecast\..*")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        yield


def _to_long(wide: pd.DataFrame, models: Sequence[str], id_cols: Sequence[str]) -> pd.DataFrame:
    parts = []
    for m in models:
        part = wide[list(id_cols)].copy()
        part["model"] = m
        part["mean"] = wide[m].to_numpy(float)
        for lv in LEVELS:
            part[f"lo{lv}"] = wide[f"{m}-lo-{lv}"].to_numpy(float)
            part[f"hi{lv}"] = wide[f"{m}-hi-{lv}"].to_numpy(float)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


class StatsForecastEngine:
    """Nixtla statsforecast, single process (``n_jobs=1``); convergence warnings are silenced.

    ``refit=False`` (default): in the backtest, a model's parameters are estimated at the first
    origin and later origins update its state with the newer data (statsforecast's ``forward``),
    about 4x faster than re-estimating at every origin; no origin ever sees data after it.
    Models without ``forward`` (the historic mean) are always refitted, which is trivial for them.

    Search spaces, narrowed where the left-out variants cost time and never changed a result
    (the sample and trend_weekly: product accuracy identical per series, BENCHMARKS.md):

    * ``ets_damped=False``: AutoETS leaves out damped trends (``None``: with and without, as
      statsforecast does). They were half of its cost (the extra parameter keeps the optimiser
      longest) and AICc picked one for 1 of 90 series; over 7-14 days damping barely matters.
    * ``theta_model="OTM"``: AutoTheta fits the optimised Theta model only (``None``: it also
      fits STM, DSTM, DOTM and keeps the lowest in-sample MSE). STM is OTM with theta fixed at 2
      and DSTM the same special case of DOTM, so the real choice was OTM vs its dynamic variant,
      which won 4 of 90 series; the three extra fits were half of AutoTheta's cost.
    """

    name = "statsforecast"

    def __init__(self, models: Sequence[str], season: int = 7, refit: bool = False, ets_model: str = "ZZA",
                 ets_damped: bool | None = False, theta_model: str | None = "OTM"):
        self.models = [m for m in MODEL_ORDER if m in set(models)]
        unknown = set(models) - set(MODEL_ORDER)
        if unknown:
            raise UnknownNameError("forecast model", sorted(unknown)[0], MODEL_ORDER)
        self.season, self.refit = season, refit
        self.ets_model, self.ets_damped, self.theta_model = ets_model, ets_damped, theta_model

    def candidates(self, tier: str) -> list[str]:
        if tier == "simple":
            return [m for m in SIMPLE_MODELS if m in self.models] or ["HistoricAverage"]
        return list(self.models)

    def _model(self, name: str):  # noqa: ANN202 - a statsforecast model
        from statsforecast import models as M

        season = self.season
        makers = {
            "HistoricAverage": lambda: M.HistoricAverage(),
            "Naive": lambda: M.Naive(),
            "SeasonalNaive": lambda: M.SeasonalNaive(season_length=season),
            "AutoETS": lambda: M.AutoETS(season_length=season, model=self.ets_model, damped=self.ets_damped),
            "AutoTheta": lambda: M.AutoTheta(season_length=season, model=self.theta_model),
            "AutoARIMA": lambda: M.AutoARIMA(season_length=season),
        }
        if name not in makers:
            raise UnknownNameError("forecast model", name, [*makers, "Ensemble"])
        return makers[name]()

    def _sf(self, models: Sequence[str]):  # noqa: ANN202
        from statsforecast import StatsForecast

        fit = [m for m in models if m != "Ensemble"]
        made = [self._model(m) for m in fit]
        return StatsForecast(models=made, freq="D", n_jobs=1), fit

    def cross_validate(self, df: pd.DataFrame, models: Sequence[str], h: int, n_windows: int) -> pd.DataFrame:
        parts = []
        for refit, group in ((True, [m for m in models if self.refit or m in NO_FORWARD]),
                             (False, [m for m in models if not self.refit and m not in NO_FORWARD])):
            sf, fit = self._sf(group)
            if not fit:
                continue
            with _statsforecast_call():
                wide = sf.cross_validation(df=df, h=h, n_windows=n_windows, step_size=h, level=list(LEVELS),
                                           refit=refit)
            parts.append(_to_long(wide.reset_index(drop="unique_id" in wide.columns), fit,
                                  ("unique_id", "ds", "cutoff", "y")))
        return pd.concat(parts, ignore_index=True)

    def forecast(self, df: pd.DataFrame, models: Sequence[str], h: int) -> pd.DataFrame:
        sf, fit = self._sf(models)
        with _statsforecast_call():
            wide = sf.forecast(df=df, h=h, level=list(LEVELS))
        return _to_long(wide.reset_index(drop="unique_id" in wide.columns), fit, ("unique_id", "ds"))


class ProphetEngine:
    """Prophet with its defaults (optional extra); one candidate, intervals from predictive samples."""

    name = "prophet"

    def __init__(self, samples: int = 1000, seed: int = 0):
        try:
            import prophet  # noqa: F401
        except ImportError:
            raise InputError(
                "forecast engine 'prophet' is not installed; install the extra with "
                "pip install '.[prophet]' (or pip install prophet), or use --forecast-engine statsforecast"
            ) from None
        self.samples, self.seed = samples, seed

    def candidates(self, tier: str) -> list[str]:
        return ["Prophet"]

    def _fit_predict(self, hist: pd.DataFrame, h: int) -> pd.DataFrame:
        import logging

        from prophet import Prophet

        for name in ("cmdstanpy", "prophet"):  # per-fit INFO chatter
            logging.getLogger(name).setLevel(logging.WARNING)
        np.random.seed(self.seed)  # Prophet samples with numpy's global generator.
        m = Prophet(uncertainty_samples=self.samples)
        m.fit(hist[["ds", "y"]])
        future = m.make_future_dataframe(periods=h, include_history=False)
        point = m.predict(future)["yhat"].to_numpy(float)
        draws = m.predictive_samples(future)["yhat"]
        out = pd.DataFrame({"ds": future["ds"].to_numpy(), "model": "Prophet", "mean": point})
        for lv in LEVELS:
            a = (100 - lv) / 200
            out[f"lo{lv}"] = np.quantile(draws, a, axis=1)
            out[f"hi{lv}"] = np.quantile(draws, 1 - a, axis=1)
        return out

    def cross_validate(self, df: pd.DataFrame, models: Sequence[str], h: int, n_windows: int) -> pd.DataFrame:
        parts = []
        for uid, g in df.groupby("unique_id", sort=False):
            g = g.sort_values("ds").reset_index(drop=True)
            for w in range(n_windows, 0, -1):
                cut = len(g) - w * h
                out = self._fit_predict(g.iloc[:cut], h)
                out.insert(0, "unique_id", uid)
                out["cutoff"] = g["ds"].iloc[cut - 1]
                out["y"] = g["y"].iloc[cut : cut + h].to_numpy(float)
                parts.append(out)
        return pd.concat(parts, ignore_index=True)

    def forecast(self, df: pd.DataFrame, models: Sequence[str], h: int) -> pd.DataFrame:
        parts = []
        for uid, g in df.groupby("unique_id", sort=False):
            out = self._fit_predict(g.sort_values("ds"), h)
            out.insert(0, "unique_id", uid)
            parts.append(out)
        return pd.concat(parts, ignore_index=True)


def make_engine(name: str, models: Sequence[str], seed: int = 0, refit: bool = False, ets_model: str = "ZZA") -> Forecaster:
    """The engine named in settings (``statsforecast`` or ``prophet``)."""
    if name == "statsforecast":
        return StatsForecastEngine(models, refit=refit, ets_model=ets_model)
    if name == "prophet":
        return ProphetEngine(seed=seed)
    raise UnknownNameError("forecast engine", name, ["statsforecast", "prophet"])


def engine_for(settings: Any) -> Forecaster:
    """The engine ``settings.forecast`` names, with its backtest and model-space options."""
    fs = settings.forecast
    return make_engine(fs.engine, fs.models, seed=settings.seed, refit=fs.backtest_refit, ets_model=fs.ets_model)


def order_bounds(frame: pd.DataFrame, nonnegative: bool = True) -> pd.DataFrame:
    """Clip at zero (every metric here is >= 0) and enforce lo95<=lo80<=mean<=hi80<=hi95."""
    v = {c: frame[c].to_numpy(dtype="float64", copy=True) for c in OUT_COLS}
    if nonnegative:  # np.maximum keeps NaN, as Series.clip does
        v = {c: np.maximum(x, 0.0) for c, x in v.items()}
    v["lo80"] = np.minimum(v["lo80"], v["mean"])
    v["hi80"] = np.maximum(v["hi80"], v["mean"])
    v["lo95"] = np.minimum(v["lo95"], v["lo80"])
    v["hi95"] = np.maximum(v["hi95"], v["hi80"])
    return frame.assign(**v)  # numpy on the columns: called per series, pandas ops cost 5 ms a call
