"""Plotly charts of the HTML report, returned as HTML fragments (plotly.js is inlined once by the page).

Figures only show numbers already computed by the stages; user labels are HTML-escaped because
Plotly renders a small HTML subset in labels.
"""

from __future__ import annotations

from typing import Any

from fb_analyst.pipeline.analysis import Analysis, field_of
from fb_analyst.report.escape import chart_label

_LAYOUT = dict(template="plotly_white", height=340, margin=dict(l=50, r=20, t=50, b=40))


def _html(fig: Any) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def trend_chart(analysis: Analysis) -> str | None:
    """Daily ROAS and CTR with the baseline and current windows shaded."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    daily, w = analysis.daily, analysis.windows
    if daily is None or w is None or daily.empty:
        return None
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [str(d) for d in daily["date"]]
    if "roas" in daily:
        fig.add_trace(go.Scatter(x=x, y=daily["roas"], name="ROAS", mode="lines+markers"), secondary_y=False)
    if "ctr" in daily:
        fig.add_trace(go.Scatter(x=x, y=daily["ctr"], name="CTR", mode="lines", line=dict(dash="dot")),
                      secondary_y=True)
    for win, color in ((w.baseline, "rgba(120,120,120,0.12)"), (w.current, "rgba(31,119,180,0.15)")):
        fig.add_vrect(x0=str(win.start), x1=str(win.end), fillcolor=color, line_width=0)
    fig.update_yaxes(title_text="ROAS", secondary_y=False)
    fig.update_yaxes(title_text="CTR", tickformat=".2%", secondary_y=True)
    fig.update_layout(title="Daily ROAS and CTR (shaded: baseline, current)", **_LAYOUT)
    return _html(fig)


def waterfall_chart(analysis: Analysis) -> str | None:
    """The ROAS change split into CTR, CVR, AOV and CPM parts (log points; exact identity)."""
    import plotly.graph_objects as go

    dec = field_of(analysis.diagnosis, "roas_decomposition") if analysis.diagnosis is not None else None
    parts = [p for p in (field_of(dec, "parts") or []) if isinstance(field_of(p, "log_points"), (int, float))]
    total = field_of(dec, "total_log_points")
    if not parts or not isinstance(total, (int, float)):
        return None
    labels = [f"{str(field_of(p, 'factor')).upper()}" for p in parts] + ["ROAS"]
    values = [float(field_of(p, "log_points")) for p in parts] + [float(total)]
    fig = go.Figure(go.Waterfall(
        x=labels, y=values, measure=["relative"] * len(parts) + ["total"],
        text=[f"{v:+.1f}" for v in values], textposition="outside",
        decreasing=dict(marker=dict(color="#d62728")), increasing=dict(marker=dict(color="#2ca02c")),
        totals=dict(marker=dict(color="#1f77b4")),
    ))
    fig.update_layout(title="ROAS change decomposed (log points; CPM enters with a minus sign)",
                      yaxis_title="log points", showlegend=False, **_LAYOUT)
    return _html(fig)


def fan_chart(series: dict[str, Any]) -> str | None:
    """History, point forecast and 80%/95% intervals of one forecast series."""
    import plotly.graph_objects as go

    fc = series.get("points") or []
    if not fc:
        return None
    hx, hy = series.get("history_dates") or [], series.get("history") or []
    x = [p["date"] for p in fc]
    fig = go.Figure()
    if hx:
        fig.add_trace(go.Scatter(x=hx, y=hy, name="actual", mode="lines", line=dict(color="#444")))
    for lo, hi, color, name in (("lo95", "hi95", "rgba(31,119,180,0.15)", "95%"),
                                ("lo80", "hi80", "rgba(31,119,180,0.30)", "80%")):
        if all(p.get(lo) is not None and p.get(hi) is not None for p in fc):
            fig.add_trace(go.Scatter(x=x + x[::-1], y=[p[hi] for p in fc] + [p[lo] for p in fc][::-1],
                                     fill="toself", fillcolor=color, line=dict(width=0), name=name))
    fig.add_trace(go.Scatter(x=x, y=[p.get("mean") for p in fc], name="forecast", mode="lines+markers",
                             line=dict(color="#1f77b4")))
    fig.update_layout(title=chart_label(series.get("title", "forecast")), **_LAYOUT)
    return _html(fig)


def budget_chart(rows: list[dict[str, Any]]) -> str | None:
    """Current vs proposed daily spend per campaign."""
    import plotly.graph_objects as go

    if not rows:
        return None
    names = [chart_label(r["campaign"]) for r in rows]
    fig = go.Figure([go.Bar(x=names, y=[r.get("current_value") for r in rows], name="current"),
                     go.Bar(x=names, y=[r.get("proposed_value") for r in rows], name="proposed")])
    fig.update_layout(title="Daily budget: current vs proposed", barmode="group", **_LAYOUT)
    return _html(fig)
