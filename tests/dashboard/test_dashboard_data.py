"""The dashboard's glue: sources and their hashes, filters, the staged analysis cache, downloads."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import ibis
import pandas as pd
import pytest

from fb_analyst.dashboard.data import (
    Filters,
    UploadTooLargeError,
    filter_options,
    filter_table,
    source_from_paths,
    source_from_uploads,
)
from fb_analyst.dashboard.exports import name_audit_frame, output_files, outputs_zip, overrides_csv, report_html
from fb_analyst.dashboard.store import ALL_STAGES, CORE_STAGES, AnalysisStore
from fb_analyst.errors import InputError
from fb_analyst.ingest.names import load_overrides
from fb_analyst.settings import Settings
from fb_analyst.windows import WindowSpec


@pytest.fixture()
def three_day_table() -> ibis.Table:
    return ibis.memtable(pd.DataFrame({
        "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-03"]).date,
        "campaign": ["A", "B", "A", "B"],
        "platform": ["Facebook", "Instagram", "Instagram", "Facebook"],
        "spend": [1.0, 2.0, 3.0, 4.0],
        "impressions": [10, 20, 30, 40],
    }))


def test_uploads_are_keyed_by_name_and_bytes_and_written_under_a_private_folder(tmp_path: Path) -> None:
    a = source_from_uploads([("export.csv", b"x,y\n1,2\n")], 10, tmp_path)
    again = source_from_uploads([("export.csv", b"x,y\n1,2\n")], 10, tmp_path)
    other = source_from_uploads([("export.csv", b"x,y\n1,3\n")], 10, tmp_path)
    assert a.key == again.key != other.key
    path = Path(a.paths[0])
    assert path.read_bytes() == b"x,y\n1,2\n" and path.name == "export.csv"
    assert a.clean(f"{path}: bad file") == "export.csv: bad file"


def test_upload_names_cannot_escape_the_folder(tmp_path: Path) -> None:
    src = source_from_uploads([("../../etc/pass wd;.csv", b"a")], 10, tmp_path)
    assert Path(src.paths[0]).parent.parent == tmp_path
    assert Path(src.paths[0]).name == "pass wd_.csv"


def test_upload_over_the_limit_names_file_size_limit_and_setting(tmp_path: Path) -> None:
    with pytest.raises(UploadTooLargeError, match=r"big\.csv: 2\.0 MB is over the upload limit of 1 MB.*max_upload_mb"):
        source_from_uploads([("big.csv", b"0" * (2 * 1024 * 1024))], 1, tmp_path)


def test_path_sources_change_key_when_the_file_changes(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("1")
    k1 = source_from_paths([f]).key
    f.write_text("2")
    assert source_from_paths([f]).key != k1


def test_filters_key_is_order_free_and_empty_choices_mean_all() -> None:
    a = Filters.build(None, None, {"platform": ["Instagram", "Facebook"], "country": []})
    b = Filters.build(None, None, {"platform": ["Facebook", "Instagram"]})
    assert a == b and a.key() == b.key()
    assert a.describe() == "platform in {Facebook, Instagram}"
    assert Filters().describe() == "no filter (every row)"


def test_filter_table_applies_dates_and_dimensions(three_day_table: ibis.Table) -> None:
    f = Filters.build(date(2025, 1, 2), None, {"platform": ["Instagram"]})
    out = filter_table(three_day_table, f).to_pandas()
    assert out["spend"].tolist() == [2.0, 3.0]
    opts = filter_options(three_day_table)
    assert (opts.date_min, opts.date_max) == (date(2025, 1, 1), date(2025, 1, 3))
    assert opts.values == {"campaign": ["A", "B"], "platform": ["Facebook", "Instagram"]}


def test_filter_on_an_absent_dimension_lists_the_valid_ones(three_day_table: ibis.Table) -> None:
    with pytest.raises(InputError, match="no such column; filterable here: campaign, platform"):
        filter_table(three_day_table, Filters.build(None, None, {"country": ["US"]}))


@pytest.fixture(scope="module")
def sample_core(sample_csv_path: Path) -> tuple[AnalysisStore, object]:
    store = AnalysisStore()
    source = source_from_paths([sample_csv_path], kind="sample")
    return store, store.analysis(source, Filters(), WindowSpec(), Settings(), CORE_STAGES)


def test_core_analysis_is_cached_and_slow_stages_wait(sample_core, sample_csv_path: Path) -> None:
    store, analysis = sample_core
    assert analysis.diagnosis is not None and analysis.creative is None and analysis.forecast is None
    assert [s.name for s in analysis.stages] == ["ingest", *CORE_STAGES]
    source = source_from_paths([sample_csv_path], kind="sample")
    assert store.ready(source, Filters(), WindowSpec(), Settings())
    assert not store.ready(source, Filters(), WindowSpec(), Settings(), ("creative",))
    again = store.analysis(source, Filters(), WindowSpec(), Settings())
    assert again.diagnosis is analysis.diagnosis  # from the cache, not recomputed


def test_bad_window_fails_from_the_cache_too(sample_core, sample_csv_path: Path) -> None:
    store, _ = sample_core
    source = source_from_paths([sample_csv_path], kind="sample")
    spec = WindowSpec(current="2030-01-01:2030-01-07")
    for _ in range(2):
        with pytest.raises(InputError, match="outside the data"):
            store.analysis(source, Filters(), spec, Settings())


def test_json_downloads_are_the_run_outputs(sample_core) -> None:
    _, analysis = sample_core
    files = output_files(analysis)
    assert {"data_quality.json", "quarantine.csv", "kpis.json", "hypotheses.json"} <= set(files)
    hyps = json.loads(files["hypotheses.json"])
    assert hyps["schema_version"] and hyps["hypotheses"][0]["id"] == "H1"
    with zipfile.ZipFile(io.BytesIO(outputs_zip(files))) as zf:
        assert set(zf.namelist()) == set(files)


def test_html_report_download_is_self_contained(sample_core) -> None:
    _, analysis = sample_core
    html = report_html(analysis, "dashboard-test").decode("utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and "plotly" in html.lower()
    assert "<script src=\"http" not in html


def test_correction_file_is_read_back_by_ingest(sample_core, tmp_path: Path) -> None:
    _, analysis = sample_core
    audit = name_audit_frame(analysis.ingest.report)
    spaced = audit["raw_name"].str.split().str.join(" ")
    i = int(audit.index[(spaced == audit["raw_name"]) & ~spaced.duplicated(keep=False)][0])
    audit.loc[i, "canonical_name"] = "=HYPERLINK(\"x\")"  # what a spreadsheet would execute
    path = tmp_path / "overrides.csv"
    path.write_bytes(overrides_csv(audit))
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows[i]["canonical_name"].startswith("'=")
    assert len(rows) == len(audit)
    level = audit.loc[i, "level"]
    mapping = load_overrides(path, level)
    assert "'=HYPERLINK(\"x\")" in mapping.values()
    assert set(mapping.values()) <= set(audit["canonical_name"]) | {"'=HYPERLINK(\"x\")"}


@pytest.mark.slow
def test_slow_stages_run_on_demand_and_complete_the_downloads(sample_core, sample_csv_path: Path) -> None:
    store, core = sample_core
    source = source_from_paths([sample_csv_path], kind="sample")
    full = store.analysis(source, Filters(), WindowSpec(), Settings(), ALL_STAGES)
    assert full.diagnosis is core.diagnosis  # the core stages were not run again
    assert full.creative is not None and full.forecast is not None
    files = output_files(full)
    assert {"creative_clusters.json", "creatives.json", "forecast.json"} <= set(files)
    assert json.loads(files["forecast.json"])["series"]
    html = report_html(full, "dashboard-test").decode("utf-8")
    assert "Budget" in html or "budget" in html
