"""analyse(): the plan of typed steps, skipping on purpose, failing with the stage named."""

from __future__ import annotations

import pytest

from fb_analyst import schema as S
from fb_analyst.errors import StageError, WindowError
from fb_analyst.ingest import ingest_files
from fb_analyst.pipeline import PLAN, analyse
from fb_analyst.pipeline.analysis import make_headline
from fb_analyst.pipeline.steps import SkipStage, load_stage
from fb_analyst.windows import WindowSpec

QUICK = ("ingest", "windows", "segments", "diagnose")


def test_plan_is_the_documented_stage_order():
    assert [s.name for s in PLAN] == ["ingest", "windows", "segments", "diagnose", "creative", "forecast"]


def test_analyse_runs_requested_stages_and_records_the_rest_as_skipped(write_export, fast_settings):
    analysis = analyse([str(write_export())], WindowSpec(), fast_settings, stages=QUICK)
    status = {s.name: s.status for s in analysis.stages}
    assert status == {"ingest": "ok", "windows": "ok", "segments": "ok", "diagnose": "ok",
                      "creative": "skipped", "forecast": "skipped"}
    assert analysis.skipped["forecast"] == "not requested by the caller"
    assert analysis.diagnosis is not None and analysis.creative is None
    assert analysis.headline.text.startswith("ROAS ")
    assert all(s.seconds >= 0 for s in analysis.stages)


def test_analyse_accepts_an_ibis_table_and_writes_nothing(write_export, fast_settings, tmp_path):
    table = ingest_files([str(write_export())], fast_settings).table
    before = sorted(p.name for p in tmp_path.iterdir())
    progress: list[tuple[str, str]] = []
    analysis = analyse(table, None, fast_settings, stages=QUICK, progress=lambda s, e, d: progress.append((s, e)))
    assert analysis.stage("ingest").status == "provided"
    assert ("diagnose", "start") in progress and ("diagnose", "ok") in progress
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_creative_skipped_without_creative_text(write_export, fast_settings):
    path = write_export(drop=(S.CREATIVE_MESSAGE,))
    analysis = analyse([str(path)], None, fast_settings, stages=(*QUICK, "creative"))
    creative = analysis.stage("creative")
    assert creative.status == "skipped" and "no creative_message column" in creative.reason


def test_forecast_skipped_when_too_few_days(write_export, fast_settings):
    path = write_export(keep_days=14, drop=(S.CREATIVE_MESSAGE,))
    analysis = analyse([str(path)], None, fast_settings, stages=("ingest", "windows", "forecast"))
    forecast = analysis.stage("forecast")
    assert forecast.status == "skipped"
    assert "only 14 days" in forecast.reason and "min_history_days" in forecast.reason


def test_dependent_step_is_skipped_with_the_upstream_reason(write_export, fast_settings):
    analysis = analyse([str(write_export())], None, fast_settings, stages=("ingest", "diagnose"))
    diag = analysis.stage("diagnose")
    assert diag.status == "skipped" and "needs windows" in diag.reason and "not requested" in diag.reason
    assert "diagnosis skipped" in analysis.headline.text or "undefined" in analysis.headline.text


def test_missing_stage_module_is_skipped_not_faked():
    with pytest.raises(SkipStage, match="fb_analyst.no_such_stage is not available"):
        load_stage("fb_analyst.no_such_stage", "run")
    with pytest.raises(SkipStage, match="not available"):
        load_stage("fb_analyst.kpis", "no_such_function")


def test_internal_stage_failure_raises_stage_error_naming_the_stage(write_export, fast_settings, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom in the localiser")

    monkeypatch.setattr("fb_analyst.diagnose.diagnose", broken)
    with pytest.raises(StageError) as err:
        analyse([str(write_export())], None, fast_settings, stages=QUICK)
    assert err.value.stage == "diagnose" and "boom in the localiser" in str(err.value)


def test_bad_window_is_an_input_error_not_a_stage_error(write_export, fast_settings):
    with pytest.raises(WindowError):
        analyse([str(write_export())], WindowSpec(current="1999-01-01:1999-01-07"), fast_settings, stages=QUICK)


def test_headline_says_no_significant_change_without_supported_hypotheses():
    from fb_analyst.kpis import KpiValue

    account = {"baseline": {"roas": KpiValue(value=3.10)}, "current": {"roas": KpiValue(value=2.54)}}
    diag = {"hypotheses": [{"id": "H1", "status": "rejected", "metric": "cpm"}]}
    text = make_headline(account, diag, ()).text
    assert text == "ROAS fell 18.1% (3.10 -> 2.54); no significant change (no supported hypothesis)"


def test_headline_names_the_supported_cause_in_the_direction_of_the_change():
    from fb_analyst.kpis import KpiValue

    account = {"baseline": {"roas": KpiValue(value=3.10)}, "current": {"roas": KpiValue(value=2.54)}}
    up = {"id": "H1", "status": "supported", "metric": "ctr", "direction": "up", "segment": {"country": "IN"},
          "delta_pct": 0.12, "q_value": 0.01, "impact": {"revenue_at_stake": 500.0}}
    down = {"id": "H2", "status": "supported", "metric": "cpm", "direction": "up",
            "segment": {"placement": "stories"}, "delta_pct": 0.35, "q_value": 0.003,
            "impact": {"revenue_at_stake": -900.0}}
    headline = make_headline(account, {"hypotheses": [up, down]}, ())
    assert headline.text == ("ROAS fell 18.1% (3.10 -> 2.54); top supported cause: "
                             "CPM +35.0% on placement=stories (H2, q=0.003)")
    assert headline.cause_id == "H2" and headline.significant


def test_run_caps_duckdb_memory_and_spills_outside_the_working_directory(write_export, fast_settings,
                                                                         tmp_path, monkeypatch):
    from fb_analyst.engine import connect

    monkeypatch.chdir(tmp_path)
    con = connect("duckdb")
    analyse([str(write_export())], None, fast_settings.model_copy(update={"memory_limit": "100MB"}),
            stages=("ingest", "windows"), con=con)
    limit, spill = con.raw_sql("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    assert limit.endswith("MiB") and 90 <= float(limit.split()[0]) <= 100
    assert not spill.startswith(".") and not spill.startswith(str(tmp_path))
    # A sort larger than the cap spills to that private folder and still returns the right answer.
    top = con.raw_sql("SELECT i FROM (SELECT i FROM range(20000000) t(i) ORDER BY hash(i)) ORDER BY i DESC LIMIT 1")
    assert top.fetchone()[0] == 19_999_999
    assert not (tmp_path / ".tmp").exists()


def test_memory_limit_setting_is_validated(tmp_path):
    from fb_analyst.errors import ConfigError
    from fb_analyst.settings import load_settings

    config = tmp_path / "s.yaml"
    config.write_text("memory_limit: lots\n")
    with pytest.raises(ConfigError, match="memory_limit"):
        load_settings(config)
    config.write_text("memory_limit: 4GiB\n")
    assert load_settings(config).memory_limit == "4GiB"
