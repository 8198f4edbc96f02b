"""The status rule's shared pieces (``hypotheses.py``): ``gated_status`` -- the confidence, then the
confidence gate, for every kind of hypothesis -- and ``explained_status`` when the explaining
hypothesis was cut from the written list."""

from __future__ import annotations

import numpy as np
import pytest

from fb_analyst.diagnose.hypotheses import confidence_gate, explained_status, gated_status, support_level
from fb_analyst.diagnose.weighted_eb import fit_weighted_prior
from fb_analyst.settings import DiagnoseSettings


@pytest.fixture(scope="module")
def prior():
    rng = np.random.default_rng(3)
    est = np.concatenate([rng.normal(0, 0.1, 300), rng.normal(0, 0.5, 60)])
    return fit_weighted_prior(est, np.full(len(est), 0.1), np.ones(len(est)))


@pytest.mark.parametrize("est,direction", [(-0.4, "down"), (0.3, "up"), (0.06, "up"), (-0.05, "flat")])
def test_gated_status_is_the_confidence_then_the_gate(prior, est, direction):
    cfg = DiagnoseSettings()
    sign = 1 if direction == "up" else -1
    conf = prior.confidence(est, 0.1, 1.3, cfg.min_effect, sign)
    want = (*confidence_gate("supported", "ok", conf, 0.01, cfg), conf)
    assert gated_status("supported", "ok", prior, cfg, est=est, se=0.1, weight=1.3, direction=direction,
                        q=0.01) == want


def test_gated_status_without_an_estimate_or_se_has_zero_confidence_and_is_not_supported(prior):
    cfg = DiagnoseSettings()
    for est, se in ((None, 0.1), (0.5, None), (0.5, 0.0)):
        st, reason, conf = gated_status("supported", "ok", prior, cfg, est=est, se=se, weight=1.0,
                                        direction="up", q=0.001)
        assert (st, conf) == ("inconclusive", 0.0)
        assert f"supported needs {support_level(cfg):.0%}" in reason
    # a status other than supported passes unchanged, with its confidence
    st, reason, conf = gated_status("rejected", "why", prior, cfg, est=0.5, se=0.1, weight=1.0,
                                    direction="up", q=0.9)
    assert (st, reason) == ("rejected", "why") and conf > 0.5


def test_explained_status_names_an_explaining_hypothesis_cut_from_the_list():
    assert explained_status(None, "country=US", "no volume left", "supported") == (
        "rejected", "explained by a hypothesis (country=US): no volume left")
    assert explained_status(None, "country=US", "no volume left", "inconclusive") == (
        "inconclusive", "its change is within the rows of a hypothesis not listed (country=US), "
                        "which is itself inconclusive: no volume left")
