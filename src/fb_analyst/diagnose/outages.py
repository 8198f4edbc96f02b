"""Probable tracking outages: days where clicks are normal but purchases or revenue collapse.

Input: the daily cube and settings. Output: :class:`~fb_analyst.diagnose.models.Outage` records
(one per day x segment x measure) and a row mask of the affected cube rows, which the performance
tests leave out -- a broken pixel is a measurement problem, not a performance change.

Rule, per segment (the account, then every value of a dimension with at most ``MAX_STRATA``
values): over the analysed days, the reference conversion per click is the *median* of the daily
ratios (robust to the outage days themselves). A day is flagged for a measure (purchases or
revenue) when

* its clicks are normal: within ``[band, 1/band]`` x the median daily clicks (``outage_clicks_band``);
* expected = clicks x reference ratio is at least ``outage_min_expected`` (in purchases; for
  revenue the same days' purchase expectation is used), so a collapse cannot be chance;
* observed <= (1 - ``outage_drop``) x expected, and below the day-level noise: one-sided
  ``z = (obs - exp) / sqrt(phi exp)`` with ``Phi(z) < alpha / n_days`` (phi robust, from the
  median Pearson term of the segment's days).

A segment's flagged days are dropped when the account (or a larger segment) is flagged the same
day for the same measure, so an account-wide outage is reported once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from fb_analyst import schema as S
from fb_analyst.diagnose.frames import SUM, WINDOW, Cube
from fb_analyst.diagnose.models import Outage
from fb_analyst.settings import DiagnoseSettings

MAX_STRATA = 12


def _flag_days(daily: pd.DataFrame, settings: DiagnoseSettings) -> dict[str, list[tuple]]:
    """Flagged (date, clicks, expected_clicks, observed, expected, window) per measure."""
    clicks = daily[SUM + S.CLICKS].to_numpy(float)
    if len(clicks) < 5 or not np.any(clicks > 0):
        return {}
    med_clicks = float(np.median(clicks))
    normal = (clicks >= settings.outage_clicks_band * med_clicks) & (
        clicks <= med_clicks / settings.outage_clicks_band)
    out: dict[str, list[tuple]] = {}
    purchases = daily[SUM + S.PURCHASES].to_numpy(float) if SUM + S.PURCHASES in daily else None
    if purchases is None:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        cvr_ref = float(np.nanmedian(np.where(clicks > 0, purchases / clicks, np.nan)))
    exp_p = clicks * cvr_ref
    enough = exp_p >= settings.outage_min_expected
    for measure in (S.PURCHASES, S.REVENUE):
        if SUM + measure not in daily:
            continue
        obs = daily[SUM + measure].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ref = float(np.nanmedian(np.where(clicks > 0, obs / clicks, np.nan)))
        expected = clicks * ref
        # Robust day-level dispersion (median Pearson term / its chi2(1) median, floored at 1), so
        # a heavy-tailed measure such as revenue must collapse far below its own noise.
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(expected > 0, (obs - expected) ** 2 / expected, np.nan)
        phi = max(float(np.nanmedian(terms)) / stats.chi2.ppf(0.5, 1), 1.0) if np.any(expected > 0) else 1.0
        z = (obs - expected) / np.sqrt(phi * np.maximum(expected, 1e-12))
        tail = stats.norm.cdf(z) < settings.alpha / max(len(obs), 1)
        flag = normal & enough & tail & (obs <= (1 - settings.outage_drop) * expected)
        out[measure] = [
            (daily[S.DATE].iloc[i], clicks[i], med_clicks, obs[i], expected[i], daily[WINDOW].iloc[i])
            for i in np.flatnonzero(flag)
        ]
    return out


def detect_outages(cube: Cube, settings: DiagnoseSettings) -> tuple[list[Outage], np.ndarray]:
    """Flag tracking outages in the analysed windows (module doc); returns them and the row mask."""
    f = cube.frame
    exclude = np.zeros(len(f), bool)
    if SUM + S.CLICKS not in f or SUM + S.PURCHASES not in f:
        return [], exclude
    segments: list[dict[str, str]] = [{}]
    for dim in cube.dimensions:
        if 2 <= cube.n_values(dim) <= MAX_STRATA:
            segments.extend({dim: str(v)} for v in cube.factorized(dim)[1])
    found: list[Outage] = []
    covered: set[tuple] = set()  # (date, measure) already reported for the account
    value_cols = [SUM + m for m in (S.CLICKS, S.PURCHASES, S.REVENUE) if SUM + m in f]
    day_code, days = cube.factorized(S.DATE)
    for seg in segments:
        mask = cube.mask(seg)
        daily = _daily_sums(cube, mask, value_cols)
        for measure, rows in _flag_days(daily, settings).items():
            for day, clicks, med, obs, exp, window in rows:
                if (day, measure) in covered:
                    continue
                found.append(Outage(date=day, segment=seg, measure=measure, clicks=clicks,
                                    expected_clicks=med, observed=obs, expected=exp,
                                    drop=1 - obs / exp if exp > 0 else 1.0, window=window))
                exclude |= mask & (day_code == days.get_loc(day))
                if not seg:
                    covered.add((day, measure))
    return found, exclude


def _daily_sums(cube: Cube, mask: np.ndarray, value_cols: list[str]) -> pd.DataFrame:
    """Date, window and the sums of ``value_cols`` per day of the rows in ``mask`` (days without
    a row left out), sorted by date -- integer day codes and ``np.bincount``, as every segment of
    the account is summed this way."""
    day_code, days = cube.factorized(S.DATE)
    window = np.where(cube.day_in_current, "current", "baseline").astype(object)  # a day is in one window
    codes = day_code[mask]
    present = np.flatnonzero(np.bincount(codes, minlength=len(days)) > 0)
    sums = {c: np.bincount(codes, cube.frame[c].to_numpy()[mask], len(days))[present] for c in value_cols}
    return pd.DataFrame({S.DATE: days[present], WINDOW: window[present], **sums})
