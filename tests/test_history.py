"""Run history and drift: PSI, the KS + PSI shift rule, category/schema/hypothesis drift, two runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from fb_analyst import schema as S
from fb_analyst.history import (
    DriftThresholds,
    HypothesisRef,
    RunSnapshot,
    compare_runs,
    load_previous_snapshot,
    psi,
    run_ids,
)
from fb_analyst.pipeline import run_pipeline
from fb_analyst.sample import generate_sample
from fb_analyst.settings import Settings


def _snap(run_id: str, created: str, **over) -> RunSnapshot:
    base = dict(run_id=run_id, created_at=created, columns={"date": "date", "campaign": "string", "clicks": "int64"},
                categories={"campaign": ["A", "B"]}, dates=[], daily={}, hypotheses=[])
    base.update(over)
    return RunSnapshot(**base)


def test_psi_is_zero_for_identical_samples_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(0.012, 0.001, 60)
    assert psi(a, a) == pytest.approx(0.0, abs=1e-12)
    assert psi(a, a * 1.5) > 1.0


def test_shift_rule_needs_both_the_ks_test_and_psi():
    rng = np.random.default_rng(1)
    prev = list(rng.normal(0.012, 0.001, 56))
    same = list(rng.normal(0.012, 0.001, 56))
    shifted = list(np.array(same) * 1.3)
    days = [str(d) for d in range(56)]
    p = _snap("p", "1", dates=days, daily={"ctr": prev})
    assert compare_runs(p, _snap("c", "2", dates=days, daily={"ctr": same})).kpis[0].status == "stable"
    drift = compare_runs(p, _snap("c", "2", dates=days, daily={"ctr": shifted}))
    assert drift.kpis[0].status == "shifted" and drift.kpis[0].psi >= DriftThresholds().psi_moderate
    short = compare_runs(p, _snap("c", "2", dates=days[:3], daily={"ctr": shifted[:3]}))
    assert short.kpis[0].status == "not_compared"


def test_schema_category_and_hypothesis_drift():
    h = lambda i, key, status="supported": HypothesisRef(id=i, key=key, title=key, status=status)  # noqa: E731
    prev = _snap("p", "1", hypotheses=[h("H1", "cpm|up|placement=stories"), h("H2", "cvr|down|country=UK")])
    cur = _snap("c", "2", columns={"date": "date", "campaign": "string", "clicks": "float64", "placement": "string"},
                categories={"campaign": ["B", "C"]},
                hypotheses=[h("H3", "cpm|up|placement=stories"), h("H1", "ctr|down|ad=x"),
                            h("H2", "cvr|down|country=UK", "rejected")])
    drift = compare_runs(prev, cur)
    assert drift.schema_changes.added == ["placement"]
    assert drift.schema_changes.type_changed[0].column == "clicks"
    camp = drift.categories[0]
    assert (camp.dimension, camp.new, camp.vanished) == ("campaign", ["C"], ["A"])
    assert [x.id for x in drift.hypotheses.persisted] == ["H3"]
    assert [x.id for x in drift.hypotheses.appeared] == ["H1"]
    assert [x.id for x in drift.hypotheses.resolved] == ["H2"]


def test_second_run_reports_new_campaign_and_shifted_ctr(tmp_path):
    """Acceptance: a second run on data with a new campaign and a shifted CTR reports both."""
    frame = generate_sample("no_change", seed=3, days=28, n_campaigns=3, scale=0.3).frame
    frame = frame.drop(columns=[S.CREATIVE_MESSAGE])
    first = tmp_path / "week1.csv"
    frame.to_csv(first, index=False)
    second_frame = frame.copy()
    second_frame[S.CLICKS] = np.floor(second_frame[S.CLICKS] * 1.6)  # CTR up 60% on every day
    newcomer = frame[frame[S.CAMPAIGN] == frame[S.CAMPAIGN].iloc[0]].copy()
    newcomer[S.CAMPAIGN] = "Brand New Launch"
    second_frame = pd.concat([second_frame, newcomer], ignore_index=True)
    second = tmp_path / "week2.csv"
    second_frame.to_csv(second, index=False)

    out = tmp_path / "out"
    settings = Settings()
    quiet = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    stages = ("ingest", "windows", "segments", "diagnose")
    run_pipeline([str(first)], out, None, settings, run_id="run1", console=quiet, stages=stages)
    assert json.loads((out / "data_quality.json").read_text())["drift"] is None
    result = run_pipeline([str(second)], out, None, settings, run_id="run2", console=quiet, stages=stages)

    drift = json.loads((out / "data_quality.json").read_text())["drift"]
    assert drift["previous_run_id"] == "run1" and drift["current_run_id"] == "run2"
    campaigns = next(c for c in drift["categories"] if c["dimension"] == S.CAMPAIGN)
    assert campaigns["new"] == ["Brand New Launch"] and campaigns["vanished"] == []
    ctr = next(k for k in drift["kpis"] if k["kpi"] == "ctr")
    assert ctr["status"] == "shifted" and ctr["current_median"] > ctr["previous_median"]
    assert result.drift is not None
    assert any("Brand New Launch" in line for line in result.drift.summary)
    report = (out / "report.md").read_text()
    assert "Brand New Launch" in report and "CTR daily distribution shifted" in report
    assert run_ids(out) == ["run1", "run2"]
    assert load_previous_snapshot(out).run_id == "run2"
    assert json.loads((out / "run.json").read_text())["previous_run_id"] == "run1"


def test_kept_runs_are_hard_links_that_survive_the_next_run(tmp_path):
    from fb_analyst.history import keep_run

    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("run one\n")
    keep_run(out, _snap("one", "1"))
    kept = out / "runs" / "one" / "report.md"
    assert kept.stat().st_ino == (out / "report.md").stat().st_ino  # no extra space while latest
    replacement = out / "new.md"
    replacement.write_text("run two\n")
    replacement.replace(out / "report.md")  # how atomic_output_dir publishes
    assert kept.read_text() == "run one\n"
    assert (out / "runs" / "one" / "snapshot.json").is_file()


def test_snapshot_categories_come_sorted_and_truncated_from_one_query():
    import ibis

    table = ibis.memtable(pd.DataFrame({
        S.CAMPAIGN: ["b", "a", "c", "a", None, "d"],
        S.PLATFORM: ["fb", "ig", "fb", None, "ig", "fb"],
    }))
    from fb_analyst.history import snapshot_run

    snap = snapshot_run("r", table, None, None, DriftThresholds(max_categories=3))
    kept = snap.categories[S.CAMPAIGN]  # four distinct campaigns, three kept; nulls are not values
    assert len(kept) == 3 and kept == sorted(kept) and set(kept) < {"a", "b", "c", "d"}
    assert snap.categories[S.PLATFORM] == ["fb", "ig"] and snap.truncated == [S.CAMPAIGN]
    full = snapshot_run("r", table, None, None)
    assert full.categories[S.CAMPAIGN] == ["a", "b", "c", "d"] and full.truncated == []
