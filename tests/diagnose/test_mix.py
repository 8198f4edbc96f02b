"""Mix versus rate (shift-share): hand-computed answers, pure budget shifts and Simpson's paradox."""

from __future__ import annotations

import numpy as np
import pytest

from fb_analyst.diagnose.mix import _verdict, shift_share


def test_shift_share_by_hand():
    # Two segments, ROAS = revenue/spend. Baseline: A spend 100 ROAS 4, B spend 100 ROAS 2 (acct 3).
    # Current: A spend 50 ROAS 4.4, B spend 150 ROAS 2.2 (acct 2.75).
    num_b, den_b = np.array([400.0, 200.0]), np.array([100.0, 100.0])
    num_c, den_c = np.array([220.0, 330.0]), np.array([50.0, 150.0])
    mix, rate, segs = shift_share(["A", "B"], num_b, den_b, num_c, den_c)
    # weights 0.5/0.5 -> 0.25/0.75; midpoint ROAS A 4.2, B 2.1; midpoint account 2.875
    # mix = (-0.25)(4.2) + (0.25)(2.1) = -0.525; rate = 0.4*0.375 + 0.2*0.625 = 0.275
    assert mix == pytest.approx(-0.525)
    assert rate == pytest.approx(0.275)
    assert mix + rate == pytest.approx(2.75 - 3.0)
    a, b = segs
    assert a.mix_effect == pytest.approx(-0.25 * (4.2 - 2.875))
    assert b.mix_effect == pytest.approx(0.25 * (2.1 - 2.875))
    assert a.rate_effect == pytest.approx(0.4 * 0.375)
    # Simpson: both segments improved, the account fell because spend moved to the weaker one.
    assert "Simpson" in _verdict("audience", "roas", 2.75 - 3.0, mix, rate, segs)


def test_pure_budget_shift_is_all_mix():
    num_b, den_b = np.array([400.0, 200.0]), np.array([100.0, 100.0])
    num_c, den_c = np.array([200.0, 300.0]), np.array([50.0, 150.0])  # same ROAS, new weights
    mix, rate, segs = shift_share(["A", "B"], num_b, den_b, num_c, den_c)
    assert rate == pytest.approx(0.0)
    assert mix == pytest.approx(2.5 - 3.0)
    assert "mostly mix" in _verdict("campaign", "roas", -0.5, mix, rate, segs)


def test_segment_in_one_window_is_mix():
    mix, rate, segs = shift_share(["A", "B"], np.array([300.0, 0.0]), np.array([100.0, 0.0]),
                                  np.array([300.0, 100.0]), np.array([100.0, 100.0]))
    assert rate == pytest.approx(0.0)
    assert mix == pytest.approx(2.0 - 3.0)
    assert segs[1].kpi_baseline is None
