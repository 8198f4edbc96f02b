"""Bad input in the dashboard: a clear message in the page, never a stack trace.

Also: files named on the command line (``fb-analyst dashboard FILE``) and the upload size limit
from ``dashboard.max_upload_mb``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from dashboard_support import APP, RUN_TIMEOUT, errors_of, shown_text
from streamlit.testing.v1 import AppTest


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.radio(key="source").set_value("Upload files").run()
    at.file_uploader(key="upload").upload(name, content, "text/csv")
    return at.run()


@pytest.fixture()
def fresh_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    return at.run()


def test_no_source_yet_shows_the_invitation(fresh_app: AppTest) -> None:
    assert not errors_of(fresh_app)
    assert fresh_app.radio(key="source").value == "Upload files"
    assert any("Upload an Ads Manager" in i.value for i in fresh_app.info)


def test_random_binary_upload_shows_the_ingest_message(fresh_app: AppTest) -> None:
    at = upload(fresh_app, "export.csv", os.urandom(4096) + b"\x00" * 64)
    assert not at.exception
    [err] = at.error
    assert shown_text(err.value).startswith("export.csv: binary file, not a text or spreadsheet export")
    assert "Traceback" not in err.value and "/tmp" not in err.value  # the user's file name, not ours
    assert not at.metric  # no page rendered on bad data


def test_csv_without_ad_columns_names_the_missing_columns(fresh_app: AppTest) -> None:
    at = upload(fresh_app, "notes.csv", b"name,colour\nalpha,red\nbeta,blue\n")
    assert not at.exception
    [err] = at.error
    assert "notes.csv: missing required columns date, campaign, spend, impressions" in shown_text(err.value)
    assert "ingest.column_mapping" in shown_text(err.value)  # the fix


def test_upload_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "small.yaml"
    config.write_text("dashboard:\n  max_upload_mb: 1\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", [str(APP), "--config", str(config)])
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    assert "up to 1 MB" in at.file_uploader(key="upload").label
    at = upload(at, "big.csv", b"date,campaign,spend,impressions\n" + b"2025-01-01,A,1,100\n" * 80_000)
    [err] = at.error
    assert "big.csv: 1.4 MB is over the upload limit of 1 MB" in shown_text(err.value)
    assert "dashboard.max_upload_mb" in shown_text(err.value)


def test_files_named_on_the_command_line_are_the_default_source(
    sample_csv_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [str(APP), str(sample_csv_path)])
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    assert at.radio(key="source").value == "Files from the command line"
    assert not errors_of(at), errors_of(at)
    assert any(m.label == "ROAS" for m in at.metric)


def test_missing_command_line_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(APP), str(tmp_path / "nope.csv")])
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    [err] = at.error
    assert "nope.csv" in shown_text(err.value) and not at.exception


def test_window_outside_the_filtered_data_is_an_error_not_a_crash(app_on_sample: AppTest) -> None:
    at = app_on_sample
    at.selectbox(key="window_mode").set_value("Custom dates").run()
    at.date_input(key="window_current").set_value((at.date_input(key="window_current").value[0],) * 2)
    at.date_input(key="window_baseline").set_value(at.date_input(key="window_current").value)
    at.run()
    [err] = at.error
    assert "overlaps" in shown_text(err.value) and not at.exception
    at.selectbox(key="window_mode").set_value(at.selectbox(key="window_mode").options[0]).run()
    assert not errors_of(at)
