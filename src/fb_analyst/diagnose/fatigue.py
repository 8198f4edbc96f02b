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
ONSET_STEP = 3
MIN_TAIL = 7


def _fit(y: np.ndarray, off: np.ndarray, h: np.ndarray,
         start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Poisson GLM y ~ offset + 1 + h by Newton; returns (theta, inverse information, loglik, pearson)."""
    X = np.column_stack([np.ones_like(h), h])
    theta = start.copy() if start is not None else np.array([math.log(max(y.sum(), 0.5) / np.exp(off).sum()), 0.0])
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


def _autocorrelation_inflation(y: np.ndarray, off: np.ndarray, age: np.ndarray, tau: float,
                               theta: np.ndarray) -> float:
    """(1 + rho) / (1 - rho) for the lag-1 autocorrelation rho >= 0 of the Pearson residuals: slow
    drifts (budgets, auctions) make neighbouring days err together, which shrinks the effective
    number of days a trend is estimated from; the variance of the slope grows by about this factor."""
    mu = np.exp(off + theta[0] + theta[1] * np.maximum(0.0, age - tau))
    r = (y - mu) / np.sqrt(np.maximum(mu, 1e-12))
    if len(r) < 4 or np.std(r) == 0:
        return 1.0
    rho = float(np.corrcoef(r[:-1], r[1:])[0, 1])
    rho = min(max(rho, 0.0), 0.9) if np.isfinite(rho) else 0.0
    return (1 + rho) / (1 - rho)


def _daily(table: ibis.Table, by: str, as_of: date | None) -> pd.DataFrame:
    """Clicks and impressions per date x key x reference group (the campaign when present)."""
    t = table.filter(table[S.CLICKS].notnull() & table[S.IMPRESSIONS].notnull() & table[by].notnull())
    if as_of is not None:
        t = t.filter(t[S.DATE].cast("date") <= as_of)
    group = t[S.CAMPAIGN].cast("string").fill_null("") if S.CAMPAIGN in t.columns else ibis.literal("")
    sub = t[S.AD].cast("string").fill_null("") if by != S.AD and S.AD in t.columns else ibis.literal("")
    g = t.group_by([t[S.DATE].cast("date").name(S.DATE), t[by].cast("string").name("key"),
                    group.name("group"), sub.name("sub")]).aggregate(
        clicks=t[S.CLICKS].cast("float64").sum(), impressions=t[S.IMPRESSIONS].cast("float64").sum())
    df = g.to_pandas()
    df[S.DATE] = pd.to_datetime(df[S.DATE]).dt.date
    return df


def _reference(d: pd.DataFrame, group_totals: dict[str, pd.DataFrame], account: pd.DataFrame) -> pd.DataFrame:
    """Daily clicks/impressions of the key's campaign(s) (or, without one, the account) per date."""
    groups = [g for g in d["group"].unique() if g != ""]
    if not groups:
        return account
    if len(groups) == 1:
        return group_totals[groups[0]]
    return pd.concat([group_totals[g] for g in groups]).groupby(level=0).sum()


def _one(key: str, d: pd.DataFrame, group_totals: dict[str, pd.DataFrame], account: pd.DataFrame,
         by: str) -> FatigueFinding | None:
    totals = _reference(d, group_totals, account)
    # A message runs on several ads that start and stop at different times: weight each ad's
    # impressions by its own CTR level so ads joining or leaving are not read as decay.
    sub_ctr = d.groupby("sub")["clicks"].sum() / d.groupby("sub")["impressions"].sum().replace(0, np.nan)
    level = d["clicks"].sum() / max(d["impressions"].sum(), 1e-12)
    d = d.assign(exposure=d["impressions"] * (d["sub"].map(sub_ctr).fillna(level) / level if level > 0 else 1.0))
    d = d.groupby(S.DATE)[["clicks", "impressions", "exposure", "std"]].sum().reset_index()
    d = d[d["impressions"] > 0].sort_values(S.DATE)
    if len(d) < MIN_DAYS or d["clicks"].sum() < MIN_CLICKS:
        return None
    first, last = d[S.DATE].iloc[0], d[S.DATE].iloc[-1]
    age = np.array([(x - first).days for x in d[S.DATE]], float)
    y, x = d["clicks"].to_numpy(float), d["impressions"].to_numpy(float)
    rest = totals.reindex(d[S.DATE]).fillna(0.0)
    own_std = d["std"].to_numpy(float)
    rc, ri = rest["clicks"].to_numpy() - y, rest["std"].to_numpy() - own_std
    if (rc > 0).sum() < len(y) // 2:  # the campaign has no other volume: compare with the account
        rest = account.reindex(d[S.DATE]).fillna(0.0)
        rc, ri = rest["clicks"].to_numpy() - y, rest["std"].to_numpy() - own_std
    with np.errstate(divide="ignore", invalid="ignore"):
        idx = np.where((ri > 0) & (rc > 0), (rc / ri) / (rc.sum() / ri.sum()), 1.0)
    off = np.log(np.maximum(d["exposure"].to_numpy(float), 1e-12)) + np.log(idx)
    taus = np.arange(0, age[-1] - MIN_TAIL + 1, ONSET_STEP)
    if len(taus) == 0:
        return None
    best = None
    for tau in taus:
        h = np.maximum(0.0, age - tau)
        theta, inv, ll, pearson = _fit(y, off, h, None if best is None else best[1])
        if best is None or ll > best[3]:
            best = (tau, theta, inv, ll, pearson)
    tau, theta, inv, _, pearson = best
    df = len(y) - 2
    phi = max(pearson / df, 1.0) * _autocorrelation_inflation(y, off, age, tau, theta)
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
    # Reference index without composition effects: every ad's impressions weighted by its own CTR
    # level, so ads launching or pausing in the campaign do not move the reference.
    unit = daily["sub"].where(daily["sub"] != "", daily["key"])
    unit_clicks = daily.groupby(unit)["clicks"].sum()
    unit_impr = daily.groupby(unit)["impressions"].sum()
    daily = daily.assign(std=daily["impressions"] * unit.map(unit_clicks / unit_impr.where(unit_impr > 0)).fillna(0.0))
    account = daily.groupby(S.DATE)[["clicks", "impressions", "std"]].sum()
    group_totals = {str(g): f.groupby(S.DATE)[["clicks", "impressions", "std"]].sum()
                    for g, f in daily.groupby("group", sort=False)}
    daily = daily[daily["impressions"] > 0]
    found = [f for key, d in daily.groupby("key", sort=True)
             if (f := _one(str(key), d, group_totals, account, by)) is not None]
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
