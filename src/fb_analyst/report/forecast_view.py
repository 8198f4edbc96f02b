"""Forecast and budget part of the report's view model (reads the ForecastResult record).

Only values in the record are shown, plus the average of the daily point forecasts over the
horizon; no interval is re-derived (a sum of daily intervals is not an interval of the sum).
"""

from __future__ import annotations

from typing import Any

from fb_analyst.pipeline.analysis import optimism_note
from fb_analyst.report.context import fmt_kpi, fmt_num, fmt_pct

#: Series shown as fan charts (account level).
FAN_METRICS = ("revenue", "roas")
HISTORY_DAYS = 28


def _key_text(key: dict[str, str]) -> str:
    return "account" if key.get("level") == "account" else ", ".join(f"{k}={v}" for k, v in key.items())


def _series_row(s: Any) -> dict[str, Any]:
    pts = s.forecast
    avg = sum(p.mean for p in pts) / len(pts) if pts else None
    last = pts[-1] if pts else None
    summary = "" if not pts else (f"{fmt_kpi(s.metric, avg)} per day on average; day {len(pts)}: "
                                  f"{fmt_kpi(s.metric, last.mean)} (80% {fmt_kpi(s.metric, last.lo80)} to "
                                  f"{fmt_kpi(s.metric, last.hi80)})")
    bt = s.backtest
    return {"name": f"{_key_text(s.key)} {s.metric}", "model": s.model or s.status,
            "mase": fmt_num(bt.mase if bt else None, "{:.2f}"), "coverage": fmt_pct(bt.coverage80 if bt else None, False),
            "summary": summary or s.verdict, "note": s.reason or s.verdict}


def _budget(plan: Any) -> dict[str, Any] | None:
    if plan is None:
        return None
    if plan.status != "ok":
        return {"rows": [], "summary": [f"Budget plan skipped: {plan.reason}"]}
    rows = [{"campaign": c.campaign, "current": fmt_num(c.current_spend), "proposed": fmt_num(c.proposed_spend),
             "change": fmt_pct(c.change_pct), "current_value": c.current_spend, "proposed_value": c.proposed_spend,
             "marginal_roas": fmt_num(c.marginal_roas_proposed.mean if c.marginal_roas_proposed else None),
             "note": c.reason or c.status} for c in plan.campaigns]

    def est(e: Any, f: str = "{:,.0f}") -> str:
        return "n/a" if e is None else f"{fmt_num(e.mean, f)} (80%: {fmt_num(e.lo80, f)} to {fmt_num(e.hi80, f)})"

    summary = [
        *([f"Verdict: {plan.verdict}."] if plan.verdict else []),
        f"Daily budget {fmt_num(plan.total)} (current run-rate {fmt_num(plan.current_total)}"
        + (f", requested change {fmt_pct(plan.budget_change)}" if plan.budget_change is not None else "") + ").",
        f"Expected revenue per day: {est(plan.expected_revenue_proposed)} proposed vs {est(plan.expected_revenue_current)} now; "
        f"uplift {est(plan.expected_uplift)}.",
        f"Expected ROAS: {est(plan.expected_roas_proposed, '{:.2f}')} proposed vs {est(plan.expected_roas_current, '{:.2f}')} now.",
    ]
    if note := optimism_note(plan):
        summary.append(note)
    summary.append(plan.caveat)
    return {"rows": rows, "summary": summary}


def forecast_view(forecast: Any, daily: Any = None) -> dict[str, Any]:
    account = [s for s in forecast.series if s.key.get("level") == "account"]
    others = [s for s in forecast.series if s.key.get("level") != "account" and s.metric in FAN_METRICS]
    fans = []
    for s in account:
        if s.metric not in FAN_METRICS or not s.forecast:
            continue
        hist_dates, hist = [], []
        if daily is not None and s.metric in daily.columns:
            tail = daily.tail(HISTORY_DAYS)
            hist_dates = [str(d) for d in tail["date"]]
            hist = [None if v != v else float(v) for v in tail[s.metric]]
        fans.append({"title": f"Account {s.metric.upper()}: next {len(s.forecast)} days ({s.model})",
                     "points": [{"date": str(p.date), "mean": p.mean, "lo80": p.lo80, "hi80": p.hi80,
                                 "lo95": p.lo95, "hi95": p.hi95} for p in s.forecast],
                     "history_dates": hist_dates, "history": hist})
    return {"horizon": forecast.horizon, "engine": forecast.engine,
            "series": [_series_row(s) for s in account + others], "fan_series": fans,
            "budget": _budget(forecast.budget), "notes": [forecast.ratio_method]}
