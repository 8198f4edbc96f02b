"""The cube's fast paths give what the plain pandas / numpy formulations give.

``build_cube`` (Arrow conversion, engine sort), ``Cube.mask`` (integer codes), ``CubeIndex.cells``
(cached stratum ranks, memo), ``stats.unique_codes`` and the outage daily sums each have a direct
formulation written here as the reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fb_analyst import schema as S
from fb_analyst.diagnose.frames import WINDOW, CubeIndex, build_cube, den_col, num_col
from fb_analyst.diagnose.outages import _daily_sums
from fb_analyst.diagnose.stats import unique_codes
from fb_analyst.engine import table_from_pandas


@pytest.fixture(scope="module")
def cube_and_frame(generated_cube):
    return generated_cube("cvr_drop_audience", seed=3, missing_country_every=97)


def test_cube_frame_is_the_sorted_groupby(cube_and_frame):
    cube, frame, windows = cube_and_frame
    f = frame.assign(date=pd.to_datetime(frame["date"]).dt.date)
    f = f[[windows.baseline.contains(d) or windows.current.contains(d) for d in f["date"]]]
    f = f.assign(**{d: f[d].fillna("(missing)").astype(str) for d in cube.dimensions})
    ref = f.groupby([S.DATE, *cube.dimensions], as_index=False)[["spend", "clicks"]].sum()
    got = cube.frame
    assert list(got.columns[: 1 + len(cube.dimensions)]) == [S.DATE, *cube.dimensions]
    assert got[[S.DATE, *cube.dimensions]].equals(ref[[S.DATE, *cube.dimensions]])
    np.testing.assert_allclose(got["sum__spend"], ref["spend"], rtol=1e-12)
    np.testing.assert_array_equal(got["sum__clicks"], ref["clicks"].astype(float))
    assert (got[WINDOW] == np.where([windows.current.contains(d) for d in got[S.DATE]], "current", "baseline")).all()
    assert all(got[c].dtype == np.float64 for c in got.columns if "__" in c or c == "rows")


def test_mask_matches_string_comparison(cube_and_frame):
    cube = cube_and_frame[0]
    f = cube.frame
    for dim in cube.dimensions:
        for value in list(f[dim].unique()[:4]) + ["no such value"]:
            np.testing.assert_array_equal(cube.mask({dim: value}), (f[dim] == value).to_numpy())
    a, b = cube.dimensions[:2]
    seg = {a: f[a].iloc[0], b: f[b].iloc[0]}
    np.testing.assert_array_equal(cube.mask(seg), ((f[a] == seg[a]) & (f[b] == seg[b])).to_numpy())
    assert cube.mask(None).all() and cube.mask({}).all()


def reference_cells(idx: CubeIndex, mask, kpi, strata):
    """The day x stratum cells computed directly: combined codes ranked with np.unique."""
    rows = np.flatnonzero(mask & idx.include)
    s_code, n_s = np.zeros(len(rows), np.int64), 1
    for dim in strata or ():
        codes, levels = idx.codes[dim]
        s_code, n_s = s_code * len(levels) + codes[rows], n_s * len(levels)
    if n_s > 1:
        uniq, s_code = np.unique(s_code, return_inverse=True)
        n_s = len(uniq)
    key = idx.day[rows] * n_s + s_code
    size = len(idx.days) * n_s
    y = np.bincount(key, idx.values[num_col(kpi)][rows], size)
    x = np.bincount(key, idx.values[den_col(kpi)][rows], size)
    cur = np.bincount(key, idx.current[rows].astype(float), size) > 0
    cell = np.flatnonzero(np.bincount(key, minlength=size) > 0)
    return y[cell], x[cell], cell % n_s, cur[cell], cell // n_s


@pytest.mark.parametrize("strata", [None, ("audience_type",), ("adset", "audience_type"), ("country", "platform")])
def test_cells_match_direct_ranking(cube_and_frame, strata):
    cube = cube_and_frame[0]
    exclude = np.zeros(len(cube.frame), bool)
    exclude[::11] = True
    idx = CubeIndex(cube, exclude)
    rng = np.random.default_rng(0)
    masks = [cube.mask({}), cube.mask({"audience_type": cube.frame["audience_type"].iloc[0]}),
             rng.random(len(cube.frame)) < 0.3, np.zeros(len(cube.frame), bool)]
    for mask in masks + masks:  # the second pass is served from the memo
        got, want = idx.cells(mask, "cvr", strata), reference_cells(idx, mask, "cvr", strata)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
            assert not g.flags.writeable
    assert idx.test(masks[1], "cvr", strata, 0.05) == idx.test(masks[1].copy(), "cvr", strata, 0.05)


@pytest.mark.parametrize("codes", [
    np.array([5, 3, 3, 9, 0, 5]), np.array([], dtype=np.int64), np.array([-2, 4, -2, 7]),
    np.array([10**9, 3, 10**9]), np.array(["b", "a", "b"], dtype=object), np.arange(50, dtype=np.int32)[::-1],
])
def test_unique_codes_is_np_unique(codes):
    got, want = unique_codes(codes), np.unique(codes, return_inverse=True)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_outage_daily_sums_are_the_groupby(cube_and_frame):
    cube = cube_and_frame[0]
    cols = ["sum__clicks", "sum__purchases", "sum__revenue"]
    for mask in (cube.mask({}), cube.mask({"audience_type": cube.frame["audience_type"].iloc[-1]}),
                 cube.mask({"campaign": cube.frame["campaign"].iloc[0]}) & (cube.frame[S.DATE] != cube.frame[S.DATE].iloc[0]).to_numpy()):
        want = cube.frame[mask].groupby([S.DATE, WINDOW])[cols].sum().reset_index().sort_values(S.DATE).reset_index(drop=True)
        got = _daily_sums(cube, mask, cols)
        assert list(got.columns) == list(want.columns)
        assert got[[S.DATE, WINDOW]].equals(want[[S.DATE, WINDOW]])
        np.testing.assert_allclose(got[cols].to_numpy(), want[cols].to_numpy(), rtol=1e-12)


def test_cube_with_null_measures_keeps_pair_sums(cube_and_frame):
    """With NULLs in a measure the pair sums are aggregated, not copied from the plain sums."""
    _, frame, windows = cube_and_frame
    frame = frame.copy()
    frame.loc[frame.index[::5], "revenue"] = None
    frame.loc[frame.index[1::7], "clicks"] = None
    cube = build_cube(table_from_pandas(frame), windows, ["audience_type"])
    f = frame.assign(date=pd.to_datetime(frame["date"]).dt.date)
    f = f[[windows.baseline.contains(d) or windows.current.contains(d) for d in f["date"]]]
    both = f["revenue"].notna() & f["purchases"].notna()
    ref = f.assign(num=f["revenue"].where(both), n=both.astype(float)).groupby(
        ["date", "audience_type"], as_index=False)[["num", "n", "purchases"]].sum()
    np.testing.assert_allclose(cube.frame["aov__num"], ref["num"], rtol=1e-12)
    np.testing.assert_array_equal(cube.frame["aov__n"], ref["n"])
    assert (cube.frame["sum__revenue"] >= cube.frame["aov__num"] - 1e-9).all()
    assert (cube.frame["all__n"] <= cube.frame["rows"]).all() and (cube.frame["all__n"] < cube.frame["rows"]).any()
    np.testing.assert_array_equal(cube.frame["cvr__den"] <= cube.frame["sum__clicks"], True)
