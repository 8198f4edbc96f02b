"""Theme performance: CTR, CVR, ROAS per theme with day-level intervals, context-adjusted effects,
and winner/loser verdicts with Benjamini-Hochberg FDR control.

Inputs: a pandas frame of cells (date x message x context dimensions) with, for each KPI, the
numerator and denominator summed over the rows where *both* are known (``<kpi>_num``,
``<kpi>_den``; see :func:`fb_analyst.creative.frames.message_cells`), and the message -> theme map.

Raw KPI per theme: ratio of sums over the whole period; the interval treats the **day** as the
unit (ratio estimator over daily sums, t interval with n_days - 1 df), so it reflects day-to-day
variation, not millions of "independent" impressions.

Adjusted effect per theme, in two stages (see :func:`fit_theme_effects`): a quasi-Poisson GLM
on the cells, ``log E[num] = log(den) + message + creative_type + audience_type + platform +
country + date``, gives every message's rate at a common context mix and on common days (so a
theme is not called a winner because it ran on cheap placements or in a good week); a random-
effects meta-analysis of those message rates gives each theme's rate relative to the average theme,
with messages as the replicates. t tests (df = messages - themes) give p-values; BH over the themes
of each KPI gives q-values. A theme is a winner (loser) on a KPI when q <= fdr_q, the rate
ratio is above 1 + min_effect (below 1 - min_effect) and it has at least ``min_impressions``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from fb_analyst.creative.result import AdjustedEffect, ThemeKpi

#: KPI -> (numerator, denominator) of the registry, for the theme comparison.
THEME_KPIS: dict[str, tuple[str, str]] = {
    "ctr": ("clicks", "impressions"),
    "cvr": ("purchases", "clicks"),
    "roas": ("revenue", "spend"),
}


def day_level_interval(daily: pd.DataFrame, num: str, den: str, level: float) -> ThemeKpi:
    """Ratio of sums over days with a t interval from the ratio estimator's day-level variance.

    ``var(R) = sum_i (y_i - R x_i)^2 / (n (n - 1) xbar^2)`` over the n days (delta method).
    """
    d = daily[(daily[den] > 0)]
    n = len(d)
    if n == 0:
        return ThemeKpi(value=None, undefined_reason="no days with a positive denominator", n_days=0)
    y, x = d[num].to_numpy(float), d[den].to_numpy(float)
    r = y.sum() / x.sum()
    if n < 2:
        return ThemeKpi(value=r, level=level, n_days=n, undefined_reason="one day: no interval")
    var = ((y - r * x) ** 2).sum() / (n * (n - 1) * x.mean() ** 2)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * math.sqrt(var)
    return ThemeKpi(value=r, lower=max(0.0, r - half), upper=r + half, level=level, n_days=n)


@dataclass(frozen=True)
class GlmEffects:
    """Per-theme log-rate contrasts (vs the average theme) from the two-stage model."""

    effect: np.ndarray
    se: np.ndarray
    df_resid: float  # messages minus themes: the df of the t tests
    tau: float  # between-message standard deviation of log rates within a theme


def poisson_fixed_effects(
    y: np.ndarray, exposure: np.ndarray, blocks: list[np.ndarray], tol: float = 1e-9, max_iter: int = 500
) -> tuple[list[np.ndarray], np.ndarray]:
    """Poisson GLM with only categorical fixed effects, fitted by alternating exact block updates.

    ``log mu = log(exposure) + sum_b effect_b[code_b]``. For one block with the others held fixed
    the Poisson score equation has a closed form: ``exp(delta_j) = sum_{i in j} y_i / sum_{i in j}
    mu_i``; cycling through the blocks converges to the maximum-likelihood fit (the estimator of
    Stata's ppmlhdfe / R's fixest, here without a design matrix, so it costs O(rows) per sweep).
    Levels with no events get a 0.5 pseudo-count so their log rate stays finite.
    Returns the effects per block (first block un-normalised, later blocks centred on their first
    level being 0 is not imposed: only sums of effects are identified) and the fitted means.
    """
    mu = exposure.astype(float).copy()
    effects = [np.zeros(int(c.max()) + 1) for c in blocks]
    for _ in range(max_iter):
        worst = 0.0
        for codes, eff in zip(blocks, effects, strict=True):
            obs = np.bincount(codes, weights=y, minlength=len(eff))
            exp_ = np.bincount(codes, weights=mu, minlength=len(eff))
            ratio = np.where(exp_ > 0, np.maximum(obs, 0.5) / np.where(exp_ > 0, exp_, 1.0), 1.0)
            step = np.log(ratio)
            eff += step
            mu *= ratio[codes]
            worst = max(worst, float(np.abs(step).max()))
        if worst < tol:
            break
    return effects, mu


def message_effects(
    cells: pd.DataFrame, num: str, den: str, controls: list[str], message_col: str
) -> pd.DataFrame:
    """Stage 1: each message's log rate at a common context, with its variance.

    Quasi-Poisson model ``log E[num] = log(den) + message + controls`` fitted by
    :func:`poisson_fixed_effects`; the dispersion is Pearson chi2 / (rows - parameters) and a
    message effect's variance is ``dispersion / sum of its fitted events`` (its Fisher information,
    the other effects held fixed -- accurate when messages run across many contexts and days).
    """
    d = cells[(cells[den] > 0) & cells[num].notna()].reset_index(drop=True)
    msg_codes, msg_levels = pd.factorize(d[message_col].astype(str), sort=True)
    blocks = [msg_codes] + [pd.factorize(d[c].astype(str), sort=True)[0] for c in controls if d[c].nunique() > 1]
    y = d[num].to_numpy(float)
    effects, mu = poisson_fixed_effects(y, d[den].to_numpy(float), blocks)
    n_params = sum(len(e) for e in effects) - (len(effects) - 1)
    resid_df = max(len(y) - n_params, 1)
    dispersion = float(np.sum(np.where(mu > 0, (y - mu) ** 2 / np.where(mu > 0, mu, 1.0), 0.0)) / resid_df)
    # Centre the control blocks so message effects are log rates at the average context.
    b = effects[0] + sum(float(np.mean(e)) for e in effects[1:])
    info = np.bincount(msg_codes, weights=mu, minlength=len(msg_levels))
    v = dispersion / np.maximum(info, 1e-12)
    return pd.DataFrame({message_col: list(msg_levels), "b": b, "v": v})


def fit_theme_effects(
    cells: pd.DataFrame, num: str, den: str, theme_col: str, controls: list[str], k: int,
    message_col: str = "creative_message",
) -> GlmEffects:
    """Two-stage random-effects comparison of themes (messages are the replicates).

    Stage 1 (:func:`message_effects`) gives message log rates ``b_i`` with variances ``v_i``.
    Stage 2: ``b_i = mu_theme + u_i + e_i`` with ``u_i ~ N(0, tau^2)`` (messages of one theme
    differ) -- tau^2 by the DerSimonian-Laird moment estimator pooled over themes; each theme mean
    is the inverse-variance weighted mean with weights ``1 / (v_i + tau^2)``; a theme's effect is
    its mean minus the average of all theme means. A theme with two lucky messages is therefore
    judged against message-to-message variation, not against millions of impressions.
    """
    eff = message_effects(cells, num, den, controls, message_col)
    theme_of = cells.drop_duplicates(message_col).set_index(message_col)[theme_col]
    eff["g"] = eff[message_col].map(theme_of).astype(int)
    present = sorted(eff["g"].unique())
    if len(present) < 2:
        raise ValueError("fewer than two themes with data")
    n = len(eff)
    if n <= len(present):
        raise ValueError(f"{n} messages for {len(present)} themes: too few to separate themes from messages")
    w = 1.0 / np.maximum(eff["v"].to_numpy(), 1e-12)
    b, g = eff["b"].to_numpy(), eff["g"].to_numpy()
    q_stat, c_term = 0.0, 0.0
    for t in present:
        hit = g == t
        mu = np.sum(w[hit] * b[hit]) / np.sum(w[hit])
        q_stat += float(np.sum(w[hit] * (b[hit] - mu) ** 2))
        c_term += float(np.sum(w[hit]) - np.sum(w[hit] ** 2) / np.sum(w[hit]))
    tau2 = max(0.0, (q_stat - (n - len(present))) / c_term) if c_term > 0 else 0.0
    ws = 1.0 / (eff["v"].to_numpy() + tau2)
    mean = np.full(k, np.nan)
    var = np.full(k, np.nan)
    for t in present:
        hit = g == t
        mean[t] = np.sum(ws[hit] * b[hit]) / np.sum(ws[hit])
        var[t] = 1.0 / np.sum(ws[hit])
    kp = len(present)
    grand = np.nanmean(mean)
    effect = mean - grand
    # var(mu_j - mean(mu)) = (1 - 2/kp) var_j + sum(var) / kp^2 for independent theme means.
    se = np.sqrt((1 - 2 / kp) * var + np.nansum(var) / kp**2)
    return GlmEffects(effect, se, float(n - kp), float(np.sqrt(tau2)))


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN where p is NaN)."""
    out = np.full_like(p, np.nan, dtype=float)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def theme_effects(
    cells: pd.DataFrame,
    theme_col: str,
    controls: list[str],
    k: int,
    *,
    alpha: float,
    fdr_q: float,
    min_effect: float,
    min_impressions: float,
) -> tuple[dict[str, list[AdjustedEffect]], list[str]]:
    """Adjusted effect of every theme on every KPI, with BH q-values and verdicts."""
    notes: list[str] = []
    raw: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray] | str] = {}
    for kpi, (num, den) in THEME_KPIS.items():
        n_col, d_col = f"{kpi}_num", f"{kpi}_den"
        if n_col not in cells or cells[d_col].sum(skipna=True) <= 0:
            raw[kpi] = f"no rows with both {num} and {den} known"
            continue
        try:
            g = fit_theme_effects(cells, n_col, d_col, theme_col, controls, k)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raw[kpi] = f"GLM not estimable: {exc}"
            notes.append(f"{kpi}: adjusted theme effects not estimated ({exc})")
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            t = g.effect / g.se
        p = 2 * stats.t.sf(np.abs(t), max(g.df_resid, 1.0))
        raw[kpi] = (g.effect, g.se, np.where(np.isfinite(t), p, np.nan), g.df_resid)  # type: ignore[assignment]
    volume = cells.groupby(theme_col)["ctr_den"].sum().reindex(range(k), fill_value=0.0).to_numpy()
    out: dict[str, list[AdjustedEffect]] = {}
    for kpi, v in raw.items():
        if isinstance(v, str):
            out[kpi] = [AdjustedEffect(metric=kpi, rate_ratio=None, undefined_reason=v) for _ in range(k)]
            continue
        effect, se, p, df = v  # type: ignore[misc]
        q = bh_qvalues(p)  # one family per KPI: the themes compared on that KPI
        tcrit = stats.t.ppf(0.5 + (1 - alpha) / 2, max(df, 1.0))
        effects = []
        for j in range(k):
            if not np.isfinite(effect[j]) or not np.isfinite(se[j]):
                effects.append(AdjustedEffect(metric=kpi, rate_ratio=None, undefined_reason="theme has no data"))
                continue
            rr = float(np.exp(effect[j]))
            verdict = "neutral"
            if volume[j] >= min_impressions and np.isfinite(q[j]) and q[j] <= fdr_q:
                if rr >= 1 + min_effect:
                    verdict = "winner"
                elif rr <= 1 - min_effect:
                    verdict = "loser"
            effects.append(
                AdjustedEffect(
                    metric=kpi,
                    rate_ratio=rr,
                    lower=float(np.exp(effect[j] - tcrit * se[j])),
                    upper=float(np.exp(effect[j] + tcrit * se[j])),
                    p_value=float(p[j]),
                    q_value=float(q[j]),
                    verdict=verdict,
                )
            )
        out[kpi] = effects
    return out, notes


def theme_kpis(cells: pd.DataFrame, theme_col: str, k: int, level: float) -> list[dict[str, ThemeKpi]]:
    """Raw CTR/CVR/ROAS of every theme with day-level intervals."""
    cols = [f"{kpi}_{part}" for kpi in THEME_KPIS for part in ("num", "den")]
    daily = cells.groupby([theme_col, "date"], as_index=False)[cols].sum()
    out = []
    for j in range(k):
        dj = daily[daily[theme_col] == j]
        out.append({kpi: day_level_interval(dj, f"{kpi}_num", f"{kpi}_den", level) for kpi in THEME_KPIS})
    return out
