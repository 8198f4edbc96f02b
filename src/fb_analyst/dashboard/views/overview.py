"""Overview: the headline, KPI tiles (current window vs baseline) and daily trends."""

from __future__ import annotations

import streamlit as st

from fb_analyst.dashboard import charts
from fb_analyst.dashboard.frames import kpi_tiles
from fb_analyst.dashboard.views import Page, fmt_selection
from fb_analyst.kpis import KPIS
from fb_analyst.report.escape import md_escape

_TREND_DEFAULT = ["roas", "spend", "ctr"]


def render(page: Page) -> None:
    a = page.analysis
    st.subheader("Overview")
    st.markdown(f"**{md_escape(a.headline.text)}**")
    st.caption(fmt_selection(page))
    w = a.windows
    st.caption(f"Windows: {md_escape(w.rule)} (change them under *Comparison windows* in the sidebar).")
    for p in w.partial_days:
        st.warning(p.reason)

    tiles = kpi_tiles(a.account)
    daily = a.daily
    with st.container(key="kpi_tiles"):
        for start in range(0, len(tiles), 5):
            row = tiles[start:start + 5]
            for col, t in zip(st.columns(5), row, strict=False):
                spark = daily[t.name].dropna().tolist() if daily is not None and t.name in daily else None
                col.metric(t.label, t.value, t.delta, delta_color=t.delta_color, help=t.help, border=True,
                           chart_data=spark, chart_type="line")
    st.caption("Change: current window vs baseline, each KPI a ratio of sums over the rows where its inputs "
               "are known; hover a tile for the baseline value and coverage. Sparklines: every day of the selection.")

    st.markdown("#### Daily trends")
    chosen = st.multiselect("KPIs to plot", options=list(KPIS), default=_TREND_DEFAULT, key="trend_kpis",
                            format_func=lambda k: KPIS[k].label)
    if daily is None or daily.empty:
        st.info("No daily data in this selection.")
        return
    st.plotly_chart(charts.trend_figure(daily, w, chosen or _TREND_DEFAULT), key="trend_chart")
