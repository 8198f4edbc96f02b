"""The one aggregate the diagnosis reads from the engine: a daily cube over both windows.

Input: the canonical table (``ibis.Table``), the resolved windows and the segment dimensions.
Output: a :class:`Cube` -- a pandas frame with one row per date x combination of dimension values
present in the data, holding *pair sums* per ratio KPI (numerator and denominator summed over the
rows where both are known, the registry's rule) and *complete-row sums* (all five measures known,
used by the exact funnel decomposition). The aggregation runs in the engine (Ibis); only this
aggregate comes to Python, so its size is bounded by the input rows inside the two windows.

Every other diagnosis step slices this cube with boolean masks: the daily sums of any segment
(a conjunction ``{dimension: value}``) are ``cube.frame[mask].groupby(date).sum()``.
:class:`CubeIndex` precomputes integer codes so those sums (per day x stratum cell) and the
day-level tests of ``stats.py`` run on ``np.bincount`` for thousands of candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import numpy as np
import pandas as pd

from fb_analyst import schema as S
from fb_analyst.diagnose.stats import ContrastTest, RateTest, contrast_change, rate_change, widen
from fb_analyst.kpis import RATIO_KPIS, get_kpi
from fb_analyst.windows import Windows

#: Column prefix of complete-row sums (rows where every measure is known).
ALL = "all__"
#: Column prefix of plain sums (rows where the measure is known), used for volumes and shares.
SUM = "sum__"
WINDOW = "window"


def num_col(kpi: str) -> str:
    return f"{kpi}__num"


def den_col(kpi: str) -> str:
    return f"{kpi}__den"


def n_col(kpi: str) -> str:
    return f"{kpi}__n"


@dataclass(frozen=True)
class Cube:
    """Daily pair sums per date x dimension values, labelled by window ('baseline'/'current')."""

    frame: pd.DataFrame
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    kpis: tuple[str, ...]
    currency: str | None
    windows: Windows
    dates: dict[str, list[date]] = field(default_factory=dict)

    def mask(self, segment: dict[str, Any] | None) -> np.ndarray:
        """Boolean row mask of a segment (an empty / None segment is the whole account)."""
        m = np.ones(len(self.frame), dtype=bool)
        for dim, value in (segment or {}).items():
            m &= (self.frame[dim] == value).to_numpy()
        return m

    def daily(self, mask: np.ndarray | None = None) -> pd.DataFrame:
        """Daily sums (index = date, plus the window column) of the rows in ``mask``."""
        f = self.frame if mask is None else self.frame[mask]
        value_cols = [c for c in f.columns if c not in self.dimensions and c not in (S.DATE, WINDOW)]
        out = f.groupby([S.DATE, WINDOW], sort=True)[value_cols].sum().reset_index()
        return out

    def window_sums(self, mask: np.ndarray | None = None) -> pd.DataFrame:
        """Sums per window (index 'baseline', 'current'); absent windows give zero rows."""
        f = self.frame if mask is None else self.frame[mask]
        value_cols = [c for c in f.columns if c not in self.dimensions and c not in (S.DATE, WINDOW)]
        out = f.groupby(WINDOW)[value_cols].sum()
        return out.reindex(["baseline", "current"], fill_value=0)


def _pair_sums(t: ibis.Table, kpis: tuple[str, ...], measures: tuple[str, ...]) -> dict[str, Any]:
    aggs: dict[str, Any] = {"rows": t.count()}
    for m in measures:
        aggs[SUM + m] = t[m].cast("float64").sum()
    for name in kpis:
        k = get_kpi(name)
        both = t[k.numerator].notnull() & t[k.denominator].notnull()
        aggs[num_col(name)] = t[k.numerator].cast("float64").sum(where=both)
        aggs[den_col(name)] = t[k.denominator].cast("float64").sum(where=both)
        aggs[n_col(name)] = both.cast("int64").sum()
    complete = ibis.literal(True)
    for m in measures:
        complete = complete & t[m].notnull()
    for m in measures:
        aggs[ALL + m] = t[m].cast("float64").sum(where=complete)
    aggs[ALL + "n"] = complete.cast("int64").sum()
    return aggs


def build_cube(table: ibis.Table, windows: Windows, dimensions: list[str] | tuple[str, ...]) -> Cube:
    """Aggregate ``table`` in the engine to the daily cube over the baseline and current windows.

    Sums over an empty set (a group with no row where a KPI's inputs are both known) are 0, and the
    matching ``<kpi>__n`` row count is 0, which is how undefined values are told apart later.
    """
    cols = set(table.columns)
    measures = tuple(m for m in S.MEASURES if m in cols)
    kpis = tuple(k.name for k in RATIO_KPIS if k.numerator in cols and k.denominator in cols)
    dims = tuple(d for d in dimensions if d in cols)
    day = table[S.DATE].cast("date")
    in_windows = windows.baseline.date_filter(table) | windows.current.date_filter(table)
    t = table.filter(in_windows).mutate(**{S.DATE: day})
    for d in dims:  # group keys as strings so masks compare reliably; nulls become an explicit label
        t = t.mutate(**{d: t[d].cast("string").fill_null("(missing)")})
    frame = t.group_by([S.DATE, *dims]).aggregate(**_pair_sums(t, kpis, measures)).to_pandas()
    frame[S.DATE] = pd.to_datetime(frame[S.DATE]).dt.date
    value_cols = [c for c in frame.columns if c not in dims and c != S.DATE]
    # An empty-set sum is NULL in SQL; here it is the arithmetic sum of nothing (0), and the
    # "__n" counts say that no row had the inputs (so KPIs of such groups are undefined, not 0).
    frame[value_cols] = frame[value_cols].astype("float64").fillna(0.0)
    frame[WINDOW] = np.where(
        [windows.current.contains(d) for d in frame[S.DATE]], "current", "baseline"
    )
    frame = frame.sort_values([S.DATE, *dims]).reset_index(drop=True)
    currency = None
    if S.CURRENCY in cols:
        tw = table.filter(in_windows)
        cur = tw.group_by(S.CURRENCY).aggregate(n=tw.count()).to_pandas()
        cur = cur.dropna(subset=[S.CURRENCY]).sort_values("n", ascending=False)
        currency = str(cur[S.CURRENCY].iloc[0]) if len(cur) else None
    dates = {
        w: sorted(frame.loc[frame[WINDOW] == w, S.DATE].unique().tolist()) for w in ("baseline", "current")
    }
    return Cube(frame=frame, dimensions=dims, measures=measures, kpis=kpis, currency=currency,
                windows=windows, dates=dates)


class CubeIndex:
    """Integer codes of the cube's days, windows and dimension values, for fast masked sums."""

    def __init__(self, cube: Cube, exclude: np.ndarray | None = None):
        f = cube.frame
        self.cube = cube
        self.day, self.days = pd.factorize(f["date"], sort=True)
        self.current = (f[WINDOW] == "current").to_numpy()
        self.include = np.ones(len(f), bool) if exclude is None else ~exclude
        self.codes: dict[str, tuple[np.ndarray, pd.Index]] = {
            d: pd.factorize(f[d], sort=True) for d in cube.dimensions
        }
        self.values = {c: f[c].to_numpy(float) for c in f.columns if "__" in c}
        cur_days = {d for d in f.loc[self.current, "date"]}
        self.day_current = np.array([d in cur_days for d in self.days], bool)

    def cells(self, mask: np.ndarray, kpi: str, strata: tuple[str, ...] | None) -> tuple[np.ndarray, ...]:
        """(y, x, stratum, current, day) per day x stratum cell of the rows in ``mask``."""
        idx = np.flatnonzero(mask & self.include)
        n_days = len(self.days)
        s_code, n_s = np.zeros(len(idx), np.int64), 1
        for dim in strata or ():
            codes, levels = self.codes[dim]
            s_code, n_s = s_code * len(levels) + codes[idx], n_s * len(levels)
        if n_s > 1:  # compact the combined codes so day x stratum keys stay small
            uniq, s_code = np.unique(s_code, return_inverse=True)
            n_s = len(uniq)
        key = self.day[idx] * n_s + s_code
        size = n_days * n_s
        y = np.bincount(key, self.values[num_col(kpi)][idx], size)
        x = np.bincount(key, self.values[den_col(kpi)][idx], size)
        cur = np.bincount(key, self.current[idx].astype(float), size) > 0
        present = np.bincount(key, minlength=size) > 0
        cell = np.flatnonzero(present)
        return y[cell], x[cell], cell % n_s, cur[cell], cell // n_s

    def test(self, mask: np.ndarray, kpi: str, strata: tuple[str, ...] | None, alpha: float) -> RateTest:
        y, x, s, cur, day = self.cells(mask, kpi, strata)
        return rate_change(y, x, s, cur, day, numerator=get_kpi(kpi).numerator, alpha=alpha)

    def exposure(self, mask: np.ndarray, kpi: str, strata: tuple[str, ...] | None) -> tuple[np.ndarray, ...]:
        """Per day (all days of the cube): numerator, exposure, current flag. The exposure is the
        numerator expected at each stratum's baseline rate (shrunk towards the segment's rate by
        one pseudo-event, so a stratum without baseline events still counts); strata absent from
        a window are left out (pure mix)."""
        y, x, st, cur, day = self.cells(mask, kpi, strata)
        n_days = len(self.days)
        keep = x > 0
        y, x, st, cur, day = y[keep], x[keep], st[keep], cur[keep], day[keep]
        codes, inv = np.unique(st, return_inverse=True)
        k = len(codes)
        yb = np.bincount(inv, np.where(cur, 0.0, y), k)
        xb = np.bincount(inv, np.where(cur, 0.0, x), k)
        xc = np.bincount(inv, np.where(cur, x, 0.0), k)
        live = ((xb > 0) & (xc > 0))[inv]
        tot_x = xb.sum()
        rate = yb.sum() / tot_x if tot_x > 0 else 0.0
        if rate <= 0:
            return np.zeros(n_days), np.zeros(n_days), self.day_current
        pseudo = 1.0 / rate  # exposure worth one event at the segment's rate
        r_v = (yb + 1.0) / (xb + pseudo)
        yd = np.bincount(day[live], y[live], n_days)
        ed = np.bincount(day[live], x[live] * r_v[inv][live], n_days)
        return yd, ed, self.day_current

    def contrast(self, mask: np.ndarray, rest: np.ndarray, kpi: str, strata: tuple[str, ...] | None,
                 alpha: float) -> ContrastTest:
        """Day-matched contrast of ``mask`` against ``rest`` (``stats.contrast_change``). The
        binomial model treats exposures as known; with strata they carry the error of each
        stratum's baseline rate, so that excess variance (from the own-baseline tests) is added."""
        ys, es, cur = self.exposure(mask, kpi, strata)
        yr, er, _ = self.exposure(rest, kpi, strata)
        ct = contrast_change(ys, es, yr, er, cur, numerator=get_kpi(kpi).numerator, alpha=alpha)
        if not strata:
            return ct
        extra = self.test(mask, kpi, strata, alpha).excess_var + self.test(rest, kpi, strata, alpha).excess_var
        return widen(ct, extra, alpha)

    def window_sum(self, mask: np.ndarray, column: str, current: bool) -> float:
        m = mask & self.include & (self.current if current else ~self.current)
        return float(self.values[column][m].sum())
