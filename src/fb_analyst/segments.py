"""Segment tables: the account and each segment, per day and baseline vs current.

Inputs: the canonical table (``ibis.Table``) and resolved :class:`~fb_analyst.windows.Windows`.
Outputs: small pandas frames (only aggregates leave the engine) and the frozen
:class:`SegmentTables` record; :func:`kpi_tables` bundles them as JSON for the outputs and
:func:`render_kpi_summary` as a Rich table for the terminal.

How the baseline-vs-current tables are computed, in two engine passes:

1. the *cube*: one scan of the rows inside either window, grouped by every present segment
   dimension, with the additive parts of every KPI (sums, known-row counts, per-KPI numerator and
   denominator sums) for each window as separate columns (``..._baseline`` / ``..._current``);
2. every dimension and every pair of dimensions (and the account total) re-aggregated from the
   cube (sums of sums are exact), as one ``UNION ALL`` query.

KPIs are ratio-of-sums computed from those parts; never a mean of row ratios.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import ibis
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from rich.table import Table as RichTable

from fb_analyst import schema as S
from fb_analyst.engine import materialized
from fb_analyst.errors import UnknownNameError
from fb_analyst.kpis import (
    ADDITIVE_KPIS,
    KPIS,
    N_ROWS,
    RATIO_KPIS,
    KpiValue,
    add_kpi_columns,
    aggregate_columns,
    coverage_col,
    format_kpi,
    json_safe,
    kpi_frame,
    kpi_value_from_row,
    metric_exprs,
    n_col,
    rollup_exprs,
    to_records,
    with_all_measures,
)
from fb_analyst.windows import Windows

WINDOW_NAMES: tuple[str, str] = ("baseline", "current")
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


def _window_cube(table: ibis.Table, windows: Windows, dims: Sequence[str]) -> ibis.Table:
    """Pass 1: per combination of ``dims``, the additive KPI parts of each window."""
    t = with_all_measures(table)
    t = t.filter(windows.baseline.date_filter(t) | windows.current.date_filter(t))
    metrics: dict[str, ibis.Value] = {}
    for name in WINDOW_NAMES:
        metrics.update(metric_exprs(t, where=getattr(windows, name).date_filter(t), suffix=f"_{name}"))
    return t.group_by(list(dims)).aggregate(**metrics) if dims else t.aggregate(**metrics)


def _groupings(dims: Sequence[str], pairs: bool) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [()] + [(d,) for d in dims]
    return out + (list(combinations(dims, 2)) if pairs else [])


def _rollups(cube: ibis.Table, groupings: list[tuple[str, ...]]) -> ibis.Table:
    """Pass 2: every grouping re-aggregated from the cube in a single GROUP BY.

    The cube is cross-joined with a small table listing the groupings (one row each); each
    copy of a cube row carries the value(s) of its grouping's dimension(s). One aggregation
    (one shuffle on Spark) instead of a UNION of one query per grouping.
    """
    spec = ibis.memtable(
        {
            "level": [len(g) for g in groupings],
            "dimension_1": [g[0] if g else None for g in groupings],
            "dimension_2": [g[1] if len(g) > 1 else None for g in groupings],
        },
        schema={"level": "int64", "dimension_1": "string", "dimension_2": "string"},
    )
    dims = sorted({d for g in groupings for d in g})
    joined = cube.cross_join(spec)

    def value_of(which: str) -> ibis.Value:
        branches = [(joined[which] == d, joined[d].cast("string")) for d in dims]
        return ibis.cases(*branches, else_=ibis.null("string")) if branches else ibis.null("string")

    keyed = joined.mutate(value_1=value_of("dimension_1"), value_2=value_of("dimension_2"))
    sums = {c: e for n in WINDOW_NAMES for c, e in rollup_exprs(keyed, f"_{n}").items()}
    return keyed.group_by("level", "dimension_1", "value_1", "dimension_2", "value_2").aggregate(**sums)


def _deltas(frame: pd.DataFrame, name: str) -> None:
    base, cur = frame[f"{name}_baseline"].astype("float64"), frame[f"{name}_current"].astype("float64")
    frame[f"{name}_abs_delta"] = cur - base
    frame[f"{name}_rel_delta"] = cur / base.where(base != 0) - 1.0


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
    account totals row (same columns) the shares are relative to.
    """

    frame: pd.DataFrame
    account: pd.Series
    windows: Windows
    dimensions: tuple[str, ...]
    pairs: bool
    min_spend_share: float

    def table(self, *dims: str) -> pd.DataFrame:
        """Rows of one dimension (``table("campaign")``) or one pair (``table("campaign", "platform")``)."""
        return self.frame[self.frame["dimension"] == ",".join(dims)].reset_index(drop=True)

    def account_kpis(self, window: str) -> dict[str, KpiValue]:
        """Account-level KPIs of ``window`` ('baseline' or 'current')."""
        return {k: kpi_value_from_row(k, self.account, f"_{window}") for k in KPIS}

    def to_json_records(self, full: bool = False) -> list[dict[str, Any]]:
        """Strict-JSON records (no NaN/inf). Each has the segment keys, per window the row count,
        measures, KPIs, ratio-KPI coverage and spend share, the deltas, and ``undefined``:
        {"<kpi>_<window>": reason} for every KPI without a value ({"<window>": reason} when the
        segment has no row in that window). ``full=True`` adds every other frame column."""
        cols = list(SEGMENT_KEYS)
        for w in WINDOW_NAMES:
            cols += [f"{N_ROWS}_{w}", f"spend_share_{w}"]
            cols += [f"{k}_{w}" for k in KPIS] + [f"{coverage_col(k.name)}_{w}" for k in RATIO_KPIS]
        cols += [f"{k}_{d}_delta" for k in KPIS for d in ("abs", "rel")]
        if full:
            cols += [c for c in self.frame.columns if c not in cols]
        records = []
        for row in self.frame.to_dict("records"):
            rec = {c: json_safe(row[c]) for c in cols}
            undefined = {}
            for w in WINDOW_NAMES:
                if row[f"{N_ROWS}_{w}"] == 0:
                    undefined[w] = f"no rows in the {w} window"
                    continue
                for k in KPIS:
                    v = kpi_value_from_row(k, row, f"_{w}")
                    if v.value is None:
                        undefined[f"{k}_{w}"] = v.undefined_reason
            rec["undefined"] = undefined
            records.append(rec)
        return records


def compare_segments(
    table: ibis.Table,
    windows: Windows,
    dims: Sequence[str] | None = None,
    pairs: bool = True,
    min_spend_share: float = 0.0,
) -> SegmentTables:
    """Baseline vs current for every present segment dimension (or ``dims``) and, with
    ``pairs``, every pair of them. ``min_spend_share`` keeps segments whose spend share reaches
    it in at least one window (the account row is always kept in ``account``)."""
    dims = _check_dims(table, dims) if dims is not None else S.present_segment_dimensions(table.columns)
    with materialized(_window_cube(table, windows, dims)) as cube:
        raw = _rollups(cube, _groupings(dims, pairs)).to_pandas()
    for w in WINDOW_NAMES:
        # A segment without any row in a window had zero volume there (it did not deliver);
        # its ratio KPIs stay undefined ("no rows in this selection").
        absent = raw[f"{N_ROWS}_{w}"] == 0
        for m in S.MEASURES:
            raw.loc[absent, f"{m}_{w}"] = 0.0
        raw = add_kpi_columns(raw, suffix=f"_{w}")
    for name in [k.name for k in ADDITIVE_KPIS + RATIO_KPIS] + [N_ROWS]:
        _deltas(raw, name)
    account = raw[raw["level"] == 0].iloc[0]
    for w in WINDOW_NAMES:
        total = account[f"spend_{w}"]
        raw[f"spend_share_{w}"] = raw[f"spend_{w}"] / total if total and not pd.isna(total) else np.nan
    frame = raw[raw["level"] > 0].copy()
    frame["dimension"] = np.where(frame["dimension_2"].isna(), frame["dimension_1"],
                                  frame["dimension_1"] + "," + frame["dimension_2"].fillna(""))
    label_1 = frame["dimension_1"] + "=" + frame["value_1"].fillna("(missing)")
    label_2 = frame["dimension_2"] + "=" + frame["value_2"].fillna("(missing)")
    frame["segment"] = np.where(frame["dimension_2"].isna(), label_1, label_1 + ", " + label_2.fillna(""))
    if min_spend_share > 0:
        share = frame[[f"spend_share_{w}" for w in WINDOW_NAMES]].fillna(0.0).max(axis=1)
        frame = frame[share >= min_spend_share]
    order = {d: i for i, d in enumerate(dims)}
    frame = frame.assign(_o1=frame["dimension_1"].map(order), _o2=frame["dimension_2"].map(order).fillna(-1))
    frame = frame.sort_values(["level", "_o1", "_o2", "value_1", "value_2"], na_position="last", kind="stable")
    rest = [c for c in frame.columns if c not in SEGMENT_KEYS and not c.startswith("_o")]
    frame = frame[list(SEGMENT_KEYS) + rest].reset_index(drop=True)
    return SegmentTables(frame=frame, account=account.drop(list(SEGMENT_KEYS), errors="ignore"),
                         windows=windows, dimensions=tuple(dims), pairs=pairs, min_spend_share=min_spend_share)


# --- Account KPIs per window, the terminal summary and the JSON export ------------------------


def window_kpis(table: ibis.Table, windows: Windows) -> dict[str, dict[str, KpiValue]]:
    """Account KPIs for each window, in one engine query: {'baseline': {...}, 'current': {...}}."""
    row = _window_cube(table, windows, ()).to_pandas().iloc[0]
    return {w: {k: kpi_value_from_row(k, row, f"_{w}") for k in KPIS} for w in WINDOW_NAMES}


class KpiDelta(BaseModel):
    """Change of one KPI from baseline to current (None with a reason when not computable)."""

    model_config = ConfigDict(frozen=True)

    abs_delta: float | None
    rel_delta: float | None
    undefined_reason: str | None = None


def kpi_delta(baseline: KpiValue, current: KpiValue) -> KpiDelta:
    if baseline.value is None or current.value is None:
        which = "baseline" if baseline.value is None else "current"
        reason = (baseline if which == "baseline" else current).undefined_reason
        return KpiDelta(abs_delta=None, rel_delta=None, undefined_reason=f"{which} undefined: {reason}")
    abs_delta = current.value - baseline.value
    if baseline.value == 0:
        return KpiDelta(abs_delta=abs_delta, rel_delta=None, undefined_reason="baseline is 0 (relative change undefined)")
    return KpiDelta(abs_delta=abs_delta, rel_delta=current.value / baseline.value - 1.0)


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
        coverage = min(c for c in (base.coverage, cur.coverage) if c is not None) if (base.coverage is not None or cur.coverage is not None) else None
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


def kpi_tables(table: ibis.Table, windows: Windows, segments: SegmentTables | None = None) -> KpiTables:
    """Account KPIs per window with deltas, the account daily series, and the segment tables.

    Without ``segments`` only single-dimension tables are exported (pairs multiply the size of
    the JSON by ~15 on the bundled sample); pass ``compare_segments(...)`` to choose.
    """
    segments = segments or compare_segments(table, windows, pairs=False)
    account = {w: segments.account_kpis(w) for w in WINDOW_NAMES}
    deltas = {k: kpi_delta(account["baseline"][k], account["current"][k]) for k in KPIS}
    daily = to_records(account_daily(table), by=[S.DATE])
    return KpiTables(windows=windows, account=account, account_deltas=deltas, daily=daily,
                     segments=segments.to_json_records())
