"""Helpers shared by the dashboard tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import html
from pathlib import Path

from streamlit.testing.v1 import AppTest

import fb_analyst.dashboard

APP = Path(fb_analyst.dashboard.__file__).with_name("app.py")
#: Seconds one AppTest run may take: the first analysis of the sample runs every core stage,
#: the Creatives and Forecast pages run their stage (minutes on a busy 2-core machine).
RUN_TIMEOUT = 1200


def errors_of(at: AppTest) -> list[str]:
    """Error boxes and uncaught exceptions shown in the page."""
    return [e.value for e in at.error] + [str(x.value) for x in at.exception]


def shown_text(markdown: str) -> str:
    """What a reader sees of Streamlit markdown that escaped its punctuation (``\\_`` -> ``_``)."""
    return html.unescape(markdown.replace("\\", ""))
