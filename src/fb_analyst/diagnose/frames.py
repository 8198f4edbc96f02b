"""The diagnosis's view of the data: the daily cube and the index its tests read it through.

The cube -- the one engine aggregate of a run, daily pair sums per date x combination of dimension
values over both windows -- is built in :mod:`fb_analyst.diagnose.cube`; its names (``Cube``,
``build_cube``, the column names) are re-exported here, so ``frames`` stays the one import path of
the diagnosis modules.

This module holds the index: :class:`CubeIndex` precomputes integer codes of the cube's days,
windows, dimension values and strata, so the sums of any segment per day x stratum cell and the
day-level tests of ``stats.py`` run on ``np.bincount`` for thousands of candidates; a test and its
contrast reuse the same cells (``CubeIndex._memo``). :class:`PackedMask` keeps each tested
candidate's row mask as bits.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from fb_analyst import schema as S
from fb_analyst.diagnose.cube import (ALL, SEP, SUM, WINDOW, Cube, build_cube, den_col, n_col, num_col,
                                      sorted_codes)
from fb_analyst.diagnose.dispersion import DispersionPrior, fit_dispersion_prior, moderate
from fb_analyst.diagnose.stats import (ContrastTest, RateTest, StratumCells, contrast_change, dispersion_floor,
                                      rate_change, unique_codes, widen)
from fb_analyst.kpis import get_kpi

__all__ = ["ALL", "MEMO_SIZE", "SEP", "SUM", "WINDOW", "Cube", "CubeIndex", "PackedMask", "build_cube", "den_col",
           "n_col", "num_col", "sorted_codes"]


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
        self.current = cube.in_current
        self.include = np.ones(len(f), bool) if exclude is None else ~exclude
        self.codes: dict[str, tuple[np.ndarray, pd.Index]] = {d: cube.factorized(d) for d in cube.dimensions}
        self._strata: dict[tuple[str, ...], tuple[np.ndarray, int]] = {}
        self._recent: OrderedDict[tuple, Any] = OrderedDict()
        self.values = {c: f[c].to_numpy(float) for c in f.columns if SEP in c}
        self.day_current = cube.day_in_current
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
