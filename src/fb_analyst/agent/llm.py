"""The LLM seam (optional; off by default): pydantic-ai against any OpenAI-compatible endpoint.

The LLM may (1) propose a plan — validated into an :class:`AskPlan` and used only when it names
known intents and tools — and (2) write the narrative from the computed tool summaries passed to
it. It never computes: the narrative goes through :func:`~fb_analyst.agent.guard.check_numbers`
and any unmatched number or id makes the agent fall back to the template narrative. Tests pass
pydantic-ai's ``TestModel``/``FunctionModel`` as ``model``; nothing here reaches a network then.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from fb_analyst.agent.planner import INTENT_TOOLS, AskPlan, WindowRequest
from fb_analyst.kpis import KPIS
from fb_analyst.logs import get_logger

log = get_logger(__name__)

NARRATE_INSTRUCTIONS = (
    "You are a senior performance-marketing analyst. Answer the user's question in at most 6 sentences "
    "using ONLY the facts in the JSON you are given. Copy numbers exactly as they appear there (you may "
    "round them or show fractions as percentages); never compute, estimate or invent a number, date or "
    "id. Cite hypothesis ids (like H1) for every cause you mention. If no hypothesis is supported, say "
    "there is no significant change."
)
PLAN_INSTRUCTIONS = (
    "Turn the analytics question into a plan. intent: diagnose (why did a KPI change), creative (which "
    "creatives/messages to refresh), budget (what-if budget / allocation), forecast, trend, summary. "
    "metric: one of " + ", ".join(KPIS) + ". current_days: length of the period asked about, if any."
)


class PlanDraft(BaseModel):
    """What an LLM may propose; validated and completed by :func:`plan_with_llm`."""

    intent: Literal["diagnose", "creative", "budget", "forecast", "trend", "summary"]
    metric: str = "roas"
    current_days: int | None = Field(None, ge=1, le=366)
    segment: dict[str, str] = Field(default_factory=dict)
    budget_change: float | None = Field(None, ge=-0.9, le=5.0)


def build_model(llm: Any) -> Any:
    """An OpenAI-compatible chat model from ``settings.llm`` (base_url, model, api_key)."""
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=llm.base_url, api_key=llm.api_key or "not-needed")
    return OpenAIChatModel(llm.model, provider=provider)


def plan_with_llm(model: Any, question: str, fallback: AskPlan, values: dict[str, list[str]]) -> tuple[AskPlan, str]:
    """An LLM-proposed plan, or ``fallback`` with the reason when the proposal is unusable."""
    from pydantic_ai import Agent

    try:
        draft = Agent(model, output_type=PlanDraft, instructions=PLAN_INSTRUCTIONS).run_sync(question).output
    except Exception as exc:  # any model/transport/validation failure falls back to the deterministic plan
        log.warning("llm_plan_failed", error=f"{type(exc).__name__}: {exc}")
        return fallback, f"LLM plan failed ({type(exc).__name__}); deterministic plan used"
    if draft.metric not in KPIS:
        return fallback, f"LLM proposed unknown metric {draft.metric!r}; deterministic plan used"
    bad = {d: v for d, v in draft.segment.items() if v not in values.get(d, [])}
    if bad:
        return fallback, f"LLM proposed segment values not in the data ({bad}); deterministic plan used"
    window = WindowRequest(current_days=draft.current_days, baseline_days=draft.current_days) if draft.current_days else fallback.window
    plan = fallback.model_copy(update={
        "intent": draft.intent, "metric": draft.metric, "window": window, "segment": draft.segment,
        "budget_change": draft.budget_change if draft.intent == "budget" else None,
        "tools": list(INTENT_TOOLS[draft.intent]), "planner": "llm",
        "notes": [*fallback.notes, f"LLM plan accepted: {draft.model_dump_json()}"],
    })
    return plan, "LLM plan accepted"


def narrate_with_llm(model: Any, question: str, facts: dict[str, Any]) -> str:
    """The LLM's narrative over ``facts`` (unchecked; the caller runs the number guard)."""
    from pydantic_ai import Agent

    prompt = f"Question: {question}\n\nFacts (JSON):\n{json.dumps(facts, default=str)}"
    return str(Agent(model, instructions=NARRATE_INSTRUCTIONS).run_sync(prompt).output).strip()
