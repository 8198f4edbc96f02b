"""The engine side of the segment tables: the two passes that compute every segment's sums.

1. the *cube* (:func:`window_cube`): one scan of the rows inside either window, grouped by every
   segment dimension, holding per window the additive parts of every KPI (sums, known-row
   counts, per-KPI numerator and denominator sums over the rows where both are known; the
   conditional parts are skipped for measures without missing values);
2. every dimension, every pair of dimensions and the account total re-aggregated from the cube
   (sums of sums are exact) in one GROUP BY over the cube cross-joined with the list of
   groupings; groupings without ad/creative_message read a second, coarser cube. Pairs where one
   dimension determines the other (campaign x ad) are recognised from the roll-up's row counts
   and dropped. The engine also builds the labels and sorts the rows.

:func:`segment_sums` runs both and returns the roll-up as NumPy columns (through Arrow), the only
thing that leaves the engine; :mod:`fb_analyst.segments` builds the KPI frame and JSON from them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import ExitStack
from itertools import combinations

import ibis
import numpy as np
import pyarrow as pa

from fb_analyst import schema as S
from fb_analyst.engine import materialized, to_frame
from fb_analyst.kpis import (
    N_ROWS,
    aggregate_columns,
    complete_measures,
    expand_complete,
    metric_exprs,
    rollup_exprs,
    with_all_measures,
)
from fb_analyst.windows import Windows

WINDOW_NAMES: tuple[str, str] = ("baseline", "current")
#: Columns naming a grouping value in the roll-up.
KEYS: tuple[str, ...] = ("level", "dimension_1", "value_1", "dimension_2", "value_2")
#: The highest-cardinality dimensions: groupings without them roll up from a coarser cube.
FINE_DIMENSIONS: tuple[str, ...] = (S.AD, S.CREATIVE_MESSAGE)


def _in_windows(table: ibis.Table, windows: Windows) -> ibis.Table:
    """Rows inside either window, with every measure present."""
    t = with_all_measures(table)
    return t.filter(windows.baseline.date_filter(t) | windows.current.date_filter(t))


def window_cube(table: ibis.Table, windows: Windows, dims: Sequence[str], complete: Collection[str] = ()) -> ibis.Table:
    """Pass 1: the additive KPI parts of each window side by side (``spend_baseline``,
    ``spend_current``...) per combination of ``dims`` (one scan).

    Windows as filtered aggregates rather than a window key: the same cost here, and half the
    rows (a combination active in both windows is one row), which halves the work of pass 2
    and of the dependent-pair check. A window without rows has counts 0 and null sums."""
    t = _in_windows(table, windows)
    parts: dict[str, ibis.Value] = {}
    for w in WINDOW_NAMES:
        inside = getattr(windows, w).date_filter(t)
        parts.update(metric_exprs(t, where=inside, suffix=f"_{w}", complete=complete))
    return t.group_by(list(dims)).aggregate(**parts) if dims else t.aggregate(**parts)


def _groupings(dims: Sequence[str], pairs: bool) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [()] + [(d,) for d in dims]
    return out + (list(combinations(dims, 2)) if pairs else [])


def _window_rollup_exprs(parts: ibis.Table) -> dict[str, ibis.Value]:
    """Re-aggregate both windows' columns of ``parts`` (sums of sums: exact)."""
    return {k: v for w in WINDOW_NAMES for k, v in rollup_exprs(parts, suffix=f"_{w}").items()}


def _rollup(cube: ibis.Table, groupings: list[tuple[str, ...]], dims: Sequence[str]) -> ibis.Table:
    """Pass 2: the groupings re-aggregated from ``cube`` in a single GROUP BY, one row per
    grouping value with both windows' columns (``spend_baseline``, ``spend_current``...).

    The cube is cross-joined with a small table listing the groupings (one row each); each
    copy of a cube row carries the value(s) of its grouping's dimension(s). One aggregation
    (one shuffle on Spark) instead of a UNION of one query per grouping. ``o1``/``o2`` give
    each grouping's dimensions' positions in ``dims``, the order of the output.
    """
    position = {d: i for i, d in enumerate(dims)}
    spec = ibis.memtable(
        {
            "level": [len(g) for g in groupings],
            "dimension_1": [g[0] if g else None for g in groupings],
            "dimension_2": [g[1] if len(g) > 1 else None for g in groupings],
            "o1": [position[g[0]] if g else -1 for g in groupings],
            "o2": [position[g[1]] if len(g) > 1 else -1 for g in groupings],
        },
        schema={"level": "int64", "dimension_1": "string", "dimension_2": "string", "o1": "int64", "o2": "int64"},
    )
    present = sorted({d for g in groupings for d in g})
    joined = cube.cross_join(spec)

    def value_of(which: str) -> ibis.Value:
        branches = [(joined[which] == d, joined[d].cast("string")) for d in present]
        return ibis.cases(*branches, else_=ibis.null("string")) if branches else ibis.null("string")

    keyed = joined.mutate(value_1=value_of("dimension_1"), value_2=value_of("dimension_2"))
    return keyed.group_by(*KEYS, "o1", "o2").aggregate(**_window_rollup_exprs(keyed))


def _labelled_in_order(rolled: ibis.Table, skipped: Collection[str] = ()) -> ibis.Table:
    """``rolled`` with the ``dimension`` ("campaign" / "campaign,platform") and ``segment``
    ("campaign=A, platform=fb") labels, without the ``skipped`` dimensions, ordered by level,
    dimension position and value(s) (missing values last), in the engine: string work on
    200k+ rows is slow in pandas."""
    d1, d2 = rolled["dimension_1"], rolled["dimension_2"]
    label_1 = d1 + "=" + rolled["value_1"].fill_null("(missing)")
    label_2 = d2 + "=" + rolled["value_2"].fill_null("(missing)")
    labelled = rolled.mutate(
        dimension=ibis.ifelse(d2.isnull(), d1, d1 + "," + d2),
        segment=ibis.ifelse(d2.isnull(), label_1, label_1 + ", " + label_2),
    )
    if skipped:
        labelled = labelled.filter(labelled["dimension"].isnull() | ~labelled["dimension"].isin(list(skipped)))
    return labelled.order_by(
        "level", "o1", "o2", ibis.asc("value_1", nulls_first=False), ibis.asc("value_2", nulls_first=False)
    )


def _dependent_pairs(rolled: ibis.Table, pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Those ``pairs`` where one dimension is a function of the other in the data (an ad
    belongs to one campaign): their table is the finer dimension's table, row for row, so it is
    dropped. Returns {"campaign,ad": "ad", ...}.

    Read off the roll-up itself: a pair has as many segments as its finer dimension exactly
    when that dimension determines the other (a null counts as a value, as in a GROUP BY). One
    small query of row counts per grouping; rolling the dependent pairs up and dropping them
    costs less than a separate distinct count of every pair over the cube."""
    if not pairs:
        return {}
    counts = to_frame(rolled.group_by("dimension_1", "dimension_2").aggregate(n=ibis._.count()))
    n = {(d1, d2 if isinstance(d2, str) else None): k for d1, d2, k in counts.itertuples(index=False)}
    out = {}
    for a, b in pairs:
        if n[(a, b)] == n[(b, None)]:
            out[f"{a},{b}"] = b
        elif n[(a, b)] == n[(a, None)]:
            out[f"{a},{b}"] = a
    return out


def segment_sums(
    table: ibis.Table, windows: Windows, dims: list[str], pairs: bool, dependent_pairs: bool
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Both passes; one row per grouping value, both windows side by side, labelled and in
    output order (only aggregates leave the engine), as NumPy columns; and the dependent pairs
    that were dropped (unless ``dependent_pairs``).

    Groupings without a fine dimension (ad, creative_message) roll up from a second, much
    smaller cube that drops them: pass 2 then reads far fewer rows on ad-level data.
    """
    groupings = _groupings(dims, pairs)
    complete = complete_measures(_in_windows(table, windows))
    with ExitStack() as held:
        cube = held.enter_context(materialized(window_cube(table, windows, dims, complete)))
        sources = [(cube, groupings)]
        coarse_dims = [d for d in dims if d not in FINE_DIMENSIONS]
        if 0 < len(coarse_dims) < len(dims):
            coarse_cube = cube.group_by(coarse_dims).aggregate(**_window_rollup_exprs(cube))
            coarse = held.enter_context(materialized(coarse_cube))
            fine = [g for g in groupings if not set(g) <= set(coarse_dims)]
            sources = [(cube, fine), (coarse, [g for g in groupings if g not in fine])]
        rollups = [_rollup(source, gs, dims) for source, gs in sources]
        rolled = rollups[0].union(*rollups[1:], distinct=False) if len(rollups) > 1 else rollups[0]
        rolled = held.enter_context(materialized(rolled))
        skipped = {} if dependent_pairs else _dependent_pairs(rolled, [g for g in groupings if len(g) == 2])
        cols = _columns(_labelled_in_order(rolled, skipped))
    return _complete_windows(cols, complete), skipped


def _columns(expr: ibis.Table) -> dict[str, np.ndarray]:
    """Execute ``expr`` into one NumPy array per column, through Arrow: numeric columns without
    nulls are not copied, float nulls become NaN; strings become object arrays (nulls None)
    holding one Python string per distinct value (the labels repeat: dimension names, values
    shared by many pairs), which saves memory and time over one object per cell."""
    result = expr.to_pyarrow()
    out = {}
    for name in result.column_names:
        column = result.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            encoded = column.dictionary_encode(null_encoding="encode").combine_chunks()
            values = encoded.dictionary.to_numpy(zero_copy_only=False)
            out[name] = values[encoded.indices.to_numpy()]
        else:
            out[name] = column.to_numpy()
    return out


def _complete_windows(parts: dict[str, np.ndarray], complete: Collection[str]) -> dict[str, np.ndarray]:
    """The segment keys and, per window, every :func:`~fb_analyst.kpis.aggregate` column as
    ``<column>_<window>`` (those that ``complete`` measures made redundant restored).

    A segment without any row in a window had zero volume there (it did not deliver): its
    measures are 0 and its counts 0; its ratio parts stay NaN, so its ratio KPIs are undefined
    ("no rows in this selection")."""
    out: dict[str, np.ndarray] = {k: parts[k] for k in (*KEYS, "dimension", "segment")}
    for w in WINDOW_NAMES:
        suffix = f"_{w}"
        window = {**parts, **expand_complete(parts, complete, suffix)}
        absent = window[N_ROWS + suffix] == 0
        for c in aggregate_columns(suffix):
            values = window[c]
            if c.removesuffix(suffix) in S.MEASURES:
                values = np.where(absent, 0.0, values)
            elif c.startswith("n_"):
                values = values.astype("int64", copy=False)
            out[c] = values
    return out
