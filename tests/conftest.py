"""Shared fixtures. Fixtures are named for the data they hold."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CSV = REPO / "data" / "synthetic_fb_ads_undergarments.csv"


@pytest.fixture(scope="session")
def sample_csv_path() -> Path:
    """The bundled reference export (4,500 messy rows, 10 campaigns)."""
    return SAMPLE_CSV
