"""The bundled export: hypotheses name real campaigns and every number recomputes from the table."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fb_analyst import schema as S
from fb_analyst.kpis import get_kpi


def _rows(frame: pd.DataFrame, segment: dict, start, end, excluded=()) -> pd.DataFrame:
    day = pd.to_datetime(frame[S.DATE]).dt.date
    m = (day >= start) & (day <= end) & ~day.isin(list(excluded))
    for k, v in segment.items():
        m &= frame[k].astype(str) == v
    return frame[m]


def _pair(rows: pd.DataFrame, num: str, den: str) -> tuple[float, float]:
    both = rows[num].notna() & rows[den].notna()
    return float(rows.loc[both, num].sum()), float(rows.loc[both, den].sum())


def test_hypotheses_name_real_campaigns(sample_diagnosis):
    result, _, diagnosis, frame = sample_diagnosis
    if result is None:
        pytest.skip("ingest (name resolution) unavailable; see the warning of the sample_diagnosis fixture")
    campaigns = set(frame[S.CAMPAIGN].astype(str))
    assert 5 <= len(campaigns) <= 15  # name resolution merged the spelling variants
    named = [h.segment[S.CAMPAIGN] for h in diagnosis.hypotheses if S.CAMPAIGN in h.segment]
    assert named, "no hypothesis is about a campaign"
    assert set(named) <= campaigns
    for h in diagnosis.hypotheses:
        for dim, value in h.segment.items():
            assert value in set(frame[dim].astype(str)), (dim, value)


def test_every_number_recomputes(sample_diagnosis):
    _, windows, d, frame = sample_diagnosis
    win = {"baseline": windows.baseline, "current": windows.current}
    # account KPIs: ratio of sums over rows where both inputs are known
    for kc in d.account_kpis:
        k = get_kpi(kc.kpi)
        for w, value in (("baseline", kc.baseline), ("current", kc.current)):
            num, den = _pair(_rows(frame, {}, win[w].start, win[w].end), k.numerator, k.denominator)
            assert value.value == pytest.approx(k.scale * num / den, rel=1e-9)
    # decomposition: complete rows
    complete = frame.dropna(subset=list(S.MEASURES))
    for part in d.roas_decomposition.parts:
        num, den = {"ctr": (S.CLICKS, S.IMPRESSIONS), "cvr": (S.PURCHASES, S.CLICKS),
                    "aov": (S.REVENUE, S.PURCHASES), "cpm": (S.SPEND, S.IMPRESSIONS)}[part.factor]
        scale = 1000.0 if part.factor == "cpm" else 1.0
        for w, value in (("baseline", part.baseline), ("current", part.current)):
            r = _rows(complete, {}, win[w].start, win[w].end)
            assert value == pytest.approx(scale * r[num].sum() / r[den].sum(), rel=1e-9)
    checked = 0
    for h in d.hypotheses:
        for ev in h.evidence:
            rows = _rows(frame, ev.segment, ev.start, ev.end, ev.excluded_dates)
            num, den = _pair(rows, ev.numerator, ev.denominator)
            assert ev.numerator_sum == pytest.approx(num, rel=1e-9, abs=1e-9), (h.id, ev)
            assert ev.denominator_sum == pytest.approx(den, rel=1e-9, abs=1e-9), (h.id, ev)
            checked += 1
        if h.kind in ("rate", "fatigue"):
            k = get_kpi(h.metric)
            b, c = h.evidence
            assert h.baseline == pytest.approx(k.scale * b.numerator_sum / b.denominator_sum, rel=1e-9)
            assert h.current == pytest.approx(k.scale * c.numerator_sum / c.denominator_sum, rel=1e-9)
            assert h.delta_pct == pytest.approx(h.current / h.baseline - 1, rel=1e-9)
            assert h.rate_change_pct == pytest.approx(_rate_change(frame, h, win), rel=1e-6, abs=1e-9)
        elif h.kind == "mix":
            _check_mix(h)
    assert checked >= 2 * len(d.hypotheses)


def _rate_change(frame, h, win) -> float:
    """exp(log(A/E)) - 1: A current numerator, E current denominators at baseline stratum rates."""
    k = get_kpi(h.metric)
    strata = h.mix_adjusted_by or []
    sums = {}
    for w in ("baseline", "current"):
        rows = _rows(frame, h.segment, win[w].start, win[w].end, h.evidence[0].excluded_dates)
        rows = rows[rows[k.numerator].notna() & rows[k.denominator].notna()]
        keys = [S.DATE, *strata]
        cells = rows.groupby([rows[c].astype(str) if c != S.DATE else rows[c] for c in keys])[
            [k.numerator, k.denominator]].sum()
        cells = cells[cells[k.denominator] > 0]
        sums[w] = cells.groupby(level=list(range(1, len(keys)))).sum() if strata else cells.sum().to_frame().T
    if not strata:
        b, c = sums["baseline"].iloc[0], sums["current"].iloc[0]
        return (c[k.numerator] / c[k.denominator]) / (b[k.numerator] / b[k.denominator]) - 1
    j = sums["baseline"].join(sums["current"], lsuffix="_b", rsuffix="_c", how="inner")
    j = j[(j[f"{k.denominator}_b"] > 0) & (j[f"{k.denominator}_c"] > 0)]
    expected = (j[f"{k.denominator}_c"] * j[f"{k.numerator}_b"] / j[f"{k.denominator}_b"]).sum()
    return math.exp(math.log(j[f"{k.numerator}_c"].sum() / expected)) - 1


def _check_mix(h) -> None:
    """current = baseline + sum_v (w_c - w_b) * (R_b + R_c)/2, from the evidence rows."""
    k = get_kpi(h.metric)
    by = {}
    for ev in h.evidence:
        by.setdefault(tuple(ev.segment.items()), {})[ev.window] = (ev.numerator_sum, ev.denominator_sum)
    tb = sum(v["baseline"][1] for v in by.values())
    tc = sum(v["current"][1] for v in by.values())
    nb = sum(v["baseline"][0] for v in by.values())
    assert h.baseline == pytest.approx(k.scale * nb / tb, rel=1e-9)
    mix = 0.0
    for v in by.values():
        (yb, xb), (yc, xc) = v["baseline"], v["current"]
        rb = k.scale * yb / xb if xb > 0 else None
        rc = k.scale * yc / xc if xc > 0 else None
        rb, rc = (rb if rb is not None else rc), (rc if rc is not None else rb)
        if rb is not None:
            mix += (xc / tc - xb / tb) * (rb + rc) / 2
    assert h.current == pytest.approx(h.baseline + mix, rel=1e-9, abs=1e-12)


def test_no_nan_or_inf(sample_diagnosis):
    _, _, d, _ = sample_diagnosis
    text = d.model_dump_json()
    assert "NaN" not in text and "Infinity" not in text
