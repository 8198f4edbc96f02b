"""MASE, coverage, ensemble and model choice on hand-made backtest rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fb_analyst.forecast.backtest import (
    add_ensemble,
    choose_model,
    conformal_halfwidths,
    mase_scale,
    score_cv,
)
from fb_analyst.forecast.result import Candidate


def test_mase_scale_uses_weekly_lag_then_lag_one():
    weekly = pd.Series(np.tile([1.0, 2, 3, 4, 5, 6, 7], 3))
    assert mase_scale(weekly) == pytest.approx(1.5)  # pure weekly pattern: lag-7 MAE is 0, so lag 1 is used
    assert mase_scale(pd.Series([1.0, 3.0, 5.0])) == pytest.approx(2.0)
    assert mase_scale(pd.Series([2.0] * 20)) is None


def _cv(model: str, preds: list[float], width: float) -> pd.DataFrame:
    ds = pd.date_range("2025-01-08", periods=4, freq="D")
    y = [10.0, 12.0, 11.0, 13.0]
    p = np.array(preds)
    return pd.DataFrame({"unique_id": "a", "ds": ds, "cutoff": pd.Timestamp("2025-01-07"), "y": y,
                         "model": model, "mean": p, "lo80": p - width, "hi80": p + width,
                         "lo95": p - 2 * width, "hi95": p + 2 * width})


def test_score_cv_mase_and_coverage():
    hist = pd.Series([10.0, 11, 10, 11, 10, 11, 10], index=pd.date_range("2025-01-01", periods=7, freq="D"))
    cv = _cv("Naive", [10.0, 10, 10, 10], 1.5)
    s = score_cv(cv, {"a": hist}).iloc[0]
    assert s["mase"] == pytest.approx(np.mean([0, 2, 1, 3]) / 1.0)
    assert s["coverage80"] == pytest.approx(0.5) and s["coverage95"] == pytest.approx(1.0)


def test_ensemble_averages_members_and_keeps_bounds_ordered():
    cv = pd.concat([_cv("AutoETS", [10.0] * 4, 1.0), _cv("AutoTheta", [12.0] * 4, 3.0)])
    ens = add_ensemble(cv)
    e = ens[ens["model"] == "Ensemble"]
    assert len(e) == 4 and (e["mean"] == 11.0).all() and (e["hi80"] == 13.0).all()
    assert (e["lo95"] <= e["lo80"]).all() and (e["hi80"] <= e["hi95"]).all()


def test_choice_prefers_simpler_model_on_ties_and_within_tolerance():
    cands = [Candidate(model="AutoETS", mase=0.80), Candidate(model="HistoricAverage", mase=0.81)]
    assert choose_model(cands).model == "AutoETS"
    assert choose_model(cands, tolerance=0.02).model == "HistoricAverage"
    assert choose_model([Candidate(model="AutoETS")]) is None


def test_conformal_halfwidths_are_finite_sample_quantiles():
    q = conformal_halfwidths(np.arange(1.0, 20.0))  # |errors| 1..19
    assert q[80] == 16.0 and q[95] == 19.0
