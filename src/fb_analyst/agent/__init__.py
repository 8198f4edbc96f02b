"""``fb-analyst ask``: a question-answering agent over the library's tools.

Flow: ingest the inputs -> plan (deterministic :mod:`~fb_analyst.agent.planner`, or an optional
LLM plan validated against it) -> run the plan's tools -> evaluate and, on weak evidence, widen
and retry (:mod:`~fb_analyst.agent.loop`) -> answer from the computed summaries (template text,
or LLM text that passed the number guard) -> save the trace as ``DIR/ask_trace.json``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from fb_analyst.agent.guard import GuardResult, check_numbers
from fb_analyst.agent.loop import MAX_ATTEMPTS, Attempt, run_attempts
from fb_analyst.agent.narrate import template_answer
from fb_analyst.agent.planner import AskPlan, plan_question
from fb_analyst.agent.tools import Workspace, dimension_values, filter_segment
from fb_analyst.errors import InputError
from fb_analyst.logs import get_logger

__all__ = ["Answer", "AskTrace", "answer_question", "ask", "plan_question"]

log = get_logger(__name__)
SCHEMA_VERSION = "1.0"


class AskTrace(BaseModel):
    """The content of ``ask_trace.json``: plan, every attempt's tool calls and the answer."""

    schema_version: str = SCHEMA_VERSION
    run_id: str
    created_at: str
    question: str
    inputs: list[str]
    plan: AskPlan
    planner_note: str
    attempts: list[Attempt]
    stop_reason: str | None
    final_plan: AskPlan
    answer: str
    cited_ids: list[str]
    narrative_source: str = Field(description="template, or llm when the LLM text passed the guard.")
    template_answer: str
    llm_text: str | None = None
    guard: GuardResult | None = None
    seconds: float


@dataclass(frozen=True)
class Answer:
    """The answer and its trace (``trace_path`` when written by :func:`answer_question`)."""

    text: str
    trace: AskTrace
    trace_path: Path | None = None

    def render(self, console: Console) -> None:
        t = self.trace
        console.print(f"[dim]plan: {escape(t.final_plan.intent)} of {escape(t.final_plan.metric.upper())}; "
                      f"tools {escape(', '.join(t.final_plan.tools))}; {len(t.attempts)} attempt(s)[/]")
        for a in t.attempts:
            console.print(f"[dim]  attempt {a.number} ({escape(a.plan_change)}): {escape(a.evaluation.reason)}[/]")
        console.print(Panel(escape(self.text), title="answer", title_align="left"))
        if self.trace_path:
            console.print(f"trace: {escape(str(self.trace_path))}")


def _cited(text: str, results: dict[str, Any]) -> list[str]:
    ids = [h["id"] for h in (results.get("diagnose") or {}).get("supported", [])]
    return [i for i in ids if i and i in text]


def ask(
    question: str,
    table: Any,
    settings: Any,
    *,
    run_id: str = "",
    inputs: Sequence[str] = (),
    model: Any = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> Answer:
    """Answer ``question`` over a canonical ``table`` (no file writes). ``model``: a pydantic-ai
    model to use when ``settings.llm.enabled`` (default: built from ``settings.llm``)."""
    t0 = time.perf_counter()
    values = dimension_values(table)
    plan = plan_question(question, values)
    planner_note = "deterministic planner"
    use_llm = bool(settings.llm.enabled)
    if use_llm and model is None:
        from fb_analyst.agent.llm import build_model

        model = build_model(settings.llm)
    if use_llm:
        from fb_analyst.agent.llm import plan_with_llm

        plan, planner_note = plan_with_llm(model, question, plan, values)
    scoped = filter_segment(table, plan.segment)
    last = scoped.aggregate(m=scoped["date"].cast("date").max()).to_pandas()["m"].iloc[0]
    if last is None or last != last:
        raise InputError(f"no rows match the segment in the question ({plan.segment}); "
                         "ask about values present in the data")
    data_end = str(last)[:10]

    def workspace() -> Workspace:
        return Workspace(settings=settings, table=scoped, data_end=data_end)

    attempts, ws, final_plan, stop = run_attempts(plan, workspace, max_attempts)
    template = template_answer(final_plan, ws.results, len(attempts))
    text, source, llm_text, guard = template, "template", None, None
    if use_llm:
        from fb_analyst.agent.llm import narrate_with_llm

        facts = {"question": question, "plan": final_plan.model_dump(mode="json"), "results": ws.results,
                 "attempts": len(attempts)}
        try:
            llm_text = narrate_with_llm(model, question, facts)
            guard = check_numbers(llm_text, ws.results, question)
        except Exception as exc:  # any LLM failure -> the template narrative, recorded in the trace
            log.warning("llm_narrate_failed", error=f"{type(exc).__name__}: {exc}")
            guard = GuardResult(ok=False, checked=[], unmatched=[f"LLM error: {type(exc).__name__}"], unknown_ids=[])
        if guard.ok and llm_text:
            text, source = llm_text, "llm"
        else:
            log.warning("llm_narrative_rejected", unmatched=guard.unmatched, unknown_ids=guard.unknown_ids)
    trace = AskTrace(
        run_id=run_id, created_at=datetime.now(timezone.utc).isoformat(), question=question,
        inputs=list(inputs), plan=plan, planner_note=planner_note, attempts=attempts, stop_reason=stop,
        final_plan=final_plan, answer=text, cited_ids=_cited(text, ws.results), narrative_source=source,
        template_answer=template, llm_text=llm_text, guard=guard, seconds=round(time.perf_counter() - t0, 3),
    )
    return Answer(text=text, trace=trace)


def answer_question(
    question: str,
    inputs: Sequence[str],
    out_dir: str | Path,
    settings: Any,
    *,
    run_id: str,
    console: Console | None = None,
    model: Any = None,
) -> Answer:
    """``fb-analyst ask``: ingest ``inputs``, answer, and write ``out_dir/ask_trace.json`` atomically."""
    from fb_analyst.ingest import ingest_files
    from fb_analyst.outputs import atomic_output_dir, write_json

    inputs = [str(p) for p in inputs]
    status = console.status("reading the data...") if console else None
    if status:
        status.start()
    try:
        table = ingest_files(inputs, settings).table
        if status:
            status.update("planning and running the analyses...")
        answer = ask(question, table, settings, run_id=run_id, inputs=inputs, model=model)
    finally:
        if status:
            status.stop()
    with atomic_output_dir(out_dir) as staging:
        write_json(answer.trace, staging / "ask_trace.json")
    return Answer(text=answer.text, trace=answer.trace, trace_path=Path(out_dir) / "ask_trace.json")
