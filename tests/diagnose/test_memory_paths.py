"""The diagnosis' memory-saving paths give what the plain pandas formulations give.

``Cube.sums_by`` / ``Cube.leaf_sums`` (integer codes instead of a group-by on object columns; the
sums must be bit for bit the group-by's, so hypotheses do not move), ``Cube.n_values`` /
``n_combinations``, ``PackedMask`` (candidate masks kept as bits) and the localiser's lazily built
``Members``.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from fb_analyst.diagnose.evaluate import _nested
from fb_analyst.diagnose.frames import WINDOW, PackedMask, den_col, num_col
from fb_analyst.diagnose.localize_search import enumerate_candidates


@pytest.fixture(scope="module")
def cube(generated_cube):
    return generated_cube("mix_shift", seed=5, missing_country_every=89)[0]


def _groupby(cube, dims, cols, rows):
    f = cube.frame.loc[rows, [*dims, WINDOW, *cols]]
    g = f.groupby([*dims, WINDOW])[cols].sum().unstack(WINDOW, fill_value=0.0)
    return g.reindex(columns=[(c, w) for c in cols for w in ("baseline", "current")], fill_value=0.0)


def test_sums_by_is_the_groupby_bit_for_bit(cube):
    cols = [num_col("ctr"), den_col("ctr"), "sum__spend"]
    some = cube.mask({"country": cube.frame["country"].iloc[0]})
    for rows in (np.ones(len(cube.frame), bool), ~some):
        for dim in cube.dimensions:
            values, sums = cube.sums_by(dim, cols, rows)
            want = _groupby(cube, [dim], cols, rows)
            assert list(values) == list(want.index)
            for c in cols:
                np.testing.assert_array_equal(sums[c], want[c].to_numpy())


def test_leaf_sums_is_the_groupby_bit_for_bit(cube):
    dims = [d for d in cube.dimensions if cube.n_values(d) > 1]
    cols = [num_col("cvr"), den_col("cvr")]
    rows = ~cube.mask({"campaign": cube.frame["campaign"].iloc[-1]})
    leaves, sums = cube.leaf_sums(dims, cols, rows)
    want = _groupby(cube, dims, cols, rows)
    assert leaves.equals(want.index.to_frame(index=False))
    for c in cols:
        np.testing.assert_array_equal(sums[c], want[c].to_numpy())


def test_value_counts_and_nesting_match_pandas(cube):
    f = cube.frame
    dims = list(cube.dimensions)
    assert [cube.n_values(d) for d in dims] == [f[d].nunique() for d in dims]
    for pair in list(combinations(dims, 2))[:12]:
        assert cube.n_combinations(pair) == len(f[list(pair)].drop_duplicates())
    for d in dims:
        assert _nested(cube, d, "campaign") == (f.groupby("campaign")[d].nunique().max() <= 1)


def test_packed_mask_round_trip_and_subset():
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 9, 1001):
        a = rng.random(n) < 0.3
        b = a | (rng.random(n) < 0.3)
        pa, pb = PackedMask(a), PackedMask(b)
        np.testing.assert_array_equal(pa.unpack(), a)
        assert pa.count == a.sum() and pa.issubset(pb)
        assert pb.issubset(pa) == (not (b & ~a).any())


def test_members_are_the_element_tuples():
    rng = np.random.default_rng(1)
    codes = np.column_stack([rng.integers(0, k, 200) for k in (3, 5, 4)])
    a, e = rng.random(200), rng.random(200)
    cands = enumerate_candidates(codes, [3, 5, 4], a, e, np.ones(200), np.ones(200, bool), 2)
    want = []
    for depth in (1, 2):
        for combo in combinations(range(3), depth):
            keys = sorted({tuple(int(codes[r, j]) for j in combo) for r in range(200)})
            want.extend(tuple(zip(combo, key)) for key in keys)
    assert len(cands.members) == len(want) == len(cands.gain)
    assert [cands.members[i] for i in range(len(want))] == want
    with pytest.raises(IndexError):
        cands.members[len(want)]
