"""Creative fatigue: CTR decaying with a creative's age, tested per ad or per creative message.

Shared with the creative stage, which calls :func:`detect_fatigue` and never recomputes it.

Input: the canonical table, the key (``ad`` or ``creative_message``), settings and an optional
``as_of`` date (only days up to it are used). Output: one :class:`FatigueFinding` per key with
enough history (``MIN_DAYS`` active days and ``MIN_CLICKS`` clicks), sorted most fatigued first.

**Model (hinge quasi-Poisson GLM, day = unit).** For key i on day t (age ``a_t`` = days since the
key's first day with impressions), clicks ``y_t``, impressions ``x_t``:

    log E[y_t] = log x_t + log m_t + alpha + beta * max(0, a_t - tau)

``m_t`` is the CTR of the *rest of the account* on day t relative to its mean over the same days,
so shocks shared by every ad (weekdays, auctions, seasonality) are not read as fatigue. ``tau``
(the onset age) is chosen on a grid (every ``ONSET_STEP`` days, leaving at least ``MIN_TAIL`` days
after it) by maximum Poisson likelihood; ``beta`` (log CTR per day after onset) is fitted by
Newton-Raphson. Dispersion ``phi`` = Pearson X^2 / (n - 2) (floored at 1), ``se(beta) =
sqrt(phi * [I^-1]_bb)``; the one-sided p-value of ``beta < 0`` from a Student t with n - 2 df is
multiplied by the number of onsets tried (Bonferroni, because tau was chosen to fit), then BH
across keys. A key is *fatigued* when ``q <= fdr_q``, ``beta < 0`` and the decay since onset,
``1 - exp(beta * (age_last - tau))``, is at least ``min_effect``.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from fb_analyst import schema as S
from fb_analyst.diagnose.models import FatigueFinding
from fb_analyst.diagnose.stats import bh_qvalues
from fb_analyst.errors import UnknownNameError
from fb_analyst.settings import Settings

MIN_DAYS = 14
MIN_CLICKS = 200
ONSET_STEP = 2
MIN_TAIL = 7


def _fit(y: np.ndarray, off: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Poisson GLM y ~ offset + 1 + h by Newton; returns (theta, inverse information, loglik, pearson)."""
    X = np.column_stack([np.ones_like(h), h])
    theta = np.array([math.log(max(y.sum(), 0.5) / np.exp(off).sum()), 0.0])
    for _ in range(30):
        mu = np.exp(off + X @ theta)
        info = X.T @ (X * mu[:, None])
        step = np.linalg.solve(info + 1e-9 * np.eye(2), X.T @ (y - mu))
        theta = theta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    mu = np.exp(off + X @ theta)
    info = X.T @ (X * mu[:, None])
    loglik = float(np.sum(y * np.log(np.maximum(mu, 1e-300)) - mu))
    pearson = float(np.sum((y - mu) ** 2 / np.maximum(mu, 1e-300)))
    return theta, np.linalg.inv(info + 1e-9 * np.eye(2)), loglik, pearson


def _daily(table: ibis.Table, by: str, as_of: date | None) -> pd.DataFrame:
    t = table.filter(table[S.CLICKS].notnull() & table[S.IMPRESSIONS].notnull() & table[by].notnull())
    if as_of is not None:
        t = t.filter(t[S.DATE].cast("date") <= as_of)
    g = t.group_by([t[S.DATE].cast("date").name(S.DATE), t[by].cast("string").name("key")]).aggregate(
        clicks=t[S.CLICKS].cast("float64").sum(), impressions=t[S.IMPRESSIONS].cast("float64").sum())
    df = g.to_pandas()
    df[S.DATE] = pd.to_datetime(df[S.DATE]).dt.date
    return df


def _one(key: str, d: pd.DataFrame, totals: pd.DataFrame, by: str) -> FatigueFinding | None:
    d = d[d["impressions"] > 0].sort_values(S.DATE)
    if len(d) < MIN_DAYS or d["clicks"].sum() < MIN_CLICKS:
        return None
    first, last = d[S.DATE].iloc[0], d[S.DATE].iloc[-1]
    age = np.array([(x - first).days for x in d[S.DATE]], float)
    y, x = d["clicks"].to_numpy(float), d["impressions"].to_numpy(float)
    rest = totals.loc[d[S.DATE]]
    rc, ri = rest["clicks"].to_numpy() - y, rest["impressions"].to_numpy() - x
    with np.errstate(divide="ignore", invalid="ignore"):
        idx = np.where((ri > 0) & (rc > 0), (rc / ri) / (rc.sum() / ri.sum()), 1.0)
    off = np.log(x) + np.log(idx)
    taus = np.arange(0, age[-1] - MIN_TAIL + 1, ONSET_STEP)
    if len(taus) == 0:
        return None
    best = None
    for tau in taus:
        h = np.maximum(0.0, age - tau)
        theta, inv, ll, pearson = _fit(y, off, h)
        if best is None or ll > best[3]:
            best = (tau, theta, inv, ll, pearson)
    tau, theta, inv, _, pearson = best
    df = len(y) - 2
    phi = max(pearson / df, 1.0)
    beta = float(theta[1])
    se = math.sqrt(phi * inv[1, 1])
    p = min(1.0, float(stats.t.cdf(beta / se, df)) * len(taus))
    onset = first + timedelta(days=int(tau))
    cum = float(x[age < tau].sum()) if tau > 0 else 0.0
    head, tail = d.iloc[:7], d.iloc[-7:]
    return FatigueFinding(
        by=by, key=key, first_seen=first, last_seen=last, days_active=len(d),
        impressions=float(x.sum()), clicks=float(y.sum()),
        ctr_start=float(head["clicks"].sum() / head["impressions"].sum()),
        ctr_recent=float(tail["clicks"].sum() / tail["impressions"].sum()),
        slope_per_day=beta, decay_pct_per_week=float(-math.expm1(7 * beta)), onset_date=onset,
        onset_age_days=int(tau), cumulative_impressions_at_onset=cum, dispersion=phi, p_value=p,
        reason="",
    )


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
    if daily.empty:
        return []
    totals = daily.groupby(S.DATE)[["clicks", "impressions"]].sum()
    found = [f for key, d in daily.groupby("key", sort=True) if (f := _one(str(key), d, totals, by)) is not None]
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
