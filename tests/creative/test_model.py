"""The CTR model: grouped CV by message, rank correlation, calibration, honest 'no power'."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fb_analyst.creative.model import CtrModel, evaluate_ctr_model


def message_cells(text_effect: float, seed: int = 0, n_messages: int = 60) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    emb = {f"m{i}": v / np.linalg.norm(v) for i, v in enumerate(rng.normal(size=(n_messages, 16)))}
    direction = rng.normal(size=16)
    direction /= np.linalg.norm(direction)
    rows = []
    for m, v in emb.items():
        quality = np.exp(text_effect * 3 * float(v @ direction) + rng.normal(0, 0.05))
        for platform, base in (("Facebook", 0.012), ("Instagram", 0.009)):
            imps = int(rng.integers(20_000, 80_000))
            rows.append({"creative_message": m, "platform": platform, "impressions": float(imps),
                         "clicks": float(rng.binomial(imps, min(base * quality, 0.5)))})
    return pd.DataFrame(rows), emb


def test_text_signal_is_detected_out_of_fold():
    cells, emb = message_cells(text_effect=0.3)
    model, report = evaluate_ctr_model(cells, emb, ["platform"], folds=5, alpha=0.05, seed=0,
                                       embedder_name="test")
    assert report.has_predictive_power
    assert report.spearman_text > 0.5 and report.spearman_text_p < 0.05
    assert report.spearman_message > 0.5 and report.spearman_message > report.spearman_context_only
    assert report.calibration_slope is not None and 0.5 < report.calibration_slope < 1.5
    assert report.cv_grouping.startswith("GroupKFold by creative_message")
    assert sum(b.n_cells for b in report.calibration_bins) == len(cells)


def test_no_text_signal_is_said_plainly():
    cells, emb = message_cells(text_effect=0.0, seed=3)
    _, report = evaluate_ctr_model(cells, emb, ["platform"], folds=5, alpha=0.05, seed=0, embedder_name="test")
    assert not report.has_predictive_power
    assert report.statement.startswith("No predictive power for copy")
    assert report.spearman_text is not None and report.spearman_text_p >= 0.05


def test_out_of_fold_predictions_never_see_their_message():
    cells, emb = message_cells(text_effect=0.3)
    model = CtrModel(["platform"], folds=5).fit(cells, emb)
    assert np.isfinite(model.oof_).all()
    # Re-run one fold by hand: predictions for a held-out message must not change if its own
    # rows are altered (they were not in the training set).
    altered = cells.copy()
    altered.loc[altered["creative_message"] == "m0", "clicks"] = 0.0
    again = CtrModel(["platform"], folds=5).fit(altered, emb)
    rows = (cells["creative_message"] == "m0").to_numpy()
    np.testing.assert_allclose(model.oof_[rows], again.oof_[rows])


def test_predicted_ctr_has_an_interval():
    cells, emb = message_cells(text_effect=0.3)
    model = CtrModel(["platform"], folds=5).fit(cells, emb)
    ctx = pd.DataFrame({"platform": ["Facebook", "Instagram"], "impressions": [3.0, 1.0]})
    pred = model.predict_ctr(ctx, emb["m1"], 0.9)
    assert pred.lower < pred.value < pred.upper and pred.level == 0.9


def test_ridge_path_is_sklearn_weighted_ridge():
    from sklearn.linear_model import Ridge

    from fb_analyst.creative.model import ridge_path

    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=(200, 7)), rng.normal(size=200), rng.gamma(1.0, size=200)
    for fit in ridge_path(x, y, w, (0.3, 3.0, 30.0)):
        ref = Ridge(alpha=fit.alpha).fit(x, y, sample_weight=w)
        np.testing.assert_allclose(fit.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fit.predict(x), ref.predict(x), rtol=1e-9, atol=1e-12)
