"""Engine-side aggregation for the creative stage: only small aggregates come back to pandas.

``message_cells`` sums the canonical table to date x message x context cells; each KPI gets its
own numerator/denominator pair summed over the rows where *both* inputs are known (the registry's
rule), so a missing click never counts as a zero.
"""

from __future__ import annotations

from datetime import date

import ibis
import pandas as pd

from fb_analyst import schema as S
from fb_analyst.creative.performance import THEME_KPIS

#: Context the theme comparison and the CTR model control for (those present are used).
CONTEXT_DIMENSIONS = (S.CREATIVE_TYPE, S.AUDIENCE_TYPE, S.PLATFORM, S.COUNTRY)


def present_context(table: ibis.Table) -> list[str]:
    cols = set(table.columns)
    return [c for c in CONTEXT_DIMENSIONS if c in cols]


def context_columns(frame: pd.DataFrame) -> list[str]:
    """Context dimensions present in an aggregated frame, in canonical order."""
    return [c for c in CONTEXT_DIMENSIONS if c in frame.columns]


def distinct_messages(table: ibis.Table) -> list[str]:
    """The distinct non-null creative messages, sorted: the messages of :func:`message_cells`
    (one small query, for embedding them before the cells are needed)."""
    t = table.filter(table[S.CREATIVE_MESSAGE].notnull()).select(S.CREATIVE_MESSAGE).distinct()
    return sorted(t.to_pandas()[S.CREATIVE_MESSAGE].astype(str).unique())


def _kpi_sums(table: ibis.Table) -> dict[str, ibis.Expr]:
    cols = set(table.columns)
    metrics: dict[str, ibis.Expr] = {}
    for kpi, (num, den) in THEME_KPIS.items():
        if num not in cols or den not in cols:
            continue
        both = table[num].notnull() & table[den].notnull()
        metrics[f"{kpi}_num"] = ibis.ifelse(both, table[num].cast("float64"), 0.0).sum()
        metrics[f"{kpi}_den"] = ibis.ifelse(both, table[den].cast("float64"), 0.0).sum()
    if S.IMPRESSIONS in cols:
        metrics["impressions"] = table[S.IMPRESSIONS].cast("float64").sum()
    if S.SPEND in cols:
        metrics["spend"] = table[S.SPEND].cast("float64").sum()
    return metrics


def message_cells(
    table: ibis.Table,
    extra: tuple[str, ...] = (),
    start: date | None = None,
    end: date | None = None,
) -> pd.DataFrame:
    """date x message x context (x ``extra``) sums of every KPI's complete-row inputs."""
    t = table.filter(table[S.CREATIVE_MESSAGE].notnull())
    if start is not None:
        t = t.filter(t[S.DATE] >= start)
    if end is not None:
        t = t.filter(t[S.DATE] <= end)
    keys = [S.DATE, S.CREATIVE_MESSAGE, *present_context(t), *[e for e in extra if e in t.columns]]
    df = t.group_by(keys).aggregate(**_kpi_sums(t)).to_pandas()
    for kpi in THEME_KPIS:
        for part in ("num", "den"):
            if f"{kpi}_{part}" not in df:
                df[f"{kpi}_{part}"] = 0.0
    df[S.DATE] = pd.to_datetime(df[S.DATE]).dt.date
    for c in keys[1:]:
        df[c] = df[c].astype(str)
    return df.sort_values(keys, kind="stable").reset_index(drop=True)
