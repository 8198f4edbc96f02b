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

Scale (10M input rows, ~2.8M cube rows): the engine result comes as Arrow and is written straight
into one float64 block (no generic DataFrame conversion, no pandas sort copy); dimension strings
and dates share one Python object per distinct value; pair sums of measures without NULLs are
copied from the plain sums instead of being aggregated again; masks compare cached integer codes;
a test and its contrast reuse the same cells (``CubeIndex._memo``).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fb_analyst import schema as S
from fb_analyst.diagnose.dispersion import DispersionPrior, fit_dispersion_prior, moderate
from fb_analyst.diagnose.stats import (ContrastTest, RateTest, StratumCells, contrast_change, dispersion_floor,
                                      rate_change, unique_codes, widen)
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
        cell = group * 2 + self._current()[sel]
        g = pd.DataFrame({c: self.frame[c].to_numpy(float)[sel] for c in columns}).groupby(cell).sum()
        cells = g.index.to_numpy()
        present, row = np.unique(cells // 2, return_inverse=True)
        sums = {}
        for c in columns:
            sums[c] = np.zeros((len(present), 2))
            sums[c][row.reshape(-1), cells % 2] = g[c].to_numpy()
        return present, sums

    def _current(self) -> np.ndarray:
        """Per row, 1 in the current window and 0 in the baseline (from the cached window codes)."""
        codes, windows = self.factorized(WINDOW)
        return (codes == windows.get_indexer(["current"])[0]).astype(np.int64)

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


def _pair_sums(t: ibis.Table, kpis: tuple[str, ...], measures: tuple[str, ...],
               null_free: set[str]) -> tuple[dict[str, Any], dict[str, str]]:
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


def _null_free(t: ibis.Table, measures: tuple[str, ...]) -> set[str]:
    """The measures without a NULL among the rows of ``t``."""
    if not measures:
        return set()
    nulls = t.aggregate(**{m: t[m].isnull().cast("int64").sum() for m in measures}).to_pyarrow()
    return {m for m in measures if not nulls.column(m)[0].as_py()}


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
    aggs, source = _pair_sums(t, kpis, measures, _null_free(t, measures))
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


class PackedMask:
    """A boolean row mask of the cube kept as bits: one eighth of a bool array. Every tested
    candidate keeps its segment's mask for the evaluator, and a few hundred candidates x a
    multi-million-row cube would otherwise hold GBs of masks; unpacking one costs ~1 ms."""

    __slots__ = ("bits", "size", "count")

    def __init__(self, mask: np.ndarray):
        self.bits = np.packbits(mask)
        self.size = len(mask)
        self.count = int(np.count_nonzero(mask))

    def unpack(self) -> np.ndarray:
        return np.unpackbits(self.bits, count=self.size).view(bool)

    def issubset(self, other: "PackedMask") -> bool:
        """Every row of ``self`` is in ``other`` (on the bits; the padding bits are zero)."""
        return not bool(np.any(self.bits & ~other.bits))


#: Results of ``CubeIndex.cells`` / ``test`` remembered per index (most recent first).
MEMO_SIZE = 16


def _digest(rows: np.ndarray) -> tuple[int, bytes]:
    """Content key of a boolean row mask (masks are rebuilt per call, so identity is no key)."""
    return len(rows), hashlib.blake2b(np.packbits(rows).tobytes(), digest_size=16).digest()


class CubeIndex:
    """Integer codes of the cube's days, windows and dimension values, for fast masked sums."""

    def __init__(self, cube: Cube, exclude: np.ndarray | None = None):
        f = cube.frame
        self.cube = cube
        day, self.days = cube.factorized(S.DATE)  # the cube's cached codes, not a second factorize
        self.day = day.astype(np.int64)  # day x stratum keys are built from it
        self.current = cube._current().astype(bool)
        self.include = np.ones(len(f), bool) if exclude is None else ~exclude
        self.codes: dict[str, tuple[np.ndarray, pd.Index]] = {d: cube.factorized(d) for d in cube.dimensions}
        self._strata: dict[tuple[str, ...], tuple[np.ndarray, int]] = {}
        self._recent: OrderedDict[tuple, Any] = OrderedDict()
        self.values = {c: f[c].to_numpy(float) for c in f.columns if "__" in c}
        self.day_current = np.zeros(len(self.days), bool)
        self.day_current[self.day[self.current]] = True
        #: Dispersion priors by (KPI, "own" | "contrast"), set by ``fit_dispersion``.
        self.priors: dict[tuple[str, str], DispersionPrior] = {}

    def cells(self, mask: np.ndarray, kpi: str, strata: tuple[str, ...] | None) -> tuple[np.ndarray, ...]:
        """(y, x, stratum, current, day) per day x stratum cell of the rows in ``mask`` (read-only
        arrays: a test and a contrast of the same segment share them, see ``_memo``)."""
        rows = mask & self.include
        return self._memo(("cells", _digest(rows), kpi, tuple(strata or ())), lambda: self._cells(rows, kpi, strata))

    def _memo(self, key: tuple, compute: Any) -> Any:
        """``compute()`` remembered for the last ``MEMO_SIZE`` keys: the evaluator tests a segment,
        then contrasts it (which re-tests it and its rest), so the same cells come back soon."""
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        value = compute()
        self._recent[key] = value
        if len(self._recent) > MEMO_SIZE:
            self._recent.popitem(last=False)
        return value

    def _cells(self, rows: np.ndarray, kpi: str, strata: tuple[str, ...] | None) -> tuple[np.ndarray, ...]:
        idx = np.flatnonzero(rows)
        n_days = len(self.days)
        rank, n_s = self.strata_rank(strata)
        if n_s > 1:  # compact to the strata present in the mask so day x stratum keys stay small
            codes, s_code = unique_codes(rank[idx])
            n_s = len(codes)
        else:
            s_code = np.zeros(len(idx), np.int64)
        key = self.day[idx] * n_s + s_code
        size = n_days * n_s
        y = np.bincount(key, self.values[num_col(kpi)][idx], size)
        x = np.bincount(key, self.values[den_col(kpi)][idx], size)
        cell = np.flatnonzero(np.bincount(key, minlength=size))
        day = cell // n_s
        out = (y[cell], x[cell], cell % n_s, self.day_current[day], day)  # a day is in one window
        for a in out:
            a.flags.writeable = False
        return out

    def strata_rank(self, strata: tuple[str, ...] | None) -> tuple[np.ndarray, int]:
        """Per cube row, the rank of its combination of ``strata`` values among the combinations
        present in the whole cube (sorted like the combined codes), and their number; computed
        once per strata tuple. Ranks keep the order of the combined codes, so compacting them to
        a mask's rows gives the same stratum codes as ranking that mask's rows alone."""
        key = tuple(strata or ())
        if key not in self._strata:
            combined = self.cube._combined_key(key, np.arange(len(self.day)))
            n_s = math.prod(len(self.codes[dim][1]) for dim in key)
            if n_s > 1:
                uniq, combined = np.unique(combined, return_inverse=True)
                n_s = len(uniq)
            self._strata[key] = (combined.astype(np.int64, copy=False), n_s)
        return self._strata[key]

    def test(self, mask: np.ndarray, kpi: str, strata: tuple[str, ...] | None, alpha: float) -> RateTest:
        """Own-baseline test of the rows in ``mask`` (``stats.rate_change``), its dispersion
        moderated by the run's prior for ``kpi`` once ``fit_dispersion`` has set one."""
        return moderate(self.raw_test(mask, kpi, strata, alpha), self.priors.get((kpi, "own")), alpha)

    def raw_test(self, mask: np.ndarray, kpi: str, strata: tuple[str, ...] | None, alpha: float) -> RateTest:
        """``test`` with the segment's own dispersion estimate (remembered, see ``_memo``)."""
        rows = mask & self.include

        def run() -> RateTest:
            y, x, s, cur, day = self.cells(rows, kpi, strata)
            return rate_change(y, x, s, cur, day, numerator=get_kpi(kpi).numerator, alpha=alpha)

        return self._memo(("test", _digest(rows), kpi, tuple(strata or ()), alpha), run)

    def exposure(self, mask: np.ndarray, kpi: str, strata: tuple[str, ...] | None) -> tuple[np.ndarray, ...]:
        """Per day (all days of the cube): numerator, exposure, current flag. The exposure is the
        numerator expected at each stratum's baseline rate (shrunk towards the segment's rate by
        one pseudo-event, so a stratum without baseline events still counts); strata absent from
        a window are left out (pure mix)."""
        c = StratumCells.of(*self.cells(mask, kpi, strata))
        y, x, day, inv, yb, xb, xc = c.y, c.x, c.day, c.inv, c.yb, c.xb, c.xc
        n_days = len(self.days)
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
        stratum's baseline rate, so that excess variance (from the own-baseline tests) is added.
        Dispersions moderated by the run's priors once set (``finish_contrast``)."""
        return self.finish_contrast(self.contrast_parts(mask, rest, kpi, strata, alpha), kpi, alpha)

    def contrast_parts(self, mask: np.ndarray, rest: np.ndarray, kpi: str, strata: tuple[str, ...] | None,
                       alpha: float) -> tuple[ContrastTest, tuple[RateTest, ...]]:
        """(raw contrast, raw own-baseline tests whose excess variance widens it): the pieces of
        ``contrast`` before any dispersion prior, so a prior fitted afterwards can finish them."""
        ys, es, cur = self.exposure(mask, kpi, strata)
        yr, er, _ = self.exposure(rest, kpi, strata)
        ct = contrast_change(ys, es, yr, er, cur, numerator=get_kpi(kpi).numerator, alpha=alpha)
        own = (self.raw_test(mask, kpi, strata, alpha), self.raw_test(rest, kpi, strata, alpha)) if strata else ()
        return ct, own

    def finish_contrast(self, parts: tuple[ContrastTest, tuple[RateTest, ...]], kpi: str, alpha: float) -> ContrastTest:
        """The contrast from ``contrast_parts``: moderated, then widened by the (moderated)
        excess variance of the stratified own-baseline tests."""
        raw, own = parts
        ct = moderate(raw, self.priors.get((kpi, "contrast")), alpha)
        extra = sum(moderate(t, self.priors.get((kpi, "own")), alpha).excess_var for t in own)
        return widen(ct, extra, alpha)

    def fit_dispersion(self, kpi: str, own: list[RateTest], contrasts: list[ContrastTest]) -> None:
        """Fit and set the dispersion priors of ``kpi`` (``dispersion.py``) from the raw tests of
        the run's candidate segments; a kind with too few usable tests keeps the raw estimates."""
        floor = dispersion_floor(get_kpi(kpi).numerator)
        for kind, tests in (("own", own), ("contrast", contrasts)):
            ok = [t for t in tests if t.raw_dispersion is not None and t.log_ratio is not None]
            prior = fit_dispersion_prior(np.array([t.raw_dispersion for t in ok], float),
                                         np.array([t.df for t in ok], float),
                                         np.array([t.size for t in ok], float), floor)
            if prior is not None:
                self.priors[(kpi, kind)] = prior

    def window_sum(self, mask: np.ndarray, column: str, current: bool) -> float:
        m = mask & self.include & (self.current if current else ~self.current)
        return float(self.values[column][m].sum())
