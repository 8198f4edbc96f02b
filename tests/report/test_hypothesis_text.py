"""How a hypothesis's change reads in the report: the interval next to the change it belongs to."""

from __future__ import annotations

from fb_analyst.pipeline.analysis import measure_text
from fb_analyst.report.context import change_text, share_of_baseline


def test_interval_stands_next_to_the_tested_change_when_it_differs_from_the_plain_one():
    h = {"delta_pct": -0.196, "rate_change_pct": -0.29, "ci": [-0.535, 0.089]}
    assert change_text(h) == "plain -19.6%; like for like -29.0%, CI [-53.5%, +8.9%]"


def test_one_change_when_the_tested_change_is_the_plain_one():
    h = {"delta_pct": -0.2081, "rate_change_pct": -0.2079, "ci": [-0.324, -0.046]}
    assert change_text(h) == "-20.8%, CI [-32.4%, -4.6%]"
    assert change_text({"delta_pct": None, "rate_change_pct": None, "ci": None}) == "n/a, CI n/a"
    # equal once printed: one figure; no plain change: the tested one with its interval
    assert change_text({"delta_pct": -0.2080, "rate_change_pct": -0.20799, "ci": None}) == "-20.8%, CI n/a"
    assert change_text({"delta_pct": None, "rate_change_pct": 0.1, "ci": [0.02, 0.2]}) == \
        "like for like +10.0%, CI [+2.0%, +20.0%]"


def test_counts_read_whole_and_money_with_cents():
    assert measure_text("purchases", 8235.0) == "8,235"
    assert measure_text("impressions", 94875938.0) == "94,875,938"
    assert measure_text("revenue", 329568.214) == "329,568.21"
    assert measure_text("spend", None) == "n/a"


def test_mix_and_rate_terms_read_as_shares_of_the_baseline_kpi():
    # CTR 1.21% -> 1.28%: rate +0.0007 of a 0.0121 baseline is +5.8%, not "+0.001"
    assert share_of_baseline(0.0007, 0.0121) == "+5.8%"
    assert share_of_baseline(-0.075, 5.39) == "-1.4%"
    assert share_of_baseline(0.1, 0.0) == "n/a" and share_of_baseline(None, 5.0) == "n/a"
