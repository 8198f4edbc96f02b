"""Decision rules of the evaluator and its two refinements (drill-down, pruning).

Input: evaluated :class:`~fb_analyst.diagnose.evaluate.Candidate` records, the cube index, the
per-test BH cut-offs and settings; the functions update the candidates in place. Kept apart from
``evaluate.py`` (candidate generation and the greedy explanation) to keep each module small.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from fb_analyst.diagnose.frames import CubeIndex
from fb_analyst.diagnose.stats import ContrastTest, RateTest
from fb_analyst.settings import DiagnoseSettings

if TYPE_CHECKING:
    from fb_analyst.diagnose.evaluate import Candidate


def decision_p(t: RateTest, ct: ContrastTest | None, segment: bool, searched: int = 1) -> float | None:
    """The p-value a candidate is judged by.

    The whole account: its own-baseline test. A segment: two tests of "this segment changed" --
    against its own baseline (robust when the segment is most of the account) and day-matched
    against the rest of the account (shared daily shocks cancel, so smaller segments gain power)
    -- combined as ``min(1, 2 * min(p_own, p_contrast))`` (Bonferroni over the pair). A localised
    element also carries the Bonferroni factor of its search (``searched``).
    """
    ps = [p for p in (t.p_value, ct.p_value if (segment and ct is not None) else None) if p is not None]
    if not ps:
        return None
    p = min(ps) * (2 if segment and len(ps) == 2 else 1)
    return min(1.0, p * max(searched, 1))


def is_significant(t: RateTest, ct: ContrastTest | None, segment: bool, p_cut: float,
                 settings: DiagnoseSettings, trend: Any = None, searched: int = 1) -> bool:
    """Significant (decision p <= the BH cut-off) and practical (the own change is at least
    ``min_effect``); with a fatigue trend: the trend is a significant decay and the own change a drop."""
    if t.log_ratio is None or abs(math.expm1(t.log_ratio)) < settings.min_effect:
        return False
    if trend is not None:
        return (trend.p_value is not None and trend.p_value <= p_cut and (trend.slope_per_day or 0) < 0
                and t.log_ratio < 0)
    p = decision_p(t, ct, segment, searched)
    return p is not None and p <= p_cut


def explained_chi2(t: RateTest) -> float:
    """G = (A - E)^2 / E: the chi-square a segment's change explains (A current numerator, E the
    numerator expected at baseline rates), the evaluator's ranking of competing explanations."""
    return (t.cur_num - t.expected_num) ** 2 / t.expected_num if t.expected_num > 0 else 0.0


#: Most child segments that may replace a parent in the drill-down.
MAX_DRILL = 3


def drill_down(idx: CubeIndex, cands: list[Candidate], p: int, cuts: list[float],
                settings: DiagnoseSettings) -> None:
    """Hierarchical follow-up of a chosen segment P: its sub-segments are tested at
    ``level_P / n_children`` (Bonferroni within P, valid once P itself is rejected -- hierarchical
    testing); when at most ``MAX_DRILL`` minimal ones carry P's change and the rest of P shows no
    change at ``alpha``, they replace P. Their q-value is the hierarchical adjusted p-value
    ``max(q_P, n_children * p_child)``. This localises an account-wide-looking change to the
    country or ad that drives it when the child alone did not pass the run-wide FDR.

    ``level_P = min(alpha, cut_P)``, ``cut_P`` the weighted-BH cut-off P itself was rejected at
    (``cuts[p]``): in hierarchical testing (Meinshausen 2008) the children share their parent's
    level, never more, so a child is not accepted on weaker evidence than its parent needed.
    With ``alpha / n_children`` alone a segment of BH weight ~1 (cut-off ~1e-3) handed its place
    to a localised child at p = 0.044 after its search factor -- "CVR +28% in video ads in US"
    for a US-wide +32% rise whose own test had q = 1e-5 -- and the child, no more probable than
    that p, was then held back by the confidence gate, leaving nothing supported (generated
    ``improvement``, seed 9). The whole account (cut-off above ``alpha``) keeps ``alpha / n``."""
    parent = cands[p]
    if parent.test.log_ratio is None:
        return
    kids = [i for i, c in enumerate(cands) if i != p and c.metric == parent.metric
            and c.rows.count < parent.rows.count and c.rows.issubset(parent.rows)]
    if not kids:
        return
    level = min(settings.alpha, cuts[p]) / len(kids)
    hits = [i for i in kids if (cands[i].p_value or 1.0) <= level and cands[i].test.log_ratio is not None
            and abs(math.expm1(cands[i].test.log_ratio)) >= settings.min_effect
            and cands[i].test.log_ratio * parent.test.log_ratio > 0]
    leaves = [i for i in hits if not any(j != i and cands[j].rows.issubset(cands[i].rows)
                                         and (cands[j].rows.count < cands[i].rows.count or j < i) for j in hits)]
    if not 1 <= len(leaves) <= MAX_DRILL:
        return
    union = np.zeros_like(parent.mask)
    for i in leaves:
        union |= cands[i].mask
    rest = parent.mask & ~union
    t = idx.test(rest, parent.metric, parent.strata, settings.alpha) if rest.any() else None
    if t is not None and t.p_value is not None and t.p_value <= settings.alpha and t.log_ratio is not None \
            and abs(math.expm1(t.log_ratio)) >= settings.min_effect:
        return
    best = max(leaves, key=lambda i: explained_chi2(cands[i].test))
    for i in leaves:
        c = cands[i]
        c.chosen, c.explained_by, c.residual, c.residual_contrast = True, None, None, None
        c.q_value = max(parent.q_value or 0.0, min(1.0, len(kids) * (c.p_value or 1.0)))
        c.extra["drilled_from"] = p
    parent.chosen, parent.explained_by, parent.residual = False, best, t


def prune(idx: CubeIndex, cands: list[Candidate], kpi: str, cuts: list[float], settings: DiagnoseSettings) -> None:
    """Drop a chosen segment that the other chosen ones explain: without their rows (supersets of
    it excepted) what is left of it is no longer significant. Weakest (smallest G) first, until
    nothing changes -- e.g. 'gender=male' chosen beside 'country=US' when only US changed."""
    changed = True
    while changed:
        changed = False
        chosen = sorted([i for i, c in enumerate(cands) if c.metric == kpi and c.chosen],
                        key=lambda i: explained_chi2(cands[i].test))
        for i in chosen:
            c, mask = cands[i], cands[i].mask
            others = [j for j in chosen if j != i and not c.rows.issubset(cands[j].rows)]
            cover = np.zeros_like(mask)
            for j in others:
                cover |= cands[j].mask
            if not (cover & mask).any():
                continue
            rest = mask & ~cover
            t = idx.test(rest, kpi, c.strata, settings.alpha) if rest.any() else None
            ct = idx.contrast(rest, ~mask & ~cover, kpi, c.strata, settings.alpha) if (
                t is not None and c.segment) else None
            if t is not None and is_significant(t, ct, bool(c.segment), cuts[i], settings, None,
                                              c.extra.get("searched", 1)):
                continue
            c.chosen = False
            c.explained_by = max(others, key=lambda j: int((cands[j].mask & mask).sum()))
            c.residual, c.residual_contrast = t, ct
            changed = True
            break
