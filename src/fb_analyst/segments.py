"""Segment tables: the account and each segment, per day and baseline vs current.

Inputs: the canonical table (``ibis.Table``) and resolved :class:`~fb_analyst.windows.Windows`.
Outputs: small pandas frames (only aggregates leave the engine) and the frozen
:class:`SegmentTables` record; :func:`kpi_tables` bundles them as JSON for the outputs and
:func:`render_kpi_summary` as a Rich table for the terminal.

How the baseline-vs-current tables are computed, in two engine passes:

1. the *cube*: one scan of the rows inside either window, grouped by window and every present
   segment dimension, holding the additive parts of every KPI (sums, known-row counts, per-KPI
   numerator and denominator sums over the rows where both are known; the conditional parts are
   skipped for measures without missing values);
2. every dimension, every pair of dimensions and the account total re-aggregated from the cube
   (sums of sums are exact) in one GROUP BY over the cube cross-joined with the list of
   groupings; groupings without ad/creative_message read a second, coarser cube. Pairs where one
   dimension determines the other (campaign x ad) are detected and not recomputed.

KPIs are ratio-of-sums computed from those parts; never a mean of row ratios.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import ibis
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from rich.table import Table as RichTable

from fb_analyst import schema as S
from fb_analyst.engine import materialized, to_frame
from fb_analyst.errors import UnknownNameError
from fb_analyst.kpis import (
    ADDITIVE_KPIS,
    KPIS,
    N_ROWS,
    RATIO_KPIS,
    KpiDelta,
    KpiValue,
    aggregate_columns,
    complete_measures,
    coverage_col,
    expand_complete,
    format_kpi,
    json_safe,
    kpi_columns,
    kpi_delta,
    kpi_frame,
    kpi_value_from_row,
    metric_exprs,
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


WINDOW = "window"
KEYS: tuple[str, ...] = ("level", "dimension_1", "value_1", "dimension_2", "value_2")
#: The highest-cardinality dimensions: groupings without them roll up from a coarser cube.
FINE_DIMENSIONS: tuple[str, ...] = (S.AD, S.CREATIVE_MESSAGE)


def _in_windows(table: ibis.Table, windows: Windows) -> ibis.Table:
    """Rows inside either window, with every measure present and a ``window`` label."""
    t = with_all_measures(table)
    t = t.filter(windows.baseline.date_filter(t) | windows.current.date_filter(t))
    return t.mutate(**{WINDOW: ibis.ifelse(windows.current.date_filter(t), "current", "baseline")})


def _cube(table: ibis.Table, windows: Windows, dims: Sequence[str], complete: Collection[str] = ()) -> ibis.Table:
    """Pass 1: the additive KPI parts per window x combination of ``dims`` (one scan)."""
    t = _in_windows(table, windows)
    return t.group_by([WINDOW, *dims]).aggregate(**metric_exprs(t, complete=complete))


def _groupings(dims: Sequence[str], pairs: bool) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [()] + [(d,) for d in dims]
    return out + (list(combinations(dims, 2)) if pairs else [])


def _rollup(cube: ibis.Table, groupings: list[tuple[str, ...]]) -> ibis.Table:
    """Pass 2: the groupings re-aggregated from ``cube`` in a single GROUP BY.

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
    return keyed.group_by(WINDOW, *KEYS).aggregate(**rollup_exprs(keyed))


def _dependent_pairs(cube: ibis.Table, pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Those ``pairs`` where one dimension is a function of the other in the data (an ad
    belongs to one campaign): their table is the finer dimension's table, row for row, so it is
    not computed. Returns {"campaign,ad": "ad", ...}; one engine query of distinct counts."""
    if not pairs:
        return {}
    dims = sorted({d for pair in pairs for d in pair})

    def distinct(*names: str) -> ibis.Value:
        # a struct, so that a null value counts as a value, as it does in a GROUP BY
        return ibis.struct({f"k{i}": cube[n] for i, n in enumerate(names)}).nunique()

    exprs = {f"n_{d}": distinct(d) for d in dims}
    exprs.update({f"p{j}": distinct(a, b) for j, (a, b) in enumerate(pairs)})
    row = to_frame(cube.aggregate(**exprs)).iloc[0]
    out = {}
    for j, (a, b) in enumerate(pairs):
        n = row[f"p{j}"]
        if n == row[f"n_{b}"]:
            out[f"{a},{b}"] = b
        elif n == row[f"n_{a}"]:
            out[f"{a},{b}"] = a
    return out


def _segment_sums(
    table: ibis.Table, windows: Windows, dims: list[str], pairs: bool, dependent_pairs: bool
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Both passes; one row per grouping value x window (only aggregates leave the engine),
    and the dependent pairs that were skipped (unless ``dependent_pairs``).

    Groupings without a fine dimension (ad, creative_message) roll up from a second, much
    smaller cube that drops them: pass 2 then reads far fewer rows on ad-level data.
    """
    groupings = _groupings(dims, pairs)
    check = pairs and not dependent_pairs
    complete = complete_measures(_in_windows(table, windows))
    with materialized(_cube(table, windows, dims, complete)) as cube:
        fine_dims = [d for d in dims if d in FINE_DIMENSIONS]
        if not fine_dims:
            skipped = _dependent_pairs(cube, [g for g in groupings if len(g) == 2]) if check else {}
            long = to_frame(_rollup(cube, [g for g in groupings if ",".join(g) not in skipped]))
        else:
            coarse_dims = [d for d in dims if d not in fine_dims]
            coarse_cube = cube.group_by([WINDOW, *coarse_dims]).aggregate(**rollup_exprs(cube))
            with materialized(coarse_cube) as coarse:
                fine = [g for g in groupings if set(g) & set(fine_dims)]
                rest = [g for g in groupings if g not in fine]
                skipped = {}
                if check:
                    skipped = _dependent_pairs(cube, [g for g in fine if len(g) == 2])
                    skipped.update(_dependent_pairs(coarse, [g for g in rest if len(g) == 2]))
                fine = [g for g in fine if ",".join(g) not in skipped]
                rest = [g for g in rest if ",".join(g) not in skipped]
                long = to_frame(_rollup(cube, fine).union(_rollup(coarse, rest), distinct=False))
    return long.assign(**expand_complete(long, complete)), skipped


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]`` with index -1 giving a missing value (NaN / None)."""
    out = values[np.maximum(index, 0)]
    if (index < 0).any():
        out = out.astype("float64" if out.dtype.kind in "iufb" else object)
        out[index < 0] = np.nan if out.dtype.kind == "f" else None
    return out


def _wide(long: pd.DataFrame) -> dict[str, np.ndarray]:
    """One entry per segment with ``<column>_<window>`` arrays (built column by column: the
    result is wide, and pandas would copy the whole frame at every step)."""
    sides = [long[long[WINDOW] == w].reset_index(drop=True) for w in WINDOW_NAMES]
    keys = list(KEYS)
    # pandas merge matches null keys with each other, which is what a missing value needs here
    index = sides[0][keys].assign(_b=np.arange(len(sides[0]))).merge(
        sides[1][keys].assign(_c=np.arange(len(sides[1]))), on=keys, how="outer"
    )
    out: dict[str, np.ndarray] = {k: index[k].to_numpy(dtype=object) for k in keys}
    out["level"] = index["level"].to_numpy(dtype="int64")
    for w, side, pos in zip(WINDOW_NAMES, sides, ("_b", "_c")):
        at = index[pos].fillna(-1).to_numpy(dtype="int64")
        absent = at < 0
        for c in aggregate_columns():
            values = _take(side[c].to_numpy(), at)
            if c.startswith("n_"):
                values = np.where(absent, 0, values).astype("int64")
            elif c in S.MEASURES:
                # A segment without any row in a window had zero volume there (it did not
                # deliver); its ratio KPIs stay undefined ("no rows in this selection").
                values = np.where(absent, 0.0, values.astype("float64"))
            out[f"{c}_{w}"] = values
    return out


def _deltas(cols: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in names:
            base = cols[f"{name}_baseline"].astype("float64")
            cur = cols[f"{name}_current"].astype("float64")
            out[f"{name}_abs_delta"] = cur - base
            out[f"{name}_rel_delta"] = cur / np.where(base != 0, base, np.nan) - 1.0
    return out


def _labels(cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``dimension`` ("campaign" / "campaign,platform") and ``segment`` labels."""
    dim_1, val_1 = pd.Series(cols["dimension_1"]), pd.Series(cols["value_1"]).fillna("(missing)")
    dim_2, val_2 = pd.Series(cols["dimension_2"]), pd.Series(cols["value_2"]).fillna("(missing)")
    one = dim_2.isna()
    label_1 = dim_1 + "=" + val_1
    dimension = dim_1.where(one, dim_1 + "," + dim_2.fillna(""))
    segment = label_1.where(one, label_1 + ", " + dim_2.fillna("") + "=" + val_2)
    return dimension.to_numpy(dtype=object), segment.to_numpy(dtype=object)


def _frame_in_order(cols: dict[str, np.ndarray], order: np.ndarray) -> pd.DataFrame:
    """The final frame, rows in ``order``, segment keys first. Consumes ``cols``; float columns
    go into one preallocated block, so peak memory is about one copy of the table, not three
    (pandas' constructor would copy every column and then consolidate them again)."""
    floats = [c for c in cols if c not in SEGMENT_KEYS and cols[c].dtype == np.float64]
    block = np.empty((len(order), len(floats)), dtype="float64")
    for i, c in enumerate(floats):
        block[:, i] = cols.pop(c)[order]
    frame = pd.DataFrame(block, columns=floats, copy=False)
    others = {c: cols.pop(c)[order] for c in [*SEGMENT_KEYS, *(c for c in cols if c not in SEGMENT_KEYS)]}
    for i, (c, values) in enumerate(others.items()):
        frame.insert(i, c, values)
    return frame


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

    n = col(f"n_{kpi.name}")
    out = np.full(len(frame), None, dtype=object)
    if not kpi.is_ratio:
        total = col(kpi.numerator)
        out[(n == 0) | np.isnan(total)] = f"no rows with {kpi.numerator} known"
        return out if (out != None).any() else None  # noqa: E711
    num, den = col(f"{kpi.name}_num"), col(f"{kpi.name}_den")
    missing = np.isnan(n) | (n == 0) | np.isnan(num) | np.isnan(den)
    zero = ~missing & (den == 0)
    out[zero & (num == 0)] = f"zero {kpi.denominator} and zero {kpi.numerator}"
    out[zero & (num != 0)] = f"zero {kpi.denominator}"
    out[missing] = f"no rows with {kpi.numerator} and {kpi.denominator} both known"
    return out if (out != None).any() else None  # noqa: E711


def _drop_small_pairs(cols: dict[str, np.ndarray], threshold: float) -> dict[str, np.ndarray]:
    """Keep every non-pair row and the pair rows whose spend share (segment spend / account
    spend, as in :func:`compare_segments`) reaches ``threshold`` in at least one window."""
    level = cols["level"]
    top = int(np.flatnonzero(level == 0)[0])
    best = np.zeros(len(level))
    with np.errstate(divide="ignore", invalid="ignore"):
        for w in WINDOW_NAMES:
            total = cols[f"spend_{w}"][top]
            if total and not pd.isna(total):
                best = np.fmax(best, np.nan_to_num(cols[f"spend_{w}"] / total))
    keep = (level < 2) | (best >= threshold)
    if keep.all():
        return cols
    return {c: v[keep] for c, v in cols.items()}


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
    tiny combinations (which made ``kpis.json`` hundreds of MB at 10M rows). Applied right after
    the engine pass, before the KPI columns are built, so the dropped rows cost no memory after.
    """
    dims = _check_dims(table, dims) if dims is not None else S.present_segment_dimensions(table.columns)
    long, skipped = _segment_sums(table, windows, dims, pairs, dependent_pairs)
    cols = _wide(long)
    del long
    if pairs and pair_min_spend_share > 0:
        cols = _drop_small_pairs(cols, pair_min_spend_share)
    for w in WINDOW_NAMES:
        cols.update(kpi_columns(cols, suffix=f"_{w}"))
    cols.update(_deltas(cols, [k.name for k in ADDITIVE_KPIS + RATIO_KPIS] + [N_ROWS]))
    level = cols["level"]
    top = int(np.flatnonzero(level == 0)[0])
    account = pd.Series({c: v[top] for c, v in cols.items()})
    for w in WINDOW_NAMES:
        total = account[f"spend_{w}"]
        share = cols[f"spend_{w}"] / total if total and not pd.isna(total) else np.full(len(level), np.nan)
        cols[f"spend_share_{w}"] = share
    cols["dimension"], cols["segment"] = _labels(cols)
    keep = level > 0
    if min_spend_share > 0:
        share = np.fmax(cols["spend_share_baseline"], cols["spend_share_current"])
        keep &= np.nan_to_num(share) >= min_spend_share
    order_of = {d: i for i, d in enumerate(dims)}
    keys = pd.DataFrame({
        "level": level,
        "o1": [order_of.get(d, -1) for d in cols["dimension_1"]],
        "o2": [order_of.get(d, -1) if d is not None else -1 for d in cols["dimension_2"]],
        "v1": cols["value_1"], "v2": cols["value_2"],
    })[keep]
    order = keys.sort_values(["level", "o1", "o2", "v1", "v2"], na_position="last", kind="stable").index.to_numpy()
    frame = _frame_in_order(cols, order)
    return SegmentTables(frame=frame, account=account.drop(list(SEGMENT_KEYS), errors="ignore"),
                         windows=windows, dimensions=tuple(dims), pairs=pairs, min_spend_share=min_spend_share,
                         dependent_pairs=skipped, pair_min_spend_share=pair_min_spend_share if pairs else 0.0)


# --- Account KPIs per window, the terminal summary and the JSON export ------------------------


def window_kpis(table: ibis.Table, windows: Windows) -> dict[str, dict[str, KpiValue]]:
    """Account KPIs for each window, in one engine query: {'baseline': {...}, 'current': {...}}."""
    rows = to_frame(_cube(table, windows, ())).set_index(WINDOW)
    return {w: {k: kpi_value_from_row(k, rows.loc[w] if w in rows.index else {}) for k in KPIS}
            for w in WINDOW_NAMES}


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
