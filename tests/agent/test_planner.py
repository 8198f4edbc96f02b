"""The deterministic planner: common phrasings -> the right intent, KPI, windows, segment, tools."""

from __future__ import annotations

import pytest

from fb_analyst.agent.planner import INTENT_TOOLS, plan_question

VALUES = {
    "platform": ["Facebook", "Instagram"],
    "placement": ["explore", "feed", "marketplace", "reels", "stories"],
    "country": ["AU", "CA", "IN", "UK", "US"],
    "audience_type": ["Broad", "Lookalike", "Retargeting"],
    "creative_type": ["Carousel", "Image", "UGC", "Video"],
    "campaign": ["Women Fit & Lift", "Men Premium Modal"],
}
N7 = {"current_days": 7, "baseline_days": 7}

CASES = [
    # question, intent, metric, window, segment, extra expectations
    ("Why did ROAS drop last week?", "diagnose", "roas", N7, {}, {"direction": "down"}),
    ("why did CTR fall in the last 14 days on Instagram", "diagnose", "ctr",
     {"current_days": 14, "baseline_days": 14}, {"platform": "Instagram"}, {}),
    ("What happened to CPA in the UK last month?", "diagnose", "cpa",
     {"current_days": 28, "baseline_days": 28}, {"country": "UK"}, {}),
    ("Why is conversion rate down for retargeting on stories since 2025-04-10?", "diagnose", "cvr",
     {"current": "2025-04-10:END"}, {"audience_type": "Retargeting", "placement": "stories"}, {}),
    ("Which creatives should we refresh?", "creative", "ctr", {}, {}, {}),
    ("Are any ads wearing out on Facebook in the past 2 weeks?", "creative", "ctr",
     {"current_days": 14, "baseline_days": 14}, {"platform": "Facebook"}, {}),
    ("What if we add 20% budget?", "budget", "roas", {}, {}, {"budget_change": 0.2}),
    ("Cut spend by 10% - what happens to revenue?", "budget", "revenue", {}, {}, {"budget_change": -0.1}),
    ("What if we double the budget for the next 2 weeks", "budget", "roas", {}, {},
     {"budget_change": 1.0, "horizon": 14}),
    ("How is CTR trending?", "trend", "ctr", {"current_days": 14, "baseline_days": 14}, {}, {}),
    ("Forecast next week", "forecast", "revenue", {}, {}, {"horizon": 7}),
    ("What will purchases look like over the next 14 days in the US?", "forecast", "purchases", {},
     {"country": "US"}, {"horizon": 14}),
    ("How did Women Fit & Lift do between 2025-04-01 and 2025-04-14?", "summary", "roas",
     {"current": "2025-04-01:2025-04-14"}, {"campaign": "Women Fit & Lift"}, {}),
    ("Explain the CPM change week over week by placement", "diagnose", "cpm", {"preset": "wow"}, {},
     {"dimensions": ["placement"]}),
    ("roas yesterday in india", "summary", "roas", {"current_days": 1, "baseline_days": 1},
     {"country": "IN"}, {}),
]


@pytest.mark.parametrize(("question", "intent", "metric", "window", "segment", "extra"), CASES,
                         ids=[c[0][:40] for c in CASES])
def test_phrasing_maps_to_plan(question, intent, metric, window, segment, extra):
    plan = plan_question(question, VALUES)
    assert plan.intent == intent
    assert plan.metric == metric
    assert plan.window.model_dump(exclude_none=True) == window
    assert plan.segment == segment
    assert plan.tools == list(INTENT_TOOLS[intent])
    for key, value in extra.items():
        assert getattr(plan, key) == value, key
    assert plan.notes and plan.notes[0].startswith(f"intent: {intent}")


def test_at_least_ten_phrasings_are_covered():
    assert len(CASES) >= 10


def test_country_alias_uses_the_spelling_present_in_the_data():
    assert plan_question("why did roas drop in the UK", {"country": ["GB", "US"]}).segment == {"country": "GB"}
    assert plan_question("why did roas drop in the UK", {"country": ["US"]}).segment == {}


def test_value_words_do_not_match_inside_other_words():
    plan = plan_question("why did ctr drop for females", {"gender": ["male", "female"]})
    assert plan.segment == {}  # 'male' is not matched inside 'females'
    plan = plan_question("why did ctr drop for female users", {"gender": ["male", "female"]})
    assert plan.segment == {"gender": "female"}
