"""Segment tables: the account and each segment, per day and baseline vs current.

Inputs: the canonical table (``ibis.Table``) and resolved :class:`~fb_analyst.windows.Windows`.
Outputs: small pandas frames (only aggregates leave the engine) and the frozen
:class:`SegmentTables` record; :func:`kpi_tables` bundles them as JSON for the outputs and
:func:`render_kpi_summary` as a Rich table for the terminal.

The baseline-vs-current sums come from two engine passes (a cube of the rows inside the
windows, then every dimension and pair rolled up from it: :mod:`fb_analyst.segment_cube`); only
that roll-up leaves the engine, as NumPy columns. This module turns it into the frame (KPIs are
ratio-of-sums computed from those parts, never a mean of row ratios, written straight into the
frame's float block) and the strict-JSON records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from rich.table import Table as RichTable

from fb_analyst import schema as S
from fb_analyst.engine import to_frame
from fb_analyst.errors import UnknownNameError
from fb_analyst.kpis import (
    ADDITIVE_KPIS,
    KPIS,
    N_ROWS,
    RATIO_KPIS,
    KpiDelta,
    KpiValue,
    aggregate_columns,
    coverage_col,
    den_col,
    format_kpi,
    json_safe,
    kpi_columns,
    kpi_delta,
    kpi_frame,
    kpi_value_from_row,
    n_col,
    num_col,
    to_records,
    undefined_reason,
    unknown_total_reason,
)
from fb_analyst.segment_cube import WINDOW_NAMES, segment_sums, window_cube
from fb_analyst.windows import Windows

#: Columns naming a segment in a SegmentTables frame.
SEGMENT_KEYS: tuple[str, ...] = ("level", "dimension", "dimension_1", "value_1", "dimension_2", "value_2", "segment")
SCHEMA_VERSION = "1"


def _check_dims(table: ibis.Table, dims: Sequence[str]) -> list[str]:
    present = S.present_segment_dimensions(table.columns)
    for d in dims:
        if d not in present:
            raise UnknownNameError("segment dimension", d, present)
    return list(dims)


def account_daily(table: ibis.Table) -> pd.DataFrame:
    """One row per date: measures, ratio KPIs (ratio of the day's sums) and coverage."""
    return kpi_frame(table, by=[S.DATE])


def segment_daily(table: ibis.Table, dims: Sequence[str]) -> pd.DataFrame:
    """One row per date x segment of ``dims`` (the unit of evidence the diagnosis uses)."""
    return kpi_frame(table, by=[S.DATE, *_check_dims(table, dims)])


def _deltas(cols: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in names:
            base = cols[f"{name}_baseline"].astype("float64")
            cur = cols[f"{name}_current"].astype("float64")
            out[f"{name}_abs_delta"] = cur - base
            out[f"{name}_rel_delta"] = cur / np.where(base != 0, base, np.nan) - 1.0
    return out


#: Columns that get an absolute and a relative delta (current vs baseline).
DELTA_NAMES: tuple[str, ...] = tuple(k.name for k in ADDITIVE_KPIS + RATIO_KPIS) + (N_ROWS,)


def _assemble(
    parts: Mapping[str, np.ndarray], store: Callable[[str, np.ndarray], np.ndarray]
) -> dict[str, np.ndarray]:
    """Every non-key column of the segment rows in ``parts`` (the engine's columns), in frame
    order: per window the aggregate columns, then per window the KPI and coverage columns, then
    the deltas. Each column goes through ``store``, which keeps it and returns the array to read
    it back from: the frame's float columns go straight into its block (see :class:`_FloatBlock`)."""
    out: dict[str, np.ndarray] = {}
    for w in WINDOW_NAMES:
        for c in aggregate_columns(f"_{w}"):
            out[c] = store(c, parts[c])
    for w in WINDOW_NAMES:
        for name, values in kpi_columns(out, suffix=f"_{w}").items():
            out[name] = store(name, values)
    for name, values in _deltas(out, DELTA_NAMES).items():
        out[name] = store(name, values)
    return out


class _FloatBlock:
    """The frame's float columns, written one by one into a single preallocated block.

    Peak memory is then about one copy of the table: building the columns first and copying
    them into a block (or letting pandas consolidate them) holds two, because the freed column
    memory stays with the allocator rather than going back to the system."""

    def __init__(self, names: Sequence[str], n_rows: int) -> None:
        self._row = {c: i for i, c in enumerate(names)}
        # one row per column: pandas stores a block column by column, so the transpose becomes
        # the frame without a copy and each column is written contiguously
        self._values = np.empty((len(names), n_rows), dtype="float64")

    def store(self, name: str, values: np.ndarray) -> np.ndarray:
        """Write a float column into the block (others are returned as they are)."""
        if values.dtype != np.float64:
            return values
        row = self._values[self._row[name]]
        row[:] = values
        return row

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._values.T, columns=list(self._row), copy=False)


def _spend_shares(cols: Mapping[str, np.ndarray], account: pd.Series) -> dict[str, np.ndarray]:
    """``spend_share_<window>``: segment spend / account spend (NaN when the account's is 0)."""
    out = {}
    for w in WINDOW_NAMES:
        total = account[f"spend_{w}"]
        spend = cols[f"spend_{w}"]
        out[f"spend_share_{w}"] = spend / total if total and not pd.isna(total) else np.full(len(spend), np.nan)
    return out


def _rows(keep: np.ndarray) -> slice | np.ndarray:
    """The rows of ``keep`` as a slice when they are contiguous (the usual case: every row but
    the account's, which the engine sorts first), so that selecting them makes views, not copies."""
    index = np.flatnonzero(keep)
    if len(index) and index[-1] - index[0] + 1 == len(index):
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


def _segment_frame(cols: dict[str, np.ndarray], keep: np.ndarray, shares: dict[str, np.ndarray],
                   float_names: Sequence[str]) -> pd.DataFrame:
    """The frame of the ``keep`` rows: segment keys, counts, then the float columns in one
    block. Consumes ``cols`` (so that its columns are freed as soon as they are copied)."""
    rows = _rows(keep)
    kept = {c: v[rows] for c, v in cols.items()}
    cols.clear()
    block = _FloatBlock([*float_names, *shares], len(kept["level"]))
    assembled = _assemble(kept, block.store)
    for name, values in shares.items():
        block.store(name, values[rows])
    front = {c: kept[c] for c in SEGMENT_KEYS} | {c: v for c, v in assembled.items() if v.dtype != np.float64}
    return pd.concat([pd.DataFrame(front, copy=False), block.frame()], axis=1, copy=False)


@dataclass(frozen=True)
class SegmentTables:
    """Baseline vs current per segment: one row per (dimension or pair of dimensions, value(s)).

    ``frame`` columns: ``level`` (1 = one dimension, 2 = a pair), ``dimension`` ("campaign" or
    "campaign,platform"), ``dimension_1/value_1/dimension_2/value_2``, ``segment`` (a label); per
    window ``w`` in (baseline, current) every :func:`~fb_analyst.kpis.aggregate` column and KPI
    with the suffix ``_w`` (e.g. ``spend_current``, ``ctr_baseline``, ``coverage_ctr_current``);
    ``<kpi>_abs_delta`` and ``<kpi>_rel_delta`` (current vs baseline) for every KPI and measure;
    ``spend_share_w`` (segment spend / account spend in window ``w``). Floats are NaN where
    undefined; :meth:`to_json_records` gives strict JSON with the reasons. ``account`` holds the
    account totals row (same columns) the shares are relative to. ``pair_min_spend_share`` > 0:
    pair rows were kept only when their spend share reached it in at least one window
    (single-dimension rows are all kept; see :func:`compare_segments`).
    """

    frame: pd.DataFrame
    account: pd.Series
    windows: Windows
    dimensions: tuple[str, ...]
    pairs: bool
    min_spend_share: float
    dependent_pairs: dict[str, str] = field(default_factory=dict)
    pair_min_spend_share: float = 0.0

    def table(self, *dims: str) -> pd.DataFrame:
        """Rows of one dimension (``table("campaign")``) or one pair (``table("campaign", "platform")``).

        For a dependent pair (see :func:`compare_segments`) the finer dimension's rows are
        returned: the same segments with the same numbers."""
        name = ",".join(dims)
        finer = self.dependent_pairs.get(name)
        if finer is None:
            return self.frame[self.frame["dimension"] == name].reset_index(drop=True)
        return self.frame[self.frame["dimension"] == finer].reset_index(drop=True)

    def account_kpis(self, window: str) -> dict[str, KpiValue]:
        """Account-level KPIs of ``window`` ('baseline' or 'current')."""
        return {k: kpi_value_from_row(k, self.account, f"_{window}") for k in KPIS}

    def to_json_records(self, full: bool = False) -> list[dict[str, Any]]:
        """Strict-JSON records (no NaN/inf). Each has the segment keys, per window the row count,
        measures, KPIs, ratio-KPI coverage and spend share, the deltas, and ``undefined``:
        {"<kpi>_<window>": reason} for every KPI without a value ({"<window>": reason} when the
        segment has no row in that window). ``full=True`` adds every other frame column.

        Built column by column (the same values and reasons as :func:`kpi_value_from_row` per
        row, which this replaced: row-by-row conversion dominated the report step at 1M+ rows)."""
        cols = list(SEGMENT_KEYS)
        for w in WINDOW_NAMES:
            cols += [f"{N_ROWS}_{w}", f"spend_share_{w}"]
            cols += [f"{k}_{w}" for k in KPIS] + [f"{coverage_col(k.name)}_{w}" for k in RATIO_KPIS]
        cols += [f"{k}_{d}_delta" for k in KPIS for d in ("abs", "rel")]
        if full:
            cols += [c for c in self.frame.columns if c not in cols]
        frame = self.frame
        n = len(frame)
        values = [_json_column(frame[c].to_numpy()) for c in cols]
        undefined: list[dict[str, str]] = [{} for _ in range(n)]
        for w in WINDOW_NAMES:
            absent = frame[f"{N_ROWS}_{w}"].to_numpy() == 0
            for i in np.flatnonzero(absent):
                undefined[i][w] = f"no rows in the {w} window"
            for k in KPIS.values():
                reasons = _undefined_reasons(k, frame, f"_{w}")
                if reasons is None:
                    continue
                key = f"{k.name}_{w}"
                for i in np.flatnonzero(~absent & (reasons != None)):  # noqa: E711 - object array
                    undefined[i][key] = reasons[i]
        records = []
        for row, und in zip(zip(*values), undefined):
            rec = dict(zip(cols, row))
            rec["undefined"] = und
            records.append(rec)
        return records


def _json_column(values: np.ndarray) -> list[Any]:
    """A column as strict-JSON Python values (what :func:`json_safe` gives per cell)."""
    if values.dtype.kind == "f":
        out = values.astype(object)
        out[~np.isfinite(values)] = None
        return out.tolist()
    if values.dtype.kind in "iub":
        return values.tolist()
    return [json_safe(v) for v in values]


def _undefined_reasons(kpi: Any, frame: pd.DataFrame, suffix: str) -> np.ndarray | None:
    """Per row, why ``kpi`` has no value (None where it has one), for rows with at least one row
    in the window; the vectorised form of :func:`kpi_value_from_row`'s reasons."""
    def col(name: str) -> np.ndarray:
        return frame[name + suffix].to_numpy(dtype="float64", na_value=np.nan)

    n = col(n_col(kpi.name))
    out = np.full(len(frame), None, dtype=object)
    if not kpi.is_ratio:
        total = col(kpi.numerator)
        out[(n == 0) | np.isnan(total)] = unknown_total_reason(kpi)
        return out if (out != None).any() else None  # noqa: E711
    num, den = col(num_col(kpi.name)), col(den_col(kpi.name))
    missing = np.isnan(n) | (n == 0) | np.isnan(num) | np.isnan(den)
    zero = ~missing & (den == 0)
    # The texts are kpis.undefined_reason's, taken once per KPI for each case.
    out[zero & (num == 0)] = undefined_reason(kpi, 0.0, 0.0, 1)
    out[zero & (num != 0)] = undefined_reason(kpi, 1.0, 0.0, 1)
    out[missing] = undefined_reason(kpi, np.nan, np.nan, 0)
    return out if (out != None).any() else None  # noqa: E711


def compare_segments(
    table: ibis.Table,
    windows: Windows,
    dims: Sequence[str] | None = None,
    pairs: bool = True,
    min_spend_share: float = 0.0,
    dependent_pairs: bool = False,
    pair_min_spend_share: float = 0.0,
) -> SegmentTables:
    """Baseline vs current for every present segment dimension (or ``dims``) and, with
    ``pairs``, every pair of them. ``min_spend_share`` keeps segments whose spend share reaches
    it in at least one window (the account row is always kept in ``account``).

    A pair where one dimension is a function of the other in the data (campaign x ad: each ad
    is in one campaign) has exactly the rows of the finer dimension's table, so it is skipped
    and listed in ``SegmentTables.dependent_pairs`` (``table("campaign", "ad")`` then returns
    the ad table); ``dependent_pairs=True`` computes them as pairs too.

    ``pair_min_spend_share`` keeps a *pair* row only when its spend share reaches it in at least
    one window (single-dimension rows are unaffected). ``fb-analyst run`` passes
    ``diagnose.min_spend_share``: the pair segments the diagnosis would test, not the long tail of
    tiny combinations (which made ``kpis.json`` hundreds of MB at 10M rows). Both filters only
    select rows: the KPI columns are built for the kept rows alone.
    """
    dims = _check_dims(table, dims) if dims is not None else S.present_segment_dimensions(table.columns)
    cols, skipped = segment_sums(table, windows, dims, pairs, dependent_pairs)
    level = cols["level"]
    top = int(np.flatnonzero(level == 0)[0])
    # v[[top]] copies the row: a view would keep every full-length column alive with the account
    account_cols = _assemble({c: v[[top]] for c, v in cols.items()}, lambda _, values: values)
    account = pd.Series({c: v[0] for c, v in account_cols.items()})
    shares = _spend_shares(cols, account)
    keep = level > 0
    best = np.nan_to_num(np.fmax(shares["spend_share_baseline"], shares["spend_share_current"]))
    if min_spend_share > 0:
        keep &= best >= min_spend_share
    if pairs and pair_min_spend_share > 0:
        keep &= (level < 2) | (best >= pair_min_spend_share)
    float_names = [c for c, v in account_cols.items() if v.dtype == np.float64]
    frame = _segment_frame(cols, keep, shares, float_names)  # the engine returned the rows in output order
    return SegmentTables(frame=frame, account=account,
                         windows=windows, dimensions=tuple(dims), pairs=pairs, min_spend_share=min_spend_share,
                         dependent_pairs=skipped, pair_min_spend_share=pair_min_spend_share if pairs else 0.0)


# --- Account KPIs per window, the terminal summary and the JSON export ------------------------


def window_kpis(table: ibis.Table, windows: Windows) -> dict[str, dict[str, KpiValue]]:
    """Account KPIs for each window, in one engine query: {'baseline': {...}, 'current': {...}}."""
    row = to_frame(window_cube(table, windows, ())).iloc[0]
    return {w: {k: kpi_value_from_row(k, row, f"_{w}") for k in KPIS} for w in WINDOW_NAMES}


def render_kpi_summary(windows: Windows, table: ibis.Table, kpis: dict[str, dict[str, KpiValue]] | None = None) -> RichTable:
    """Compact Rich table: each KPI baseline, current, change (green = better) and coverage."""
    kpis = kpis or window_kpis(table, windows)
    out = RichTable(title=f"KPIs: baseline {windows.baseline.label} vs current {windows.current.label}",
                    title_justify="left")
    for col, justify in (("KPI", "left"), ("Baseline", "right"), ("Current", "right"),
                         ("Change", "right"), ("Coverage", "right")):
        out.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, kpi in KPIS.items():
        base, cur = kpis["baseline"][name], kpis["current"][name]
        delta = kpi_delta(base, cur)
        if delta.rel_delta is None:
            change = "n/a"
        else:
            better = (delta.rel_delta > 0) == (kpi.better == "higher_is_better")
            style = "green" if better else "red"
            change = f"[{style}]{delta.rel_delta:+.1%}[/]" if abs(delta.rel_delta) >= 0.0005 else "0.0%"
        coverage = min((c for c in (base.coverage, cur.coverage) if c is not None), default=None)
        out.add_row(kpi.label, format_kpi(kpi, base), format_kpi(kpi, cur), change,
                    "n/a" if coverage is None else f"{coverage:.0%}")
    if windows.partial_days:
        out.caption = "; ".join(p.reason for p in windows.partial_days)
    return out


class KpiTables(BaseModel):
    """The KPI tables written to the outputs (strict JSON)."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    windows: Windows
    account: dict[str, dict[str, KpiValue]]
    account_deltas: dict[str, KpiDelta]
    daily: list[dict[str, Any]]
    segments: list[dict[str, Any]]


def kpi_tables(table: ibis.Table, windows: Windows, segments: SegmentTables | None = None,
               daily: pd.DataFrame | None = None) -> KpiTables:
    """Account KPIs per window with deltas, the account daily series, and the segment tables.

    Without ``segments`` only single-dimension tables are exported (pairs multiply the size of
    the JSON by ~15 on the bundled sample); pass ``compare_segments(...)`` to choose (``run``
    passes pairs restricted by ``pair_min_spend_share``). ``daily``: an already computed
    :func:`account_daily` of ``table`` (saves a scan of the table).
    """
    segments = segments or compare_segments(table, windows, pairs=False)
    account = {w: segments.account_kpis(w) for w in WINDOW_NAMES}
    deltas = {k: kpi_delta(account["baseline"][k], account["current"][k]) for k in KPIS}
    daily = to_records(account_daily(table) if daily is None else daily, by=[S.DATE])
    return KpiTables(windows=windows, account=account, account_deltas=deltas, daily=daily,
                     segments=segments.to_json_records())
