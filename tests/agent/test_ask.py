"""ask(): tools run, the evaluator loop retries on weak evidence, the answer names the planted cause."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fb_analyst.agent import ask
from fb_analyst.cli import app
from fb_analyst.engine import table_from_pandas
from fb_analyst.sample import generate_sample, write_sample
from fb_analyst.settings import Settings


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(creative={"embedder": "tfidf"})


def _table(scenario: str, seed: int = 0, days: int = 56):
    data = generate_sample(scenario, seed=seed, days=days)
    return table_from_pandas(data.frame), data.truth


@pytest.mark.parametrize("scenario", ["cpm_spike_placement", "cvr_drop_audience"])
def test_answer_names_the_planted_cause(scenario, settings):
    table, truth = _table(scenario)
    answer = ask("Why did ROAS drop last week?", table, settings)
    (dim, value), = truth.segment.items()
    assert truth.metric.upper() in answer.text
    assert f"{dim}={value}" in answer.text
    cited = answer.trace.cited_ids
    assert cited, "the answer cites hypothesis ids"
    supported = answer.trace.attempts[-1].tool_calls[2].summary["supported"]
    top = next(h for h in supported if h["id"] == cited[0])
    assert top["metric"] == truth.metric and top["segment"] == truth.segment
    assert top["direction"] == truth.direction


def test_weak_evidence_widens_and_retries_with_every_attempt_recorded():
    """An FDR level of 1e-300 and a minimum effect of 99% leave every hypothesis unsupported."""
    table, _ = _table("no_change", seed=1, days=56)
    weak = Settings(creative={"embedder": "tfidf"}, diagnose={"min_effect": 0.99, "fdr_q": 1e-300})
    answer = ask("why did CTR drop on marketplace last week?", table, weak)
    attempts = answer.trace.attempts
    assert len(attempts) >= 2
    assert not attempts[0].evaluation.sufficient
    assert attempts[0].evaluation.reason == "no supported hypothesis (weak evidence)"
    assert attempts[1].plan_change.startswith("windows: current and baseline 7 -> 14 days")
    assert attempts[1].window == {"current_days": 14, "baseline_days": 14}
    assert all(any(c.tool == "diagnose" for c in a.tool_calls) for a in attempts)
    assert attempts[2].plan_change.startswith("windows: current and baseline 14 -> 28 days")
    assert len(attempts) == 3 and not attempts[-1].evaluation.sufficient
    assert answer.trace.stop_reason == "stopped after 3 attempts (bound)"
    assert "No significant change" in answer.text and "after 3 attempts" in answer.text


def test_budget_and_trend_questions_use_their_tools(settings):
    table, _ = _table("trend_weekly", days=42)
    trend = ask("how is CVR trending?", table, settings)
    call = trend.trace.attempts[0].tool_calls[-1]
    assert call.tool == "trend" and call.status == "ok"
    assert call.summary["trend"] in ("rising", "falling", "no significant trend")
    assert "CVR" in trend.text
    budget = ask("what if we add 20% budget?", table, settings)
    call = budget.trace.attempts[0].tool_calls[-1]
    assert call.tool == "forecast" and call.args["budget_change"] == 0.2
    if call.status == "ok":
        assert budget.trace.attempts[0].tool_calls[-1].summary["budget"]["budget_change"] == pytest.approx(0.2)


def test_cli_ask_saves_the_trace(tmp_path):
    path = write_sample(generate_sample("cpm_spike_placement", seed=0, days=28, n_campaigns=3, scale=0.3),
                        tmp_path / "ads.csv")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["ask", "why did roas drop last week?", str(path), "--out", str(out)],
                                terminal_width=200)
    assert result.exit_code == 0, result.output
    trace = json.loads((out / "ask_trace.json").read_text())
    assert trace["schema_version"] == "1.0" and trace["question"] == "why did roas drop last week?"
    assert trace["plan"]["intent"] == "diagnose" and trace["plan"]["notes"]
    calls = trace["attempts"][0]["tool_calls"]
    assert [c["tool"] for c in calls] == ["windows", "kpis", "diagnose", "fatigue"]
    assert all("seconds" in c and "summary" in c for c in calls)
    assert trace["answer"].split(".")[0] in result.output.replace("\n", " ")


def test_creative_question_runs_themes_fatigue_and_recommendations(settings):
    table, truth = _table("ctr_fatigue", days=42)
    answer = ask("Which creatives should we refresh?", table, settings)
    first = answer.trace.attempts[0]
    assert [c.tool for c in first.tool_calls] == ["windows", "kpis", "diagnose", "creative"]
    creative = first.tool_calls[-1]
    assert creative.status == "ok" and creative.summary["themes"]
    if first.evaluation.sufficient:
        assert len(answer.trace.attempts) == 1
        assert "Refresh first" in answer.text or "try \"" in answer.text or "Losing themes" in answer.text
