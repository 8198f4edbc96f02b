"""The agent's tools: thin, recorded calls of the library's stage functions.

Each tool reads the :class:`Workspace` (the canonical table filtered to the plan's segment, the
windows, earlier tools' results), calls one library function, stores its record and returns a
:class:`ToolCall` with a JSON summary of what came back (the trace and the narrator read only
these summaries). A tool whose stage is not available, or that the data cannot support, is
recorded as skipped with the reason; nothing is made up.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import ibis
import numpy as np
from pydantic import BaseModel

from fb_analyst import schema as S
from fb_analyst.agent.planner import AskPlan
from fb_analyst.errors import FbAnalystError
from fb_analyst.pipeline.analysis import field_of, segment_text
from fb_analyst.pipeline.steps import SkipStage, load_stage

TOP = 5


class ToolCall(BaseModel):
    tool: str
    args: dict[str, Any]
    status: Literal["ok", "skipped"]
    seconds: float
    summary: dict[str, Any]
    reason: str | None = None


@dataclass
class Workspace:
    """State shared by the tools during one attempt."""

    settings: Any
    table: ibis.Table
    data_end: str
    windows: Any = None
    account: Any = None
    diagnosis: Any = None
    creative: Any = None
    forecast: Any = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


def filter_segment(table: ibis.Table, segment: dict[str, str]) -> ibis.Table:
    """Rows of ``table`` in ``segment`` (every {dimension: value} must hold)."""
    for dim, value in segment.items():
        table = table.filter(table[dim] == value)
    return table


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float, np.floating)) and np.isfinite(v) else None


def _hyp(h: Any) -> dict[str, Any]:
    impact = field_of(h, "impact")
    return {"id": field_of(h, "id"), "title": field_of(h, "title"), "metric": field_of(h, "metric"),
            "direction": field_of(h, "direction"), "segment": dict(field_of(h, "segment") or {}),
            "segment_text": segment_text(field_of(h, "segment")), "status": field_of(h, "status"),
            "baseline": _num(field_of(h, "baseline")), "current": _num(field_of(h, "current")),
            "delta_pct": _num(field_of(h, "delta_pct")), "q_value": _num(field_of(h, "q_value")),
            "confidence": _num(field_of(h, "confidence")),
            "impact": {"revenue_at_stake": _num(field_of(impact, "revenue_at_stake")),
                       "spend_share": _num(field_of(impact, "spend_share"))},
            "actions": list(field_of(h, "actions") or [])[:2]}


# ---- tools --------------------------------------------------------------------------------------


def tool_windows(ws: Workspace, plan: AskPlan) -> dict[str, Any]:
    resolve_windows = load_stage("fb_analyst.windows", "resolve_windows")
    request = plan.window
    if request.current and request.current.endswith(":END"):
        request = request.model_copy(update={"current": request.current.replace("END", ws.data_end)})
    ws.windows = resolve_windows(ws.table, request.spec(), ws.settings)
    return {"baseline": ws.windows.baseline.label, "current": ws.windows.current.label,
            "rule": ws.windows.rule}


def tool_kpis(ws: Workspace, plan: AskPlan) -> dict[str, Any]:
    window_kpis = load_stage("fb_analyst.segments", "window_kpis")
    ws.account = window_kpis(ws.table, ws.windows)
    out = {}
    for name in ws.account["baseline"]:
        b, c = ws.account["baseline"][name].value, ws.account["current"][name].value
        out[name] = {"baseline": b, "current": c,
                     "delta_pct": (c / b - 1.0) if b not in (None, 0) and c is not None else None}
    return {"metric": plan.metric, "kpis": out}


def tool_diagnose(ws: Workspace, plan: AskPlan) -> dict[str, Any]:
    diagnose = load_stage("fb_analyst.diagnose", "diagnose")
    metrics = tuple(dict.fromkeys([plan.metric, "roas"]))
    ws.diagnosis = diagnose(ws.table, ws.windows, ws.settings, metrics=metrics, dimensions=plan.dimensions)
    hyps = list(field_of(ws.diagnosis, "hypotheses") or [])
    supported = [h for h in hyps if field_of(h, "status") == "supported"]
    return {"metrics": list(metrics), "verdict": field_of(ws.diagnosis, "verdict"),
            "n_hypotheses": len(hyps), "n_supported": len(supported),
            "supported": [_hyp(h) for h in supported[:TOP]],
            "top_unsupported": [_hyp(h) for h in hyps if h not in supported][:2]}


def tool_fatigue(ws: Workspace, plan: AskPlan) -> dict[str, Any]:
    if ws.diagnosis is None:
        raise SkipStage("needs the diagnosis (not available)")
    found = [f for f in field_of(ws.diagnosis, "fatigue") or [] if field_of(f, "fatigued")]
    return {"n_fatigued": len(found), "fatigued": [
        {"by": field_of(f, "by"), "key": field_of(f, "key"), "onset": str(field_of(f, "onset_date")),
         "decay_pct_per_week": _num(field_of(f, "decay_pct_per_week")),
         "ctr_start": _num(field_of(f, "ctr_start")), "ctr_recent": _num(field_of(f, "ctr_recent"))}
        for f in found[:TOP]]}


def tool_creative(ws: Workspace, plan: AskPlan) -> dict[str, Any]:
    if S.CREATIVE_MESSAGE not in ws.table.columns:
        raise SkipStage(f"the data has no {S.CREATIVE_MESSAGE} column")
    analyze_creatives = load_stage("fb_analyst.creative", "analyze_creatives")
    ws.creative = analyze_creatives(ws.table, ws.windows, ws.diagnosis, ws.settings)
    themes = ws.creative.clusters.themes
    fatigue = ws.creative.creatives.fatigue
    recs = ws.creative.creatives.recommendations
    return {
        "themes": [{"id": t.id, "label": t.label, "verdict": t.verdict, "metric": t.verdict_metric,
                    "ctr": _num(t.kpis["ctr"].value) if "ctr" in t.kpis else None,
                    "q_value": _num(t.q_value)} for t in themes],
        "fatigued_messages": [{"key": str(f.get("key", f.get("message", ""))),
                               "decay_pct_per_week": _num(f.get("decay_pct_per_week"))}
                              for f in fatigue.by_message if f.get("fatigued")][:TOP],
        "recommendations": [{"campaign": r.campaign, "current_ctr": _num(r.current_ctr),
                             "hypothesis_ids": list(r.hypothesis_ids),
                             "suggestions": [{"text": s.text, "predicted_ctr": _num(s.predicted_ctr.value),
                                              "impressions_per_arm": s.ab_test.impressions_per_arm}
                                             for s in r.suggestions[:2]]} for r in recs[:TOP]],
    }


def tool_forecast(ws: Workspace, plan: AskPlan) -> dict[str, Any]:
    from fb_analyst.agent.forecast_summary import summarise_forecast

    need = ws.settings.forecast.min_history_days
    days = ws.table.select(ws.table[S.DATE].cast("date").name("d")).distinct().count().to_pyarrow().as_py()
    if days < need:
        raise SkipStage(f"only {days} days of data; forecasting needs {need} (forecast.min_history_days)")
    forecast_and_allocate = load_stage("fb_analyst.forecast", "forecast_and_allocate")
    settings = ws.settings
    if plan.horizon:
        settings = settings.model_copy(update={"forecast": settings.forecast.model_copy(update={"horizon": plan.horizon})})
    ws.forecast = forecast_and_allocate(ws.table, settings, windows=ws.windows, budget_change=plan.budget_change)
    return summarise_forecast(ws.forecast, plan)


def tool_trend(ws: Workspace, plan: AskPlan) -> dict[str, Any]:
    """Theil-Sen slope and Kendall's tau of the daily KPI over baseline + current windows."""
    from scipy import stats

    account_daily = load_stage("fb_analyst.segments", "account_daily")
    daily = account_daily(ws.table)
    start, end = ws.windows.baseline.start, ws.windows.current.end
    daily = daily[(daily[S.DATE] >= start) & (daily[S.DATE] <= end)]
    if plan.metric not in daily.columns:
        raise SkipStage(f"no daily {plan.metric} in the data")
    y = daily[plan.metric].astype(float).to_numpy()
    x = np.array([(d - start).days for d in daily[S.DATE]], dtype=float)
    ok = np.isfinite(y)
    if ok.sum() < 7:
        raise SkipStage(f"only {int(ok.sum())} days with a defined {plan.metric}; a trend needs 7")
    slope, intercept, lo, hi = stats.theilslopes(y[ok], x[ok], alpha=1 - 0.95)
    tau = stats.kendalltau(x[ok], y[ok])
    mean = float(np.mean(y[ok]))
    alpha = ws.settings.diagnose.alpha
    trend = "no significant trend" if tau.pvalue >= alpha else ("rising" if slope > 0 else "falling")
    return {"metric": plan.metric, "period": f"{start}..{end}", "days": int(ok.sum()), "trend": trend,
            "slope_per_day": float(slope), "slope_ci": [float(lo), float(hi)],
            "weekly_change_pct": 7 * float(slope) / mean if mean else None,
            "kendall_tau": float(tau.statistic), "p_value": float(tau.pvalue), "mean": mean,
            "first": float(y[ok][0]), "last": float(y[ok][-1])}


TOOLS: dict[str, Callable[[Workspace, AskPlan], dict[str, Any]]] = {
    "windows": tool_windows, "kpis": tool_kpis, "diagnose": tool_diagnose, "fatigue": tool_fatigue,
    "creative": tool_creative, "forecast": tool_forecast, "trend": tool_trend,
}


def call_tool(name: str, ws: Workspace, plan: AskPlan) -> ToolCall:
    """Run one tool, timed; a tool that cannot run is recorded as skipped with its reason."""
    args = {"metric": plan.metric, "window": plan.window.model_dump(exclude_none=True),
            "segment": plan.segment, "dimensions": plan.dimensions}
    if name == "forecast":
        args.update(budget_change=plan.budget_change, horizon=plan.horizon)
    t0 = time.perf_counter()
    try:
        summary = TOOLS[name](ws, plan)
        status, reason = "ok", None
    except SkipStage as exc:
        summary, status, reason = {}, "skipped", str(exc)
    except FbAnalystError:
        raise
    ws.results[name] = summary
    return ToolCall(tool=name, args=args, status=status, seconds=round(time.perf_counter() - t0, 4),
                    summary=summary, reason=reason)


def dimension_values(table: ibis.Table, limit: int = 500) -> dict[str, list[str]]:
    """Distinct values per dimension (for the planner's segment matching); capped per dimension."""
    out = {}
    for dim in S.present_dimensions(table.columns):
        if dim == S.CREATIVE_MESSAGE:
            continue
        vals = table.select(dim).distinct().limit(limit).to_pandas()[dim].dropna()
        out[dim] = [str(v) for v in vals if re.search(r"\w", str(v))]
    return out
