"""Mix versus rate (shift-share) of a ratio KPI's account change over one dimension.

An account ratio KPI is a weighted mean of its segments' values, weighted by the denominator:
``R = sum_s w_s R_s`` with ``w_s = den_s / den`` (spend share for ROAS, impression share for CTR).
Between windows b and c, the symmetric (midpoint) shift-share identity is exact, with no
interaction term::

    R_c - R_b = sum_s (w_cs - w_bs) * (R_bs + R_cs)/2   +   sum_s (R_cs - R_bs) * (w_bs + w_cs)/2
              =            mix effect                   +              rate effect

Because the weight changes sum to zero, a segment's mix term is reported centred,
``(w_cs - w_bs) * (Rbar_s - Rbar)`` with ``Rbar`` the midpoint account value: moving budget *into* a
segment better than the account is positive. The centred terms sum to the same mix effect.
A segment present in only one window has no rate change (its one value is used for both), so
launching or pausing it is pure mix.

A pure budget shift therefore shows as mix with a zero rate effect, and Simpson's paradox (every
segment improved, the account fell because spend moved towards weaker segments) shows as a rate
effect and a larger mix effect of opposite signs -- the verdict says so.
"""

from __future__ import annotations

import numpy as np

from fb_analyst.diagnose.frames import Cube, den_col, num_col
from fb_analyst.diagnose.models import MixRate, MixSegment
from fb_analyst.kpis import get_kpi, ratio_array

#: |mix| / (|mix| + |rate|) above which a dimension's change is called mix-driven.
MIX_DOMINANT = 2 / 3


def shift_share(
    values: list[str], num_b: np.ndarray, den_b: np.ndarray, num_c: np.ndarray, den_c: np.ndarray,
    scale: float = 1.0,
) -> tuple[float | None, float | None, list[MixSegment]]:
    """Midpoint shift-share (module doc) from per-segment sums; returns (mix, rate, segments)."""
    num_b, den_b, num_c, den_c = (np.asarray(a, float) for a in (num_b, den_b, num_c, den_c))
    tb, tc = den_b.sum(), den_c.sum()
    if tb <= 0 or tc <= 0:
        return None, None, []
    wb, wc = den_b / tb, den_c / tc
    rb, rc = ratio_array(scale * num_b, den_b), ratio_array(scale * num_c, den_c)
    rb_f = np.where(np.isnan(rb), rc, rb)  # one-window segments: no rate change
    rc_f = np.where(np.isnan(rc), rb, rc)
    live = ~(np.isnan(rb_f) | np.isnan(rc_f))
    rbar_s = (rb_f + rc_f) / 2
    r_b_acc, r_c_acc = scale * num_b.sum() / tb, scale * num_c.sum() / tc
    rbar = (r_b_acc + r_c_acc) / 2
    mix_s = np.where(live, (wc - wb) * (rbar_s - rbar), 0.0)
    rate_s = np.where(live, (rc_f - rb_f) * (wb + wc) / 2, 0.0)
    segs = [
        MixSegment(
            value=str(v), weight_baseline=float(wb[i]), weight_current=float(wc[i]),
            kpi_baseline=None if np.isnan(rb[i]) else float(rb[i]),
            kpi_current=None if np.isnan(rc[i]) else float(rc[i]),
            mix_effect=float(mix_s[i]), rate_effect=float(rate_s[i]),
        )
        for i, v in enumerate(values)
    ]
    return float(mix_s.sum()), float(rate_s.sum()), segs


def _verdict(dim: str, kpi: str, change: float, mix: float, rate: float, segs: list[MixSegment]) -> str:
    tot = abs(mix) + abs(rate)
    if tot <= 0:
        return f"{kpi} unchanged across {dim}"
    share = abs(mix) / tot
    if np.sign(rate) != np.sign(change) and abs(mix) > abs(rate) and rate != 0:
        improved = sum(1 for s in segs if s.rate_effect * np.sign(rate) > 0)
        return (
            f"Simpson's paradox over {dim}: segments' own {kpi} moved {'up' if rate > 0 else 'down'} "
            f"({improved} of {len(segs)} segments), but spend/volume moved towards segments with "
            f"{'lower' if mix < 0 else 'higher'} {kpi}, so the account moved the other way"
        )
    if share >= MIX_DOMINANT:
        return f"mostly mix over {dim}: {share:.0%} of the change comes from weights shifting between segments"
    if share <= 1 - MIX_DOMINANT:
        return f"mostly rate over {dim}: {1 - share:.0%} of the change comes from segments' own {kpi}"
    return f"mix and rate both matter over {dim} (mix {share:.0%})"


def mix_vs_rate(cube: Cube, dimension: str, kpi: str, exclude: np.ndarray | None = None) -> MixRate | None:
    """Shift-share of ``kpi`` over ``dimension`` from the cube (rows in ``exclude`` left out)."""
    if kpi not in cube.kpis:
        return None
    k = get_kpi(kpi)
    levels, sums = cube.sums_by(dimension, [num_col(kpi), den_col(kpi)], None if exclude is None else ~exclude)
    values = [str(v) for v in levels]
    (nb, nc), (db, dc) = sums[num_col(kpi)].T, sums[den_col(kpi)].T
    mix, rate, segs = shift_share(values, nb, db, nc, dc, k.scale)
    if mix is None or rate is None:
        return None
    kb, kc = k.scale * nb.sum() / db.sum(), k.scale * nc.sum() / dc.sum()
    tot = abs(mix) + abs(rate)
    segs.sort(key=lambda s: -(abs(s.mix_effect) + abs(s.rate_effect)))
    return MixRate(
        dimension=dimension, kpi=kpi, weight=f"share of {k.denominator}", kpi_baseline=float(kb),
        kpi_current=float(kc), change=float(kc - kb), mix_effect=mix, rate_effect=rate,
        mix_share=abs(mix) / tot if tot > 0 else None, segments=segs,
        verdict=_verdict(dimension, kpi, kc - kb, mix, rate, segs),
    )
