"""The cube module (``diagnose/cube.py``): re-exported by ``frames``, and its current-window flag
computed once and shared with the index."""

from __future__ import annotations

import numpy as np

from fb_analyst import schema as S

from fb_analyst.diagnose import cube as cube_module
from fb_analyst.diagnose import frames
from fb_analyst.diagnose.frames import WINDOW, CubeIndex


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


def test_day_flag_is_the_current_window_of_each_day(generated_cube):
    cube, _, windows = generated_cube("mix_shift", 0, 7)
    _, days = cube.factorized(S.DATE)
    flag = cube.day_in_current
    assert flag is cube.day_in_current and not flag.flags.writeable
    assert [bool(f) for f in flag] == [windows.current.contains(d) for d in days]
