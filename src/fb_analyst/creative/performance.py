"""Theme performance: CTR, CVR, ROAS per theme with day-level intervals, context-adjusted effects,
and winner/loser verdicts with Benjamini-Hochberg FDR control.

Inputs: a pandas frame of cells (date x message x context dimensions) with, for each KPI, the
numerator and denominator summed over the rows where *both* are known (``<kpi>_num``,
``<kpi>_den``; see :func:`fb_analyst.creative.frames.message_cells`), and the message -> theme map.

Raw KPI per theme: ratio of sums over the whole period; the interval treats the **day** as the
unit (ratio estimator over daily sums, t interval with n_days - 1 df), so it reflects day-to-day
variation, not millions of "independent" impressions.

Adjusted effect per theme: a quasi-Poisson GLM on the cells,
``log E[num] = log(den) + theme + creative_type + audience_type + platform + country + date``,
with the dispersion estimated from the data (Pearson chi2 / df). Each theme's effect is its
coefficient minus the mean of all theme coefficients, i.e. its rate relative to the average
theme *at the same context mix and on the same days*, so a theme is not called a winner because it
ran on cheap placements or in a good week. t tests on those contrasts give p-values; BH over every
(theme, KPI) test gives q-values. A theme is a winner (loser) on a KPI when q <= fdr_q and the
rate ratio is above 1 + min_effect (below 1 - min_effect) and it has at least ``min_impressions``.
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
    """Per-theme log-rate contrasts (vs the average theme) from one quasi-Poisson fit."""

    effect: np.ndarray
    se: np.ndarray
    df_resid: float
    dispersion: float


def _dummies(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    parts = [
        pd.get_dummies(frame[c].astype(str), prefix=c, drop_first=True, dtype=float)
        for c in columns
        if frame[c].nunique() > 1
    ]
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)


def fit_theme_glm(
    cells: pd.DataFrame, num: str, den: str, theme_col: str, controls: list[str], k: int
) -> GlmEffects:
    """Quasi-Poisson GLM with offset log(den) and fixed effects; theme contrasts vs the mean theme."""
    import statsmodels.api as sm

    d = cells[(cells[den] > 0) & cells[num].notna()].reset_index(drop=True)
    themes = d[theme_col].to_numpy(int)
    if len(np.unique(themes)) < 2:
        raise ValueError("fewer than two themes with data")
    theme_x = np.zeros((len(d), k - 1))
    for j in range(1, k):
        theme_x[:, j - 1] = themes == j
    ctrl = _dummies(d, controls)
    x = np.column_stack([np.ones(len(d)), theme_x, ctrl.to_numpy(float)])
    y = d[num].to_numpy(float)
    # Scale the response so revenue in any currency is well conditioned (rates are unaffected).
    scale = max(y.mean(), 1e-12)
    fit = sm.GLM(
        y / scale, x, family=sm.families.Poisson(), offset=np.log(d[den].to_numpy(float) / scale)
    ).fit(scale="X2", method="pinv" if x.shape[1] > x.shape[0] else "IRLS")
    cov = np.asarray(fit.cov_params())[1:k, 1:k]
    beta = np.concatenate([[0.0], np.asarray(fit.params)[1:k]])
    # Contrast c_j: beta_j - mean(beta); beta_0 = 0 is the reference theme.
    contrasts = np.eye(k) - 1.0 / k
    c = contrasts[:, 1:]
    effect = contrasts @ beta
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", c, cov, c), 0.0))
    present = np.isin(np.arange(k), themes)
    effect[~present], se[~present] = np.nan, np.nan
    return GlmEffects(effect, se, float(fit.df_resid), float(fit.scale))


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
        if n_col not in cells or cells[d_col].fillna(0).sum() <= 0:
            raw[kpi] = f"no rows with both {num} and {den} known"
            continue
        try:
            g = fit_theme_glm(cells, n_col, d_col, theme_col, controls, k)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raw[kpi] = f"GLM not estimable: {exc}"
            notes.append(f"{kpi}: adjusted theme effects not estimated ({exc})")
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            t = g.effect / g.se
        p = 2 * stats.t.sf(np.abs(t), max(g.df_resid, 1.0))
        raw[kpi] = (g.effect, g.se, np.where(np.isfinite(t), p, np.nan), g.df_resid)  # type: ignore[assignment]
    all_p = np.concatenate([v[2] for v in raw.values() if not isinstance(v, str)] or [np.array([])])
    all_q = bh_qvalues(all_p)
    volume = cells.groupby(theme_col)["ctr_den"].sum().reindex(range(k), fill_value=0.0).to_numpy()
    out: dict[str, list[AdjustedEffect]] = {}
    offset = 0
    for kpi, v in raw.items():
        if isinstance(v, str):
            out[kpi] = [AdjustedEffect(metric=kpi, rate_ratio=None, undefined_reason=v) for _ in range(k)]
            continue
        effect, se, p, df = v  # type: ignore[misc]
        q = all_q[offset : offset + k]
        offset += k
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
