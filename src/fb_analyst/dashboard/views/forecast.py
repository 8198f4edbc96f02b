"""Forecast & budget: fan charts with 80%/95% intervals, model evidence, and the budget allocation."""

from __future__ import annotations

import streamlit as st

from fb_analyst.dashboard import charts
from fb_analyst.dashboard.data import forecast_history
from fb_analyst.dashboard.frames import allocation_frame, series_frame, series_label
from fb_analyst.dashboard.views import Page, fmt_selection, stage_notice, table
from fb_analyst.pipeline.analysis import optimism_note
from fb_analyst.report.escape import md_escape

_PCT = st.column_config.NumberColumn(format="percent")
_MONEY = st.column_config.NumberColumn(format="%.2f")


def render(page: Page) -> None:
    st.subheader("Forecast & budget")
    st.caption(fmt_selection(page))
    a = page.require("forecast")
    if stage_notice(a, "forecast") or a.forecast is None:
        return
    f = a.forecast
    st.caption(f"Engine {f.engine} · horizon {f.horizon} days after {f.last_date} · "
               f"{md_escape(f.ratio_method)}")
    shown = [s for s in f.series if s.forecast]
    if not shown:
        st.info("No series could be forecast in this selection (see the table for the reasons).")
    else:
        labels = [series_label(s) for s in shown]
        default = next((i for i, s in enumerate(shown) if s.metric == "revenue" and s.key == {"level": "account"}), 0)
        i = st.selectbox("Series", range(len(shown)), index=default, format_func=labels.__getitem__,
                         key="forecast_series")
        series = shown[i]
        history = page.extra(f"history:{labels[i]}", lambda: forecast_history(a.table, a.daily, series))
        st.plotly_chart(charts.fan_figure(series, history, labels[i]), key="fan_chart")
        bt = series.backtest
        evidence = (f"backtest MASE {bt.mase:.2f}, 80% interval held {bt.coverage80:.0%}, 95% held {bt.coverage95:.0%}"
                    f" over {bt.origins} origins" if bt and bt.mase is not None and bt.coverage80 is not None
                    and bt.coverage95 is not None else "no backtest")
        st.caption(f"Model {series.model} ({series.method}); {evidence}. {md_escape(series.verdict)}")
        for note in series.notes:
            st.caption(md_escape(note))
    with st.expander(f"All {len(f.series)} series"):
        table(series_frame(f), key="series_table",
                     column_config={"coverage 80%": _PCT, "coverage 95%": _PCT})
    _budget(f.budget)


def _budget(budget) -> None:  # noqa: ANN001 - BudgetPlan
    st.markdown("#### Budget allocation")
    if budget is None or budget.status != "ok":
        st.info(f"No budget plan: {budget.reason if budget else 'not computed'}")
        return
    c = st.columns(3)
    c[0].metric("Daily budget", f"{budget.total:,.0f}", help=f"current run-rate {budget.current_total:,.0f}")
    if budget.expected_revenue_proposed and budget.expected_revenue_current:
        c[1].metric("Expected revenue/day", f"{budget.expected_revenue_proposed.mean:,.0f}",
                    f"{budget.expected_revenue_proposed.mean - budget.expected_revenue_current.mean:+,.0f}",
                    help=f"current allocation: {budget.expected_revenue_current.mean:,.0f}")
    if budget.expected_uplift:
        u = budget.expected_uplift
        c[2].metric("Expected uplift/day (80%)", f"{u.mean:+,.0f}", help=f"80% interval {u.lo80:+,.0f}..{u.hi80:+,.0f}; "
                    f"95% {u.lo95:+,.0f}..{u.hi95:+,.0f}")
    bounds = f"{budget.bounds.get('lower', 0):+.0%}..{budget.bounds.get('upper', 0):+.0%}"
    st.caption(" ".join(filter(None, [f"Window {budget.window_start}..{budget.window_end}; each campaign may move "
                                      f"within {bounds}.", optimism_note(budget)])))
    st.plotly_chart(charts.allocation_figure(budget), key="allocation_chart")
    table(allocation_frame(budget), key="allocation_table",
                 column_config={"change": _PCT, "current spend/day": _MONEY, "proposed spend/day": _MONEY})
    if budget.verdict:
        st.info(budget.verdict[:1].upper() + budget.verdict[1:])
    st.warning(budget.caveat)
