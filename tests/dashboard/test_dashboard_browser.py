"""End to end in a real browser: ``fb-analyst dashboard`` on a free loopback port, driven by
Playwright in headless Debian Chromium (``/usr/bin/chromium``; Playwright's own browsers are not
downloaded). Upload the sample, see the KPI tiles, a Plotly chart and the hypotheses table, change
a filter and see the numbers change, download hypotheses.json, keep screenshots; then upload a file that is not an ads
export and see the message (not a stack trace).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Milliseconds to wait for an analysis to show (the first one runs every core stage).
ANALYSIS_MS = 600_000

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dashboard exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200 and r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"dashboard not healthy after {timeout:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(proc: subprocess.Popen) -> None:
    """Stop the CLI and the Streamlit server it started: one process group, started by this test."""
    if group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while group_alive(proc.pid) and time.monotonic() < deadline:
        proc.poll()  # reap the CLI so the group can empty
        time.sleep(0.2)
    if group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_upload_sample_see_hypotheses_and_chart_then_filter(tmp_path: Path, sample_csv_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    from playwright.sync_api import expect

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "dashboard.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fb_analyst.cli", "dashboard", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
        )
    try:
        wait_healthy(url, proc, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1100})
                page.goto(url)
                page.locator("input[type=file]").set_input_files(str(sample_csv_path))

                tiles = page.locator('[data-testid="stMetric"]')
                spend = tiles.filter(has_text="Spend").locator('[data-testid="stMetricValue"]')
                expect(spend).to_be_visible(timeout=ANALYSIS_MS)
                expect(page.locator(".st-key-trend_chart .js-plotly-plot .main-svg").first).to_be_visible(timeout=60_000)
                spend_all = spend.inner_text()

                page.locator(".st-key-page").get_by_text("Diagnosis", exact=True).click()
                expect(page.get_by_text("Hypotheses, ranked")).to_be_visible(timeout=60_000)
                hyps = page.locator('.st-key-hypotheses_table [data-testid="stDataFrame"]')
                expect(hyps).to_be_visible(timeout=60_000)
                expect(page.locator(".st-key-hyp_evidence input")).to_have_value(re.compile(r"^H1: "))
                expect(page.locator('.st-key-evidence_table [data-testid="stDataFrame"]')).to_be_visible()
                expect(page.locator(".st-key-waterfall_chart .js-plotly-plot .main-svg").first).to_be_visible()
                page.get_by_text("Downloads", exact=True).click()
                with page.expect_download(timeout=120_000) as download:
                    page.get_by_role("button", name="hypotheses.json").click()
                saved = tmp_path / "hypotheses.json"
                download.value.save_as(saved)
                assert json.loads(saved.read_text(encoding="utf-8"))["hypotheses"][0]["id"] == "H1"

                page.set_viewport_size({"width": 1600, "height": 2400})  # Streamlit scrolls inside its own pane
                page.screenshot(path=str(tmp_path / "diagnosis.png"))
                page.set_viewport_size({"width": 1600, "height": 1100})

                page.locator(".st-key-page").get_by_text("Overview", exact=True).click()
                expect(spend).to_be_visible(timeout=60_000)
                page.locator(".st-key-filter_platform").click()
                page.get_by_role("option", name="Instagram").click()
                page.keyboard.press("Escape")
                expect(spend).not_to_have_text(spend_all, timeout=ANALYSIS_MS)
                spend_ig = spend.inner_text()
                expect(page.get_by_text("platform in {Instagram}").first).to_be_visible(timeout=60_000)
                page.set_viewport_size({"width": 1600, "height": 1800})
                page.wait_for_timeout(1500)  # let the charts finish drawing before the screenshot
                shot = tmp_path / "overview_instagram.png"
                page.screenshot(path=str(shot))
                assert shot.stat().st_size > 10_000
                assert spend_ig != spend_all
                assert not page.locator('[data-testid="stException"]').count()

                # A file that is not an ads export: the ingest message in the page, no stack trace.
                bad = tmp_path / "notes.csv"
                bad.write_text("name,colour\nalpha,red\n", encoding="utf-8")
                page.locator("input[type=file]").set_input_files(str(bad))
                alert = page.locator('[data-testid="stAlert"]').filter(has_text="notes.csv: missing required columns")
                expect(alert).to_be_visible(timeout=120_000)
                page.screenshot(path=str(tmp_path / "bad_upload.png"))
                assert not page.locator('[data-testid="stException"]').count()
                assert "Traceback" not in page.content()
            finally:
                browser.close()
    finally:
        stop(proc)
