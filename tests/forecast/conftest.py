"""Fixtures for the forecast tests: daily series with known shapes, generated data with known curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fb_analyst.settings import Settings


@pytest.fixture()
def forecast_settings() -> Settings:
    """Default settings with a smaller bootstrap (keeps the tests quick)."""
    s = Settings()
    return s.model_copy(update={"forecast": s.forecast.model_copy(update={"bootstrap_samples": 100})})


@pytest.fixture()
def trend_weekly_series() -> pd.Series:
    """84 days: level 100, +1/day trend, strong weekday pattern, small noise."""
    rng = np.random.default_rng(3)
    idx = pd.date_range("2025-01-01", periods=84, freq="D")
    t = np.arange(84)
    weekday = np.array([0, 5, 10, 15, 5, -15, -20])[t % 7]
    return pd.Series(100 + t + weekday + rng.normal(0, 2, 84), index=idx)


@pytest.fixture()
def noise_series() -> pd.Series:
    """84 days of independent noise around a level of 50 (nothing to predict but the mean)."""
    rng = np.random.default_rng(4)
    idx = pd.date_range("2025-01-01", periods=84, freq="D")
    return pd.Series(50 + rng.normal(0, 8, 84), index=idx)
