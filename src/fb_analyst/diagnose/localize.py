"""Multi-dimensional root-cause localisation: which segment (or combination) explains a change.

Input: a frame with one row per leaf (a full combination of dimension values), the dimension
columns, an ``actual`` and an ``expected`` column of the measure, and, for a derived (ratio)
measure such as CTR = clicks/impressions, ROAS = revenue/spend or CPM = 1000*spend/impressions,
the actual/expected columns of its numerator and denominator. Output: a short list of root-cause
elements (``{dimension: value}``; an absent dimension means any value), most important first.

Method (chi-square explained by one scale factor per element; see ``localize_search.py``):

1. Make every leaf additive and comparable. Additive measure: ``a = actual``, ``e = expected``.
   Ratio measure: ``a`` = actual numerator, ``e`` = actual denominator x expected leaf ratio, i.e.
   the numerator the leaf would have had at today's volume and yesterday's rate. So a pure volume
   (mix) change gives ``a == e`` and only a change of the *rate* counts as a deviation.
2. Score every element of depth 1..``max_depth`` by G = (A - E)^2 / V (V = summed leaf variances,
   Poisson by default), the chi-square of the element's total deviation; it is also the part of
   the leaf-level chi-square that one scale factor on the element explains.
3. Take the best-scoring element, then climb to an ancestor while the rest of that ancestor
   (ancestor minus element) deviates significantly in the same direction: the most general
   element whose whole extent moved. Significance is judged against the over-dispersion of the
   leaves left unexplained (quasi-Poisson), so it adapts to how noisy the data are.
4. Remove its leaves and repeat for further causes while the next element is significant
   (Bonferroni over all candidates) and scores at least ``secondary_share`` of the first.
   A change that is not localised (everything moved alike) comes back as one element with an
   empty segment, the whole population; no significant change comes back as [].

Relation to published localisers: like Adtributor, elements are ranked by how much of the change
they carry, but across dimension combinations (not one dimension at a time); like Squeeze's
generalised ripple effect, a ratio measure is handled through its numerator and denominator and a
general element wins when its children move together; unlike RiskLoc's fixed deviation cut-off
and layer-by-layer search, "moved" is a significance test against the data's own dispersion, and
the search starts at the sharpest element and climbs, so it returns neither needlessly deep
segments nor ancestors of a narrow cause. Figures on the RS benchmark: ``BENCHMARKS.md``.

``localize_root_cause`` is the benchmark-facing signature (RiskLoc's harness); ``localize``
returns ``RootCause`` records for the diagnosis engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from scipy import stats

from fb_analyst.diagnose.localize_search import enumerate_candidates, is_ancestor, leaves_of
from fb_analyst.errors import InputError, MissingColumnsError
from fb_analyst.kpis import ratio_array


@dataclass(frozen=True)
class LocalizeSettings:
    """Tuning of ``localize``; every field can be passed as a keyword option.

    ``max_causes``: most elements returned. ``secondary_share``: a further cause must score at
    least this share of the first one. ``alpha``: significance level, family-wise (Bonferroni
    over all candidates) for accepting an element, per test for the "rest of the ancestor
    deviates too" test of the generality climb; chi-square critical values are scaled by the
    estimated over-dispersion. ``min_relative_change``: smallest |A/E - 1| of an element worth
    reporting (practical effect; 0 = any). ``variance_floor``: smallest variance of a leaf, so
    near-empty leaves cannot dominate. ``variance_model``: "poisson" (variance = expected count)
    or "binomial" (ratio measures only: denominator x rate x (1 - rate), for proportions).
    ``global_ratio``: when the rest of the population moved the same way by at least this share
    of the best element's relative change (and significantly), the change is reported as global:
    one ``RootCause`` with an empty segment (every dimension a wildcard).
    """

    max_causes: int = 3
    secondary_share: float = 0.2
    alpha: float = 0.01
    min_relative_change: float = 0.0
    variance_floor: float = 1.0
    variance_model: str = "poisson"
    global_ratio: float = 0.5


@dataclass(frozen=True)
class RootCause:
    """One localised root-cause element.

    ``segment``: {dimension: value}; absent dimensions are wildcards. ``actual``/``expected``: the
    measure aggregated over the segment (for a ratio measure the ratio of sums). ``score``: share
    of the leaf-level chi-square this element explains (0..1, explanatory power).
    ``share_of_change``: share of the total deviation (for a ratio measure: of the excess
    numerator at actual volume) that lies inside the segment. ``deviation``: actual/expected - 1
    of the segment. ``surprise``: the segment's Jensen-Shannon term between the expected and the
    actual distribution of the measure across segments (Adtributor's surprise).
    """

    segment: dict[str, str]
    score: float
    actual: float
    expected: float
    share_of_change: float
    deviation: float
    surprise: float
    n_leaves: int

    @property
    def label(self) -> str:
        """``dim=value&dim2=value2`` (dimensions sorted), the benchmark's element spelling."""
        return "&".join(f"{k}={v}" for k, v in sorted(self.segment.items()))


def localize_root_cause(
    df: pd.DataFrame,
    dimensions: Sequence[str],
    actual: str,
    expected: str,
    derived: dict | None = None,
    *,
    max_depth: int = 3,
    **options: object,
) -> list[dict[str, str]]:
    """Root-cause elements as plain dicts, most important first (harness signature)."""
    causes = localize(df, dimensions, actual, expected, derived, max_depth=max_depth, **options)
    return [dict(c.segment) for c in causes]


def localize(
    df: pd.DataFrame,
    dimensions: Sequence[str],
    actual: str,
    expected: str,
    derived: dict | None = None,
    *,
    max_depth: int = 3,
    **options: object,
) -> list[RootCause]:
    """Localise the segments that explain the change from ``expected`` to ``actual``.

    ``derived`` describes a ratio measure: ``{"op": "divide", "numerator": {"real": col,
    "predict": col}, "denominator": {"real": col, "predict": col}}``; then the numerator and
    denominator columns are used and ``actual``/``expected`` only need to exist. Returns [] when
    nothing deviates significantly, and one ``RootCause`` with an empty segment when the whole
    population moved alike (not localisable). Raises ``InputError`` on missing columns or bad
    options.
    """
    settings = _settings(options)
    dims = list(dimensions)
    num_cols = _validate(df, dims, actual, expected, derived, max_depth)
    if df.empty:
        return []
    codes, levels = _encode(df, dims)
    if num_cols is None:
        a = _numeric(df, actual)
        e = _numeric(df, expected)
        ratio_parts = None
    else:
        ra, pa, rb, pb = (_numeric(df, c) for c in num_cols)
        a, e = _expected_at_actual_volume(ra, pa, rb, pb)
        ratio_parts = (ra, pa, rb, pb)
    v = _leaf_variance(a, e, ratio_parts, settings)
    chosen = _select(codes, [len(lv) for lv in levels], a, e, v, max_depth, settings)
    return [_describe(m, codes, levels, dims, a, e, v, ratio_parts) for m in chosen]


# ----------------------------------------------------------------------------- selection
def _select(codes, cards, a, e, v, max_depth, settings: LocalizeSettings) -> list[tuple]:
    """Elements to report, as member tuples; ``[()]`` (the whole population) for a global change."""
    leaf_z2 = (a - e) ** 2 / v
    mask = np.ones(len(a), dtype=bool)
    chosen: list[tuple] = []
    first_gain = None
    dispersion = 1.0
    while len(chosen) < settings.max_causes and mask.any():
        cands = enumerate_candidates(codes, cards, a, e, v, mask, max_depth)
        rel = np.abs(cands.actual / np.maximum(cands.expected, 1e-12) - 1.0)
        # An element spanning every leaf (a dimension with one value) localises nothing.
        usable = (rel >= settings.min_relative_change) & (cands.n_leaves < len(a))
        gain = np.where(usable, cands.gain, -np.inf)
        if gain.size == 0 or not np.isfinite(gain.max()):
            break
        best = int(np.argmax(gain))
        # Quasi-likelihood dispersion from the leaves left unexplained (Pearson chi2 / df): real
        # counts are noisier than the variance model, and the anomaly itself must not inflate it.
        rest = mask & ~leaves_of(codes, cands.members[best])
        if rest.sum() >= 2:
            dispersion = max(float(leaf_z2[rest].sum()) / (int(rest.sum()) - 1), 1e-6)
        best = _most_general(cands, best, usable, dispersion, settings)
        g = float(gain[best])
        inside = leaves_of(codes, cands.members[best])
        critical = dispersion * stats.chi2.isf(settings.alpha / len(cands.members), 1)
        if g < critical or (first_gain is not None and g < settings.secondary_share * first_gain):
            break
        if first_gain is None and _is_global(a, e, v, inside, dispersion, settings):
            return [()]
        first_gain = g if first_gain is None else first_gain
        chosen.append(cands.members[best])
        mask &= ~inside
    return chosen


def _is_global(a, e, v, inside, dispersion: float, settings: LocalizeSettings) -> bool:
    """True when everything outside the best element moved the same way, nearly as much.

    The whole population is then the honest answer (a uniform change, e.g. a tracking or pricing
    change), not a segment: the rest deviates in the same direction, significantly, and by at least
    ``global_ratio`` x the element's relative deviation.
    """
    out = ~inside
    d_in, d_out = a[inside].sum() - e[inside].sum(), a[out].sum() - e[out].sum()
    e_in, e_out, v_out = e[inside].sum(), e[out].sum(), v[out].sum()
    if d_in * d_out <= 0 or e_in <= 0 or e_out <= 0:
        return False
    significant = d_out**2 / v_out >= dispersion * stats.chi2.isf(settings.alpha, 1)
    return bool(significant and abs(d_out / e_out) >= settings.global_ratio * abs(d_in / e_in))


def _most_general(cands, best: int, usable: np.ndarray, dispersion: float, settings: LocalizeSettings) -> int:
    """Climb from ``best`` to the most general ancestor whose whole extent moved.

    An ancestor P of the current element C absorbs it when the rest R = P minus C deviates in the
    same direction and significantly (z^2 above the dispersion-scaled chi-square(1) critical value
    at ``alpha``): C alone would leave part of the change unexplained, and operators name the
    wider segment. Among absorbing ancestors the best-scoring one is taken, and the climb repeats
    from there.
    """
    critical = dispersion * stats.chi2.isf(settings.alpha, 1)
    current = best
    while True:
        target = cands.members[current]
        d_c = cands.actual[current] - cands.expected[current]
        up = np.flatnonzero(cands.depth < cands.depth[current])
        d_r = (cands.actual[up] - cands.expected[up]) - d_c
        v_r = cands.variance[up] - cands.variance[current]
        ok = usable[up] & (d_r * d_c > 0) & (v_r > 0)
        ok[ok] &= d_r[ok] ** 2 / v_r[ok] >= critical
        absorbing = [int(i) for i in up[ok] if is_ancestor(cands.members[i], target)]
        if not absorbing:
            return current
        current = max(absorbing, key=lambda i: float(cands.gain[i]))


# ----------------------------------------------------------------------------- leaves
def _expected_at_actual_volume(ra, pa, rb, pb) -> tuple[np.ndarray, np.ndarray]:
    """(actual numerator, numerator expected at the actual denominator and expected leaf rate).

    A leaf without an expected denominator (new leaf) takes the overall expected rate.
    """
    total_rate = pa.sum() / pb.sum() if pb.sum() > 0 else (ra.sum() / rb.sum() if rb.sum() > 0 else 0.0)
    rate = ratio_array(pa, pb, fill=total_rate)
    return ra, rb * rate


def _leaf_variance(a, e, ratio_parts, settings: LocalizeSettings) -> np.ndarray:
    """Null variance of each leaf's deviation ``a - e``, floored at ``variance_floor``.

    "poisson": variance = expected count (the scale is re-estimated from the data anyway, see
    ``_select``). "binomial": for a proportion (CTR, CVR), denominator x rate x (1 - rate). On the
    RS benchmark Poisson localised better (the forecast error, not sampling, dominates the noise).
    """
    v = e.copy()
    if ratio_parts is not None and settings.variance_model == "binomial":
        rb = ratio_parts[2]
        rate = ratio_array(e, rb, fill=0.0)
        v = e * (1.0 - np.clip(rate, 0.0, 1.0))
    return np.maximum(v, settings.variance_floor)


def _describe(member, codes, levels, dims, a, e, v, ratio_parts) -> RootCause:
    inside = leaves_of(codes, member)
    A, E = float(a[inside].sum()), float(e[inside].sum())
    total_chi = float(((a - e) ** 2 / v).sum())
    gain = (A - E) ** 2 / float(v[inside].sum())
    change = float(a.sum() - e.sum())
    if ratio_parts is None:
        act, exp = A, float(E)
    else:
        ra, pa, rb, pb = (x[inside].sum() for x in ratio_parts)
        act = float(ra / rb) if rb > 0 else math.nan
        exp = float(pa / pb) if pb > 0 else math.nan
    p = E / e.sum() if e.sum() > 0 else 0.0
    q = A / a.sum() if a.sum() > 0 else 0.0
    return RootCause(
        segment={dims[j]: str(levels[j][v]) for j, v in member},
        score=gain / total_chi if total_chi > 0 else 0.0,
        actual=act,
        expected=exp,
        share_of_change=(A - E) / change if change != 0 else math.nan,
        deviation=act / exp - 1.0 if exp and not math.isnan(exp) else math.nan,
        surprise=_js_term(p, q),
        n_leaves=int(inside.sum()),
    )


def _js_term(p: float, q: float) -> float:
    """One segment's term of the Jensen-Shannon divergence between shares p (expected), q (actual)."""
    m = (p + q) / 2
    out = 0.0
    if p > 0:
        out += 0.5 * p * math.log(p / m)
    if q > 0:
        out += 0.5 * q * math.log(q / m)
    return out


# ----------------------------------------------------------------------------- validation
def _settings(options: Mapping[str, object]) -> LocalizeSettings:
    valid = [f.name for f in fields(LocalizeSettings)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InputError(
            f"localize: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(valid)}"
        )
    settings = LocalizeSettings(**options)  # type: ignore[arg-type]
    if settings.variance_model not in ("poisson", "binomial"):
        raise InputError(
            f"localize: variance_model must be 'poisson' or 'binomial', got {settings.variance_model!r}"
        )
    if settings.max_causes < 1 or not 0 < settings.alpha < 1 or settings.variance_floor <= 0:
        raise InputError(
            "localize: need max_causes >= 1, 0 < alpha < 1 and variance_floor > 0; got "
            f"max_causes={settings.max_causes!r}, alpha={settings.alpha!r}, "
            f"variance_floor={settings.variance_floor!r}"
        )
    return settings


def _validate(df, dims, actual, expected, derived, max_depth) -> tuple[str, str, str, str] | None:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"localize: df must be a pandas DataFrame, got {type(df).__name__}")
    if not dims:
        raise InputError("localize: dimensions is empty; pass at least one dimension column")
    if len(set(dims)) != len(dims):
        raise InputError(f"localize: dimensions {dims} contain duplicates; list each column once")
    if not isinstance(max_depth, int) or max_depth < 1:
        raise InputError(f"localize: max_depth must be an integer >= 1, got {max_depth!r}")
    num_cols = None
    if derived is not None:
        try:
            op = derived.get("op", "divide")
            num_cols = (
                derived["numerator"]["real"],
                derived["numerator"]["predict"],
                derived["denominator"]["real"],
                derived["denominator"]["predict"],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                "localize: derived must look like {'op': 'divide', 'numerator': {'real': col, "
                f"'predict': col}}, 'denominator': {{...}}}}; got {derived!r}"
            ) from exc
        if op != "divide":
            raise InputError(f"localize: derived op {op!r} is not supported; use 'divide'")
    needed = list(dims) + [actual, expected] + list(num_cols or ())
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise MissingColumnsError(
            f"localize: missing column(s) {', '.join(map(repr, missing))}; "
            f"the frame has {', '.join(map(str, df.columns))}. Pass existing column names."
        )
    return num_cols


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(
            f"localize: column {col!r} has {int(bad.sum())} missing or non-numeric value(s) "
            f"(first at row {int(np.flatnonzero(bad)[0])}); fill or drop those leaves first"
        )
    return values


def _encode(df: pd.DataFrame, dims: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    codes = np.empty((len(df), len(dims)), dtype=np.int64)
    levels = []
    for j, d in enumerate(dims):
        c, lv = pd.factorize(df[d].astype(str), sort=False)
        codes[:, j] = c
        levels.append(np.asarray(lv))
    return codes, levels
