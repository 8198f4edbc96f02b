"""``diagnose``: why the account's ROAS / CTR changed between two windows, and where.

Input: the canonical table (``ibis.Table``), resolved :class:`~fb_analyst.windows.Windows`,
:class:`~fb_analyst.settings.Settings`, the target KPIs and the dimensions to search. Output: a
frozen :class:`~fb_analyst.diagnose.models.Diagnosis` (the content of ``hypotheses.json``).

Pipeline: daily cube (one engine aggregate) -> account KPIs -> ROAS and CPA decompositions ->
tracking outages (their days are left out of the performance tests) -> mix vs rate per dimension
-> candidate segments x driver KPIs tested at day level -> BH over every test -> evaluator
(greedy explanation) -> empirical-Bayes confidence (prior odds following the BH weights) ->
fatigue findings attached -> ranked hypotheses with evidence, actions and the status rule of
``hypotheses.py`` (FDR test and confidence >= 1/2) -> verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ibis
import numpy as np

from fb_analyst import schema as S
from fb_analyst.diagnose import claims as CL
from fb_analyst.diagnose.decompose import decompose_change, volume_effect
from fb_analyst.diagnose.evaluate import (
    DRIVERS,
    MAX_STRATA,
    evaluate,
    run_candidate_tests,
    bh_weights,
)
from fb_analyst.diagnose.frames import CubeIndex, build_cube, den_col, n_col, num_col
from fb_analyst.diagnose.hypotheses import (MIX_ACTIONS, OUTAGE_ACTIONS, eb_input, explanation, gated_status,
                                            rate_hypothesis)
from fb_analyst.diagnose.mix import mix_vs_rate
from fb_analyst.diagnose.models import Diagnosis, FatigueFinding, Hypothesis, Impact, KpiChange
from fb_analyst.diagnose.outages import detect_outages
from fb_analyst.diagnose.stats import bh_qvalues
from fb_analyst.diagnose.weighted_eb import WeightedPrior, fit_weighted_prior
from fb_analyst.kpis import KPIS, format_kpi, get_kpi, ratio_value
from fb_analyst.settings import Settings
from fb_analyst.windows import Windows

_STATUS_RANK = {"supported": 0, "inconclusive": 1, "rejected": 2}


def _account_kpis(idx: CubeIndex, cube) -> list[KpiChange]:
    out = []
    ones = np.ones(len(cube.frame), bool)
    for name in cube.kpis:
        k = get_kpi(name)
        vals = []
        for cur in (False, True):
            n = idx.window_sum(ones, n_col(name), cur)  # build_cube writes it for every cube KPI
            num = idx.window_sum(ones, num_col(name), cur)
            den = idx.window_sum(ones, den_col(name), cur)
            vals.append(ratio_value(num, den, k.scale) if n > 0 else ratio_value(None, None, k.scale))
        b, c = vals
        delta = c.value / b.value - 1 if b.value and c.value is not None else None
        out.append(KpiChange(kpi=name, baseline=b, current=c, delta_pct=delta))
    return out


def diagnose(
    table: ibis.Table,
    windows: Windows,
    settings: Settings,
    *,
    metrics: Sequence[str] = ("roas", "ctr"),
    dimensions: Sequence[str] | None = None,
    fatigue: list[FatigueFinding] | None = None,
) -> Diagnosis:
    """Diagnose the change of ``metrics`` between ``windows.baseline`` and ``windows.current``.

    ``dimensions`` defaults to every segment dimension present. ``fatigue`` may pass findings the
    caller already computed (default: ``detect_fatigue`` per ad and per creative message, as of the
    current window's end); their trend tests decide the CTR candidates of those ads / messages.
    """
    cfg = settings.diagnose
    for m in metrics:
        get_kpi(m)  # unknown names fail with the list of valid ones
    dims = list(dimensions) if dimensions is not None else S.present_segment_dimensions(list(table.columns))
    for d in dims:
        if d not in table.columns:
            from fb_analyst.errors import UnknownNameError

            raise UnknownNameError("dimension", d, S.present_segment_dimensions(list(table.columns)))
    # Fatigue first: its engine aggregate and fits are freed before the cube exists, so the
    # memory they leave to the allocator is reused by the cube instead of adding to it.
    if fatigue is None:
        fatigue = _fatigue(table, dims, settings, windows)
    trends = {(f.by, f.key): f for f in fatigue}
    cube = build_cube(table, windows, dims)
    notes: list[str] = []
    idx_all = CubeIndex(cube)
    account = _account_kpis(idx_all, cube)

    sums = cube.window_sums()
    base_sums, cur_sums = sums.loc["baseline"], sums.loc["current"]
    have_all = all(m in cube.measures for m in S.MEASURES)
    roas_dec = decompose_change("roas", base_sums, cur_sums) if have_all else None
    if roas_dec is not None:
        roas_dec = roas_dec.model_copy(update={"volume_effect": volume_effect(base_sums, cur_sums)})
    cpa_dec = decompose_change("cpa", base_sums, cur_sums) if have_all else None

    outages, _ = detect_outages(cube, cfg)
    out_claims = CL.outage_claims(idx_all, outages)
    del idx_all  # the index over every row is done; the tests use the one without outage days
    out_days = sorted({o.date for o in outages})
    exclude = np.isin(cube.frame[S.DATE].to_numpy(), np.array(out_days, dtype=object)) if out_days else None
    if out_days:
        notes.append("tracking-outage days left out of the performance tests: "
                     + ", ".join(d.isoformat() for d in out_days))
    idx = CubeIndex(cube, exclude)

    mix_dims = [d for d in cube.dimensions if 2 <= cube.n_values(d) <= MAX_STRATA]
    mixes = [mr for kpi in metrics if kpi in cube.kpis for d in mix_dims
             if (mr := mix_vs_rate(cube, d, kpi, exclude)) is not None]

    drivers = sorted({d for m in metrics for d in DRIVERS.get(m, (m,))}, key=list(KPIS).index)
    cands, strata_of = run_candidate_tests(idx, drivers, cfg, trends=trends)

    # One mix claim per target KPI: its strongest mix dimension.
    mix_claims = []
    for kpi in metrics:
        own = [mr for mr in mixes if mr.kpi == kpi and mr.mix_effect is not None]
        if own:
            best = max(own, key=lambda mr: abs(mr.mix_effect or 0.0))
            if (c := CL.mix_claim(idx, best, cfg.alpha)) is not None:
                mix_claims.append(c)

    # Benjamini-Hochberg over every test of the run.
    p_all = [c.p_value for c in cands] + [c.p_value for c in mix_claims + out_claims]
    n_claims = len(mix_claims) + len(out_claims)
    weights = bh_weights(cands, n_claims) + [1.0] * n_claims
    q_all = bh_qvalues(p_all, weights)
    for c, q in zip(cands, q_all):
        c.q_value = q
    for c, q in zip(mix_claims + out_claims, q_all[len(cands):]):
        c.q_value = q
    # Weighted BH rejects p_i <= w_i * T (weights normalised to mean 1); the evaluator re-tests
    # candidates against that same per-test cut-off.
    wbar = float(np.mean([w for w, p in zip(weights, p_all) if p is not None])) if any(
        p is not None for p in p_all) else 1.0
    scaled = [(p / (w / wbar)) for p, w, q in zip(p_all, weights, q_all) if p is not None and q is not None
              and q <= cfg.fdr_q]
    threshold = max(scaled) if scaled else -1.0
    evaluate(idx, cands, [threshold * w / wbar for w in weights[: len(cands)]], cfg)

    # Confidence: empirical-Bayes prior whose non-null odds follow the same BH weights.
    for c, w in zip(cands + mix_claims + out_claims, weights):
        c.bh_weight = w / wbar
    prior = _fit_prior(cands)

    fat_map = {(f.by, f.key): f for f in fatigue if f.fatigued}

    hyps = _assemble(idx, cands, mix_claims, out_claims, prior, cfg, cube.currency, fat_map, out_days)
    verdict, summary = _verdict(hyps, account, metrics, cfg.fdr_q)
    return Diagnosis(
        windows=windows, currency=cube.currency, dimensions=list(cube.dimensions), metrics=list(metrics),
        account_kpis=account, roas_decomposition=roas_dec, cpa_decomposition=cpa_dec, mix_vs_rate=mixes,
        outages=outages, fatigue=fatigue, hypotheses=hyps, verdict=verdict, summary=summary,
        settings={**cfg.model_dump(), **{f"strata_{k}": " x ".join(v) if v else "none" for k, v in strata_of.items()}},
        notes=notes + list(cube.frame.attrs.get("notes", [])),
    )


def _fatigue(table: ibis.Table, dims: list[str], settings: Settings, windows: Windows) -> list[FatigueFinding]:
    """``detect_fatigue`` per ad and per creative message (those among ``dims``), as of the end of
    the current window; none without clicks and impressions."""
    from fb_analyst.diagnose.fatigue import detect_fatigue

    if S.CLICKS not in table.columns or S.IMPRESSIONS not in table.columns:
        return []
    return [f for by in (S.AD, S.CREATIVE_MESSAGE) if by in dims
            for f in detect_fatigue(table, by, settings, as_of=windows.current.end)]


def _fit_prior(cands) -> WeightedPrior:
    """The run's prior (``weighted_eb``), fitted to every candidate not explained by another (its
    own estimate, normal-equivalent se from its decision p-value) at its BH weight."""
    eb = [(e, s, c.bh_weight) for c in cands if c.explained_by is None
          for e, s in [eb_input(c)] if e is not None and s is not None]
    return fit_weighted_prior(*(np.array([r[j] for r in eb]) for j in range(3)))


def _claim_status(c: CL.Claim, cfg) -> tuple[str, str]:
    if c.p_value is None or c.q_value is None or c.log_ratio is None:
        return "inconclusive", "not testable"
    delta = math.expm1(c.log_ratio)
    if c.q_value <= cfg.fdr_q and abs(delta) >= cfg.min_effect:
        return "supported", f"significant after FDR (q={c.q_value:.3g}), size {delta:+.1%}"
    if abs(delta) < cfg.min_effect:
        return "rejected", f"moves the account by {delta:+.1%}, below the {cfg.min_effect:.0%} minimum"
    return "inconclusive", f"not significant after FDR (q={c.q_value:.3g})"


def _assemble(idx, cands, mix_claims, out_claims, prior, cfg, currency, fat_map, out_days) -> list[Hypothesis]:
    """Build the records (temporary ids), rank them, keep ``max_hypotheses`` (never dropping a
    supported one), then number them H1, H2, ... in rank order and write the references.

    A candidate explained by another is built after it, since its status follows the explaining
    hypothesis's final one (``hypotheses.explained_status``), and ranks with the rejected whatever
    its status: its change is attributed to the other hypothesis's rows, so it must not crowd an
    unexplained candidate out of the list. Its reason names the explaining hypothesis, so it is
    written again (``hypotheses.explanation``) once the final ids are known."""
    keep = set()
    for i, c in enumerate(cands):
        if c.chosen or c.explained_by is not None or not c.segment or (c.p_value is not None and c.p_value < 0.2):
            keep.add(i)
            if c.explained_by is not None:
                keep.add(c.explained_by)
    temp = {i: f"T{i}" for i in keep}
    built: dict[int, Hypothesis] = {}

    def build(i: int, chain: tuple[int, ...] = ()) -> Hypothesis:
        if i not in built:
            j = cands[i].explained_by
            if j in chain + (i,):
                raise ValueError(f"_assemble: candidates {chain + (i,)} explain one another in a cycle; "
                                 "evaluate() must leave every explanation chain ending at an unexplained candidate")
            ref = None if j is None else build(j, chain + (i,)).status
            built[i] = rate_hypothesis(idx, cands[i], cands, cfg, prior, out_days, currency, fat_map, temp, i, ref)
        return built[i]

    records: list[Hypothesis] = [build(i) for i in sorted(keep)]
    for j, c in enumerate(mix_claims + out_claims):
        st, reason = _claim_status(c, cfg)
        st, reason, conf = gated_status(st, reason, prior, cfg, est=c.log_ratio, se=c.se, weight=c.bh_weight,
                                        direction=c.direction, q=c.q_value)
        actions = OUTAGE_ACTIONS if c.kind == "measurement" else MIX_ACTIONS
        records.append(Hypothesis(
            id=f"C{j}", kind=c.kind, title=c.title, metric=c.metric, direction=c.direction,
            segment=c.segment, baseline=c.baseline, current=c.current,
            delta_pct=None if c.log_ratio is None else math.expm1(c.log_ratio),
            rate_change_pct=None if c.log_ratio is None else math.expm1(c.log_ratio), ci=c.ci,
            p_value=c.p_value, q_value=c.q_value, confidence=conf,
            impact=Impact(currency=currency, revenue_at_stake=c.revenue_at_stake, spend_share=c.spend_share),
            status=st, reason=reason, evidence=c.evidence, actions=[a.format(**c.actions_fmt) for a in actions],
        ))
    records.sort(key=lambda h: (_STATUS_RANK["rejected" if h.explained_by is not None else h.status],
                                -abs(h.impact.revenue_at_stake or 0.0), h.id))
    n_sup = sum(1 for h in records if h.status == "supported")
    records = records[: max(cfg.max_hypotheses, n_sup)]
    final = {h.id: f"H{n}" for n, h in enumerate(records, start=1)}
    cand_of = {t: i for i, t in temp.items()}
    out = []
    for h in records:
        upd = {"id": final[h.id]}
        if h.explained_by is not None:
            c = cands[cand_of[h.id]]
            ref = final.get(h.explained_by)  # None: the explaining hypothesis was cut from the list
            upd["explained_by"] = ref
            upd["reason"] = explanation(c, cands, ref, built[c.explained_by].status)[1]
        out.append(h.model_copy(update=upd))
    return out


def _verdict(hyps: list[Hypothesis], account: list[KpiChange], metrics: Sequence[str],
             fdr_q: float) -> tuple[str, str]:
    """(verdict, summary). Without a supported hypothesis the summary still names the strongest
    candidate that passed the FDR test but was not supported (e.g. the confidence gate), and why."""
    moves = []
    for kc in account:
        if kc.kpi in metrics and kc.delta_pct is not None:
            moves.append(f"{get_kpi(kc.kpi).label} {format_kpi(kc.kpi, kc.baseline)} -> "
                         f"{format_kpi(kc.kpi, kc.current)} ({kc.delta_pct:+.1%})")
    moved = "; ".join(moves)
    sup = [h for h in hyps if h.status == "supported"]
    if not sup:
        weak = next((h for h in hyps if h.status == "inconclusive" and h.explained_by is None
                     and h.q_value is not None and h.q_value <= fdr_q), None)
        if weak is None:
            return "no significant change", f"No significant change: {moved}; no tested segment moved beyond noise."
        return "no significant change", (f"No significant change: {moved}; the strongest signal, {weak.id} "
                                         f"({weak.title}), is not supported: {weak.reason}.")
    top = sup[0]
    verdict = f"{len(sup)} supported hypothesis" + ("es" if len(sup) > 1 else "")
    return verdict, f"{moved}. Main finding ({top.id}, confidence {top.confidence:.0%}): {top.title}."
