"""The one aggregate the diagnosis reads from the engine: a daily cube over both windows.

Input: the canonical table (``ibis.Table``), the resolved windows and the segment dimensions.
Output: a :class:`Cube` -- a pandas frame with one row per date x combination of dimension values
present in the data, holding *pair sums* per ratio KPI (numerator and denominator summed over the
rows where both are known, the registry's rule) and *complete-row sums* (all five measures known,
used by the exact funnel decomposition). The aggregation runs in the engine (Ibis); only this
aggregate comes to Python, so its size is bounded by the input rows inside the two windows.

Every other diagnosis step slices this cube with boolean masks: the daily sums of any segment
(a conjunction ``{dimension: value}``) are ``cube.frame[mask].groupby(date).sum()``; the
day-level tests read it through ``frames.CubeIndex``. The cube is not changed once built (its
value arrays are read-only), so what is derived from its columns is computed once and cached.

Scale (10M input rows, ~2.8M cube rows): the engine result comes as Arrow and is written straight
into one float64 block (no generic DataFrame conversion, no pandas sort copy); dimension strings
and dates share one Python object per distinct value; pair sums of measures without NULLs are
copied from the plain sums instead of being aggregated again; masks compare cached integer codes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fb_analyst import schema as S
from fb_analyst.kpis import RATIO_KPIS, complete_measures, get_kpi
from fb_analyst.windows import Windows

#: Separator inside every value column's name (and in no dimension's or key's). Doubled because
#: dimension names such as ``creative_message`` contain one underscore, and ``frames.CubeIndex``
#: picks the value columns by it.
SEP = "__"
#: Column prefix of complete-row sums (rows where every measure is known).
ALL = "all" + SEP
#: Column prefix of plain sums (rows where the measure is known), used for volumes and shares.
SUM = "sum" + SEP
WINDOW = "window"


def num_col(kpi: str) -> str:
    return f"{kpi}{SEP}num"


def den_col(kpi: str) -> str:
    return f"{kpi}{SEP}den"


def n_col(kpi: str) -> str:
    return f"{kpi}{SEP}n"


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
    _codes: dict[str, tuple[np.ndarray, pd.Index]] = field(default_factory=dict, repr=False, compare=False)

    def mask(self, segment: dict[str, Any] | None) -> np.ndarray:
        """Boolean row mask of a segment (an empty / None segment is the whole account)."""
        m = np.ones(len(self.frame), dtype=bool)
        for dim, value in (segment or {}).items():
            codes, levels = self.factorized(dim)
            code = levels.get_indexer([value])[0]
            m &= codes == code if code >= 0 else False
        return m

    def factorized(self, dim: str) -> tuple[np.ndarray, pd.Index]:
        """(integer code per row, sorted distinct values) of a column, computed once per cube.

        The diagnosis builds a mask for every candidate segment; comparing integer codes instead
        of the string column each time keeps that linear in the rows without string compares."""
        if dim not in self._codes:
            codes, levels = pd.factorize(self.frame[dim], sort=True)
            small = np.int32 if len(levels) < 2**31 else np.int64  # halves the codes of a 10M-row cube
            self._codes[dim] = (codes.astype(small), pd.Index(levels))
        return self._codes[dim]

    def n_values(self, dim: str) -> int:
        """Number of distinct values of a dimension (from the cached codes, no string hashing)."""
        return len(self.factorized(dim)[1])

    def n_combinations(self, dims: tuple[str, ...]) -> int:
        """Number of distinct combinations of ``dims`` values among the cube's rows."""
        return len(np.unique(self._combined_key(dims, np.arange(len(self.frame)))))

    def _combined_key(self, dims: tuple[str, ...] | list[str], sel: np.ndarray) -> np.ndarray:
        """One int64 per selected row whose order is the lexicographic order of its ``dims`` codes
        (re-numbered when the product of the cardinalities would overflow)."""
        key, size = np.zeros(len(sel), np.int64), 1
        for d in dims:
            codes, levels = self.factorized(d)
            if size * len(levels) >= 2**62:
                uniq, key = np.unique(key, return_inverse=True)
                key, size = key.reshape(-1), len(uniq)
            key, size = key * len(levels) + codes[sel], size * len(levels)
        return key

    def sums_by(self, dim: str, columns: list[str], rows: np.ndarray | None = None,
                ) -> tuple[pd.Index, dict[str, np.ndarray]]:
        """Per value of ``dim`` with a row in ``rows`` (sorted values): the sums of each of
        ``columns`` in the baseline and the current window, as an (n_values, 2) array. Keyed by
        the cached integer codes: a group-by on the object column would copy the selected rows of
        every column and hash the strings of a multi-million-row cube again for every dimension."""
        codes, levels = self.factorized(dim)
        sel = np.arange(len(self.frame)) if rows is None else np.flatnonzero(rows)
        present, sums = self._window_sums(codes[sel].astype(np.int64), columns, sel)
        return levels[present], sums

    def leaf_sums(self, dims: list[str], columns: list[str], rows: np.ndarray,
                  ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """``sums_by`` over every combination of ``dims`` values present in ``rows``: a frame of
        the combinations (sorted like a group-by on ``dims``) and the (n, 2) window sums of each
        column. The combination key is built from the cached integer codes (re-numbered when the
        product of the cardinalities would overflow), not by hashing a dozen object columns."""
        sel = np.flatnonzero(rows)
        _, first, leaf = np.unique(self._combined_key(dims, sel), return_index=True, return_inverse=True)
        _, sums = self._window_sums(leaf.reshape(-1), columns, sel)  # every leaf has a row
        values = pd.DataFrame({d: self.factorized(d)[1].to_numpy()[self.factorized(d)[0][sel[first]]] for d in dims})
        return values, sums

    def _window_sums(self, group: np.ndarray, columns: list[str], sel: np.ndarray,
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(the groups present, sorted; per column an (n_groups, 2) array of its baseline and
        current sums) of the rows ``sel`` with group ``group``. Summed by pandas' group-by (in row
        order, compensated), so the sums are bit for bit those of a group-by on the dimension
        columns themselves; only the selected rows of ``columns`` are copied."""
        cell = group * 2 + self.in_current[sel]
        g = pd.DataFrame({c: self.frame[c].to_numpy(float)[sel] for c in columns}).groupby(cell).sum()
        cells = g.index.to_numpy()
        present, row = np.unique(cells // 2, return_inverse=True)
        sums = {}
        for c in columns:
            sums[c] = np.zeros((len(present), 2))
            sums[c][row.reshape(-1), cells % 2] = g[c].to_numpy()
        return present, sums

    @cached_property
    def in_current(self) -> np.ndarray:
        """Per row, True in the current window and False in the baseline (read-only). Computed
        once: every ``sums_by`` / ``leaf_sums`` call and each ``CubeIndex`` need it, and the cube
        does not change after ``build_cube`` (its value arrays are read-only as well)."""
        codes, windows = self.factorized(WINDOW)
        flag = codes == windows.get_indexer(["current"])[0]
        flag.flags.writeable = False
        return flag

    @cached_property
    def day_in_current(self) -> np.ndarray:
        """Per day code (``factorized(S.DATE)``), True in the current window (read-only): a day is
        in one window, so its rows' ``in_current`` flags agree. The day-level tests and the outage
        scan read it instead of testing each date against the windows again."""
        day, days = self.factorized(S.DATE)
        flag = np.zeros(len(days), bool)
        flag[day[self.in_current]] = True
        flag.flags.writeable = False
        return flag

    def window_sums(self, mask: np.ndarray | None = None) -> pd.DataFrame:
        """Sums per window (index 'baseline', 'current'); absent windows give zero rows."""
        f = self.frame if mask is None else self.frame[mask]
        value_cols = [c for c in f.columns if c not in self.dimensions and c not in (S.DATE, WINDOW)]
        out = f.groupby(WINDOW)[value_cols].sum()
        return out.reindex(["baseline", "current"], fill_value=0)


def _pair_sums(t: ibis.Table, kpis: tuple[str, ...], measures: tuple[str, ...],
               null_free: Collection[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The engine aggregates of the cube, and every value column (in frame order) with the
    aggregate it equals. Over measures without a NULL in the analysed rows, a pair sum is the plain
    sum and its count the row count, so those columns are copies, not aggregated again -- the
    aggregates are most of the engine's memory on a multi-million-row cube."""
    aggs: dict[str, Any] = {"rows": t.count()}
    source: dict[str, str] = {"rows": "rows"}
    for m in measures:
        aggs[SUM + m] = t[m].cast("float64").sum()
        source[SUM + m] = SUM + m
    for name in kpis:
        k = get_kpi(name)
        if k.numerator in null_free and k.denominator in null_free:
            source.update({num_col(name): SUM + k.numerator, den_col(name): SUM + k.denominator, n_col(name): "rows"})
            continue
        both = t[k.numerator].notnull() & t[k.denominator].notnull()
        aggs[num_col(name)] = t[k.numerator].cast("float64").sum(where=both)
        aggs[den_col(name)] = t[k.denominator].cast("float64").sum(where=both)
        aggs[n_col(name)] = both.cast("int64").sum()
        source.update({c: c for c in (num_col(name), den_col(name), n_col(name))})
    if all(m in null_free for m in measures):
        source.update({**{ALL + m: SUM + m for m in measures}, ALL + "n": "rows"})
        return aggs, source
    complete = ibis.literal(True)
    for m in measures:
        complete = complete & t[m].notnull()
    for m in measures:
        aggs[ALL + m] = t[m].cast("float64").sum(where=complete)
    aggs[ALL + "n"] = complete.cast("int64").sum()
    source.update({c: c for c in [*(ALL + m for m in measures), ALL + "n"]})
    return aggs, source


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
    aggs, source = _pair_sums(t, kpis, measures, complete_measures(t))
    frame = _cube_frame(t.group_by([S.DATE, *dims]).aggregate(**aggs), dims, source)
    frame[WINDOW] = _labels(frame[S.DATE].to_numpy(),
                            lambda d: "current" if windows.current.contains(d) else "baseline")
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


def _labels(values: np.ndarray, label: Any) -> np.ndarray:
    """``label(v)`` for every element, computed once per distinct value; equal results share one
    Python object (a per-row object column of a multi-million-row cube otherwise costs GBs)."""
    codes, uniques = pd.factorize(values)
    return np.array([label(u) for u in uniques] + [None], dtype=object)[codes]


def _cube_frame(query: ibis.Table, dims: tuple[str, ...], source: dict[str, str]) -> pd.DataFrame:
    """The engine's aggregate (``query``, run here) as the cube frame, sorted by date and dimension
    values: date objects and dimension strings as object columns whose equal values share one
    Python object, and each value column (``source``: column -> aggregate it equals) as float64
    with NULL (an empty-set sum) as 0 -- the "__n" counts say that no row had the inputs, so KPIs
    of such groups are undefined, not 0.

    Memory: each distinct aggregate becomes one sorted float64 array, and every column that equals
    it (on null-free data most of the ~34 value columns are the same 7 sums) is a view of that one
    array, not a copy: the frame is built from a dict with ``copy=False``, which keeps one block per
    column. That is ~600 MB less on a 10M-row input. The arrays are read-only, so an in-place write
    through one alias (which would silently change the others) raises instead. Each Arrow column
    is dropped once converted, so the engine's strings and the object columns never coexist."""
    result = query.to_pyarrow()  # run here, not by the caller, so that ``del result`` frees it
    keys = []
    for c in (S.DATE, *dims):  # each key column's strings are freed once it is encoded
        keys.append(sorted_codes(result.column(c)))
        result = result.drop_columns([c])
    order = np.lexsort([codes for codes, _ in reversed(keys)]) if keys else np.arange(result.num_rows)
    arrays: dict[str, np.ndarray] = {}
    for agg in dict.fromkeys(source.values()):
        values = pc.fill_null(result.column(agg), 0).to_numpy().astype("float64", copy=False)[order]
        values.flags.writeable = False
        arrays[agg] = values
    del result
    columns: dict[str, Any] = {col: levels[codes[order]] for col, (codes, levels) in zip((S.DATE, *dims), keys)}
    columns.update({col: arrays[agg] for col, agg in source.items()})
    return pd.DataFrame(columns, copy=False)


def sorted_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, distinct values as an object array) with codes in Python's sort order of the
    values (code-point order for strings, as pandas sorts them)."""
    encoded = column.combine_chunks().dictionary_encode()
    levels = np.array(encoded.dictionary.to_pylist(), dtype=object)
    rank = np.empty(len(levels), np.int32)
    rank[np.argsort(levels, kind="stable")] = np.arange(len(levels), dtype=np.int32)
    return rank[encoded.indices.to_numpy()], np.sort(levels, kind="stable")
