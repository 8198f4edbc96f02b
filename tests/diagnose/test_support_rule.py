"""The status rule: supported needs the FDR test and a confidence of at least 1/2, with the
confidence's prior odds following the BH weights (diagnose/weighted_eb.py, hypotheses.py)."""

from __future__ import annotations

import numpy as np
import pytest

from fb_analyst.diagnose.hypotheses import SUPPORT_CONFIDENCE, confidence_gate, support_level
from fb_analyst.diagnose.stats import confidence, fit_eb_prior
from fb_analyst.diagnose.weighted_eb import fit_weighted_prior
from fb_analyst.settings import DiagnoseSettings


def _mixture(rng, n_null=900, n_eff=100, se=0.1):
    est = np.concatenate([rng.normal(0, se, n_null), rng.normal(0, 0.5, n_eff) + rng.normal(0, se, n_eff)])
    return est, np.full(n_null + n_eff, se)


def test_equal_weights_recover_the_non_null_share_like_the_exchangeable_fit():
    est, se = _mixture(np.random.default_rng(1))
    wp = fit_weighted_prior(est, se, np.ones_like(est))
    pi1 = wp.theta / (1 + wp.theta)
    assert 0.05 < pi1 < 0.2  # 10% planted
    ex = fit_eb_prior(est, se)
    for e in (-0.6, -0.3, -0.15, 0.2):
        s = 1 if e > 0 else -1
        assert wp.confidence(e, 0.1, 1.0, 0.05, s) == pytest.approx(confidence(e, 0.1, ex, 0.05, s), abs=0.05)


def test_weight_raises_the_prior_odds_of_that_test_only():
    est, se = _mixture(np.random.default_rng(2), n_null=990, n_eff=10)
    w = np.ones_like(est)
    wp = fit_weighted_prior(est, se, w)
    low, high = (confidence(-0.35, 0.1, wp.prior_for(x), 0.05, -1) for x in (0.3, 5.0))
    assert low < high
    assert wp.prior_for(5.0).pi0 < wp.prior_for(1.0).pi0 < wp.prior_for(0.3).pi0


def test_nothing_changed_keeps_the_floor_and_shrinks():
    rng = np.random.default_rng(3)
    est = rng.normal(0, 0.05, 500)
    wp = fit_weighted_prior(est, np.full(500, 0.05), rng.uniform(0.3, 3.0, 500))
    assert wp.prior_for(1.0).pi0 == pytest.approx(1 - 8e-3, abs=2e-3)
    assert confidence(-0.12, 0.05, wp.prior_for(1.0), 0.05, -1) < 0.3


def test_gate_demotes_a_supported_claim_below_one_half():
    cfg = DiagnoseSettings()
    assert support_level(cfg) == SUPPORT_CONFIDENCE == 0.5
    st, reason = confidence_gate("supported", "ok", 0.43, 0.02, cfg)
    assert st == "inconclusive" and "43%" in reason and "q=0.02" in reason
    assert confidence_gate("supported", "ok", 0.6, 0.02, cfg) == ("supported", "ok")
    assert confidence_gate("inconclusive", "x", 0.99, 0.5, cfg) == ("inconclusive", "x")
    strict = DiagnoseSettings(min_confidence=0.8)
    assert confidence_gate("supported", "ok", 0.6, 0.02, strict)[0] == "inconclusive"


@pytest.mark.parametrize("scenario", ["cpm_spike_placement", "aov_drop_country", "improvement"])
def test_no_supported_hypothesis_below_the_level(scenario, run_scenario, settings):
    _, _, diagnosis, _ = run_scenario(scenario, 0)
    level = support_level(settings.diagnose)
    assert all(h.confidence >= level for h in diagnosis.supported)


def test_sample_export_never_says_supported_with_low_confidence(sample_diagnosis, settings):
    _, _, diagnosis, _ = sample_diagnosis
    level = support_level(settings.diagnose)
    for h in diagnosis.hypotheses:
        if h.status == "supported":
            assert h.confidence >= level, (h.id, h.title, h.confidence)
    gated = [h for h in diagnosis.hypotheses if h.status == "inconclusive" and h.explained_by is None
             and h.q_value is not None and h.q_value <= settings.diagnose.fdr_q]
    if not diagnosis.supported and gated:  # the summary names the signal that was held back, and why
        assert gated[0].id in diagnosis.summary and gated[0].reason in diagnosis.summary

