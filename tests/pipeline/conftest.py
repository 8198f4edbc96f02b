"""Fixtures for the pipeline tests: small generated exports written as CSV (named for what they hold)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from fb_analyst import schema as S
from fb_analyst.sample import generate_sample
from fb_analyst.settings import Settings


def _small(scenario: str, days: int = 28, seed: int = 0) -> pd.DataFrame:
    return generate_sample(scenario, seed=seed, days=max(days, 21), n_campaigns=3, scale=0.3).frame


@pytest.fixture()
def write_export(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write a small generated export (optionally the last ``keep_days`` days, without
    ``drop`` columns) and return its path."""

    def make(scenario: str = "cpm_spike_placement", *, days: int = 28, keep_days: int | None = None,
             drop: tuple[str, ...] = (), name: str = "export.csv") -> Path:
        frame = _small(scenario, days)
        if keep_days is not None:
            dates = pd.to_datetime(frame[S.DATE])
            frame = frame[dates > dates.max() - pd.Timedelta(days=keep_days)]
        frame = frame.drop(columns=list(drop))
        path = tmp_path / name
        frame.to_csv(path, index=False)
        return path

    return make


@pytest.fixture()
def fast_settings() -> Settings:
    """Default settings but the TF-IDF embedder (no model load) for creative runs in tests."""
    return Settings(creative={"embedder": "tfidf"})
