"""The engine seam: an in-memory engine plugs in, and a model that fails is dropped and named."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

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
