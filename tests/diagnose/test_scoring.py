"""How a missed run is classified (``scoring.miss_reason``), on hand-built diagnoses whose answer
is known: the benchmark's table of misses must name the real reason, never crash."""

from __future__ import annotations

from types import SimpleNamespace as NS

from fb_analyst.diagnose.scoring import (ATTRIBUTED, CONTRADICTED, GATED, NOT_CHOSEN, OUTRANKED, PART_MISSING,
                                         miss_reason, score)
from fb_analyst.settings import Settings

CFG = Settings().diagnose


def _h(kind, metric, direction, segment, status="supported", q=0.01, confidence=0.9, reason="", id="H1",
       explained_by=None):
    return NS(kind=kind, metric=metric, direction=direction, segment=segment, status=status, q_value=q,
              p_value=q / 10, confidence=confidence, explained_by=explained_by, id=id, title=f"{metric} {segment}",
              reason=reason)


def _d(*hs):
    return NS(hypotheses=list(hs), supported=[h for h in hs if h.status == "supported"])


def _truth(scenario, causes=(), **extra):
    return NS(scenario=scenario, causes=list(causes), extra=extra)


def test_mix_over_another_dimension_is_a_missing_part_not_a_crash():
    truth = _truth("mix_shift", mix_dimension="audience_type")
    d = _d(_h("mix", "roas", "down", {"country": "US"}))
    assert not score(d, truth).hit
    assert miss_reason(d, truth, CFG)[0] == PART_MISSING
    d = _d(_h("mix", "roas", "down", {"audience_type": "Broad"}), _h("rate", "cvr", "down", {"country": "US"}, id="H2"))
    assert miss_reason(d, truth, CFG)[0] == CONTRADICTED


def test_outage_below_an_unrelated_rise_is_outranked_not_contradicted():
    truth = _truth("tracking_outage", [{"metric": "purchases", "direction": "down", "segment": None}])
    d = _d(_h("rate", "ctr", "up", {"country": "US"}), _h("measurement", "purchases", "down", {}, id="H2"))
    assert miss_reason(d, truth, CFG)[0] == OUTRANKED
    d = _d(_h("measurement", "purchases", "down", {}), _h("rate", "cvr", "down", {}, id="H2"))
    assert miss_reason(d, truth, CFG)[0] == CONTRADICTED


def test_planted_ad_below_its_own_message_is_outranked():
    truth = _truth("ctr_fatigue", [{"metric": "ctr", "direction": "down", "segment": {"ad": "A1"}}],
                   fatigued_messages=["M1"])
    d = _d(_h("rate", "ctr", "down", {"creative_message": "M1"}), _h("fatigue", "ctr", "down", {"ad": "A1"}, id="H2"))
    reason, detail = miss_reason(d, truth, CFG)
    assert reason == OUTRANKED and "creative_message" in detail


def test_significant_cause_is_gated_only_when_the_confidence_held_it():
    truth = _truth("cvr_drop_audience", [{"metric": "cvr", "direction": "down", "segment": {"audience_type": "Broad"}}])
    gated = _h("rate", "cvr", "down", {"audience_type": "Broad"}, status="inconclusive", confidence=0.3,
               reason="significant after FDR (q=0.01), but only 30% probable that the change exceeds 5% ...")
    assert miss_reason(_d(gated), truth, CFG)[0] == GATED
    small = _h("rate", "cvr", "down", {"audience_type": "Broad"}, status="inconclusive", confidence=0.2,
               reason="significant, but smaller than the 5% minimum")
    assert miss_reason(_d(small), truth, CFG)[0] == NOT_CHOSEN
    explained = _h("rate", "cvr", "down", {"audience_type": "Broad"}, status="inconclusive", explained_by="H1",
                   id="H2")
    assert miss_reason(_d(_h("rate", "cvr", "down", {"country": "US"}, status="inconclusive"), explained),
                       truth, CFG)[0] == ATTRIBUTED
