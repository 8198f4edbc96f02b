"""The engine seam: an in-memory engine plugs in, a model that fails is dropped and named; the
statsforecast engine's interval z-values and default search spaces."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from fb_analyst.forecast import forecast_series


class LevelEngine:
    """In-memory engine: 'Level' forecasts the training mean +- 1.28/1.96 sd; 'Broken' always fails."""

    name = "level"

    def candidates(self, tier: str) -> list[str]:
        return ["Level", "Broken"]

    def _predict(self, hist: pd.DataFrame, h: int, model: str) -> pd.DataFrame:
        if model == "Broken":
            raise RuntimeError("does not converge")
        mu, sd = hist["y"].mean(), hist["y"].std()
        ds = pd.date_range(hist["ds"].max() + pd.Timedelta(days=1), periods=h, freq="D")
        return pd.DataFrame({"ds": ds, "model": model, "mean": mu, "lo80": mu - 1.28 * sd, "hi80": mu + 1.28 * sd,
                             "lo95": mu - 1.96 * sd, "hi95": mu + 1.96 * sd})

    def cross_validate(self, df: pd.DataFrame, models: Sequence[str], h: int, n_windows: int) -> pd.DataFrame:
        parts = []
        for uid, g in df.groupby("unique_id"):
            for w in range(n_windows, 0, -1):
                cut = len(g) - w * h
                for m in models:
                    out = self._predict(g.iloc[:cut], h, m)
                    out["unique_id"], out["cutoff"] = uid, g["ds"].iloc[cut - 1]
                    out["y"] = g["y"].iloc[cut : cut + h].to_numpy()
                    parts.append(out)
        return pd.concat(parts, ignore_index=True)

    def forecast(self, df: pd.DataFrame, models: Sequence[str], h: int) -> pd.DataFrame:
        parts = []
        for uid, g in df.groupby("unique_id"):
            for m in models:
                parts.append(self._predict(g, h, m).assign(unique_id=uid))
        return pd.concat(parts, ignore_index=True)


def test_in_memory_engine_and_failing_model_is_reported():
    rng = np.random.default_rng(1)
    values = pd.Series(20 + rng.normal(0, 2, 60), index=pd.date_range("2025-02-01", periods=60, freq="D"))
    sf = forecast_series(values, engine=LevelEngine(), metric="clicks", key={"campaign": "A"})
    assert sf.model == "Level" and sf.status == "ok" and sf.key == {"campaign": "A"}
    assert [c.model for c in sf.candidates] == ["Level"]
    assert any("Broken" in n for n in sf.notes)
    assert sf.forecast[0].date == pd.Timestamp("2025-04-02").date()
    assert 0.5 <= sf.backtest.coverage80 <= 1.0


def test_statsforecast_intervals_use_scipy_normal_quantiles_and_the_patch_is_scoped(noise_series):
    """The engine computes statsforecast's normal z-values without scipy's frozen distributions:
    same intervals as statsforecast's own path, other distributions untouched, original restored."""
    from scipy import stats
    from statsforecast import StatsForecast, utils
    from statsforecast.models import AutoETS

    from fb_analyst.forecast.models import LEVELS, StatsForecastEngine, _statsforecast_call

    original = utils._quantiles
    with _statsforecast_call():
        with _statsforecast_call():  # nested (or concurrent) calls share one swap
            normal = utils._quantiles(np.array(LEVELS))
        student = utils._quantiles(np.array([80]), "t", {"df": 5})
        assert utils._quantiles is not original
    assert utils._quantiles is original
    assert np.array_equal(normal, stats.norm(scale=1.0).ppf(0.5 + np.array(LEVELS) / 200))
    assert student == pytest.approx(stats.t(df=5).ppf(0.9))

    df = pd.DataFrame({"unique_id": "s", "ds": noise_series.index, "y": noise_series.to_numpy()})
    ours = StatsForecastEngine(["AutoETS"]).forecast(df, ["AutoETS"], 7)
    theirs = StatsForecast(models=[AutoETS(season_length=7, model="ZZA", damped=False)], freq="D").forecast(
        df=df, h=7, level=list(LEVELS))
    for lv in LEVELS:
        assert np.array_equal(ours[f"lo{lv}"].to_numpy(), theirs[f"AutoETS-lo-{lv}"].to_numpy())
        assert np.array_equal(ours[f"hi{lv}"].to_numpy(), theirs[f"AutoETS-hi-{lv}"].to_numpy())


def test_default_search_spaces_leave_out_damped_ets_and_theta_special_cases():
    from fb_analyst.forecast.models import StatsForecastEngine

    narrow = StatsForecastEngine(["AutoETS", "AutoTheta"])
    assert narrow._model("AutoETS").damped is False and narrow._model("AutoTheta").model == "OTM"
    full = StatsForecastEngine(["AutoETS", "AutoTheta"], ets_damped=None, theta_model=None)
    assert full._model("AutoETS").damped is None and full._model("AutoTheta").model is None
