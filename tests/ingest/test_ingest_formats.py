"""The same data in every supported format gives the same canonical totals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fb_analyst import schema as S
from fb_analyst.engine import connect
from fb_analyst.ingest import ingest_files

from conftest import (  # type: ignore[import-not-found]
    DUPLICATE_ROWS, IMPOSSIBLE, campaign_spend, totals, write_ads_manager_csv, write_api_json,
    write_dirty_csv, write_xlsx,
)


def _ingest(path: Path, settings):
    result = ingest_files([path], settings, con=connect())
    return result, result.table.execute()


def _assert_same(frame: pd.DataFrame, reference: pd.DataFrame) -> None:
    assert len(frame) == len(reference) == 4500
    assert totals(frame) == pytest.approx(totals(reference), rel=1e-9)
    assert campaign_spend(frame) == pytest.approx(campaign_spend(reference), rel=1e-9)
    assert frame[S.CAMPAIGN].nunique() == 10


def test_sample_schema_csv_rewritten(tmp_path, sample_raw, sample_canonical, settings):
    path = tmp_path / "sample_schema.csv"
    sample_raw.to_csv(path, index=False)
    result, frame = _ingest(path, settings)
    _assert_same(frame, sample_canonical)
    assert result.report.files[0].source_kind == "sample_schema"


def test_ads_manager_csv(tmp_path, sample_raw, sample_canonical, settings):
    path = write_ads_manager_csv(sample_canonical, sample_raw, tmp_path / "ads_manager.csv")
    result, frame = _ingest(path, settings)
    _assert_same(frame, sample_canonical)
    f = result.report.files[0]
    assert f.source_kind == "ads_manager" and f.blank_results_are_zero
    assert f.currency == "USD" and "Amount spent (USD)" in f.currency_source
    assert f.column_sources[S.CLICKS] == "Link clicks"
    assert result.report.quarantined_by_reason == {"summary_row": 1}
    assert result.report.rows_read == 4501


def test_xlsx(tmp_path, sample_raw, sample_canonical, settings):
    path = write_xlsx(sample_raw, tmp_path / "sample.xlsx")
    result, frame = _ingest(path, settings)
    _assert_same(frame, sample_canonical)
    assert result.report.files[0].format == "xlsx"


def test_marketing_api_json(tmp_path, sample_raw, sample_canonical, settings):
    path = write_api_json(sample_canonical, sample_raw, tmp_path / "insights.json")
    result, frame = _ingest(path, settings)
    _assert_same(frame, sample_canonical)
    f = result.report.files[0]
    assert f.format == "json" and f.source_kind == "marketing_api"
    # purchases listed under three action types are counted once, from the preferred type
    assert set(f.purchase_action_types) == {"omni_purchase"}


def test_parquet(tmp_path, sample_canonical, settings):
    path = tmp_path / "canonical.parquet"
    sample_canonical.drop(columns=[S.SOURCE_FILE, S.SOURCE_ROW, *S.IMPUTED_FLAGS]).to_parquet(path)
    result, frame = _ingest(path, settings)
    _assert_same(frame, sample_canonical)
    assert result.report.files[0].format == "parquet"


def test_dirty_csv(tmp_path, sample_raw, sample_canonical, settings):
    path = write_dirty_csv(sample_raw, tmp_path / "dirty.csv")
    result, frame = _ingest(path, settings)
    _assert_same(frame, sample_canonical)
    r, f = result.report, result.report.files[0]
    assert (f.delimiter, f.bom, f.decimal_mark, f.date_order) == ("semicolon", True, ",", "dmy")
    assert (f.currency, f.currency_source) == ("EUR", "symbol in the spend cells")
    assert r.duplicates_removed == len(DUPLICATE_ROWS)
    assert r.rows_quarantined == len(IMPOSSIBLE)
    assert r.rows_read == r.rows_accepted + r.rows_quarantined + r.duplicates_removed
    assert set(result.quarantine["reason"]) == {spec["reason"] for spec in IMPOSSIBLE}
    # mojibake repaired: the creative texts are the sample's own
    assert set(frame[S.CREATIVE_MESSAGE]) == set(sample_canonical[S.CREATIVE_MESSAGE])
    assert set(frame[S.ADSET]) == set(sample_canonical[S.ADSET])


def test_several_files_and_glob(tmp_path, sample_raw, sample_canonical, settings):
    half = len(sample_raw) // 2
    sample_raw.iloc[:half].to_csv(tmp_path / "part1.csv", index=False)
    write_xlsx(sample_raw.iloc[half:].reset_index(drop=True), tmp_path / "part2.xlsx")
    result = ingest_files([str(tmp_path / "part1.csv"), str(tmp_path / "*.xlsx")], settings, con=connect())
    frame = result.table.execute()
    _assert_same(frame, sample_canonical)
    assert [f.rows_read for f in result.report.files] == [half, len(sample_raw) - half]
