"""The one aggregate the diagnosis reads from the engine: a daily cube over both windows.

Input: the canonical table (``ibis.Table``), the resolved windows and the segment dimensions.
Output: a :class:`Cube` -- a pandas frame with one row per date x combination of dimension values
present in the data, holding *pair sums* per ratio KPI (numerator and denominator summed over the
rows where both are known, the registry's rule) and *complete-row sums* (all five measures known,
used by the exact funnel decomposition). The aggregation runs in the engine (Ibis); only this
aggregate comes to Python, so its size is bounded by the input rows inside the two windows.

Every other diagnosis step slices this cube with boolean masks: the daily sums of any segment
(a conjunction ``{dimension: value}``) are ``cube.frame[mask].groupby(date).sum()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import numpy as np
import pandas as pd

from fb_analyst import schema as S
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
