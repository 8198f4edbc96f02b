"""Fixtures for the diagnosis tests: generated scenarios and the bundled sample export."""

from __future__ import annotations

import functools

import pytest

from fb_analyst.diagnose import diagnose
from fb_analyst.engine import connect, table_from_pandas
from fb_analyst.sample import generate_sample
from fb_analyst.settings import Settings
from fb_analyst.windows import resolve_windows


@functools.lru_cache(maxsize=64)
def diagnosed_scenario(scenario: str, seed: int):
    """(SampleData, Windows, Diagnosis, ibis table) of a generated scenario, default windows."""
    data = generate_sample(scenario, seed=seed)
    table = table_from_pandas(data.frame, _con())
    settings = Settings()
    windows = resolve_windows(table, None, settings)
    return data, windows, diagnose(table, windows, settings), table


def _generated_cube(scenario: str, seed: int, missing_country_every: int):
    """(Cube, the generated frame, Windows) of a scenario, every ``missing_country_every``-th row's
    country blanked (an explicit "(missing)" label in the cube), default windows."""
    from fb_analyst import schema as S
    from fb_analyst.diagnose.frames import build_cube

    frame = generate_sample(scenario, seed=seed).frame.copy()
    frame.loc[frame.index[::missing_country_every], "country"] = None
    table = table_from_pandas(frame)
    windows = resolve_windows(table, None, Settings())
    return build_cube(table, windows, S.present_segment_dimensions(list(table.columns))), frame, windows


@functools.lru_cache(maxsize=1)
def _con():
    return connect("duckdb")


@functools.lru_cache(maxsize=4)
def _every_hypothesis(scenario: str, seed: int, rename: tuple[tuple[str, str, str], ...] = ()):
    """(Settings, Diagnosis) of a generated scenario with every record written (no
    ``max_hypotheses`` cut-off), so the explained candidates, ranked last, are in the output;
    ``rename``: (column, old value, new value) replacements applied to the generated rows first."""
    frame = generate_sample(scenario, seed=seed).frame.copy()
    for col, old, new in rename:
        frame[col] = frame[col].astype(object).where(frame[col] != old, new)
    base = Settings()
    settings = base.model_copy(update={"diagnose": base.diagnose.model_copy(update={"max_hypotheses": 1000})})
    table = table_from_pandas(frame, _con())
    return settings, diagnose(table, resolve_windows(table, None, settings), settings)


@pytest.fixture(scope="session")
def run_scenario():
    """``run_scenario(name, seed)`` -> (SampleData, Windows, Diagnosis, table), cached per session."""
    return diagnosed_scenario


@pytest.fixture(scope="session")
def generated_cube():
    """``generated_cube(scenario, seed, missing_country_every)`` -> (Cube, frame, Windows)."""
    return _generated_cube


@pytest.fixture(scope="session")
def every_hypothesis():
    """``every_hypothesis(scenario, seed, rename=())`` -> (Settings, Diagnosis) with every record
    written, cached per session."""
    return _every_hypothesis


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def sample_diagnosis(sample_csv_path, settings):
    """The bundled export through ingest, its default windows, its diagnosis and canonical frame.

    ``result`` is None when ingest could not run (it is developed in parallel); the export is
    then read with pandas and only renamed, so entity names are not resolved.
    """
    import warnings

    import pandas as pd

    try:
        from fb_analyst.ingest import ingest_files

        result = ingest_files([str(sample_csv_path)], settings)
        table = result.table
    except Exception as exc:  # noqa: BLE001 - fall back on purpose, loudly
        warnings.warn(f"ingest unavailable ({type(exc).__name__}: {exc}); reading the sample with pandas")
        result = None
        raw = pd.read_csv(sample_csv_path).rename(columns={"campaign_name": "campaign", "adset_name": "adset"})
        raw = raw.drop(columns=["ctr", "roas"])
        raw["date"] = pd.to_datetime(raw["date"])
        raw["currency"] = "USD"
        table = table_from_pandas(raw, _con())
    windows = resolve_windows(table, None, settings)
    diagnosis = diagnose(table, windows, settings)
    return result, windows, diagnosis, table.to_pandas()
