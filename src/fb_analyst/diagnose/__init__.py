"""Diagnosis engine: why a KPI changed and where (decomposition, mix vs rate, localisation, tests).

Public API: :func:`diagnose` (-> :class:`Diagnosis`, the content of ``hypotheses.json``) and
:func:`detect_fatigue` (-> :class:`FatigueFinding` list, shared with the creative stage).
Modules: ``frames`` (the one engine aggregate), ``decompose`` (funnel identities), ``mix``
(shift-share), ``stats`` (day-level tests, BH, confidence), ``evaluate`` (candidates and the
evaluator), ``outages``, ``fatigue``, ``claims`` and ``hypotheses`` (records), ``diagnosis``
(the orchestration), ``localize`` (multi-dimensional root-cause localisation).
"""

from fb_analyst.diagnose.diagnosis import diagnose
from fb_analyst.diagnose.fatigue import detect_fatigue
from fb_analyst.diagnose.models import (
    SCHEMA_VERSION,
    Decomposition,
    Diagnosis,
    EvidenceRow,
    FatigueFinding,
    Hypothesis,
    MixRate,
    Outage,
)

__all__ = [
    "SCHEMA_VERSION",
    "Decomposition",
    "Diagnosis",
    "EvidenceRow",
    "FatigueFinding",
    "Hypothesis",
    "MixRate",
    "Outage",
    "detect_fatigue",
    "diagnose",
]
