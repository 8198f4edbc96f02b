"""The planted cause is found: generated scenarios scored against their truth (diagnose/scoring.py).

The fast set runs one seed of the scenarios each engineer depends on; the slow set runs every
scenario over several seeds and bounds the hit rate per scenario and the false positives overall
(the full 10-seed figures live in BENCHMARKS.md, benchmarks/bench_diagnosis.py).
"""

from __future__ import annotations

import json

import pytest

from fb_analyst.diagnose.scoring import score
from fb_analyst.sample import SCENARIOS
from fb_analyst.settings import Settings


@pytest.mark.parametrize("scenario", ["no_change", "cpm_spike_placement", "mix_shift", "tracking_outage"])
def test_planted_cause_fast(scenario, run_scenario):
    data, _, diagnosis, _ = run_scenario(scenario, 0)
    s = score(diagnosis, data.truth)
    assert s.hit, (s, [h.title for h in diagnosis.supported])
    assert s.false_supported == 0


def test_no_change_says_so(run_scenario):
    _, _, diagnosis, _ = run_scenario("no_change", 0)
    assert diagnosis.verdict == "no significant change"
    assert not diagnosis.supported
    assert diagnosis.summary.startswith("No significant change")


def test_cpm_spike_names_metric_segment_direction(run_scenario):
    data, _, diagnosis, _ = run_scenario("cpm_spike_placement", 0)
    top = diagnosis.supported[0]
    assert (top.metric, top.direction, top.segment) == (data.truth.metric, data.truth.direction, data.truth.segment)
    assert top.id == "H1" and top.status == "supported"
    assert top.impact.revenue_at_stake < 0 and top.actions
    cpm = next(p for p in diagnosis.roas_decomposition.parts if p.factor == "cpm")
    assert cpm.log_points < 0  # a CPM rise costs ROAS


def test_outage_is_measurement_not_performance(run_scenario):
    data, _, diagnosis, _ = run_scenario("tracking_outage", 0)
    top = diagnosis.supported[0]
    assert top.kind == "measurement"
    assert {o.date for o in diagnosis.outages} >= set(data.truth.extra["outage_days"])
    assert not [h for h in diagnosis.supported if h.kind == "rate" and h.metric in ("cvr", "aov")]


def test_mix_shift_is_mix(run_scenario):
    _, _, diagnosis, _ = run_scenario("mix_shift", 0)
    mix = [h for h in diagnosis.supported if h.kind == "mix"]
    assert mix and "audience_type" in mix[0].segment
    assert not [h for h in diagnosis.supported if h.kind == "rate"]
    aud = next(m for m in diagnosis.mix_vs_rate if m.dimension == "audience_type" and m.kpi == "roas")
    assert abs(aud.mix_effect) > abs(aud.rate_effect)


def test_json_is_strict_and_ids_stable(run_scenario):
    _, _, diagnosis, _ = run_scenario("cpm_spike_placement", 0)

    def no_constants(x):
        raise AssertionError(f"non-finite number {x} in hypotheses.json")

    doc = json.loads(diagnosis.model_dump_json(), parse_constant=no_constants)
    assert doc["schema_version"] == "1.0"
    assert [h["id"] for h in doc["hypotheses"]] == [f"H{i}" for i in range(1, len(doc["hypotheses"]) + 1)]
    for h in doc["hypotheses"]:
        assert 0.0 <= h["confidence"] <= 1.0
        assert h["status"] in ("supported", "rejected", "inconclusive")


SEEDS = range(4)
#: Minimum hit rate per scenario over SEEDS (the measured 10-seed rates are in BENCHMARKS.md). The
#: confidence gate of the status rule (hypotheses.py) holds back weak single discoveries: in seeds
#: 0-3 a -30% CVR drop in one audience with q 0.02 but confidence 0.41 is reported as inconclusive.
MIN_HIT = {"improvement": 0.0, "simpson": 0.25, "cvr_drop_audience": 0.5}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_planted_cause_over_seeds(scenario, run_scenario):
    scores = [score(run_scenario(scenario, seed)[2], run_scenario(scenario, seed)[0].truth)
              for seed in SEEDS]
    hit = sum(s.hit for s in scores) / len(scores)
    assert hit >= MIN_HIT.get(scenario, 0.75), scores
    # measured over 10 seeds: 0-40% of runs carry a false supported hypothesis, none without a change
    assert sum(s.false_supported > 0 for s in scores) <= (0 if scenario in ("no_change", "trend_weekly") else 2), scores


def test_metrics_and_dimensions_arguments(run_scenario, settings):
    from fb_analyst.diagnose import diagnose
    from fb_analyst.errors import UnknownNameError

    data, windows, _, table = run_scenario("cpm_spike_placement", 0)
    d = diagnose(table, windows, settings, metrics=("ctr",), dimensions=["placement", "country"])
    assert d.metrics == ["ctr"] and d.dimensions == ["placement", "country"]
    assert {h.metric for h in d.hypotheses if h.kind == "rate"} <= {"ctr"}
    assert all(set(h.segment) <= {"placement", "country"} for h in d.hypotheses)
    with pytest.raises(UnknownNameError, match="valid KPIs"):
        diagnose(table, windows, settings, metrics=("roi",))
    with pytest.raises(UnknownNameError, match="dimension"):
        diagnose(table, windows, settings, dimensions=["colour"])


@pytest.mark.slow
def test_misses_are_classified(run_scenario):
    """Every miss gets a reason from MISS_REASONS (benchmarks/bench_diagnosis.py tabulates them);
    known answers: improvement seed 2's planted UK rise passes BH (q 0.02) but is held back by the
    confidence gate; ctr_fatigue seed 0 supports the fatigued ads but ranks a false AOV rise first."""
    from fb_analyst.diagnose.scoring import GATED, MISS_REASONS, OUTRANKED, miss_reason

    cfg = Settings().diagnose
    data, _, d, _ = run_scenario("improvement", 2)
    reason, detail = miss_reason(d, data.truth, cfg)
    assert reason == GATED and "country=UK" in detail
    planted = next(h for h in d.hypotheses if h.segment == data.truth.segment and h.metric == "cvr")
    assert planted.q_value <= cfg.fdr_q and planted.confidence < 0.5 and planted.status == "inconclusive"
    data, _, d, _ = run_scenario("ctr_fatigue", 0)
    reason, detail = miss_reason(d, data.truth, cfg)
    assert reason == OUTRANKED and "creative fatigue" in detail and "aov" in detail
    data, _, d, _ = run_scenario("cpm_spike_placement", 0)
    assert miss_reason(d, data.truth, cfg) is None  # a hit
    for scenario in SCENARIOS:
        for seed in SEEDS:
            data, _, d, _ = run_scenario(scenario, seed)
            got = miss_reason(d, data.truth, cfg)
            assert (got is None) == score(d, data.truth).hit
            assert got is None or got[0] in MISS_REASONS
