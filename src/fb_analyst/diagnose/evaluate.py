"""Candidate segments, their day-level rate tests and the evaluator that picks the causes.

Input: the daily :class:`~fb_analyst.diagnose.cube.Cube`, the driver KPIs, rows to exclude
(tracking outages) and settings. Output: one :class:`Candidate` per (segment, KPI) tested, each
with its test on the full segment, its status and, when another candidate explains it, the test
of what is left.

Steps, per driver KPI (CTR, CVR, AOV, CPM for ROAS; CTR for CTR):

1. **Candidates**: the account, every dimension value with enough volume (``min_spend_share`` of
   spend in a window, ``min_impressions`` in both), and the multi-dimensional elements the
   localiser proposes (``localize``), also volume-checked. A proposed element was *selected* from
   every element of its depth for its deviation, so its p-value is Bonferroni-multiplied by that
   search size before it joins the BH family (otherwise the search leaks false discoveries).
   Each segment is tested against its own baseline and, day-matched, against the rest of the
   account (``decision_p``).
2. **Mix guard**: every test is stratified (``stats.rate_change``) by the finest entity present
   (ad, adset or campaign: an ad launched, paused or re-budgeted changes a segment's mix, not its
   rate) and by the breakdown dimension whose mix moves the KPI most (largest shift-share mix
   effect, ``mix.py``) when that moves the account KPI by at least half the minimum effect, so
   budget moving between its values is not read as a segment's rate changing.
3. **Test** each candidate (quasi-Poisson on day x stratum cells), the dispersion of each test
   moderated towards the trend of the KPI's candidates (``dispersion.py``: 12 days per test, but
   70-90 tests per KPI whose dispersions follow their size), then Benjamini-Hochberg over every
   test of the run (all KPIs, mix and outage tests together, in ``diagnosis.py``).
4. **Evaluator (greedy explanation)**: among significant candidates with ``|delta| >= min_effect``,
   take the one whose change explains the most chi-square, ``G = (A - E)^2 / E`` (A: current
   numerator, E: expected at baseline rates) -- a segment where the whole change sits beats both
   its parents (same deviation, larger E) and its children (smaller deviation). Every other
   candidate is re-tested without the chosen segment's rows, in itself and in its reference (so
   a disjoint segment that only differed from a reference containing the cause drops out too);
   if what is left is no longer significant and practical it is *explained by* the chosen one.
   Repeat on the rest. Then a hierarchical drill-down (``refine.drill_down``) lets at most three
   sub-segments that carry a chosen segment's whole change replace it, and ``refine.prune`` drops
   a chosen segment that the other chosen ones explain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fb_analyst import schema as S
from fb_analyst.diagnose.dispersion import moderate
from fb_analyst.diagnose.frames import SUM, Cube, CubeIndex, PackedMask, den_col, num_col
from fb_analyst.diagnose.mix import mix_vs_rate
from fb_analyst.diagnose.refine import decision_p, drill_down, explained_chi2, is_significant, prune
from fb_analyst.diagnose.stats import ContrastTest, RateTest
from fb_analyst.kpis import ratio_array
from fb_analyst.settings import DiagnoseSettings

#: Dimensions with at most this many values may stratify tests (mix guard).
MAX_STRATA = 12
#: Target KPI -> the funnel drivers whose segment changes are hypotheses.
DRIVERS: dict[str, tuple[str, ...]] = {
    "roas": ("ctr", "cvr", "aov", "cpm"),
    "cpa": ("cpm", "ctr", "cvr"),
    "cpc": ("cpm", "ctr"),
    "ctr": ("ctr",),
    "cvr": ("cvr",),
    "aov": ("aov",),
    "cpm": ("cpm",),
}


@dataclass
class Candidate:
    """One (segment, KPI) tested. ``test`` is on the full segment; ``residual`` on what is left
    after removing the segment that explains it (``explained_by``)."""

    metric: str
    segment: dict[str, str]
    rows: PackedMask
    strata: tuple[str, ...] | None
    test: RateTest
    q_value: float | None = None
    status: str = "inconclusive"
    reason: str = ""
    explained_by: int | None = None  # index of the explaining candidate
    residual: RateTest | None = None
    contrast: ContrastTest | None = None
    residual_contrast: ContrastTest | None = None
    gain: float = 0.0
    chosen: bool = False
    bh_weight: float = 1.0  # its weight in the run's BH step (mean-1 scale); sets its prior odds
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        """The segment's rows of the cube as a boolean mask (a fresh array on every call)."""
        return self.rows.unpack()

    @property
    def key(self) -> tuple:
        return (self.metric, tuple(sorted(self.segment.items())))

    @property
    def delta(self) -> float | None:
        return None if self.test.log_ratio is None else math.expm1(self.test.log_ratio)

    @property
    def p_value(self) -> float | None:
        """The decision p-value: for an ad's or message's CTR with enough history, the fatigue
        trend test (``fatigue.py``, far more powerful than two 7-day windows against a steady
        decay); otherwise :func:`decision_p`."""
        if "trend_p" in self.extra:
            return self.extra["trend_p"]
        return decision_p(self.test, self.contrast, bool(self.segment), self.extra.get("searched", 1))


def entity_stratum(cube: Cube) -> str | None:
    """The finest entity dimension present (ad, else adset, else campaign)."""
    for dim in ("ad", "adset", "campaign"):
        if dim in cube.dimensions and cube.n_values(dim) > 1:
            return dim
    return None


def _nested(cube: Cube, dim: str, within: str | None) -> bool:
    """True when every value of ``within`` has a single value of ``dim`` (dim is an attribute of it):
    each row's ``dim`` code equals the one recorded for its ``within`` value."""
    if within is None:
        return False
    inner, _ = cube.factorized(within)
    codes, _ = cube.factorized(dim)
    one = np.empty(cube.n_values(within), codes.dtype)
    one[inner] = codes  # one value of dim per value of within (the last row's)
    return bool(np.array_equal(one[inner], codes))


def choose_strata(cube: Cube, kpi: str, settings: DiagnoseSettings, exclude: np.ndarray | None) -> tuple[str, ...] | None:
    """Strata of every test of ``kpi``: the finest entity (so ads launched, paused or re-budgeted
    are mix, not rate) plus the breakdown dimension whose mix moves ``kpi`` most, when that moves
    it by at least ``min_effect / 2`` and it is not already fixed by the entity."""
    entity = entity_stratum(cube)
    extra = _strongest_mix(cube, kpi, settings, exclude, entity)
    dims = tuple(d for d in (entity, extra) if d is not None)
    return dims or None


def _strongest_mix(cube: Cube, kpi: str, settings: DiagnoseSettings, exclude: np.ndarray | None,
                   entity: str | None) -> str | None:
    best, best_share = None, 0.0
    for dim in cube.dimensions:
        if dim in ("ad", "adset", "campaign") or _nested(cube, dim, entity):
            continue
        if not 2 <= cube.n_values(dim) <= MAX_STRATA:
            continue
        mr = mix_vs_rate(cube, dim, kpi, exclude)
        if mr is None or not mr.kpi_baseline:
            continue
        share = abs(mr.mix_effect or 0.0) / abs(mr.kpi_baseline)
        if share > best_share:
            best, best_share = dim, share
    return best if best_share >= settings.min_effect / 2 else None


def segment_candidates(idx: CubeIndex, settings: DiagnoseSettings) -> list[dict[str, str]]:
    """The account and every single dimension value with enough volume in both windows."""
    out: list[dict[str, str]] = [{}]
    f = idx.cube.frame
    if SUM + S.SPEND not in f.columns or SUM + S.IMPRESSIONS not in f.columns:
        return out
    for dim in idx.cube.dimensions:
        values, sums = idx.cube.sums_by(dim, [SUM + S.IMPRESSIONS, SUM + S.SPEND], idx.include)
        if values.empty:
            continue
        spend, impr = sums[SUM + S.SPEND], sums[SUM + S.IMPRESSIONS]
        total = spend.sum(axis=0)
        share = ratio_array(spend, total)  # of each window's spend; NaN in a window without any
        ok = (np.fmax.reduce(share, axis=1) >= settings.min_spend_share) & (impr.min(axis=1) >= settings.min_impressions)
        if ok.sum() < 2 and dim != "account":  # a dimension with one value is the account itself
            continue
        out.extend({dim: str(v)} for v in values[ok])
    return out


def localised_candidates(idx: CubeIndex, kpi: str, settings: DiagnoseSettings) -> list[dict[str, str]]:
    """Multi-dimensional elements proposed by the localiser (empty when it is unavailable)."""
    try:
        from fb_analyst.diagnose.localize import localize
    except ImportError:  # the localiser is optional for the diagnosis; 1-D candidates still run
        return []
    cube = idx.cube
    dims = [d for d in cube.dimensions if cube.n_values(d) > 1]
    leaves, sums = cube.leaf_sums(dims, [num_col(kpi), den_col(kpi)], idx.include)
    for col, per_window in sums.items():
        leaves[f"{col}_baseline"], leaves[f"{col}_current"] = per_window[:, 0], per_window[:, 1]
    leaves = leaves[(leaves[f"{den_col(kpi)}_baseline"] > 0) & (leaves[f"{den_col(kpi)}_current"] > 0)]
    if leaves.empty:
        return []
    leaves = leaves.assign(actual=0.0, expected=0.0)
    derived = {"op": "divide",
               "numerator": {"real": f"{num_col(kpi)}_current", "predict": f"{num_col(kpi)}_baseline"},
               "denominator": {"real": f"{den_col(kpi)}_current", "predict": f"{den_col(kpi)}_baseline"}}
    try:
        causes = localize(leaves, dims, "actual", "expected", derived, max_depth=settings.max_depth)
    except Exception as exc:  # noqa: BLE001 - a localiser failure must not sink the diagnosis
        idx.cube.frame.attrs.setdefault("notes", []).append(f"localiser failed on {kpi}: {exc}")
        return []
    return [dict(c.segment) for c in causes if len(c.segment) >= 1]


def run_candidate_tests(idx: CubeIndex, kpis: list[str], settings: DiagnoseSettings,
                    use_localiser: bool = True, trends: dict[tuple[str, str], Any] | None = None) -> tuple[list[Candidate], dict[str, tuple[str, ...] | None]]:
    """Test every candidate segment for every driver KPI (full segments, outage rows excluded)."""
    base = segment_candidates(idx, settings)
    exclude = ~idx.include
    cands: list[Candidate] = []
    strata_of: dict[str, tuple[str, ...] | None] = {}
    sizes: dict[int, int] = {}  # search_size by depth
    for kpi in kpis:
        if kpi not in idx.cube.kpis:
            continue
        strata = choose_strata(idx.cube, kpi, settings, exclude if exclude.any() else None)
        strata_of[kpi] = strata
        segs = [(s, 1) for s in base]
        if kpi == "ctr" and trends:  # fatigued ads/messages are candidates whatever their spend share
            have = {tuple(sorted(s.items())) for s in base}
            for (dim, key), f in trends.items():
                seg = {dim: key}
                if f.fatigued and dim in idx.cube.dimensions and (tuple(seg.items()) not in have) \
                        and _has_volume(idx, seg, settings, spend_share=False):
                    segs.append((seg, 1))
        if use_localiser:
            seen = {tuple(sorted(s.items())) for s in base}
            for s in localised_candidates(idx, kpi, settings):
                key = tuple(sorted(s.items()))
                if key not in seen and _has_volume(idx, s, settings):
                    if len(s) not in sizes:  # the same for every KPI and element of that depth
                        sizes[len(s)] = search_size(idx.cube, len(s))
                    segs.append((s, sizes[len(s)]))
                    seen.add(key)
        cands.extend(_tested(idx, kpi, segs, strata, settings, trends))
    return cands, strata_of


#: Moderate the day-level tests' dispersions with the run's prior (``dispersion.py``); off only to
#: measure what it changes (``benchmarks/bench_diagnosis.py --no-moderation``).
MODERATE_DISPERSION = True


def _tested(idx: CubeIndex, kpi: str, segs: list[tuple[dict[str, str], int]], strata: tuple[str, ...] | None,
            settings: DiagnoseSettings, trends: dict[tuple[str, str], Any] | None) -> list[Candidate]:
    """The candidates of one KPI: every segment's raw own-baseline test and contrast first, then
    the KPI's dispersion priors fitted to them (before any p-value is looked at) and every test
    finished with its moderated dispersion; later re-tests by ``idx`` use the same priors."""
    raw = []
    for seg, searched in segs:
        mask = idx.cube.mask(seg)
        st = None if strata is None else (tuple(d for d in strata if d not in seg) or None)
        parts = idx.contrast_parts(mask, ~mask, kpi, st, settings.alpha) if seg else None
        raw.append((seg, searched, PackedMask(mask), st, idx.raw_test(mask, kpi, st, settings.alpha), parts))
    if MODERATE_DISPERSION:
        idx.fit_dispersion(kpi, [r[4] for r in raw], [r[5][0] for r in raw if r[5] is not None])
    out = []
    for seg, searched, rows, st, test, parts in raw:
        extra: dict[str, Any] = {"searched": searched}
        if kpi == "ctr" and len(seg) == 1 and trends:
            finding = trends.get(next(iter(seg.items())))
            if finding is not None and finding.p_value is not None:
                extra.update(trend_p=finding.p_value, trend=finding)
        out.append(Candidate(
            metric=kpi, segment=seg, rows=rows, strata=st, extra=extra,
            test=moderate(test, idx.priors.get((kpi, "own")), settings.alpha),
            contrast=None if parts is None else idx.finish_contrast(parts, kpi, settings.alpha)))
    return out


def search_size(cube: Cube, depth: int) -> int:
    """Number of elements of exactly ``depth`` dimensions present in the cube (the localiser's
    search space at that depth), the Bonferroni factor of an element it proposes."""
    from itertools import combinations

    dims = [d for d in cube.dimensions if cube.n_values(d) > 1]
    if depth <= 1:
        return sum(cube.n_values(d) for d in dims)
    return sum(cube.n_combinations(c) for c in combinations(dims, depth))


#: Share of the FDR error budget given to the whole-account test of each driver KPI (the rest is
#: shared equally by the dimensions, then by their values; see ``test_weights``).
ACCOUNT_WEIGHT_SHARE = 0.25


def bh_weights(cands: list[Candidate], n_other: int) -> list[float]:
    """Weights of the weighted BH (``stats.bh_qvalues``), fixed before looking at any p-value.

    The whole-account test of each driver is the primary question ("why did ROAS change") and gets
    ``ACCOUNT_WEIGHT_SHARE`` of the budget; the rest is split equally between the (KPI, dimension)
    groups and, within a group, equally between its values -- every dimension is a priori as
    likely to hold the cause, so a dimension with 5 values is not drowned by one with 100 ads.
    Localised elements (already Bonferroni-corrected for their search) and the ``n_other`` mix and
    outage claims get weight 1. Weights average 1 over all tests. The same weights set each test's
    prior odds of a real effect in the confidence step (``weighted_eb``), so the test and the
    confidence use one prior.
    """
    m = len(cands) + n_other
    unit = [i for i, c in enumerate(cands) if c.extra.get("searched", 1) > 1]
    rest = m - n_other - len(unit)
    acc = [i for i, c in enumerate(cands) if not c.segment]
    groups: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(cands):
        if c.segment and i not in set(unit):
            groups.setdefault((c.metric, next(iter(c.segment))), []).append(i)
    w = [1.0] * len(cands)
    acc_share = ACCOUNT_WEIGHT_SHARE if groups else 1.0
    for i in acc:
        w[i] = acc_share * rest / len(acc)
    for members in groups.values():
        for i in members:
            w[i] = (1 - acc_share) * rest / len(groups) / len(members)
    return w


def _has_volume(idx: CubeIndex, seg: dict[str, str], settings: DiagnoseSettings, spend_share: bool = True) -> bool:
    mask = idx.cube.mask(seg)
    shares = []
    for cur in (False, True):
        tot = idx.window_sum(np.ones_like(mask), SUM + S.SPEND, cur)
        shares.append(idx.window_sum(mask, SUM + S.SPEND, cur) / tot if tot > 0 else 0.0)
        if idx.window_sum(mask, SUM + S.IMPRESSIONS, cur) < settings.min_impressions:
            return False
    return max(shares) >= settings.min_spend_share or not spend_share


def evaluate(idx: CubeIndex, cands: list[Candidate], cuts: list[float], settings: DiagnoseSettings) -> None:
    """Greedy explanation per KPI (module doc, step 4); sets chosen/explained_by/residual in place."""
    for kpi in sorted({c.metric for c in cands}):
        pool = [i for i, c in enumerate(cands)
                if c.metric == kpi and is_significant(c.test, c.contrast, bool(c.segment), cuts[i], settings,
                                                    c.extra.get("trend"), c.extra.get("searched", 1))]
        for i in pool:
            cands[i].gain = explained_chi2(cands[i].test)
        removed = np.zeros(len(idx.cube.frame), bool)
        # per candidate still in the pool: (own test, contrast, fatigue trend) of what is left of it
        current = {i: (cands[i].test, cands[i].contrast, cands[i].extra.get("trend")) for i in pool}
        inc = idx.include
        while pool:
            best = max(pool, key=lambda i: (explained_chi2(current[i][0]), -len(cands[i].segment)))
            cands[best].chosen = True
            # what the choice was decided on (what is left after the segments chosen before it)
            cands[best].extra["used"] = current[best]
            pool.remove(best)
            best_mask = cands[best].mask
            removed |= best_mask
            still = []
            for i in pool:
                # Every candidate is re-tested without the chosen segment's rows: an overlapping one
                # may be a diluted copy of it, and a disjoint one may only look different because
                # the chosen segment sat in its reference (the rest of the account).
                mask = cands[i].mask
                rest = mask & ~removed
                if not rest.any():
                    cands[i].explained_by = best
                    continue
                overlap = bool((mask & best_mask).any())
                t = idx.test(rest, kpi, cands[i].strata, settings.alpha) if overlap else current[i][0]
                ct = None
                if cands[i].segment:
                    ct = idx.contrast(rest, ~mask & ~removed & inc, kpi, cands[i].strata, settings.alpha)
                # a fatigue trend describes the whole ad/message: once rows are removed, the
                # window contrast decides for what is left
                trend = cands[i].extra.get("trend") if not overlap else None
                current[i] = (t, ct, trend)
                if is_significant(t, ct, bool(cands[i].segment), cuts[i], settings, trend,
                                cands[i].extra.get("searched", 1)):
                    still.append(i)
                else:
                    cands[i].explained_by, cands[i].residual, cands[i].residual_contrast = best, t, ct
            pool = still
        chosen = [i for i, c in enumerate(cands) if c.metric == kpi and c.chosen]
        for i in sorted(chosen, key=lambda i: len(cands[i].segment)):
            drill_down(idx, cands, i, cuts, settings)
        prune(idx, cands, kpi, cuts, settings)
