"""Creative fatigue: CTR decaying with a creative's age, tested per ad or per creative message.

Shared with the creative stage, which calls :func:`detect_fatigue` and never recomputes it.

Input: the canonical table, the key (``ad`` or ``creative_message``), settings and an optional
``as_of`` date (only days up to it are used). Output: one :class:`FatigueFinding` per key with
enough history (``MIN_DAYS`` active days and ``MIN_CLICKS`` clicks), sorted most fatigued first.

**Model (hinge quasi-Poisson GLM, day = unit).** For key i on day t (age ``a_t`` = days since the
key's first day with impressions), clicks ``y_t``, impressions ``x_t``:

    log E[y_t] = log x_t + log m_t + alpha + beta * max(0, a_t - tau)

``m_t`` is the CTR of the *rest of the key's campaign* (the rest of the account when the campaign
has no other volume) on day t relative to its mean over the same days -- each of those ads'
impressions weighted by the ad's own CTR level, so ads launching or pausing do not move it -- so shocks shared with the
other ads (weekdays, auctions, seasonality, the campaign's budget moving along its diminishing
returns) are not read as fatigue. ``tau``
(the onset age) is chosen on a grid (every ``ONSET_STEP`` days, leaving at least ``MIN_TAIL`` days
after it) by maximum Poisson likelihood; ``beta`` (log CTR per day after onset) is fitted by
Newton-Raphson. For a message run by several ads, the offset uses each ad's impressions weighted by
the ad's own CTR level (``exposure``), so ads joining or leaving the message are mix, not decay. Dispersion ``phi`` = Pearson X^2 / (n - 2) (floored at 1), times
``(1 + rho) / (1 - rho)`` for the lag-1 autocorrelation rho >= 0 of the residuals (slow drifts make
neighbouring days err together and would otherwise pass as a trend); ``se(beta) =
sqrt(phi * [I^-1]_bb)``; the one-sided p-value of ``beta < 0`` from a Student t with n - 2 df is
multiplied by the number of onsets tried (Bonferroni, because tau was chosen to fit), then BH
across keys. A key is *fatigued* when ``q <= fdr_q``, ``beta < 0`` and the decay since onset,
``1 - exp(beta * (age_last - tau))``, is at least ``min_effect``.

**Computation.** Every key is fitted at once: the engine returns the date x key x campaign x ad
sums as Arrow, the per-key daily series are laid out back to back in flat arrays (sorted by key,
then date), and each onset of the grid is one batched Newton-Raphson over all keys that have it
(closed-form 2 x 2 solves, sums per key by ``np.bincount``). The onsets are still visited in order
and each fit starts from the best fit so far, as a per-key loop would; the results agree with it
to rounding (the summation order differs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from fb_analyst import schema as S
from fb_analyst.diagnose.frames import sorted_codes
from fb_analyst.diagnose.models import FatigueFinding
from fb_analyst.diagnose.stats import bh_qvalues
from fb_analyst.errors import UnknownNameError
from fb_analyst.kpis import ratio_array
from fb_analyst.settings import Settings

MIN_DAYS = 14
MIN_CLICKS = 200
ONSET_STEP = 3
MIN_TAIL = 7
#: Newton-Raphson: at most this many steps, stopping once no coefficient moves more than STEP_TOL.
MAX_NEWTON = 30
STEP_TOL = 1e-8
RIDGE = 1e-9  # added to the information's diagonal so a flat series never makes it singular
_EPOCH = date(1970, 1, 1)


def _daily(table: ibis.Table, by: str, as_of: date | None) -> pa.Table:
    """Clicks and impressions per date x key x reference group (the campaign when present) x
    sub-unit (the ad, for a message), as Arrow (dates as date32)."""
    t = table.filter(table[S.CLICKS].notnull() & table[S.IMPRESSIONS].notnull() & table[by].notnull())
    if as_of is not None:
        t = t.filter(t[S.DATE].cast("date") <= as_of)
    group = t[S.CAMPAIGN].cast("string").fill_null("") if S.CAMPAIGN in t.columns else ibis.literal("")
    sub = t[S.AD].cast("string").fill_null("") if by != S.AD and S.AD in t.columns else ibis.literal("")
    g = t.group_by([t[S.DATE].cast("date").name(S.DATE), t[by].cast("string").name("key"),
                    group.name("group"), sub.name("sub")]).aggregate(
        clicks=t[S.CLICKS].cast("float64").sum(), impressions=t[S.IMPRESSIONS].cast("float64").sum())
    # A parallel GROUP BY returns its groups in any order, and the fits below add floats in row
    # order: sorted, the same input gives the same findings to the last digit on every run.
    return g.order_by([S.DATE, "key", "group", "sub"]).to_pyarrow()


@dataclass
class _Rows:
    """The engine's daily rows as codes: key (sorted), campaign, sub-unit, day; sums as floats."""

    key: np.ndarray
    keys: np.ndarray  # the distinct values, sorted; codes index them
    group: np.ndarray
    groups: np.ndarray
    sub: np.ndarray
    subs: np.ndarray
    day: np.ndarray  # days since 1970-01-01
    clicks: np.ndarray
    impressions: np.ndarray

    @classmethod
    def from_arrow(cls, daily: pa.Table) -> "_Rows":
        encoded = [sorted_codes(daily.column(c)) for c in ("key", "group", "sub")]
        # int64 codes: key x ad and key x day pairs are combined into one code.
        (key, keys), (group, groups), (sub, subs) = ((codes.astype(np.int64), levels) for codes, levels in encoded)
        day = pc.cast(daily.column(S.DATE), pa.int32()).to_numpy().astype(np.int64)
        clicks, impressions = (daily.column(c).to_numpy().astype(float) for c in ("clicks", "impressions"))
        return cls(key, keys, group, groups, sub, subs, day, clicks, impressions)

    def standard_impressions(self) -> np.ndarray:
        """Each row's impressions weighted by its ad's own CTR level (the key's when there is no
        ad below it): the reference index without composition effects, so ads launching or pausing
        in the campaign do not move the reference."""
        labels = np.concatenate([self.subs, self.keys])
        unit_label = np.where(self.subs[self.sub] != "", self.sub, len(self.subs) + self.key)
        unit, _ = pd.factorize(labels)  # a sub-unit and a key with the same name are one unit
        unit = unit[unit_label]
        n = int(unit.max()) + 1 if len(unit) else 0
        ctr = ratio_array(np.bincount(unit, self.clicks, n), np.bincount(unit, self.impressions, n))
        return self.impressions * np.nan_to_num(ctr[unit], nan=0.0)


@dataclass
class _Series:
    """Daily series of every eligible key, back to back: rows sorted by key, then date.
    ``start[k]:start[k+1]`` are key k's rows; ``row_key`` maps each row to its key."""

    keys: list[str]
    start: np.ndarray
    row_key: np.ndarray
    day: np.ndarray
    age: np.ndarray
    y: np.ndarray
    x: np.ndarray
    off: np.ndarray

    @property
    def n_keys(self) -> int:
        return len(self.keys)

    def per_key(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.row_key, values, self.n_keys)


def _day_totals(code: np.ndarray, n_codes: int, day: np.ndarray, n_days: int,
                *values: np.ndarray) -> list[np.ndarray]:
    """Dense (code x day) sums of each of ``values``, flattened as code * n_days + day."""
    flat = code * n_days + day
    return [np.bincount(flat, v, n_codes * n_days) for v in values]


def _series(rows: _Rows) -> _Series | None:
    """Per-key daily series with their offsets (exposure and reference index), keys with fewer
    than ``MIN_DAYS`` days or ``MIN_CLICKS`` clicks left out (they are never tested)."""
    std = rows.standard_impressions()
    days, day = np.unique(rows.day, return_inverse=True)
    n_days, n_groups = len(days), len(rows.groups)
    zeros = np.zeros(len(day), np.int64)
    account_clicks, account_std = _day_totals(zeros, 1, day, n_days, rows.clicks, std)
    group_clicks, group_std = _day_totals(rows.group, n_groups, day, n_days, rows.clicks, std)
    pos = rows.impressions > 0
    key, sub, group, day = rows.key[pos], rows.sub[pos], rows.group[pos], day[pos]
    clicks, impressions, std = rows.clicks[pos], rows.impressions[pos], std[pos]
    exposure = impressions * _exposure_factor(key, sub, clicks, impressions, len(rows.keys), len(rows.subs))
    # One row per key x day, sorted by key then day.
    cell, row = np.unique(key * n_days + day, return_inverse=True)
    n_cells = len(cell)
    y, x, e, own_std = (np.bincount(row, v, n_cells) for v in (clicks, impressions, exposure, std))
    cell_key, cell_day = cell // n_days, cell % n_days
    keep = x > 0
    n_key = np.bincount(cell_key[keep], minlength=len(rows.keys))
    clicks_key = np.bincount(cell_key[keep], y[keep], len(rows.keys))
    eligible = (n_key >= MIN_DAYS) & (clicks_key >= MIN_CLICKS)
    keep &= eligible[cell_key]
    if not keep.any():
        return None
    cell_key, cell_day, y, x, e, own_std = (a[keep] for a in (cell_key, cell_day, y, x, e, own_std))
    ref_clicks, ref_std = _campaign_reference(key, group, rows.groups, cell_key, cell_day, n_days,
                                              group_clicks, group_std, account_clicks, account_std)
    kept = np.flatnonzero(eligible)
    new_code = np.full(len(rows.keys), -1, np.int64)
    new_code[kept] = np.arange(len(kept))
    row_key = new_code[cell_key]
    start = np.searchsorted(row_key, np.arange(len(kept) + 1))
    rc, ri = ref_clicks - y, ref_std - own_std
    # The campaign has no other volume: compare with the account.
    thin = np.bincount(row_key, rc > 0, len(kept)) < (np.diff(start) // 2)
    use_account = thin[row_key]
    rc = np.where(use_account, account_clicks[cell_day] - y, rc)
    ri = np.where(use_account, account_std[cell_day] - own_std, ri)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.bincount(row_key, rc, len(kept)) / np.bincount(row_key, ri, len(kept))
        index = np.where((ri > 0) & (rc > 0), (rc / ri) / level[row_key], 1.0)
        off = np.log(np.maximum(e, 1e-12)) + np.log(index)
    day_num = days[cell_day]
    age = (day_num - day_num[start[:-1]][row_key]).astype(float)
    return _Series([str(k) for k in rows.keys[kept]], start, row_key, day_num, age, y, x, off)


def _exposure_factor(key: np.ndarray, sub: np.ndarray, clicks: np.ndarray, impressions: np.ndarray,
                     n_keys: int, n_subs: int) -> np.ndarray:
    """Per row, its ad's CTR level over the key's (1 without a CTR): a message runs on several ads
    that start and stop at different times, so weighting each ad's impressions by its own CTR
    level keeps ads joining or leaving from being read as decay."""
    pair = key * n_subs + sub
    cells, inv = np.unique(pair, return_inverse=True)
    sub_ctr = ratio_array(np.bincount(inv, clicks, len(cells)), np.bincount(inv, impressions, len(cells)))[inv]
    level = (np.bincount(key, clicks, n_keys) / np.maximum(np.bincount(key, impressions, n_keys), 1e-12))[key]
    return ratio_array(np.where(np.isnan(sub_ctr), level, sub_ctr), level, fill=1.0)


def _campaign_reference(key, group, groups, cell_key, cell_day, n_days, group_clicks, group_std,
                        account_clicks, account_std) -> tuple[np.ndarray, np.ndarray]:
    """Daily clicks and standardised impressions of each key's campaign(s) (summed over them when a
    message runs in several), or of the account when the key has no campaign."""
    named = np.array([g != "" for g in groups], bool)
    n_groups = len(groups)
    pairs = np.unique(key[named[group]] * n_groups + group[named[group]]) if n_groups else np.zeros(0, np.int64)
    pair_key, pair_group = pairs // max(n_groups, 1), pairs % max(n_groups, 1)
    # Every (key's day, key's campaign) combination, looked up in the dense campaign x day totals.
    first = np.searchsorted(pair_key, cell_key, "left")
    count = np.searchsorted(pair_key, cell_key, "right") - first
    cell_of = np.repeat(np.arange(len(cell_key)), count)
    pair_of = np.repeat(first - np.cumsum(count) + count, count) + np.arange(count.sum())
    flat = pair_group[pair_of] * n_days + cell_day[cell_of]
    ref_clicks = np.bincount(cell_of, group_clicks[flat], len(cell_key))
    ref_std = np.bincount(cell_of, group_std[flat], len(cell_key))
    none = count == 0
    ref_clicks[none], ref_std[none] = account_clicks[cell_day[none]], account_std[cell_day[none]]
    return ref_clicks, ref_std


@dataclass
class _Fit:
    """Per key: Poisson GLM coefficients (intercept, slope), [I^-1]_bb, log-likelihood, Pearson X^2."""

    theta: np.ndarray
    inv_bb: np.ndarray
    loglik: np.ndarray
    pearson: np.ndarray


def _fit(y: np.ndarray, off: np.ndarray, h: np.ndarray, seg: np.ndarray, theta: np.ndarray) -> _Fit:
    """Poisson GLM ``y ~ offset + 1 + h`` for every key at once (rows of key k have ``seg == k``),
    by Newton from ``theta``: each key stops on its own once its step is below ``STEP_TOL``."""
    n = len(theta)
    theta = theta.copy()
    live = np.arange(n)
    rows = np.arange(len(y))
    for _ in range(MAX_NEWTON):
        s = seg[rows]
        mu, hh = np.exp(off[rows] + (theta[s, 0] + theta[s, 1] * h[rows])), h[rows]
        resid = y[rows] - mu
        a, b, c = _information(s, mu, hh, n)
        g0, g1 = np.bincount(s, resid, n), np.bincount(s, resid * hh, n)
        det = a * c - b * b
        step = np.column_stack([(c * g0 - b * g1) / det, (a * g1 - b * g0) / det])[live]
        theta[live] += step
        moving = ~(np.max(np.abs(step), axis=1) < STEP_TOL)
        if not moving.any():
            break
        live = live[moving]
        alive = np.zeros(n, bool)
        alive[live] = True
        rows = rows[alive[seg[rows]]]
    mu = np.exp(off + (theta[seg, 0] + theta[seg, 1] * h))
    a, b, c = _information(seg, mu, h, n)
    loglik = np.bincount(seg, y * np.log(np.maximum(mu, 1e-300)) - mu, n)
    pearson = np.bincount(seg, (y - mu) ** 2 / np.maximum(mu, 1e-300), n)
    return _Fit(theta, a / (a * c - b * b), loglik, pearson)


def _information(seg: np.ndarray, mu: np.ndarray, h: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Fisher information of (intercept, slope) per key, ridge included: (I_aa, I_ab, I_bb)."""
    mh = mu * h
    return (np.bincount(seg, mu, n) + RIDGE, np.bincount(seg, mh, n), np.bincount(seg, mh * h, n) + RIDGE)


@dataclass
class _Onset:
    """Per key: the chosen onset age, its fit, and the number of onsets tried."""

    tau: np.ndarray
    fit: _Fit
    n_taus: np.ndarray


def _best_onsets(s: _Series) -> _Onset:
    """Fit every onset of the grid (ages 0, ONSET_STEP, ... leaving MIN_TAIL days after it), in
    order, each from the best fit so far; keep the maximum-likelihood one per key."""
    age_last = s.age[s.start[1:] - 1]
    n_taus = np.maximum(np.ceil((age_last - MIN_TAIL + 1) / ONSET_STEP), 0).astype(np.int64)
    k = s.n_keys
    theta0 = np.column_stack([np.log(np.maximum(s.per_key(s.y), 0.5) / s.per_key(np.exp(s.off))), np.zeros(k)])
    best = _Fit(theta0, np.full(k, np.nan), np.full(k, -np.inf), np.full(k, np.nan))
    tau = np.zeros(k)
    for j in range(int(n_taus.max()) if k else 0):
        keys = np.flatnonzero(n_taus > j)
        code = np.full(k, -1, np.int64)
        code[keys] = np.arange(len(keys))
        rows = np.flatnonzero(code[s.row_key] >= 0)
        fit = _fit(s.y[rows], s.off[rows], np.maximum(0.0, s.age[rows] - j * ONSET_STEP),
                   code[s.row_key[rows]], best.theta[keys])
        better = (fit.loglik > best.loglik[keys]) | (j == 0)
        won = keys[better]
        best.theta[won], best.inv_bb[won] = fit.theta[better], fit.inv_bb[better]
        best.loglik[won], best.pearson[won], tau[won] = fit.loglik[better], fit.pearson[better], j * ONSET_STEP
    return _Onset(tau, best, n_taus)


def _autocorrelation_inflation(s: _Series, on: _Onset) -> np.ndarray:
    """Per key, (1 + rho) / (1 - rho) for the lag-1 autocorrelation rho >= 0 of the Pearson
    residuals: slow drifts (budgets, auctions) make neighbouring days err together, which shrinks
    the effective number of days a trend is estimated from; the variance of the slope grows by
    about this factor."""
    theta, tau = on.fit.theta[s.row_key], on.tau[s.row_key]
    mu = np.exp(s.off + theta[:, 0] + theta[:, 1] * np.maximum(0.0, s.age - tau))
    r = (s.y - mu) / np.sqrt(np.maximum(mu, 1e-12))
    lead = np.flatnonzero(np.r_[s.row_key[1:], -1] == s.row_key)  # days t whose t + 1 is the same key's
    k = s.n_keys
    seg = s.row_key[lead]
    n_pairs = np.bincount(seg, minlength=k)
    a, b = r[lead], r[lead + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        da, db = a - (np.bincount(seg, a, k) / n_pairs)[seg], b - (np.bincount(seg, b, k) / n_pairs)[seg]
        rho = np.bincount(seg, da * db, k) / np.sqrt(np.bincount(seg, da * da, k) * np.bincount(seg, db * db, k))
    flat = np.maximum.reduceat(r, s.start[:-1]) == np.minimum.reduceat(r, s.start[:-1])
    rho = np.where(np.isfinite(rho), np.clip(rho, 0.0, 0.9), 0.0)
    return np.where(flat | (np.diff(s.start) < 4), 1.0, (1 + rho) / (1 - rho))


def _findings(s: _Series, by: str) -> list[FatigueFinding]:
    """One unadjusted finding (no q-value yet) per eligible key, in key order."""
    on = _best_onsets(s)
    n = np.diff(s.start)
    df = n - 2
    phi = np.maximum(on.fit.pearson / df, 1.0) * _autocorrelation_inflation(s, on)
    beta = on.fit.theta[:, 1]
    se = np.sqrt(phi * on.fit.inv_bb)
    p = np.minimum(1.0, stats.t.cdf(beta / se, df) * on.n_taus)
    before = s.age < on.tau[s.row_key]
    cum = s.per_key(np.where(before, s.x, 0.0))
    out = []
    for k in np.flatnonzero(on.n_taus > 0):
        lo, hi = s.start[k], s.start[k + 1]
        y, x = s.y[lo:hi], s.x[lo:hi]
        first = _EPOCH + timedelta(days=int(s.day[lo]))
        tau = int(on.tau[k])
        out.append(FatigueFinding(
            by=by, key=s.keys[k], first_seen=first, last_seen=_EPOCH + timedelta(days=int(s.day[hi - 1])),
            days_active=int(hi - lo), impressions=float(x.sum()), clicks=float(y.sum()),
            ctr_start=float(y[:7].sum() / x[:7].sum()), ctr_recent=float(y[-7:].sum() / x[-7:].sum()),
            slope_per_day=float(beta[k]), decay_pct_per_week=float(-math.expm1(7 * beta[k])),
            onset_date=first + timedelta(days=tau), onset_age_days=tau,
            cumulative_impressions_at_onset=float(cum[k]) if tau > 0 else 0.0, dispersion=float(phi[k]),
            p_value=float(p[k]), reason="",
        ))
    return out


def detect_fatigue(
    table: ibis.Table, by: str = S.CREATIVE_MESSAGE, settings: Settings | None = None,
    as_of: date | None = None,
) -> list[FatigueFinding]:
    """Test every ``by`` key (``ad`` or ``creative_message``) for CTR decay with age (module doc)."""
    if by not in (S.AD, S.CREATIVE_MESSAGE):
        raise UnknownNameError("fatigue key", by, [S.AD, S.CREATIVE_MESSAGE])
    cfg = (settings or Settings()).diagnose
    for col in (by, S.CLICKS, S.IMPRESSIONS):
        if col not in table.columns:
            return []
    daily = _daily(table, by, as_of)
    if daily.num_rows == 0:
        return []
    series = _series(_Rows.from_arrow(daily))
    found = [] if series is None else _findings(series, by)
    qs = bh_qvalues([f.p_value for f in found])
    out = []
    for f, q in zip(found, qs):
        span = (f.last_seen - f.onset_date).days if f.onset_date else 0
        total_decay = -math.expm1((f.slope_per_day or 0.0) * span)
        fatigued = bool(q is not None and q <= cfg.fdr_q and (f.slope_per_day or 0) < 0
                        and total_decay >= cfg.min_effect)
        reason = (f"CTR down {total_decay:.0%} since onset {f.onset_date} (q={q:.2g})" if fatigued else
                  f"no significant decay beyond {cfg.min_effect:.0%} (q={q:.2g}, decay since onset {total_decay:.0%})")
        out.append(f.model_copy(update={"q_value": q, "fatigued": fatigued, "reason": reason}))
    out.sort(key=lambda f: (not f.fatigued, f.q_value if f.q_value is not None else 1.0))
    return out
