"""Hypothesis records: from tested candidates, mix results and outages to ranked, evidenced claims.

Input: the evaluated :class:`~fb_analyst.diagnose.evaluate.Candidate` list, mix tests, outages,
fatigue findings, the q-value of every test and the fitted empirical-Bayes prior. Output: the
:class:`~fb_analyst.diagnose.models.Hypothesis` list, supported first, each group ranked by
``|impact.revenue_at_stake|``, ids ``H1, H2, ...`` in that order.

**Status rule** (``status_of``, then ``gated_status``: the confidence and ``confidence_gate``):
*supported* when the day-level test is significant after BH (``q <= fdr_q``),
``|delta| >= min_effect``, nothing else explains it, and the confidence is at least
``support_level(settings) = max(SUPPORT_CONFIDENCE, min_confidence)`` (0.5 by default);
*rejected* when a supported hypothesis explains it (what is left after removing that segment is
not significant) or the interval shows the change is smaller than the minimum effect;
*inconclusive* otherwise -- including a change explained by a hypothesis that is not itself
supported (``explained_status``): its change sits in that hypothesis's rows, which establishes
nothing while those rows' own change is not established.

Why both gates. The BH q-value answers "is this change different from zero, given how many
changes were tested"; ``confidence`` (``stats.confidence``) answers "how probable is a change of
at least ``min_effect`` in the stated direction", shrinking every estimate towards the run's fitted
distribution of effects. A claim shown as *supported* asserts both, so both must hold. The level
1/2 is the natural one for that second question: confidence >= 1/2 is exactly "the posterior
median of the change lies beyond ``min_effect`` in the claimed direction" -- the shrunk estimate,
not the raw one, must clear the practical minimum. A change that only just passes BH with a raw
estimate near ``min_effect`` (posterior mass split around the threshold), or one that a run full
of null tests shrinks to nothing (a lone z = 2.5 among a thousand tests), stays *inconclusive*
with the reason stated (and the run's summary names it), so "supported, 43%" cannot be written.
For the two answers to use one prior, the confidence's prior odds of a real effect follow the BH
weights of the test (``weighted_eb``). The gate only removes supported claims; the calibration of
the confidence is measured over every hypothesis (``tests/diagnose/test_calibration.py``,
``benchmarks/bench_diagnosis.py``, which also reports the hit rate without the gate).

**Revenue at stake** of a change of KPI k by ``exp(b)`` in a segment with current revenue ``Rev``:
``Rev x (1 - exp(-g b))`` with ``g = +1`` for higher-is-better KPIs (CTR, CVR, AOV, ROAS) and
``-1`` for costs (CPM, CPA, CPC): the current-window revenue the change added (+) or cost (-)
compared with the baseline rate, all else equal (``Rev / exp(b)`` is the revenue at the baseline
rate when revenue is proportional to the factor, as in the funnel identity).
"""

from __future__ import annotations

import math
from datetime import date

from fb_analyst import schema as S
from fb_analyst.diagnose.evaluate import Candidate
from fb_analyst.diagnose.frames import CubeIndex
from fb_analyst.diagnose.frames import SUM, den_col, num_col
from fb_analyst.diagnose.refine import decision_p
from fb_analyst.diagnose.models import EvidenceRow, FatigueFinding, Hypothesis, Impact
from fb_analyst.diagnose.stats import z_se
from fb_analyst.diagnose.weighted_eb import WeightedPrior
from fb_analyst.kpis import get_kpi, safe_ratio
from fb_analyst.settings import DiagnoseSettings

ACTIONS: dict[tuple[str, str], list[str]] = {
    ("cpm", "up"): [
        "Check auction pressure on {seg}: daily CPM against last month and seasonal events.",
        "Cap bids or move budget away from {seg} until CPM returns to baseline; test other placements.",
    ],
    ("cpm", "down"): ["Cheaper delivery on {seg}: test a 10-20% budget increase there while CTR and CVR hold."],
    ("ctr", "down"): [
        "Refresh the creatives serving {seg}: launch 2-3 new variants of the best message.",
        "Pause ads in {seg} whose CTR fell below the account median for 3+ days.",
    ],
    ("ctr", "up"): ["Find what lifted CTR in {seg} (new creative, audience) and reuse it in weaker campaigns."],
    ("cvr", "down"): [
        "Check the landing page and checkout for {seg}: load time, stock-outs, price changes, tracking.",
        "Review frequency and audience overlap in {seg}; exclude recent purchasers from prospecting.",
    ],
    ("cvr", "up"): ["Scale {seg} gradually (about +20% budget every 3 days) while its CVR gain holds."],
    ("aov", "down"): [
        "Check discounts, bundles and the product mix sold in {seg}; a promotion may be cutting basket size.",
        "Add upsell/cross-sell offers for {seg} or raise the free-shipping threshold.",
    ],
    ("aov", "up"): ["Keep the offer that raised basket size in {seg}; test it in other segments."],
}
FATIGUE_ACTIONS = [
    "Rotate new creative into {seg}: its CTR has decayed since {onset}; keep the message, change the visual.",
    "Cap frequency or pause {seg} when its CTR falls below 70% of its first-week CTR.",
]
MIX_ACTIONS = [
    "Review the budget move {move}: if unintended, restore the previous split; if intended, "
    "judge the moved budget by its marginal ROAS, not by the account average.",
    "Do not read the account change as segments performing worse: their own rates are in the rate effect.",
]
OUTAGE_ACTIONS = [
    "Check the pixel / Conversions API events for {days} (Events Manager diagnostics, site releases).",
    "Do not cut budgets because of these days; compare performance with them excluded.",
]

_BETTER_UP = {"ctr", "cvr", "aov", "roas"}

#: Least confidence of a supported hypothesis (module doc: posterior median beyond ``min_effect``).
SUPPORT_CONFIDENCE = 0.5
#: Words of every reason written by ``confidence_gate``; ``scoring.miss_reason`` finds gated
#: hypotheses by them.
GATED_PHRASE = "probable that the change exceeds"


def support_level(settings: DiagnoseSettings) -> float:
    """The confidence a supported hypothesis needs: ``max(SUPPORT_CONFIDENCE, min_confidence)``."""
    return max(SUPPORT_CONFIDENCE, settings.min_confidence)


def confidence_gate(status: str, reason: str, conf: float, q: float | None,
                    settings: DiagnoseSettings) -> tuple[str, str]:
    """(status, reason) after the confidence gate of the module's status rule: a supported claim
    whose confidence is below ``support_level`` becomes inconclusive, with both numbers stated."""
    if status != "supported" or conf >= support_level(settings):
        return status, reason
    qs = "" if q is None else f" (q={q:.3g})"
    return "inconclusive", (f"significant after FDR{qs}, but only {conf:.0%} {GATED_PHRASE} "
                            f"{settings.min_effect:.0%} in its direction once shrunk towards the "
                            f"run's other tests (supported needs {support_level(settings):.0%})")


def gated_status(status: str, reason: str, prior: WeightedPrior, settings: DiagnoseSettings, *,
                 est: float | None, se: float | None, weight: float, direction: str,
                 q: float | None) -> tuple[str, str, float]:
    """(status, reason, confidence) of a claim after the second half of the module's status rule:
    the empirical-Bayes confidence that its change (estimate ``est`` with standard error ``se``,
    BH weight ``weight``) exceeds ``min_effect`` in ``direction`` -- 0 without an estimate or a
    positive se -- then ``confidence_gate``. Rate candidates and mix / outage claims both pass
    here, so every kind of hypothesis is held to the same rule."""
    sign = 1 if direction == "up" else -1
    conf = prior.confidence(est, se, weight, settings.min_effect, sign) if est is not None and se else 0.0
    status, reason = confidence_gate(status, reason, conf, q, settings)
    return status, reason, conf


def seg_label(segment: dict[str, str]) -> str:
    return " & ".join(f"{k}={v}" for k, v in segment.items()) if segment else "the whole account"


def revenue_at_stake(revenue_cur: float | None, metric: str, log_ratio: float | None) -> float | None:
    """Module doc: ``Rev x (1 - exp(-g b))``."""
    if revenue_cur is None or log_ratio is None:
        return None
    g = 1.0 if metric in _BETTER_UP else -1.0
    return float(revenue_cur * (1.0 - math.exp(-g * log_ratio)))


def status_of(own: float | None, ci: tuple[float, float] | None, q: float | None,
              settings: DiagnoseSettings) -> tuple[str, str]:
    """(status, reason) by the module's status rule for a change no other hypothesis explains
    (``explained_status`` for one that another does). ``own``: log change of the segment against
    its baseline, the tested effect; ``ci``: its interval; ``q``: its BH q-value."""
    if own is None or q is None:
        return "inconclusive", "not testable: too few days or no volume in a window"
    m = settings.min_effect
    lo, hi = ci if ci else (-math.inf, math.inf)
    big = abs(math.expm1(own)) >= m and own != 0
    if q <= settings.fdr_q and big:
        return "supported", f"significant after FDR (q={q:.3g}); change {math.expm1(own):+.1%}"
    if lo > math.log(1 - m) and hi < math.log(1 + m):
        return "rejected", f"the {1 - settings.alpha:.0%} interval excludes changes of {m:.0%} or more"
    if q <= settings.fdr_q:
        return "inconclusive", f"significant (q={q:.3g}) but smaller than the {m:.0%} minimum"
    return "inconclusive", f"not significant after FDR (q={q:.3g}); the interval still allows a {m:.0%} change"


def explained_status(ref: str | None, seg: str, rest: str, explainer_status: str) -> tuple[str, str]:
    """(status, reason) of a change explained by hypothesis ``ref`` (segment ``seg``, final status
    ``explainer_status``; ``rest``: what is left without its rows). *Rejected* only when ``ref`` is
    supported; otherwise *inconclusive*, since "explained by" a change that is itself not
    established would reject on grounds the report does not support (module doc). ``ref`` None:
    the explaining hypothesis is not in the written list (cut by ``max_hypotheses``)."""
    if explainer_status == "supported":
        return "rejected", f"explained by {ref or 'a hypothesis'} ({seg}): {rest}"
    return "inconclusive", (f"its change is within the rows of {ref or 'a hypothesis not listed'} ({seg}), "
                            f"which is itself {explainer_status}: {rest}")


def explanation(c: Candidate, cands: list[Candidate], ref: str | None, explainer_status: str) -> tuple[str, str]:
    """``explained_status`` of candidate ``c``, explained by ``cands[c.explained_by]`` (written as
    ``ref``, final status ``explainer_status``), with what is left once that one's rows are removed.
    Its own function so the list's final ids can be written into the reason once the ranking is
    known (``diagnosis._assemble``), without editing text."""
    r = c.residual
    rest = "no volume left" if r is None or r.log_ratio is None else (
        f"without it the change is {math.expm1(r.log_ratio):+.1%}")
    return explained_status(ref, seg_label(cands[c.explained_by].segment), rest, explainer_status)


def decide(c: Candidate, settings: DiagnoseSettings) -> tuple:
    """(status, reason, tested log effect, its interval) of a rate candidate no other explains: the
    own change and its interval (the decision p-value may come from the contrast or the fatigue
    trend)."""
    t = c.test
    status, reason = status_of(t.log_ratio, t.ci_log, c.q_value, settings)
    if status == "supported":
        how = ("CTR decay with the creative's age (day-level trend test)" if c.extra.get("trend") is not None
               else "the change" if not c.segment else "the change (own baseline or day-matched vs the rest)")
        reason = f"{how} is significant after FDR (q={c.q_value:.3g}); change {math.expm1(t.log_ratio):+.1%}"
    if status == "supported" and not c.chosen:
        status, reason = "inconclusive", "significant, but a candidate that explains more of the change was kept"
    return status, reason, t.log_ratio, t.ci_log


def eb_input(c: Candidate) -> tuple[float | None, float | None]:
    """(estimate, normal-equivalent se) of a candidate for the empirical-Bayes step: the own log
    change with the se implied by the decision p-value (``stats.z_se``); for a candidate explained
    by another, what is left after removing it (residual own test); for a chosen candidate, the
    tests the evaluator chose it on -- what is left after the segments chosen before it, so
    "CVR down in the whole account" chosen after the audience that carried the drop is as probable
    as the change of the rest of the account, not of the account with that audience in it."""
    if c.explained_by is not None and c.residual is not None:
        r = c.residual
        return r.log_ratio, r.se_normal
    t, p = c.test, c.p_value
    used, contrast, trend = c.extra.get("used", (None, None, None))  # set by ``evaluate`` when chosen
    if used is not None and trend is None:
        t = used
        p = decision_p(t, contrast, bool(c.segment), c.extra.get("searched", 1))
    return t.log_ratio, z_se(t.log_ratio, p, t.se_normal)


def rate_evidence(idx: CubeIndex, c: Candidate, excluded: list[date]) -> list[EvidenceRow]:
    """The segment's numerator and denominator sums per window (outage days excluded)."""
    k = get_kpi(c.metric)
    cube = idx.cube
    rows, mask = [], c.mask
    for cur, (w, win) in zip((False, True), (("baseline", cube.windows.baseline), ("current", cube.windows.current))):
        num = idx.window_sum(mask, num_col(c.metric), cur)
        den = idx.window_sum(mask, den_col(c.metric), cur)
        ex = [d for d in excluded if win.start <= d <= win.end]
        rows.append(EvidenceRow(
            segment=dict(c.segment), window=w, start=win.start, end=win.end, excluded_dates=ex,
            numerator=k.numerator, numerator_sum=num, denominator=k.denominator, denominator_sum=den,
            kpi=c.metric, value=safe_ratio(num, den, k.scale), days=len(cube.dates[w]) - len(ex)))
    return rows


def rate_hypothesis(
    idx: CubeIndex, c: Candidate, cands: list[Candidate], settings: DiagnoseSettings, prior: WeightedPrior,
    excluded: list[date], currency: str | None, fatigue: dict[tuple[str, str], FatigueFinding],
    ids: dict[int, str], me: int, explainer_status: str | None = None,
) -> Hypothesis:
    """The record of one rate candidate (ids of explaining hypotheses resolved through ``ids``;
    ``explainer_status``: the final status of the hypothesis that explains it, if one does)."""
    k = get_kpi(c.metric)
    t = c.test
    if c.explained_by is not None:
        if explainer_status is None:
            raise ValueError(f"rate_hypothesis: candidate {me} is explained by candidate {c.explained_by}, "
                             "so explainer_status (that hypothesis's final status) is required; got None")
        status, reason = explanation(c, cands, ids.get(c.explained_by, "?"), explainer_status)
        dec_ci = t.ci_log
    else:
        status, reason, _, dec_ci = decide(c, settings)
    est, se = eb_input(c)
    direction = "flat" if t.log_ratio is None or t.log_ratio == 0 else ("up" if t.log_ratio > 0 else "down")
    status, reason, conf = gated_status(status, reason, prior, settings, est=est, se=se, weight=c.bh_weight,
                                        direction=direction, q=c.q_value)
    evidence = rate_evidence(idx, c, excluded)
    base, cur = evidence[0].value, evidence[1].value
    mask = c.mask
    rev = idx.window_sum(mask, SUM + S.REVENUE, True) if SUM + S.REVENUE in idx.values else None
    spend_tot = idx.window_sum(mask | True, SUM + S.SPEND, True) if SUM + S.SPEND in idx.values else 0.0
    spend_share = idx.window_sum(mask, SUM + S.SPEND, True) / spend_tot if spend_tot > 0 else None
    seg = seg_label(c.segment)
    kind, actions = "rate", [a.format(seg=seg) for a in ACTIONS.get((c.metric, direction), [])]
    title = f"{k.label} {'rose' if direction == 'up' else 'fell'} {abs(math.expm1(t.log_ratio or 0)):.0%} in {seg}"
    if c.strata:
        title += f" (like for like, {' and '.join(c.strata)} mix held fixed"
        title += f"; plain change {cur / base - 1:+.0%})" if base and cur is not None else ")"
    fat = next((fatigue[(d, v)] for d, v in c.segment.items() if (d, v) in fatigue), None)
    if fat is not None and c.metric == "ctr" and direction == "down" and len(c.segment) == 1:
        kind = "fatigue"
        title += f": creative fatigue since {fat.onset_date} ({fat.decay_pct_per_week:.0%} per week)"
        actions = [a.format(seg=seg, onset=fat.onset_date) for a in FATIGUE_ACTIONS]
    ci = None
    if dec_ci is not None:
        ci = [math.expm1(dec_ci[0]), math.expm1(dec_ci[1])]
    return Hypothesis(
        id=ids[me], kind=kind, title=title, metric=c.metric, direction=direction,
        segment={a: str(b) for a, b in c.segment.items()}, baseline=base, current=cur,
        delta_pct=cur / base - 1 if base and cur is not None else None,
        rate_change_pct=None if t.log_ratio is None else math.expm1(t.log_ratio), ci=ci,
        relative_change_pct=None if not c.segment or c.contrast is None or c.contrast.log_ratio is None
        else math.expm1(c.contrast.log_ratio),
        p_value=c.p_value, q_value=c.q_value, confidence=conf,
        impact=Impact(currency=currency, revenue_at_stake=revenue_at_stake(rev, c.metric, t.log_ratio),
                      spend_share=spend_share),
        status=status, reason=reason, evidence=evidence, actions=actions,
        mix_adjusted_by=list(c.strata) if c.strata else None,
        explained_by=ids.get(c.explained_by) if c.explained_by is not None else None,
    )
