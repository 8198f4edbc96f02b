"""Creatives: the theme map, theme performance with intervals, fatigue curves, and recommended copy
with predicted CTR and an A/B test plan for the low-CTR campaigns."""

from __future__ import annotations

import streamlit as st

from fb_analyst.dashboard import charts
from fb_analyst.dashboard.data import fatigue_curves, theme_map_points
from fb_analyst.dashboard.frames import fatigue_frame, suggestions_frame, theme_frame
from fb_analyst.dashboard.views import Page, fmt_selection, stage_notice, table
from fb_analyst.report.escape import md_escape

_PCT = st.column_config.NumberColumn(format="percent")


def render(page: Page) -> None:
    st.subheader("Creatives")
    st.caption(fmt_selection(page))
    a = page.require("creative")
    if stage_notice(a, "creative") or a.creative is None:
        return
    clusters, findings = a.creative.clusters, a.creative.creatives
    emb = clusters.embedder
    st.caption(f"{len(clusters.themes)} themes from {emb.n_messages} distinct messages · embedder {emb.name}"
               + (f" (fallback: {emb.fallback_reason})" if emb.fallback_reason else "")
               + f" · k: {md_escape(clusters.k_selection.rule)}")
    for note in clusters.notes + findings.notes:
        st.caption(md_escape(note))
    if not clusters.themes:
        st.info("No themes: too few messages to cluster.")
        return

    left, right = st.columns(2)
    with left:
        st.markdown("#### Theme map")
        points = page.extra("theme_map", lambda: theme_map_points(clusters, page.settings))
        st.plotly_chart(charts.theme_map_figure(points), key="theme_map_chart")
        st.caption("Each dot is a message; the themes were clustered on slot-masked, angle-guided embeddings, "
                   "so colours may overlap a little in this plain projection.")
    with right:
        st.markdown("#### Theme performance")
        metric = st.radio("KPI", ["ctr", "cvr", "roas"], horizontal=True, key="theme_metric",
                          format_func=str.upper)
        st.plotly_chart(charts.theme_performance_figure(clusters, metric), key="theme_perf_chart")
        st.caption(f"{md_escape(clusters.performance_method)} Verdicts on {clusters.themes[0].verdict_metric.upper()} "
                   f"adjusted for {', '.join(clusters.controls) or 'nothing'}, FDR q ≤ {clusters.fdr_q}.")
    table(theme_frame(clusters), key="themes_table", column_config={
        "CTR": _PCT, "CVR": _PCT, "spend": st.column_config.NumberColumn(format="compact"),
        "impressions": st.column_config.NumberColumn(format="compact")})

    _fatigue(page, findings, clusters)
    _recommendations(findings)


def _fatigue(page: Page, findings, clusters) -> None:  # noqa: ANN001 - stage records
    st.markdown("#### Fatigue")
    fat = findings.fatigue
    if not fat.available:
        st.info(f"Fatigue not assessed: {fat.reason}")
        return
    found = fatigue_frame(fat)
    if found.empty:
        st.info("No message or theme ran long enough to assess fatigue.")
        return
    n = int(found["fatigued"].sum()) if "fatigued" in found else 0
    st.caption(f"{n} fatigued {'finding' if n == 1 else 'findings'} (source: {fat.source}).")
    curves, key = page.extra("fatigue_curves", lambda: fatigue_curves(page.analysis.table, found, clusters))
    if not curves.empty:
        st.plotly_chart(charts.fatigue_figure(curves, key), key="fatigue_chart")
    table(found, key="fatigue_table", column_config={
        "ctr_start": _PCT, "ctr_recent": _PCT, "decay_pct_per_week": _PCT})


def _recommendations(findings) -> None:  # noqa: ANN001 - CreativeFindings
    st.markdown("#### Recommendations for low-CTR campaigns")
    st.caption(md_escape(findings.low_ctr_selection))
    model = findings.ctr_model
    if model is not None:
        (st.success if model.has_predictive_power else st.warning)(f"CTR model: {model.statement}")
    if not findings.recommendations:
        st.info("No campaign selected for new copy.")
        return
    for n, rec in enumerate(findings.recommendations):
        ctr = f"{rec.current_ctr:.2%}" if rec.current_ctr is not None else "n/a"
        with st.expander(f"{md_escape(rec.campaign)} — current CTR {ctr} (selected by {rec.selected_by})"):
            if rec.hypothesis_ids:
                st.caption(f"Tied to hypotheses {', '.join(rec.hypothesis_ids)}")
            table(suggestions_frame(rec), key=f"suggestions_{n}", column_config={
                "predicted CTR": _PCT, "CTR low": _PCT, "CTR high": _PCT, "current CTR": _PCT,
                "expected lift": _PCT})
            for s in rec.suggestions:
                st.markdown(f"- **{md_escape(s.text)}** — {md_escape(s.rationale)} Test plan: "
                            f"{s.ab_test.impressions_per_arm:,} impressions per arm to detect "
                            f"{s.ab_test.expected_lift:+.0%} ({md_escape(s.ab_test.lift_source)}).")
