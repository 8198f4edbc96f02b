"""The agent loop: plan -> tools -> evaluate -> (widen and retry) -> answer, every attempt recorded.

Evaluator: for a *why* question (``diagnose``) the evidence is *weak* when the diagnosis supports no
hypothesis that moves the asked KPI the asked (or observed) way; for a *creative* question when
the creative stage finds nothing to act on (no fatigued message, no losing theme, no campaign to
give new messages). The loop then changes one thing and retries, at most
``max_attempts`` times in all: first it drops a dimension restriction (localise over every
dimension), then it doubles the windows (7 -> 14 -> 28 days), then it compares the current window
with everything before it (``long``). A change the data cannot hold (windows longer than the
data) ends the loop with the reason. The answer is written from the last attempt.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fb_analyst.agent.narrate import split_supported
from fb_analyst.agent.planner import AskPlan, WindowRequest
from fb_analyst.agent.tools import ToolCall, Workspace, call_tool
from fb_analyst.errors import WindowError
from fb_analyst.logs import get_logger

log = get_logger(__name__)

#: Attempts in all (the first plus retries). Bounded so a question never runs away.
MAX_ATTEMPTS = 3
NEEDS_CAUSE = ("diagnose",)


class Evaluation(BaseModel):
    model_config = ConfigDict(frozen=True)

    sufficient: bool
    reason: str


class Attempt(BaseModel):
    number: int
    plan_change: str = Field(description="What this attempt changed relative to the previous one.")
    window: dict[str, Any]
    dimensions: list[str] | None
    tool_calls: list[ToolCall]
    evaluation: Evaluation


def evaluate(plan: AskPlan, ws: Workspace) -> Evaluation:
    """Is the evidence good enough to answer, or should the loop widen the search?"""
    if plan.intent == "creative":
        c = ws.results.get("creative")
        if not c:
            return Evaluation(sufficient=True, reason="no creative analysis available; nothing to retry")
        found = len(c.get("fatigued_messages", [])) + len(c.get("recommendations", [])) + sum(
            1 for t in c.get("themes", []) if t.get("verdict") == "loser")
        if found:
            return Evaluation(sufficient=True, reason=f"{found} creative finding(s) to act on")
        return Evaluation(sufficient=False, reason="no fatigued message, losing theme or low-CTR campaign (weak evidence)")
    if plan.intent not in NEEDS_CAUSE:
        return Evaluation(sufficient=True, reason=f"{plan.intent} questions need no supported cause")
    d = ws.results.get("diagnose")
    if not d:
        return Evaluation(sufficient=True, reason="no diagnosis available; nothing to retry")
    if not d.get("n_supported"):
        return Evaluation(sufficient=False, reason="no supported hypothesis (weak evidence)")
    aligned, _, _, wanted = split_supported(plan, ws.results)
    if not aligned:
        way = "down" if wanted < 0 else "up"
        return Evaluation(sufficient=False, reason=f"{d['n_supported']} supported hypothesis(es), none moving "
                                                   f"{plan.metric.upper()} {way} (weak evidence for the question)")
    return Evaluation(sufficient=True, reason=f"{len(aligned)} supported hypothesis(es) explain the "
                                              f"{plan.metric.upper()} change")


def _days(ws: Workspace) -> int:
    return (ws.windows.data_end - ws.windows.data_start).days + 1


def widen(plan: AskPlan, ws: Workspace) -> tuple[AskPlan | None, str]:
    """The next plan to try, or None with the reason the search cannot be widened."""
    if plan.dimensions:
        return plan.model_copy(update={"dimensions": None}), "dimensions: all present dimensions"
    w = ws.windows
    if w is None:
        return None, "no windows resolved"
    if plan.window.preset == "long":
        return None, "already comparing with everything before the current window"
    cur = w.current.days
    if cur * 4 <= _days(ws) and plan.window.current is None:
        new = WindowRequest(current_days=cur * 2, baseline_days=cur * 2)
        return plan.model_copy(update={"window": new}), f"windows: current and baseline {cur} -> {cur * 2} days"
    if w.baseline.start > w.data_start:
        new = WindowRequest(current=f"{w.current.start}:{w.current.end}", preset="long")
        return plan.model_copy(update={"window": new}), "baseline: every day before the current window"
    return None, "the windows already cover the whole data"


def run_attempts(plan: AskPlan, make_workspace: Any, max_attempts: int = MAX_ATTEMPTS
                 ) -> tuple[list[Attempt], Workspace, AskPlan, str | None]:
    """Run the plan, evaluate, widen and retry; return attempts, the last workspace and plan."""
    attempts: list[Attempt] = []
    change = "initial plan"
    stop_reason = None
    current = plan
    while True:
        ws = make_workspace()
        calls = []
        for name in current.tools:
            try:
                calls.append(call_tool(name, ws, current))
            except WindowError:
                if not attempts:
                    raise
                stop_reason = f"widened windows do not fit the data ({change})"
                break
        if stop_reason:
            break
        ev = evaluate(current, ws)
        attempts.append(Attempt(number=len(attempts) + 1, plan_change=change,
                                window=current.window.model_dump(exclude_none=True),
                                dimensions=current.dimensions, tool_calls=calls, evaluation=ev))
        log.info("ask_attempt", number=len(attempts), sufficient=ev.sufficient, reason=ev.reason)
        last_ws, last_plan = ws, current
        if ev.sufficient:
            break
        if len(attempts) >= max_attempts:
            stop_reason = f"stopped after {max_attempts} attempts (bound)"
            break
        nxt, change = widen(current, ws)
        if nxt is None:
            stop_reason = f"cannot widen further: {change}"
            break
        current = nxt
    return attempts, last_ws, last_plan, stop_reason


Source = Literal["template", "llm"]
