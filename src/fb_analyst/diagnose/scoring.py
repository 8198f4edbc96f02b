"""Score a :class:`Diagnosis` against the truth the sample generator planted (tests, benchmarks).

Rules, by scenario (``PlantedTruth.scenario``):

* ``no_change``, ``trend_weekly``: a hit when no hypothesis is supported.
* single-cause rate scenarios (``cpm_spike_placement``, ``cvr_drop_audience``, ``aov_drop_country``,
  ``improvement``, ``ctr_fatigue``): a hit when the *top* supported hypothesis has the planted
  metric, direction and segment (for fatigue: any of the fatigued ads).
* ``two_causes``: both causes are supported and the top supported hypothesis is one of them.
* ``mix_shift``: a supported mix hypothesis over the planted dimension and no supported rate
  hypothesis (no segment "getting worse").
* ``simpson``: a supported rate hypothesis "CVR up" (account or an audience type), a supported mix
  hypothesis over the planted dimension, and no supported "CVR down" rate hypothesis.
* ``tracking_outage``: the top supported hypothesis is a measurement (outage) claim and no
  supported rate hypothesis is about a purchase-based KPI going down.

A supported hypothesis is *false* when no planted fact backs it: not a planted cause (metric,
direction, segment), not the planted mix, not the planted outage.
"""

from __future__ import annotations

from dataclasses import dataclass

from fb_analyst.diagnose.hypotheses import GATED_PHRASE, support_level
from fb_analyst.diagnose.models import Diagnosis, Hypothesis
from fb_analyst.settings import DiagnoseSettings

RATE_SCENARIOS = ("cpm_spike_placement", "cvr_drop_audience", "aov_drop_country", "improvement", "ctr_fatigue")
QUIET_SCENARIOS = ("no_change", "trend_weekly")


@dataclass(frozen=True)
class Score:
    scenario: str
    hit: bool
    supported: int
    false_supported: int
    top: str


def _causes(truth) -> list[tuple[str, str, dict]]:
    return [(c["metric"], c["direction"], dict(c["segment"] or {})) for c in truth.causes]


def is_backed(h: Hypothesis, truth) -> bool:
    """Whether a planted fact backs hypothesis ``h`` (module doc)."""
    sc = truth.scenario
    if h.kind == "mix":
        return sc in ("mix_shift", "simpson") and truth.extra.get("mix_dimension") in h.segment
    if h.kind == "measurement":
        return sc == "tracking_outage"
    causes = _causes(truth)
    if (h.metric, h.direction, h.segment) in causes:
        return True
    if sc == "simpson":
        return h.metric == "cvr" and h.direction == "up" and (not h.segment or "audience_type" in h.segment)
    if sc == "ctr_fatigue":
        msgs = set(truth.extra.get("fatigued_messages", []))
        return h.metric == "ctr" and h.direction == "down" and h.segment.get("creative_message") in msgs \
            and len(h.segment) == 1
    return False


def score(diagnosis: Diagnosis, truth) -> Score:
    """Hit / false-positive score of one diagnosis (module doc)."""
    sup = diagnosis.supported
    sc = truth.scenario
    top = sup[0] if sup else None
    causes = _causes(truth)
    rate_sup = [h for h in sup if h.kind in ("rate", "fatigue")]
    if sc in QUIET_SCENARIOS:
        hit = not sup
    elif sc in RATE_SCENARIOS:
        hit = top is not None and top.kind in ("rate", "fatigue") and (top.metric, top.direction, top.segment) in causes
    elif sc == "two_causes":
        found = [c for c in causes if any((h.metric, h.direction, h.segment) == c for h in rate_sup)]
        hit = len(found) == len(causes) and top is not None and (top.metric, top.direction, top.segment) in causes
    elif sc == "mix_shift":
        hit = any(h.kind == "mix" and truth.extra["mix_dimension"] in h.segment for h in sup) and not rate_sup
    elif sc == "simpson":
        up = any(h.metric == "cvr" and h.direction == "up" and (not h.segment or "audience_type" in h.segment)
                 for h in rate_sup)
        mix = any(h.kind == "mix" and truth.extra["mix_dimension"] in h.segment for h in sup)
        down = any(h.metric == "cvr" and h.direction == "down" for h in rate_sup)
        hit = up and mix and not down
    elif sc == "tracking_outage":
        bad = any(h.metric in ("cvr", "aov", "roas", "cpa") and h.direction == "down" for h in rate_sup)
        hit = top is not None and top.kind == "measurement" and not bad
    else:
        hit = False
    false = sum(1 for h in sup if not is_backed(h, truth))
    label = "none" if top is None else f"{top.kind}:{top.metric}:{top.direction}:{top.segment}"
    return Score(scenario=sc, hit=bool(hit), supported=len(sup), false_supported=false, top=label)


# Why a run missed (``miss_reason``), in the order the checks are made.
FALSE_SUPPORTED = "false supported hypothesis"  # quiet scenarios: something was supported
NOT_LISTED = "planted cause not among the hypotheses"  # not tested, or below every listed one
NOT_SIGNIFICANT = "not significant after FDR"  # the planted cause's test did not pass BH (power)
GATED = "significant, held back by the confidence gate"  # passed BH, confidence below the support level
NOT_CHOSEN = "significant, but not chosen or below the minimum effect"  # passed BH, another rule held it
ATTRIBUTED = "attributed to another segment"  # explained by / drilled into another candidate
OUTRANKED = "supported, but another hypothesis ranks first"  # ranking by impact put another one on top
PART_MISSING = "required part missing"  # the mix / outage part of a composite scenario is not supported
CONTRADICTED = "a false rate hypothesis contradicts it"  # mix: a rate claim; simpson: CVR down; outage: a KPI down
MISS_REASONS = (FALSE_SUPPORTED, NOT_LISTED, NOT_SIGNIFICANT, GATED, NOT_CHOSEN, ATTRIBUTED, OUTRANKED,
                PART_MISSING, CONTRADICTED)


def _planted_mix(h: Hypothesis, truth) -> bool:
    return h.kind == "mix" and truth.extra.get("mix_dimension") in h.segment


def miss_reason(diagnosis: Diagnosis, truth, settings: DiagnoseSettings) -> tuple[str, str] | None:
    """(category from ``MISS_REASONS``, detail) of a run that ``score`` does not count as a hit;
    None for a hit. Composite scenarios first check their own parts (the planted mix, the outage, a
    contradicting rate claim), with ``score``'s rules. For a planted rate cause it then reads the
    best-placed hypothesis that states it (``is_backed``, rate or fatigue kind; supported first,
    then smallest q): not listed, not significant, gated by the confidence, significant but held by
    another rule, explained by another candidate, or supported but not first."""
    s = score(diagnosis, truth)
    if s.hit:
        return None
    sc, sup = truth.scenario, diagnosis.supported
    if sc in QUIET_SCENARIOS:
        return FALSE_SUPPORTED, f"{len(sup)} supported, top {s.top}"
    rate_sup = [h for h in sup if h.kind in ("rate", "fatigue")]
    if sc == "mix_shift":
        if rate_sup:
            return CONTRADICTED, f"rate hypothesis supported beside the mix: {rate_sup[0].title}"
        return PART_MISSING, "no supported mix hypothesis over the planted dimension"
    if sc == "tracking_outage":
        if any(h.metric in ("cvr", "aov", "roas", "cpa") and h.direction == "down" for h in rate_sup):
            return CONTRADICTED, "a supported drop of a purchase-based KPI"
        if not any(h.kind == "measurement" for h in sup):
            return PART_MISSING, "no supported outage"
        return OUTRANKED, f"top {s.top}"
    if sc == "simpson":
        if any(h.metric == "cvr" and h.direction == "down" for h in rate_sup):
            return CONTRADICTED, "a supported CVR drop"
        if not any(_planted_mix(h, truth) for h in sup):
            return PART_MISSING, "no supported mix hypothesis over the planted dimension"
    stated = [h for h in diagnosis.hypotheses if h.kind in ("rate", "fatigue") and is_backed(h, truth)]
    if sc in RATE_SCENARIOS or sc == "two_causes":  # what a hit needs: the planted (metric, direction, segment)
        causes = _causes(truth)
        if sc == "two_causes":  # the cause that is missing decides
            found = [(h.metric, h.direction, h.segment) for h in rate_sup]
            causes = [c for c in causes if c not in found] or causes
        stated = [h for h in stated if (h.metric, h.direction, h.segment) in causes]
    if not stated:
        return NOT_LISTED, ""
    best = min(stated, key=lambda h: (h.status != "supported", h.q_value if h.q_value is not None else 1.0))
    detail = (f"{best.title}: p={best.p_value:.2g} q={best.q_value:.2g} confidence {best.confidence:.2f}"
              if best.p_value is not None and best.q_value is not None else best.title)
    if best.status == "supported":
        return OUTRANKED, f"{detail}; top {s.top}"
    if best.explained_by is not None:
        by = next((h for h in diagnosis.hypotheses if h.id == best.explained_by), None)
        what = best.explained_by if by is None else f"'{by.title}' ({by.status}, confidence {by.confidence:.2f})"
        return ATTRIBUTED, f"{detail}; explained by {what}"
    if best.q_value is not None and best.q_value <= settings.fdr_q:
        if best.confidence < support_level(settings) and GATED_PHRASE in best.reason:
            return GATED, detail
        return NOT_CHOSEN, f"{detail}; {best.reason}"
    return NOT_SIGNIFICANT, detail
