"""Diagnosis: the ROAS decomposition waterfall, mix vs rate, ranked hypotheses with their evidence,
and a drill-down of any segment dimension."""

from __future__ import annotations

import streamlit as st

from fb_analyst.dashboard import charts
from fb_analyst.dashboard.frames import (
    decomposition_frame,
    evidence_frame,
    hypotheses_frame,
    mix_frame,
    segment_frame,
)
from fb_analyst.dashboard.views import Page, fmt_selection, stage_notice, table
from fb_analyst.kpis import KPIS, RATIO_KPIS
from fb_analyst.report.escape import md_escape

_PCT = st.column_config.NumberColumn(format="percent")
_NUM = st.column_config.NumberColumn(format="%.4g")
_MONEY = st.column_config.NumberColumn(format="compact")


def render(page: Page) -> None:
    a = page.analysis
    st.subheader("Diagnosis")
    st.caption(fmt_selection(page))
    if stage_notice(a, "diagnose") or a.diagnosis is None:
        return
    d = a.diagnosis
    st.markdown(f"**{md_escape(d.verdict)}** — {md_escape(d.summary)}")
    for note in d.notes:
        st.caption(md_escape(note))

    left, right = st.columns(2)
    with left:
        st.markdown("#### ROAS decomposition")
        dec = d.roas_decomposition
        if dec is None or dec.undefined_reason or dec.total_log_points is None:
            st.info(f"ROAS decomposition undefined: {dec.undefined_reason if dec else 'not computed'}")
        else:
            st.plotly_chart(charts.waterfall_figure(dec), key="waterfall_chart")
            table(decomposition_frame(dec), key="decomposition_table",
                         column_config={"log points": _NUM, "revenue effect": _MONEY})
            st.caption(dec.currency_meaning)
    with right:
        st.markdown("#### Mix vs rate")
        mixes = d.mix_vs_rate
        if not mixes:
            st.info("No dimension with at least two segments to split into mix and rate.")
        else:
            labels = [f"{m.kpi.upper()} over {m.dimension}" for m in mixes]
            i = st.selectbox("Dimension", range(len(mixes)), format_func=labels.__getitem__, key="mix_dimension")
            mix = mixes[i]
            st.caption(f"{md_escape(mix.verdict)} (weights: {mix.weight})")
            st.plotly_chart(charts.mix_figure(mix), key="mix_chart")
            with st.expander("Mix vs rate table"):
                st.dataframe(mix_frame(mix), hide_index=True, column_config={
                    "mix effect (% of baseline)": _PCT, "rate effect (% of baseline)": _PCT})

    st.markdown("#### Hypotheses, ranked")
    hyps = hypotheses_frame(d)
    if hyps.empty:
        st.info("No hypothesis passed the minimum volume: nothing to test in this selection.")
    else:
        statuses = st.multiselect("Status", ["supported", "inconclusive", "rejected"],
                                  default=["supported", "inconclusive", "rejected"], key="hyp_status")
        shown = hyps[hyps["status"].isin(statuses)]
        table(shown, key="hypotheses_table", column_config={
            "change": _PCT, "like_for_like_change": _PCT, "ci_low": _PCT, "ci_high": _PCT, "confidence": _PCT,
            "spend_share": _PCT,
            "q_value": _NUM, "baseline": _NUM, "current": _NUM, "revenue_at_stake": _MONEY,
        })
        st.caption("change: current / baseline − 1 (ratio of sums); like_for_like_change: the tested rate change, "
                   "mix held fixed; ci: its interval; "
                   "q: Benjamini–Hochberg adjusted p-value; confidence: P(real change in this direction "
                   "larger than the minimum effect).")
        _evidence(d)
    if d.outages:
        with st.expander(f"Tracking outages ({len(d.outages)})"):
            st.dataframe([o.model_dump(mode="json") for o in d.outages], hide_index=True)
    _drilldown(page)


def _evidence(d) -> None:  # noqa: ANN001 - Diagnosis
    ids = [h.id for h in d.hypotheses]
    chosen = st.selectbox("Evidence for", ids, key="hyp_evidence",
                          format_func=lambda i: f"{i}: {next(h.title for h in d.hypotheses if h.id == i)}")
    h = next(h for h in d.hypotheses if h.id == chosen)
    st.markdown(f"**{md_escape(h.title)}** — {h.status}: {md_escape(h.reason)}")
    if h.mix_adjusted_by:
        st.caption(f"Tested with the mix of {', '.join(h.mix_adjusted_by)} held fixed.")
    if h.explained_by:
        st.caption(f"Explained by {h.explained_by}.")
    table(evidence_frame(h), key="evidence_table")
    if h.actions:
        st.markdown("**Actions**\n" + "\n".join(f"- {md_escape(x)}" for x in h.actions))


def _drilldown(page: Page) -> None:
    seg = page.analysis.segments
    st.markdown("#### Drill-down by segment")
    if seg is None or not seg.dimensions:
        st.info("No segment dimension in this data.")
        return
    c1, c2 = st.columns(2)
    dim = c1.selectbox("Dimension", list(seg.dimensions), key="drill_dimension")
    ratio_names = [k.name for k in RATIO_KPIS]
    kpi = c2.selectbox("KPI", ratio_names + [k for k in KPIS if k not in ratio_names],
                       index=ratio_names.index("roas"), key="drill_kpi", format_func=lambda k: KPIS[k].label)
    frame = segment_frame(seg, dim, kpi)
    if frame.empty:
        st.info(f"No {dim} segment in this selection.")
        return
    st.plotly_chart(charts.segment_change_figure(frame.head(25), dim, kpi), key="drill_chart")
    pct = {c: _PCT for c in frame.columns if "share" in c or c.endswith("change")}
    table(frame, key="drill_table", column_config=pct)
