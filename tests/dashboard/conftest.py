"""Fixtures for the dashboard tests: an AppTest of the real app script already showing the sample."""

from __future__ import annotations

import pytest
from dashboard_support import APP, RUN_TIMEOUT, errors_of
from streamlit.testing.v1 import AppTest


@pytest.fixture(scope="module")
def app_on_sample() -> AppTest:
    """The dashboard with the bundled sample chosen as the data source (Overview page)."""
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.run()
    at.radio(key="source").set_value("Bundled sample").run()
    assert not errors_of(at), errors_of(at)
    return at
