"""The creative stage: ``analyze_creatives(table, windows, diagnosis, settings) -> CreativeResult``.

Steps (each a pure function of the previous results):
1. aggregate the table to date x message x context cells in the engine (``frames``);
2. embed the distinct messages once through the embedder seam (``embed``);
3. cluster them into themes, k chosen from the data, labels by c-TF-IDF (``themes``);
4. theme KPIs with day-level intervals and context-adjusted winner/loser verdicts (``performance``);
5. fatigue per message (the diagnosis' findings) and per theme (the diagnosis' detector run on
   theme-level series) -- never a second fatigue method (``fatigue``);
6. a CTR model for copy, validated by grouped CV (``model``);
7. recommendations for low-CTR campaigns with predicted CTR and an A/B plan (``recommend``).
"""

from __future__ import annotations

from typing import Any

import ibis
import numpy as np
import pandas as pd

from fb_analyst import schema as S
from fb_analyst.creative import recommend as R
from fb_analyst.creative.embed import Embedder, get_embedder
from fb_analyst.creative.fatigue import fatigue_report
from fb_analyst.creative.frames import context_columns, message_cells, present_context
from fb_analyst.creative.model import CtrModel, evaluate_ctr_model
from fb_analyst.creative.performance import theme_effects, theme_kpis
from fb_analyst.creative.result import (
    CampaignRecommendations,
    CreativeFindings,
    CreativeResult,
    CtrModelReport,
    EmbedderInfo,
    FatigueReport,
    Interval,
    KSelection,
    Suggestion,
    Theme,
    ThemeClusters,
)
from fb_analyst.creative.space import angle_lines
from fb_analyst.creative.themes import ThemeModel, cluster_messages, normalise_text
from fb_analyst.errors import StageError
from fb_analyst.logs import get_logger

log = get_logger(__name__)


def _empty_result(reason: str, embedder_name: str) -> CreativeResult:
    clusters = ThemeClusters(
        embedder=EmbedderInfo(name=embedder_name, dimensions=0, n_messages=0),
        k_selection=KSelection(method="none", chosen_k=0, rule=reason, scores=[]),
        period={"start": None, "end": None}, performance_method="not run", controls=[],
        fdr_q=0.0, min_effect=0.0, themes=[], notes=[reason],
    )
    creatives = CreativeFindings(
        fatigue=FatigueReport(source="not run", available=False, reason=reason), ctr_model=None,
        low_ctr_selection="not run", recommendations=[], notes=[reason],
    )
    return CreativeResult(clusters=clusters, creatives=creatives)


def build_themes(
    cells: pd.DataFrame, tm: ThemeModel, settings: Any, embedder: Any, dims: int
) -> ThemeClusters:
    """Theme records: labels, members, KPIs with intervals, adjusted effects and verdicts."""
    dcfg, ccfg = settings.diagnose, settings.creative
    theme_idx = dict(zip(tm.messages, tm.labels.tolist(), strict=True))
    cells = cells.assign(_theme=cells[S.CREATIVE_MESSAGE].map(theme_idx).astype(int))
    controls = context_columns(cells) + ([S.DATE] if ccfg.control_for_date else [])
    level = 1 - dcfg.alpha
    kpis = theme_kpis(cells, "_theme", tm.k, level)
    # The comparison does not need the campaign split: sum it away (fewer GLM rows, same sums).
    keys = [S.DATE, S.CREATIVE_MESSAGE, "_theme", *context_columns(cells)]
    glm_cells = cells.groupby(keys, as_index=False)[[c for c in cells.columns if c.endswith(("_num", "_den"))]].sum()
    notes: list[str] = []
    if tm.k >= 2:
        effects, notes = theme_effects(
            glm_cells, "_theme", controls, tm.k, alpha=dcfg.alpha, fdr_q=dcfg.fdr_q,
            min_effect=dcfg.min_effect, min_impressions=dcfg.min_impressions,
        )
    else:
        effects = {}
        notes.append("one theme only: nothing to compare, every verdict is neutral")
    metric = ccfg.verdict_metric
    themes = []
    for j, tid in enumerate(tm.theme_ids()):
        members = tm.members(j)
        in_theme = cells[cells["_theme"] == j]
        eff = {kpi: lst[j] for kpi, lst in effects.items()}
        main = eff.get(metric)
        themes.append(Theme(
            id=tid, label=tm.names[j], keywords=tm.keywords[j], representative_message=tm.representatives[j],
            members=members, n_messages=len(members),
            impressions=float(in_theme["impressions"].sum()) if "impressions" in in_theme else 0.0,
            spend=float(in_theme["spend"].sum()) if "spend" in in_theme else None,
            kpis=kpis[j], effects=eff, verdict=main.verdict if main else "neutral", verdict_metric=metric,
            p_value=main.p_value if main else None, q_value=main.q_value if main else None,
        ))
    dates = cells[S.DATE]
    return ThemeClusters(
        embedder=EmbedderInfo(name=embedder.name, fallback_reason=getattr(embedder, "fallback_reason", None),
                              dimensions=dims, n_messages=len(tm.messages)),
        k_selection=tm.selection,
        period={"start": str(dates.min()) if len(dates) else None, "end": str(dates.max()) if len(dates) else None},
        performance_method=(
            "ratio of sums per theme with day-level t intervals; adjusted effects in two stages: a quasi-Poisson "
            "GLM (log link, offset log denominator) with one effect per message and fixed effects for "
            + ", ".join(controls) + ", then a random-effects (DerSimonian-Laird) comparison of the message "
            "effects by theme; effect = theme rate relative to the average theme; t tests with df = messages - "
            "themes; BH-FDR across the themes of each KPI"
        ),
        controls=controls, fdr_q=dcfg.fdr_q, min_effect=dcfg.min_effect, themes=themes,
        notes=notes + tm.notes,
    )


def _ctr_cells(cells: pd.DataFrame, context: list[str]) -> pd.DataFrame:
    g = cells.groupby([S.CREATIVE_MESSAGE, *context], as_index=False)[["ctr_num", "ctr_den"]].sum()
    return g.rename(columns={"ctr_num": "clicks", "ctr_den": "impressions"})


def _is_ctr_down(h: Any) -> bool:
    return str(h.metric).lower() == "ctr" and str(h.direction) == "down"


def select_low_ctr(
    diagnosis: Any, campaign_ctr: pd.Series, quantile: float, messages_by_campaign: dict[str, list[str]]
) -> tuple[dict[str, list[str]], str, str]:
    """Low-CTR campaigns with the ids of the hypotheses about them; (campaigns, source, rule).

    A hypothesis is about campaign c when it is a CTR-down hypothesis whose segment is the whole
    account, names c, or names one of c's messages.
    """
    hyps = list(getattr(diagnosis, "hypotheses", None) or [])

    def about(h: Any, c: str) -> bool:
        seg = h.segment or {}
        return _is_ctr_down(h) and (
            not seg or seg.get(S.CAMPAIGN) == c
            or (S.CAMPAIGN not in seg and seg.get(S.CREATIVE_MESSAGE) in set(messages_by_campaign.get(c, [])))
        )

    flagged = sorted({h.segment[S.CAMPAIGN] for h in hyps if _is_ctr_down(h) and h.status == "supported"
                      and (h.segment or {}).get(S.CAMPAIGN) in campaign_ctr.index})
    if flagged:
        rule = "campaigns with a supported CTR-down hypothesis in the diagnosis"
        return {c: [h.id for h in hyps if about(h, c)] for c in flagged}, "diagnosis", rule
    ctr = campaign_ctr.dropna()
    if ctr.empty:
        return {}, "quantile", "no campaign has a defined current-window CTR"
    cut = float(ctr.quantile(quantile))
    chosen = sorted(ctr[ctr <= cut].index)
    source = ("the diagnosis has no supported CTR-down campaign hypothesis" if diagnosis is not None
              else "no diagnosis given")
    rule = (f"{source}; campaigns whose current-window CTR is at or below the {quantile:.0%} quantile "
            f"of campaign CTRs ({cut:.3%}, setting creative.low_ctr_quantile)")
    return {c: [h.id for h in hyps if about(h, c)] for c in chosen}, "quantile", rule


def _theme_order(clusters: ThemeClusters, metric: str = "ctr") -> tuple[list[int], dict[int, str]]:
    """Themes to borrow from: significant winners, else the top half by adjusted CTR (said why)."""
    def rr(t: Theme) -> float:
        e = t.effects.get(metric)
        return e.rate_ratio if e is not None and e.rate_ratio is not None else float("nan")

    idx = list(range(len(clusters.themes)))
    winners = [i for i in idx if clusters.themes[i].effects.get(metric) is not None
               and clusters.themes[i].effects[metric].verdict == "winner"]
    why: dict[int, str] = {}
    for i in winners:
        e = clusters.themes[i].effects[metric]
        why[i] = f"a significant CTR winner ({e.rate_ratio:.2f}x the average theme at equal context, q={e.q_value:.3g})"
    if winners:
        return sorted(winners, key=lambda i: -rr(clusters.themes[i])), why
    ranked = sorted((i for i in idx if np.isfinite(rr(clusters.themes[i]))), key=lambda i: -rr(clusters.themes[i]))
    top = [i for i in ranked if rr(clusters.themes[i]) > 1.0][: max(1, len(ranked) // 2)] or ranked[:1] or idx[:1]
    for i in top:
        v = rr(clusters.themes[i])
        why[i] = ("no theme is a significant winner; this is among the best by adjusted CTR "
                  + (f"({v:.2f}x the average theme, not significant)" if np.isfinite(v) else "(effect undefined)"))
    return top, why


def build_recommendations(
    table_cells: pd.DataFrame, current: pd.DataFrame, clusters: ThemeClusters, model: CtrModel | None,
    report: CtrModelReport | None, diagnosis: Any, settings: Any, embed: Any, slot_words: set[str],
) -> tuple[list[CampaignRecommendations], str]:
    """Suggestions for every low-CTR campaign (see ``recommend`` for the method)."""
    ccfg, dcfg = settings.creative, settings.diagnose
    camp = current.groupby(S.CAMPAIGN)[["ctr_num", "ctr_den"]].sum()
    campaign_ctr = (camp["ctr_num"] / camp["ctr_den"]).where(camp["ctr_den"] > 0)
    msgs_by_campaign = {c: sorted(g[S.CREATIVE_MESSAGE].unique()) for c, g in table_cells.groupby(S.CAMPAIGN)}
    selected, source, rule = select_low_ctr(diagnosis, campaign_ctr, ccfg.low_ctr_quantile, msgs_by_campaign)
    if not selected:
        return [], rule
    existing = {normalise_text(m) for m in table_cells[S.CREATIVE_MESSAGE].unique()}
    vocab = R.campaign_vocabulary(msgs_by_campaign)
    order, why = _theme_order(clusters)
    theme_members = {i: clusters.themes[i].members for i in order}
    hooks = R.candidate_hooks(theme_members, order, ccfg.hooks_per_theme)
    plans: list[tuple[str, list[str], list[tuple[R.Hook, str, str]]]] = []
    for c in sorted(selected):
        foreign = R.foreign_words(c, vocab) | (slot_words - set(vocab.get(c, {})))
        closings = R.rank_closings(msgs_by_campaign.get(c, []), vocab.get(c, {}), limit=6)
        cands, seen = [], set()
        for h in hooks:
            if R.content_words(h.text) & foreign:
                continue
            for cl in closings:
                if normalise_text(cl) in normalise_text(h.text) or normalise_text(h.text) in normalise_text(cl):
                    continue
                text = R.compose(h.text, cl)
                key = normalise_text(text)
                if len(text) <= ccfg.max_primary_text_chars and key not in existing and key not in seen:
                    seen.add(key)
                    cands.append((h, cl, text))
        plans.append((c, selected[c], cands))
    all_texts = sorted({t for _, _, cands in plans for _, _, t in cands})
    emb = dict(zip(all_texts, embed(all_texts), strict=True)) if all_texts else {}
    level = 1 - dcfg.alpha
    context = context_columns(current)
    out = []
    used_texts: set[str] = set()
    for c, hyp_ids, cands in plans:
        rows = current[current[S.CAMPAIGN] == c].groupby(context, as_index=False)["ctr_den"].sum()
        rows = rows.rename(columns={"ctr_den": "impressions"})
        base = float(campaign_ctr.get(c, np.nan))
        preds_of: list[Interval | None] = [None] * len(cands)
        if model is not None and len(rows) and cands:
            preds_of = model.predict_ctr_many(rows, np.stack([emb[text] for _, _, text in cands]), level)
        scored = []
        for (h, cl, text), pred in zip(cands, preds_of, strict=True):
            scored.append(((pred.value if pred and pred.value is not None else 0.0), text, h, cl, pred))
        # Prefer texts not already suggested to another campaign (when there are enough others).
        fresh = [s[:4] for s in scored if s[1] not in used_texts]
        pool = fresh if len(fresh) >= ccfg.suggestions_per_campaign else [s[:4] for s in scored]
        best = R.pick_diverse(pool, ccfg.suggestions_per_campaign)
        used_texts.update(b[1] for b in best)
        preds = {s[1]: s[4] for s in scored}
        suggestions = []
        for value, text, h, cl in best:
            t = clusters.themes[h.theme]
            pred = preds[text]
            eff = t.effects.get("ctr")
            if report is not None and report.has_predictive_power and pred is not None and pred.value and base > 0 and pred.value > base:
                lift, lift_src = pred.value / base - 1, "CTR model prediction vs the campaign's current CTR"
            elif eff is not None and eff.verdict == "winner" and eff.rate_ratio and eff.rate_ratio - 1 >= dcfg.min_effect:
                lift, lift_src = eff.rate_ratio - 1, f"theme {t.id}'s context-adjusted CTR effect"
            else:
                lift, lift_src = dcfg.min_effect, "the minimum practical effect (diagnose.min_effect)"
            ab = R.ab_plan(base, lift, lift_src, dcfg.alpha, ccfg.ab_power) if 0 < base < 1 else None
            if ab is None:
                continue
            hyp_txt = f" Addresses {', '.join(hyp_ids)}." if hyp_ids else ""
            rationale = (f"Opens with '{h.text}' from theme {t.id} ({t.label}), {why.get(h.theme, '')}; "
                         f"closes with the campaign's own wording '{cl}'.{hyp_txt}")
            suggestions.append(Suggestion(
                text=text, theme=t.id, theme_label=t.label, rationale=rationale, hypothesis_ids=list(hyp_ids),
                predicted_ctr=pred or Interval(value=None, undefined_reason="no CTR model"), ab_test=ab,
            ))
        out.append(CampaignRecommendations(
            campaign=c, current_ctr=None if not np.isfinite(base) else base, selected_by=source,
            hypothesis_ids=list(hyp_ids), suggestions=suggestions,
        ))
    return out, rule


def prefetch_embeddings(embedder: Embedder, messages: list[str], settings: Any) -> None:
    """Embed, into ``embedder``'s cache, what :func:`analyze_creatives` embeds before it needs
    any diagnosis result: the distinct ``messages`` (its first call, same list, so the same
    batches and vectors) and the copy-angle example lines. ``fb-analyst run`` calls it in the
    background while the diagnosis runs (:mod:`fb_analyst.pipeline.overlap`)."""
    embedder.embed(messages)
    if settings.creative.guide_with_angles:
        embedder.embed(angle_lines())


def analyze_creatives(
    table: ibis.Table, windows: Any, diagnosis: Any | None, settings: Any, *, embedder: Embedder | None = None
) -> CreativeResult:
    """Themes, fatigue, CTR model and recommendations for ``table`` (see module docstring)."""
    ccfg = settings.creative
    embedder = embedder if embedder is not None else get_embedder(settings)
    if S.CREATIVE_MESSAGE not in table.columns:
        return _empty_result("the input has no creative_message column: no creative analysis", embedder.name)
    extra = (S.CAMPAIGN,) if S.CAMPAIGN in table.columns else ()
    cells = message_cells(table, extra=extra)
    if cells.empty:
        return _empty_result("no rows with a creative message", embedder.name)
    messages = sorted(cells[S.CREATIVE_MESSAGE].unique())
    try:
        vectors = np.asarray(embedder.embed(messages), dtype=np.float64)
        tm = cluster_messages(messages, embedder, settings)
    except (RuntimeError, OSError) as exc:
        raise StageError("creative", f"embedding/clustering {len(messages)} messages failed: {exc}") from exc
    clusters = build_themes(cells, tm, settings, embedder, int(vectors.shape[1]))
    as_of = getattr(getattr(windows, "current", None), "end", None)
    fatigue = fatigue_report(table, clusters.theme_of(), diagnosis, settings, as_of)
    context = present_context(table)
    emb_of = dict(zip(tm.messages, vectors, strict=True))
    model: CtrModel | None
    report: CtrModelReport | None
    notes: list[str] = []
    ctr_cells = _ctr_cells(cells, context)
    if ctr_cells[S.CREATIVE_MESSAGE].nunique() >= 3:
        model, report = evaluate_ctr_model(
            ctr_cells, emb_of, context, folds=ccfg.cv_folds, alpha=settings.diagnose.alpha,
            seed=settings.seed, embedder_name=embedder.name,
        )
    else:
        model, report = None, None
        notes.append("fewer than 3 messages with CTR data: no CTR model")
    recs: list[CampaignRecommendations] = []
    rule = "the input has no campaign column: no per-campaign recommendations"
    if extra:
        start = getattr(getattr(windows, "current", None), "start", None)
        current = cells if start is None else cells[(cells[S.DATE] >= start) & (cells[S.DATE] <= as_of)]
        recs, rule = build_recommendations(cells, current, clusters, model, report, diagnosis, settings,
                                           embedder.embed, set(tm.slot_words))
    log.info("creative.done", themes=len(clusters.themes), campaigns=len(recs))
    creatives = CreativeFindings(fatigue=fatigue, ctr_model=report, low_ctr_selection=rule,
                                 recommendations=recs, notes=notes)
    return CreativeResult(clusters=clusters, creatives=creatives)
