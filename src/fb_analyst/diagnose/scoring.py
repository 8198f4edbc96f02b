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

from fb_analyst.diagnose.models import Diagnosis, Hypothesis

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
