"""Plotly figures for the dashboard pages. They plot numbers the stages computed; nothing is derived.

User text (campaign names, messages) is HTML-escaped with :func:`fb_analyst.report.escape.chart_label`
because Plotly renders a small HTML subset in labels and hover text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fb_analyst.kpis import get_kpi
from fb_analyst.report.escape import chart_label

_LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=50, b=40))
_WINDOW_COLOURS = {"baseline": "rgba(120,120,120,0.13)", "current": "rgba(31,119,180,0.16)"}
_VERDICT_COLOURS = {"winner": "#2ca02c", "loser": "#d62728", "neutral": "#7f7f7f"}


def _axis_format(kpi: str) -> str | None:
    fmt = get_kpi(kpi).fmt
    return ".2%" if "%" in fmt else None


def trend_figure(daily: pd.DataFrame, windows: Any, kpis: Sequence[str]) -> go.Figure:
    """Daily KPIs (one panel each) with the baseline and current windows shaded."""
    kpis = [k for k in kpis if k in daily.columns] or ["spend"]
    fig = make_subplots(rows=len(kpis), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[get_kpi(k).label for k in kpis])
    x = pd.to_datetime(daily["date"])
    for i, k in enumerate(kpis, start=1):
        fig.add_trace(go.Scatter(x=x, y=daily[k], name=get_kpi(k).label, mode="lines+markers",
                                 marker=dict(size=4)), row=i, col=1)
        if _axis_format(k):
            fig.update_yaxes(tickformat=_axis_format(k), row=i, col=1)
    if windows is not None:
        for name in ("baseline", "current"):
            w = getattr(windows, name)
            fig.add_vrect(x0=pd.Timestamp(w.start) - pd.Timedelta(hours=12),
                          x1=pd.Timestamp(w.end) + pd.Timedelta(hours=12),
                          fillcolor=_WINDOW_COLOURS[name], line_width=0,
                          annotation_text=name if name == "current" else "baseline",
                          annotation_position="top left")
    fig.update_layout(height=max(260, 210 * len(kpis)), showlegend=False, **_LAYOUT)
    return fig


def waterfall_figure(dec: Any) -> go.Figure:
    """The ROAS change split exactly into CTR, CVR, AOV and CPM (log points; CPM enters negated)."""
    parts = [p for p in dec.parts if p.log_points is not None]
    labels = [p.factor.upper() for p in parts] + [dec.kpi.upper()]
    values = [p.log_points for p in parts] + [dec.total_log_points]
    fig = go.Figure(go.Waterfall(
        x=labels, y=values, measure=["relative"] * len(parts) + ["total"],
        text=[f"{v:+.1f}" for v in values], textposition="outside",
        decreasing=dict(marker=dict(color="#d62728")), increasing=dict(marker=dict(color="#2ca02c")),
        totals=dict(marker=dict(color="#1f77b4")),
    ))
    fig.update_layout(title=f"{dec.kpi.upper()} change in log points ({dec.identity})",
                      yaxis_title="log points (100 x Δlog)", height=380, showlegend=False, **_LAYOUT)
    return fig


def mix_figure(mix: Any) -> go.Figure:
    """Per segment, the part of the account KPI change from mix (weights) and from rate."""
    names = [chart_label(s.value) for s in mix.segments]
    fig = go.Figure([
        go.Bar(y=names, x=[s.mix_effect for s in mix.segments], name="mix effect", orientation="h"),
        go.Bar(y=names, x=[s.rate_effect for s in mix.segments], name="rate effect", orientation="h"),
    ])
    fig.update_layout(title=f"{mix.kpi.upper()} change over {mix.dimension}: mix vs rate", barmode="group",
                      xaxis_title=f"contribution to the {mix.kpi.upper()} change",
                      height=max(300, 34 * len(names) + 120), **_LAYOUT)
    return fig


def segment_change_figure(frame: pd.DataFrame, dimension: str, kpi: str) -> go.Figure:
    """Baseline vs current ``kpi`` for each value of one dimension."""
    names = [chart_label(v) for v in frame[dimension]]
    label = kpi.upper()
    fig = go.Figure([go.Bar(x=names, y=frame[f"{label} baseline"], name="baseline"),
                     go.Bar(x=names, y=frame[f"{label} current"], name="current")])
    fig.update_layout(title=f"{label} by {dimension}: baseline vs current", barmode="group", height=360, **_LAYOUT)
    if _axis_format(kpi):
        fig.update_yaxes(tickformat=_axis_format(kpi))
    return fig


def theme_map_figure(points: pd.DataFrame) -> go.Figure:
    """Messages in a 2-D projection of their embeddings, coloured by theme."""
    fig = go.Figure()
    for theme, grp in points.groupby("theme", sort=True):
        fig.add_trace(go.Scatter(
            x=grp["x"], y=grp["y"], mode="markers", name=chart_label(f"{theme} {grp['label'].iloc[0]}"),
            marker=dict(size=9, opacity=0.75, line=dict(width=0.5, color="white")),
            text=[chart_label(m) for m in grp["message"]], hovertemplate="%{text}<extra>" + str(theme) + "</extra>",
        ))
    fig.update_layout(title="Theme map (messages, 2-D PCA of their embeddings)", height=520,
                      legend=dict(orientation="h", yanchor="top", y=-0.08, xanchor="left", x=0),
                      xaxis=dict(showticklabels=False, title="component 1"),
                      yaxis=dict(showticklabels=False, title="component 2"), **_LAYOUT)
    return fig


def theme_performance_figure(clusters: Any, metric: str) -> go.Figure:
    """Each theme's ``metric`` with its interval, coloured by the context-adjusted verdict."""
    themes = [t for t in clusters.themes if metric in t.kpis and t.kpis[metric].value is not None]
    fig = go.Figure()
    for verdict in ("winner", "neutral", "loser"):
        group = [t for t in themes if t.verdict == verdict]
        if not group:
            continue
        vals = [t.kpis[metric] for t in group]
        fig.add_trace(go.Scatter(
            x=[v.value for v in vals], y=[chart_label(f"{t.id} {t.label}") for t in group], mode="markers",
            name=verdict, marker=dict(size=11, color=_VERDICT_COLOURS[verdict]),
            error_x=dict(type="data", symmetric=False,
                         array=[(v.upper - v.value) if v.upper is not None else 0 for v in vals],
                         arrayminus=[(v.value - v.lower) if v.lower is not None else 0 for v in vals]),
        ))
    level = next((t.kpis[metric].level for t in themes if t.kpis[metric].level), None)
    title = f"{metric.upper()} by theme" + (f" ({level:.0%} intervals, days as the unit)" if level else "")
    fig.update_layout(title=title, height=max(300, 40 * len(themes) + 120), **_LAYOUT)
    if _axis_format(metric):
        fig.update_xaxes(tickformat=_axis_format(metric))
    return fig


def fatigue_figure(curves: pd.DataFrame, by: str) -> go.Figure:
    """Daily CTR against days since first seen, one line per message or theme."""
    fig = go.Figure()
    for key, grp in curves.groupby(by, sort=False):
        fig.add_trace(go.Scatter(x=grp["age_days"], y=grp["ctr"], mode="lines",
                                 name=chart_label(str(key)[:60])))
    fig.update_layout(title="Fatigue curves: daily CTR by age", xaxis_title="days since first seen",
                      yaxis=dict(tickformat=".2%", title="CTR"), height=480,
                      legend=dict(orientation="h", yanchor="top", y=-0.15, xanchor="left", x=0), **_LAYOUT)
    return fig


def fan_figure(series: Any, history: pd.DataFrame | None, title: str) -> go.Figure:
    """History, forecast mean and its 80%/95% prediction intervals."""
    fc = series.forecast
    x = [p.date for p in fc]
    fig = go.Figure()
    if history is not None and not history.empty:
        fig.add_trace(go.Scatter(x=history["date"], y=history["value"], name="actual", mode="lines",
                                 line=dict(color="#444")))
    for lo, hi, colour, name in (("lo95", "hi95", "rgba(31,119,180,0.15)", "95% interval"),
                                 ("lo80", "hi80", "rgba(31,119,180,0.32)", "80% interval")):
        fig.add_trace(go.Scatter(x=x + x[::-1], y=[getattr(p, hi) for p in fc] + [getattr(p, lo) for p in fc][::-1],
                                 fill="toself", fillcolor=colour, line=dict(width=0), name=name, mode="lines",
                                 hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=[p.mean for p in fc], name="forecast", mode="lines+markers",
                             line=dict(color="#1f77b4")))
    fig.update_layout(title=chart_label(title), height=380, **_LAYOUT)
    if series.metric in ("ctr", "cvr"):
        fig.update_yaxes(tickformat=".2%")
    return fig


def allocation_figure(budget: Any) -> go.Figure:
    """Current vs proposed daily spend per campaign."""
    names = [chart_label(c.campaign) for c in budget.campaigns]
    fig = go.Figure([
        go.Bar(x=names, y=[c.current_spend for c in budget.campaigns], name="current"),
        go.Bar(x=names, y=[c.proposed_spend for c in budget.campaigns], name="proposed",
               text=[f"{c.change_pct:+.0%}" for c in budget.campaigns], textposition="outside"),
    ])
    fig.update_layout(title="Daily budget per campaign: current vs proposed", barmode="group",
                      yaxis_title="spend per day", height=420, **_LAYOUT)
    return fig
