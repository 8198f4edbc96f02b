"""The shared pieces the diagnosis uses in several places: ``kpis.ratio_array`` (vectorised
num/den), ``hypotheses.gated_status`` (confidence, then the confidence gate, for every kind of
hypothesis), ``hypotheses.explained_status`` with the explaining hypothesis cut from the list, and
the cube's cached current-window flag (``cube.Cube.in_current``, re-exported by ``frames``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fb_analyst.diagnose import cube as cube_module
from fb_analyst.diagnose import frames
from fb_analyst.diagnose.frames import WINDOW, CubeIndex
from fb_analyst.diagnose.hypotheses import confidence_gate, explained_status, gated_status, support_level
from fb_analyst.diagnose.weighted_eb import fit_weighted_prior
from fb_analyst.kpis import ratio_array
from fb_analyst.settings import DiagnoseSettings


def test_ratio_array_divides_where_the_denominator_is_positive_and_fills_elsewhere():
    num = np.array([1.0, 2.0, 3.0, 0.0, np.nan])
    den = np.array([4.0, 0.0, -1.0, 0.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero / invalid warning escapes
        got = ratio_array(num, den)
        zero = ratio_array(num, den, fill=0.0)
    np.testing.assert_array_equal(got, [0.25, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(zero, [0.25, 0.0, 0.0, 0.0, np.nan])  # a NaN numerator stays NaN
    assert not np.isinf(got).any()


def test_ratio_array_broadcasts_like_numpy():
    # per value (rows) and window (columns) over the window totals: the spend-share use
    spend = np.array([[1.0, 0.0], [3.0, 0.0]])
    total = spend.sum(axis=0)
    np.testing.assert_array_equal(ratio_array(spend, total), [[0.25, np.nan], [0.75, np.nan]])


@pytest.fixture(scope="module")
def prior():
    rng = np.random.default_rng(3)
    est = np.concatenate([rng.normal(0, 0.1, 300), rng.normal(0, 0.5, 60)])
    return fit_weighted_prior(est, np.full(len(est), 0.1), np.ones(len(est)))


@pytest.mark.parametrize("est,direction", [(-0.4, "down"), (0.3, "up"), (0.06, "up"), (-0.05, "flat")])
def test_gated_status_is_the_confidence_then_the_gate(prior, est, direction):
    cfg = DiagnoseSettings()
    sign = 1 if direction == "up" else -1
    conf = prior.confidence(est, 0.1, 1.3, cfg.min_effect, sign)
    want = (*confidence_gate("supported", "ok", conf, 0.01, cfg), conf)
    assert gated_status("supported", "ok", prior, cfg, est=est, se=0.1, weight=1.3, direction=direction,
                        q=0.01) == want


def test_gated_status_without_an_estimate_or_se_has_zero_confidence_and_is_not_supported(prior):
    cfg = DiagnoseSettings()
    for est, se in ((None, 0.1), (0.5, None), (0.5, 0.0)):
        st, reason, conf = gated_status("supported", "ok", prior, cfg, est=est, se=se, weight=1.0,
                                        direction="up", q=0.001)
        assert (st, conf) == ("inconclusive", 0.0)
        assert f"supported needs {support_level(cfg):.0%}" in reason
    # a status other than supported passes unchanged, with its confidence
    st, reason, conf = gated_status("rejected", "why", prior, cfg, est=0.5, se=0.1, weight=1.0,
                                    direction="up", q=0.9)
    assert (st, reason) == ("rejected", "why") and conf > 0.5


def test_explained_status_names_an_explaining_hypothesis_cut_from_the_list():
    assert explained_status(None, "country=US", "no volume left", "supported") == (
        "rejected", "explained by a hypothesis (country=US): no volume left")
    assert explained_status(None, "country=US", "no volume left", "inconclusive") == (
        "inconclusive", "its change is within the rows of a hypothesis not listed (country=US), "
                        "which is itself inconclusive: no volume left")


def test_frames_reexports_the_cube_module():
    for name in ("Cube", "build_cube", "num_col", "den_col", "n_col", "sorted_codes", "ALL", "SUM", "WINDOW"):
        assert getattr(frames, name) is getattr(cube_module, name), name


def test_current_window_flag_is_computed_once_and_shared(generated_cube):
    cube, _, _ = generated_cube("mix_shift", 0, 7)
    flag = cube.in_current
    assert flag is cube.in_current and flag.dtype == bool and not flag.flags.writeable
    np.testing.assert_array_equal(flag, cube.frame[WINDOW].to_numpy() == "current")
    assert CubeIndex(cube).current is flag
    # the sums keyed on it are those of a group-by on the window column
    values, sums = cube.sums_by("country", ["sum__spend"])
    want = cube.frame.groupby(["country", WINDOW])["sum__spend"].sum().unstack(WINDOW, fill_value=0.0)
    np.testing.assert_array_equal(sums["sum__spend"], want.loc[values, ["baseline", "current"]].to_numpy())
