"""Daily series for forecasting: per-day sums from the canonical table, then repaired on purpose.

``daily_sums(table, by)`` aggregates in the engine (Ibis) and returns a small pandas frame: per day
(and per ``by`` value) each measure's sum over the rows where it is known, the row counts, and for
each ratio KPI the numerator and denominator summed over the rows where *both* are known
(ratio-of-sums, as the KPI registry defines them).

``prepare_series`` turns one daily column into a model-ready series and records what it did:
days with some unknown cells are scaled up by rows/known rows; zero days while the ads ran
(spend or impressions > 0) in a mostly positive series are treated as tracking outages (missing);
short gaps are interpolated; history before a long gap is dropped; the result says whether the
series gets the full candidate set, a simpler model, or no forecast, and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd

from fb_analyst import schema as S
from fb_analyst.kpis import ADDITIVE_KPIS, N_ROWS, RATIO_KPIS, den_col, n_col, num_col

#: Additive metrics forecast per series, and the ratio KPIs the issue asks for.
ADDITIVE_METRICS = tuple(k.name for k in ADDITIVE_KPIS)
RATIO_METRICS = ("ctr", "cpc", "cvr", "roas")
_RATIO = {k.name: k for k in RATIO_KPIS}
SEASON = 7


def daily_sums(table: ibis.Table, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per-day (x ``by``) sums, known-row counts and ratio-KPI pair sums (the KPI registry's
    aggregate columns, via :mod:`fb_analyst.segments`), with ``date`` as a Timestamp."""
    from fb_analyst.segments import account_daily, segment_daily

    frame = segment_daily(table, list(by)) if by else account_daily(table)
    frame = frame.copy()
    frame[S.DATE] = pd.to_datetime(frame[S.DATE])
    return frame.sort_values([*by, S.DATE]).reset_index(drop=True)


@dataclass
class PreparedSeries:
    """A model-ready daily series (no NaN) plus what was done to it and which tier it gets.

    ``tier``: "full" (all candidates, ``origins`` backtest windows), "simple" (level/naive models
    only) or "skip" (no forecast). ``steps_ahead``: horizon plus trailing missing days.
    """

    uid: str
    key: dict[str, str]
    metric: str
    values: pd.Series
    tier: str
    origins: int
    steps_ahead: int
    reason: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def history_days(self) -> int:
        return int(self.values.size)


def on_calendar(day: pd.DataFrame, end: pd.Timestamp) -> tuple[pd.DataFrame, pd.Series]:
    """One key's per-day frame on a full calendar up to ``end`` (all-NaN row = no data that day)
    and the 'ads ran' flag per day. Shared by the key's metrics: build it once per key."""
    start = day[S.DATE].min() if len(day) else end
    idx = pd.date_range(start, end, freq="D")
    d = day.set_index(S.DATE).reindex(idx)
    ran = pd.Series(False, index=idx)
    for m in (S.SPEND, S.IMPRESSIONS):
        if m in d:
            ran |= d[m].gt(0)  # unknown days count as not run
    return d, ran


def metric_values(
    day: pd.DataFrame, metric: str, end: pd.Timestamp, calendar: tuple[pd.DataFrame, pd.Series] | None = None
) -> tuple[pd.Series, pd.Series, list[str]]:
    """Raw daily values of ``metric`` on a full calendar (NaN = unknown) and an 'ads ran' flag.

    ``calendar``: ``on_calendar(day, end)`` when the caller already built it for another metric.
    """
    notes: list[str] = []
    d, ran = calendar if calendar is not None else on_calendar(day, end)
    idx = d.index
    if metric in ADDITIVE_METRICS:
        if metric not in d:
            return pd.Series(np.nan, index=idx), ran, notes
        known = d[n_col(metric)]
        vals = d[metric].where(known > 0)
        partial = (known > 0) & (known < d[N_ROWS])
        if partial.any():
            # Unknown cells are not zero: scale the day's sum by rows / known rows.
            vals = vals.where(~partial, vals * d[N_ROWS] / known)
            notes.append(f"{int(partial.sum())} days with some unknown {metric} cells scaled by rows/known rows")
        return vals.astype(float), ran, notes
    num_c, den_c = num_col(metric), den_col(metric)
    if num_c not in d:
        return pd.Series(np.nan, index=idx), ran, notes
    num, den = d[num_c], d[den_c]
    k = _RATIO[metric]
    vals = (k.scale * num / den.where(den > 0)).astype(float)
    return vals, ran, notes


def prepare_series(
    uid: str,
    key: dict[str, str],
    metric: str,
    values: pd.Series,
    ran: pd.Series,
    *,
    horizon: int,
    origins: int,
    min_history_days: int,
    max_gap_days: int,
    outage_zero_share: float,
    notes: list[str] | None = None,
) -> PreparedSeries:
    """Repair one raw daily series (NaN = unknown) and decide its tier. Never mutates the input."""
    notes = list(notes or [])
    v = values.astype(float).copy()

    def skip(reason: str) -> PreparedSeries:
        return PreparedSeries(uid, key, metric, v.dropna(), "skip", 0, horizon, reason, notes)

    if v.notna().sum() == 0:
        return skip("no known values")
    # Tracking outage: a zero on a day the ads ran, in a series that is almost always positive.
    known = v.dropna()
    zero = (v == 0) & ran.reindex(v.index, fill_value=False)
    if known.size and 0 < (known == 0).mean() <= outage_zero_share and zero.any():
        v[zero] = np.nan
        notes.append(f"{int(zero.sum())} zero days while ads ran treated as tracking outage (missing)")
    # Trailing missing days: forecast from the last known day, further ahead.
    last = v.last_valid_index()
    trailing = int((v.index > last).sum())
    if trailing > max_gap_days:
        return skip(f"no data for the last {trailing} days (since {last.date()}); paused or ended?")
    v = v.loc[:last]
    v = v.loc[v.first_valid_index():]
    # Long gap: keep only the history after the last long run of missing days.
    miss = v.isna().to_numpy()
    run, cut = 0, None
    for i, m in enumerate(miss):
        run = run + 1 if m else 0
        if run > max_gap_days:
            cut = i + 1
    if cut is not None:
        notes.append(f"history before {v.index[cut].date()} dropped after a gap longer than {max_gap_days} days")
        v = v.iloc[cut:]
    n_missing = int(v.isna().sum())
    if n_missing:
        v = v.interpolate(method="linear", limit_area="inside")
        notes.append(f"{n_missing} missing days (gaps of at most {max_gap_days} days) linearly interpolated")
    if trailing:
        notes.append(f"last {trailing} days missing; forecast starts after {last.date()}")
    n = int(v.size)
    steps = horizon + trailing
    if n < SEASON:
        return PreparedSeries(uid, key, metric, v, "skip", 0, steps,
                              f"only {n} days of history; at least {SEASON} needed for any forecast", notes)
    if v.nunique() == 1:
        reason = f"constant series (every day {v.iloc[0]:g}); the level is carried forward"
        return PreparedSeries(uid, key, metric, v, "simple", 0, steps, reason, notes)
    if n < min_history_days:
        k = min(origins, max(0, (n - SEASON) // horizon))
        reason = (f"only {n} days of history (< min_history_days={min_history_days}); "
                  "level and naive models only")
        return PreparedSeries(uid, key, metric, v, "simple", k, steps, reason, notes)
    # Full tier needs two weekly seasons of training before the first backtest origin.
    k = min(origins, max(0, (n - 2 * SEASON) // horizon))
    reason = None
    if k < origins:
        reason = f"{n} days allow only {k} of {origins} backtest origins"
    if k == 0:
        k = min(origins, max(0, (n - SEASON) // horizon))
        return PreparedSeries(uid, key, metric, v, "simple", k, steps,
                              f"{n} days are too few to backtest weekly models; level and naive models only",
                              notes)
    return PreparedSeries(uid, key, metric, v, "full", k, steps, reason, notes)
