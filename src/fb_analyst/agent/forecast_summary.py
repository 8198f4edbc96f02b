"""Summary of a ForecastResult for the agent: numbers copied from the record, never recomputed
(except the average of the daily point forecasts, which is stated as such)."""

from __future__ import annotations

from typing import Any

from fb_analyst.kpis import KPIS


def _f(metric: str, v: float | None) -> str:
    if v is None:
        return "n/a"
    kpi = KPIS.get(metric)
    return (kpi.fmt.format(v) if kpi else f"{v:,.2f}").rstrip("x")


def _est(e: Any) -> dict[str, float] | None:
    return None if e is None else {"mean": e.mean, "lo80": e.lo80, "hi80": e.hi80}


def _forecast_lines(forecast: Any, plan: Any) -> tuple[dict[str, Any], list[str]]:
    account = {s.metric: s for s in forecast.series if s.key.get("level") == "account"}
    s = account.get(plan.metric) or account.get("revenue")
    if s is None or not s.forecast:
        why = s.reason if s is not None else "no account series"
        return {}, [f"No forecast of {plan.metric.upper()}: {why}."]
    pts = s.forecast
    avg = sum(p.mean for p in pts) / len(pts)
    bt = s.backtest
    facts = {"metric": s.metric, "model": s.model, "days": len(pts), "average_of_daily_means": avg,
             "first": {"date": str(pts[0].date), "mean": pts[0].mean, "lo80": pts[0].lo80, "hi80": pts[0].hi80},
             "last": {"date": str(pts[-1].date), "mean": pts[-1].mean, "lo80": pts[-1].lo80, "hi80": pts[-1].hi80},
             "mase": bt.mase if bt else None, "coverage80": bt.coverage80 if bt else None, "verdict": s.verdict}
    m = s.metric
    backtest = (f", backtest MASE {bt.mase:.2f}" if bt and bt.mase is not None else "") + \
               (f", 80% coverage {bt.coverage80:.0%}" if bt and bt.coverage80 is not None else "")
    line = (f"Forecast of account {m.upper()} for the next {len(pts)} days ({s.model}{backtest}): "
            f"{_f(m, avg)} per day on average; {pts[-1].date}: {_f(m, pts[-1].mean)} "
            f"(80% interval {_f(m, pts[-1].lo80)} to {_f(m, pts[-1].hi80)}). {s.verdict}")
    return facts, [line]


def _budget_lines(forecast: Any) -> tuple[dict[str, Any], list[str]]:
    b = forecast.budget
    if b is None:
        return {}, ["No budget plan was computed."]
    if b.status != "ok":
        return {"status": b.status, "reason": b.reason}, [f"No budget plan: {b.reason}."]
    moves = sorted(b.campaigns, key=lambda c: -abs(c.change_pct))
    facts = {"total": b.total, "current_total": b.current_total, "budget_change": b.budget_change,
             "revenue_current": _est(b.expected_revenue_current), "revenue_proposed": _est(b.expected_revenue_proposed),
             "uplift": _est(b.expected_uplift), "roas_current": _est(b.expected_roas_current),
             "roas_proposed": _est(b.expected_roas_proposed),
             "moves": [{"campaign": c.campaign, "current": c.current_spend, "proposed": c.proposed_spend,
                        "change_pct": c.change_pct} for c in moves]}
    lines = [f"Daily budget {b.total:,.2f} vs {b.current_total:,.2f} now."]
    if b.expected_revenue_proposed and b.expected_revenue_current:
        lines.append(f"Expected revenue per day {b.expected_revenue_proposed.mean:,.0f} (80%: "
                     f"{b.expected_revenue_proposed.lo80:,.0f} to {b.expected_revenue_proposed.hi80:,.0f}) vs "
                     f"{b.expected_revenue_current.mean:,.0f} now.")
    if b.expected_roas_proposed and b.expected_roas_current:
        lines.append(f"Expected ROAS {b.expected_roas_proposed.mean:.2f} vs {b.expected_roas_current.mean:.2f} now.")
    if moves:
        lines.append("Largest moves: " + "; ".join(
            f"{c.campaign} {c.current_spend:,.0f} -> {c.proposed_spend:,.0f} ({c.change_pct:+.0%})" for c in moves[:3]) + ".")
    lines.append("Curves are observational; confirm large moves with a lift test.")
    return facts, lines


def summarise_forecast(forecast: Any, plan: Any) -> dict[str, Any]:
    """Facts and answer lines for a forecast or budget question."""
    if plan.intent == "budget":
        facts, lines = _budget_lines(forecast)
        return {"budget": facts, "lines": lines}
    facts, lines = _forecast_lines(forecast, plan)
    return {"forecast": facts, "lines": lines}
