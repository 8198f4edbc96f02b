"""Root-cause localisation on small generated cubes with planted causes, and on 3 RS cases."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fb_analyst.diagnose.localize import RootCause, localize, localize_root_cause
from fb_analyst.errors import InputError, MissingColumnsError

REPO = Path(__file__).resolve().parents[2]
RS_DIR = REPO.parent / "shared" / "data" / "rca_rs"
HARNESS = REPO.parent / "shared" / "tools" / "rca_harness.py"

DIMS = ["platform", "placement", "audience", "country"]
LEVELS = {
    "platform": ["facebook", "instagram", "audience_network"],
    "placement": ["feed", "stories", "reels", "right_column"],
    "audience": ["prospecting", "retargeting", "lookalike"],
    "country": ["US", "UK", "DE"],
}
RATIO = {
    "op": "divide",
    "numerator": {"real": "clicks", "predict": "clicks_expected"},
    "denominator": {"real": "impressions", "predict": "impressions_expected"},
}


def _cube(seed: int) -> pd.DataFrame:
    """One row per leaf (108 leaves) with a random baseline volume."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(list(itertools.product(*LEVELS.values())), columns=DIMS)
    df["base"] = rng.uniform(500, 3000, len(df))
    return df


def _inside(df: pd.DataFrame, segment: dict[str, str]) -> np.ndarray:
    mask = np.ones(len(df), dtype=bool)
    for k, v in segment.items():
        mask &= (df[k] == v).to_numpy()
    return mask


def additive_cube(seed: int, causes: list[tuple[dict[str, str], float]]) -> pd.DataFrame:
    """Revenue per leaf: expected = baseline, actual = Poisson(baseline x factor in each cause)."""
    rng = np.random.default_rng(seed + 1)
    df = _cube(seed)
    factor = np.ones(len(df))
    for segment, f in causes:
        factor[_inside(df, segment)] *= f
    df["revenue_expected"] = df["base"]
    df["revenue"] = rng.poisson(df["base"] * factor).astype(float)
    return df.drop(columns="base")


def ctr_cube(seed: int, causes: list[tuple[dict[str, str], float]]) -> pd.DataFrame:
    """CTR = clicks/impressions; impressions also shift (a mix change) where CTR does not."""
    rng = np.random.default_rng(seed + 2)
    df = _cube(seed)
    ctr = rng.uniform(0.01, 0.03, len(df))
    df["impressions_expected"] = df["base"] * 100
    volume = np.where(df["country"] == "DE", 2.0, 1.0)  # budget moved into DE, CTR unchanged
    df["impressions"] = rng.poisson(df["impressions_expected"] * volume).astype(float)
    rate = ctr.copy()
    for segment, f in causes:
        rate[_inside(df, segment)] *= f
    df["clicks_expected"] = df["impressions_expected"] * ctr
    df["clicks"] = rng.poisson(df["impressions"] * rate).astype(float)
    df["ctr"] = df["clicks"] / df["impressions"]
    df["ctr_expected"] = df["clicks_expected"] / df["impressions_expected"]
    return df.drop(columns="base")


ONE_D = {"audience": "retargeting"}
TWO_D = {"platform": "instagram", "placement": "stories"}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("segment", [ONE_D, TWO_D], ids=["1d", "2d"])
def test_additive_measure_returns_exactly_the_planted_segment(seed, segment):
    df = additive_cube(seed, [(segment, 0.6)])
    assert localize_root_cause(df, DIMS, "revenue", "revenue_expected") == [segment]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("segment", [ONE_D, TWO_D], ids=["1d", "2d"])
def test_ratio_measure_returns_the_planted_segment_not_the_volume_shift(seed, segment):
    df = ctr_cube(seed, [(segment, 0.7)])
    assert localize_root_cause(df, DIMS, "ctr", "ctr_expected", RATIO) == [segment]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_simultaneous_causes_are_both_found(seed):
    first, second = {"country": "UK"}, {"platform": "facebook", "placement": "reels"}
    df = additive_cube(seed, [(first, 0.5), (second, 1.6)])
    found = localize_root_cause(df, DIMS, "revenue", "revenue_expected")
    assert sorted(map(str, found)) == sorted(map(str, [first, second]))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_no_anomaly_returns_empty(seed):
    assert localize_root_cause(additive_cube(seed, []), DIMS, "revenue", "revenue_expected") == []
    assert localize_root_cause(ctr_cube(seed, []), DIMS, "ctr", "ctr_expected", RATIO) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uniform_change_is_reported_as_global_not_as_segments(seed):
    df = additive_cube(seed, [({}, 0.7)])
    (cause,) = localize(df, DIMS, "revenue", "revenue_expected")
    assert cause.segment == {} and cause.share_of_change == pytest.approx(1.0)
    assert cause.deviation == pytest.approx(-0.3, abs=0.02)


def test_single_valued_dimension_is_never_the_answer():
    df = additive_cube(0, [(ONE_D, 0.6)]).assign(account="acme")
    assert localize_root_cause(df, [*DIMS, "account"], "revenue", "revenue_expected") == [ONE_D]
    uniform = additive_cube(0, [({}, 0.7)]).assign(account="acme")
    assert localize_root_cause(uniform, [*DIMS, "account"], "revenue", "revenue_expected") == [{}]


def test_root_cause_record_describes_the_segment():
    df = ctr_cube(5, [(TWO_D, 0.7)])
    (cause,) = localize(df, DIMS, "ctr", "ctr_expected", RATIO)
    assert isinstance(cause, RootCause)
    assert cause.segment == TWO_D and cause.label == "placement=stories&platform=instagram"
    inside = _inside(df, TWO_D)
    assert cause.actual == pytest.approx(df.loc[inside, "clicks"].sum() / df.loc[inside, "impressions"].sum())
    assert cause.expected == pytest.approx(
        df.loc[inside, "clicks_expected"].sum() / df.loc[inside, "impressions_expected"].sum()
    )
    assert cause.deviation == pytest.approx(-0.3, abs=0.05)
    assert cause.share_of_change == pytest.approx(1.0, abs=0.15)
    assert 0.5 < cause.score <= 1.0 and cause.surprise > 0 and cause.n_leaves == 9


def test_input_frame_is_not_mutated():
    df = additive_cube(0, [(ONE_D, 0.6)])
    before = df.copy()
    localize(df, DIMS, "revenue", "revenue_expected")
    pd.testing.assert_frame_equal(df, before)


def test_max_depth_one_cannot_return_a_combination():
    df = additive_cube(0, [(TWO_D, 0.5)])
    assert all(len(c) == 1 for c in localize_root_cause(df, DIMS, "revenue", "revenue_expected", max_depth=1))


def test_missing_columns_raise_input_error_naming_them():
    df = additive_cube(0, [])
    with pytest.raises(MissingColumnsError, match=r"missing column\(s\) 'device', 'spend'"):
        localize(df, [*DIMS, "device"], "spend", "revenue_expected")
    with pytest.raises(InputError, match="'impressions_expected'"):
        bad = {**RATIO, "denominator": {"real": "impressions", "predict": "impressions_expected"}}
        localize(df, DIMS, "revenue", "revenue_expected", bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_depth": 0}, "max_depth must be an integer >= 1"),
        ({"bogus": 1}, "unknown option.*bogus.*valid options: max_causes"),
        ({"derived": {"op": "multiply", "numerator": {"real": "revenue", "predict": "revenue"},
                      "denominator": {"real": "revenue", "predict": "revenue"}}}, "op 'multiply'"),
        ({"derived": {"numerator": "revenue"}}, "derived must look like"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs, message):
    with pytest.raises(InputError, match=message):
        localize(additive_cube(0, []), DIMS, "revenue", "revenue_expected", **kwargs)


def test_non_numeric_values_raise_input_error():
    df = additive_cube(0, [])
    df.loc[3, "revenue"] = np.nan
    with pytest.raises(InputError, match="'revenue' has 1 missing or non-numeric"):
        localize(df, DIMS, "revenue", "revenue_expected")


def test_empty_dimensions_raise_input_error():
    with pytest.raises(InputError, match="dimensions is empty"):
        localize(additive_cube(0, []), [], "revenue", "revenue_expected")


@pytest.mark.skipif(not (RS_DIR.is_dir() and HARNESS.is_file()), reason="shared RS benchmark not present")
def test_harness_runs_three_rs_cases(tmp_path):
    summary = tmp_path / "summary.json"
    cmd = [sys.executable, str(HARNESS), "--dataset-dir", str(RS_DIR), "--limit", "3",
           "--candidate", "fb_analyst.diagnose.localize:localize_root_cause",
           "--pythonpath", str(REPO / "src"), "--summary", str(summary)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    result = json.loads(summary.read_text())
    assert result["n_cases"] == 3 and result["n_errors"] == 0
