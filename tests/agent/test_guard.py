"""The number guard and the LLM seam (pydantic-ai's own TestModel/FunctionModel; no network)."""

from __future__ import annotations

import pytest
from pydantic_ai.messages import ModelResponse, TextPart
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.test import TestModel

from fb_analyst.agent.guard import check_numbers

EVIDENCE = {
    "kpis": {"roas": {"baseline": 3.1012, "current": 2.5377, "delta_pct": -0.18171}},
    "diagnose": {"supported": [{"id": "H1", "metric": "cpm", "delta_pct": 0.3504, "q_value": 0.00312,
                                "segment_text": "placement=stories", "revenue": 12345.678}]},
    "windows": {"baseline": "2025-03-10..2025-03-16", "current": "2025-03-17..2025-03-23"},
}


@pytest.mark.parametrize("text", [
    "ROAS fell 18.2% (3.10 -> 2.54) because CPM rose 35% on placement=stories (H1, q=0.003).",
    "ROAS fell about 18% from 3.1 to 2.5; H1: CPM +35.0%.",
    "Revenue at stake: 12,346 (about 12.3k). Window 2025-03-17 to 2025-03-23.",
    "1. ROAS fell 18.2%\n2. CPM rose 35%",
])
def test_guard_accepts_numbers_from_the_evidence(text):
    result = check_numbers(text, EVIDENCE)
    assert result.ok, result


@pytest.mark.parametrize(("text", "bad"), [
    ("ROAS fell 22% last week.", "22%"),
    ("ROAS fell 18.2% (3.10 -> 2.61).", "2.61"),
    ("CPM rose 35% on stories (H7).", "H7"),
    ("Since 2025-01-01 ROAS fell 18%.", "2025-01-01"),
    ("Revenue at stake was 15,000.", "15,000"),
])
def test_guard_rejects_invented_numbers_dates_and_ids(text, bad):
    result = check_numbers(text, EVIDENCE)
    assert not result.ok
    assert any(bad.rstrip("%") in u for u in result.unmatched + result.unknown_ids)


def test_question_numbers_count_as_evidence():
    assert check_numbers("Adding 20% budget raises revenue.", {}, question="what if we add 20% budget").ok


# --- the LLM seam inside ask() ------------------------------------------------------------------


@pytest.fixture(scope="module")
def spike_table():
    from fb_analyst.engine import table_from_pandas
    from fb_analyst.sample import generate_sample

    return table_from_pandas(generate_sample("cpm_spike_placement", seed=0, days=28, n_campaigns=3, scale=0.3).frame)


def _llm_settings():
    from fb_analyst.settings import Settings

    return Settings(llm={"enabled": True, "base_url": "http://127.0.0.1:9/v1"})


def _narrator(text: str) -> FunctionModel:
    def respond(messages, info):
        return ModelResponse(parts=[TextPart(text)])

    return FunctionModel(respond)


def test_llm_inventing_a_number_is_rejected_and_the_template_is_used(spike_table):
    from fb_analyst.agent import ask

    answer = ask("how did we do last week?", spike_table, _llm_settings(),
                 model=_narrator("ROAS jumped 41.7% thanks to Reels (H1)."))
    trace = answer.trace
    assert trace.narrative_source == "template"
    assert answer.text == trace.template_answer
    assert trace.llm_text == "ROAS jumped 41.7% thanks to Reels (H1)."
    assert not trace.guard.ok and "41.7" in " ".join(trace.guard.unmatched)


def test_llm_text_that_only_repeats_evidence_is_used(spike_table):
    from fb_analyst.agent import ask

    plain = ask("how did we do last week?", spike_table, _llm_settings().model_copy(
        update={"llm": _llm_settings().llm.model_copy(update={"enabled": False})}))
    k = plain.trace.attempts[-1].tool_calls[1].summary["kpis"]["roas"]
    faithful = f"ROAS went from {k['baseline']:.2f} to {k['current']:.2f} ({k['delta_pct']:+.1%})."
    answer = ask("how did we do last week?", spike_table, _llm_settings(), model=_narrator(faithful))
    assert answer.trace.narrative_source == "llm" and answer.text == faithful
    assert answer.trace.guard.ok


def test_llm_planner_output_is_validated(spike_table):
    """TestModel fills the structured plan with schema-valid dummies; unusable proposals fall back."""
    from fb_analyst.agent import ask

    answer = ask("why did ROAS drop last week?", spike_table, _llm_settings(),
                 model=TestModel(custom_output_text="No numbers here."))
    assert answer.trace.final_plan.intent in ("diagnose", "creative", "budget", "forecast", "trend", "summary")
    assert answer.trace.planner_note  # accepted or the reason it fell back, recorded
