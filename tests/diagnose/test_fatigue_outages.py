"""Creative fatigue (shared with the creative stage) and tracking-outage detection."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fb_analyst.diagnose import detect_fatigue
from fb_analyst.engine import table_from_pandas
from fb_analyst.errors import UnknownNameError
from fb_analyst.sample import generate_sample


@pytest.fixture(scope="module")
def fatigue_data():
    data = generate_sample("ctr_fatigue", seed=2)
    return data, table_from_pandas(data.frame)


def test_fatigued_ads_found_with_onset(fatigue_data):
    data, table = fatigue_data
    found = detect_fatigue(table, "ad")
    fatigued = {f.key: f for f in found if f.fatigued}
    assert set(data.truth.extra["fatigued_ads"]) <= set(fatigued)
    assert len(fatigued) <= len(data.truth.extra["fatigued_ads"]) + 1
    for ad in data.truth.extra["fatigued_ads"]:
        f = fatigued[ad]
        assert abs((f.onset_date - data.truth.onset).days) <= 7
        assert f.slope_per_day < 0 and f.q_value <= 0.1 and f.decay_pct_per_week > 0
        assert f.ctr_recent < f.ctr_start


def test_fatigue_by_message_and_as_of(fatigue_data):
    data, table = fatigue_data
    msgs = {f.key for f in detect_fatigue(table, "creative_message") if f.fatigued}
    assert msgs & set(data.truth.extra["fatigued_messages"])
    early = detect_fatigue(table, "ad", as_of=data.truth.onset - timedelta(days=1))
    assert not [f for f in early if f.fatigued and f.key in data.truth.extra["fatigued_ads"]]


def test_no_fatigue_without_decay():
    table = table_from_pandas(generate_sample("no_change", seed=4).frame)
    assert not [f for f in detect_fatigue(table, "ad") if f.fatigued]


def test_fatigue_key_must_be_known(fatigue_data):
    with pytest.raises(UnknownNameError):
        detect_fatigue(fatigue_data[1], "campaign")


def test_outage_days_flagged_and_excluded(run_scenario):
    data, _, d, _ = run_scenario("tracking_outage", 1)
    days = set(data.truth.extra["outage_days"])
    flagged = {o.date for o in d.outages if not o.segment}
    assert flagged == days
    assert any("left out of the performance tests" in n for n in d.notes)
    measurement = [h for h in d.hypotheses if h.kind == "measurement" and not h.segment][0]
    assert measurement.status == "supported" and measurement.delta_pct < -0.8
    for h in d.hypotheses:
        if h.kind == "rate":
            assert set(h.evidence[1].excluded_dates) == days
