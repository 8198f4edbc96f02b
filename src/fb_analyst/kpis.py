"""The KPI registry: every KPI defined once, as a ratio of sums (never a mean of row ratios).

CTR = clicks/impressions, CPC = spend/clicks, CPM = 1000*spend/impressions, CVR = purchases/clicks,
CPA = spend/purchases, AOV = revenue/purchases, ROAS = revenue/spend.

Each ratio KPI is computed over the rows where *all* of its inputs are known (``coverage`` is the
share of rows used). A zero denominator yields an explicit undefined value with its reason, never
inf or NaN in an output.

Identity used by the diagnosis: ROAS = CTR * CVR * AOV * 1000 / CPM. (It holds exactly only over
one set of rows: with missing values each KPI has its own coverage, so filter to complete rows
first when the identity must close.)

Aggregation runs in the engine: :func:`aggregate` (an Ibis expression of sums and counts),
:func:`kpi_frame` (executed, with KPI and coverage columns), :func:`kpi_values` (account level,
as :class:`KpiValue`); :func:`to_records` / :func:`json_safe` turn frames into strict JSON.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal

import ibis
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from fb_analyst import schema as S
from fb_analyst.engine import to_frame
from fb_analyst.errors import UnknownNameError

Direction = Literal["higher_is_better", "lower_is_better"]


@dataclass(frozen=True)
class KPI:
    """A KPI. Additive KPIs have ``denominator=None``; ratio KPIs are scale*num/den."""

    name: str
    label: str
    numerator: str
    denominator: str | None = None
    scale: float = 1.0
    better: Direction = "higher_is_better"
    fmt: str = "{:,.2f}"

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.numerator,) if self.denominator is None else (self.numerator, self.denominator)

    def ratio(self, num: float | None, den: float | None) -> "KpiValue":
        """Value of this ratio KPI from already-summed inputs."""
        return ratio_value(num, den, self.scale)


ADDITIVE_KPIS: Final = (
    KPI("impressions", "Impressions", S.IMPRESSIONS, fmt="{:,.0f}"),
    KPI("clicks", "Clicks", S.CLICKS, fmt="{:,.0f}"),
    KPI("spend", "Spend", S.SPEND, better="lower_is_better"),
    KPI("purchases", "Purchases", S.PURCHASES, fmt="{:,.0f}"),
    KPI("revenue", "Revenue", S.REVENUE),
)
RATIO_KPIS: Final = (
    KPI("ctr", "CTR", S.CLICKS, S.IMPRESSIONS, fmt="{:.2%}"),
    KPI("cpc", "CPC", S.SPEND, S.CLICKS, better="lower_is_better"),
    KPI("cpm", "CPM", S.SPEND, S.IMPRESSIONS, scale=1000.0, better="lower_is_better"),
    KPI("cvr", "CVR", S.PURCHASES, S.CLICKS, fmt="{:.2%}"),
    KPI("cpa", "CPA", S.SPEND, S.PURCHASES, better="lower_is_better"),
    KPI("aov", "AOV", S.REVENUE, S.PURCHASES),
    KPI("roas", "ROAS", S.REVENUE, S.SPEND, fmt="{:.2f}x"),
)
KPIS: Final[dict[str, KPI]] = {k.name: k for k in ADDITIVE_KPIS + RATIO_KPIS}


def get_kpi(name: str) -> KPI:
    """Look a KPI up by (case-insensitive) name; unknown names list the valid ones."""
    try:
        return KPIS[name.lower()]
    except KeyError:
        raise UnknownNameError("KPI", name, list(KPIS)) from None


class KpiValue(BaseModel):
    """A KPI value or an explicit undefined with its reason (JSON-safe: no inf/NaN)."""

    model_config = ConfigDict(frozen=True)

    value: float | None
    undefined_reason: str | None = None
    coverage: float | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None


def _is_missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def ratio_value(
    num: float | None, den: float | None, scale: float = 1.0, coverage: float | None = None
) -> KpiValue:
    """scale*num/den, or undefined with a reason when an input is missing or den == 0."""
    if _is_missing(num) or _is_missing(den):
        return KpiValue(value=None, undefined_reason="no rows with both inputs known", coverage=coverage)
    if den == 0:
        reason = "zero denominator" + (" and numerator" if num == 0 else "")
        return KpiValue(value=None, undefined_reason=reason, coverage=coverage)
    return KpiValue(value=scale * float(num) / float(den), coverage=coverage)


def safe_ratio(num: float | None, den: float | None, scale: float = 1.0) -> float | None:
    """Plain-float version of :func:`ratio_value` (None when undefined)."""
    return ratio_value(num, den, scale).value


def ratio_array(num: Any, den: Any, fill: float = math.nan) -> np.ndarray:
    """Element-wise ``num / den`` where ``den > 0``, else ``fill`` (arrays broadcast as numpy's).

    The array form of :func:`safe_ratio` for vectorised sums of non-negative measures (per key,
    per cell, per window), where a denominator of 0 (or below) means no volume: it is replaced by 1
    before dividing and its result by ``fill``, so no division by zero warns and no inf reaches a
    result. ``fill`` is what the caller reads as "no volume" (NaN by default, as ``None`` for
    :func:`safe_ratio`; 1.0 for a neutral factor)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), fill)


# --- Aggregation in the engine --------------------------------------------------------------
#
# ``aggregate`` returns, per group, everything any KPI needs, as plain sums and counts (so that
# partial aggregates roll up exactly by summing again):
#   n_rows                      rows in the group
#   <measure>, n_<measure>      sum of the known values of each measure and how many rows had one
#   <kpi>_num, <kpi>_den, n_<kpi>
#                               per ratio KPI, sums of numerator and denominator over the rows where
#                               *both* are known, and how many rows that was (coverage = n_<kpi>/n_rows)
# A sum over no known value is null, never 0.

N_ROWS: Final = "n_rows"


def n_col(name: str) -> str:
    """Column counting the rows that a measure / ratio KPI used."""
    return f"n_{name}"


def num_col(kpi: str) -> str:
    return f"{kpi}_num"


def den_col(kpi: str) -> str:
    return f"{kpi}_den"


def coverage_col(kpi: str) -> str:
    return f"coverage_{kpi}"


def resolve_kpis(kpis: Sequence[str] | None = None) -> tuple[KPI, ...]:
    """KPI objects for ``kpis`` (names, validated; unknown names list the valid ones); all when None."""
    if kpis is None:
        return ADDITIVE_KPIS + RATIO_KPIS
    return tuple(get_kpi(k) for k in kpis)


def with_all_measures(table: ibis.Table) -> ibis.Table:
    """``table`` with every measure column present: an input lacking one gets an all-null column."""
    absent = {m: ibis.null().cast("float64") for m in S.MEASURES if m not in table.columns}
    return table.mutate(**absent) if absent else table


def complete_measures(table: ibis.Table) -> frozenset[str]:
    """Measures without a single missing value in ``table`` (one cheap engine query).

    For those, "rows where the inputs are known" is every row, so :func:`metric_exprs` can skip
    the conditional sums and counts (most of the aggregation work on clean data)."""
    t = with_all_measures(table)
    row = to_frame(t.aggregate(_n=t.count(), **{m: t[m].count() for m in S.MEASURES})).iloc[0]
    return frozenset(m for m in S.MEASURES if row["_n"] > 0 and row[m] == row["_n"])


def _skipped(complete: Collection[str]) -> tuple[list[str], list[KPI]]:
    measures = [m for m in S.MEASURES if m in complete]
    return measures, [k for k in RATIO_KPIS if k.numerator in complete and k.denominator in complete]


def metric_exprs(
    table: ibis.Table, where: ibis.Value | None = None, suffix: str = "", complete: Collection[str] = ()
) -> dict[str, ibis.Value]:
    """The aggregate columns described above, over the rows of ``table`` matching ``where``.

    ``table`` must hold every measure (see :func:`with_all_measures`). Columns that
    ``complete`` measures make redundant (their known-row counts; numerator/denominator parts of
    KPIs whose inputs are both complete) are left out: :func:`expand_complete` restores them.
    """

    def cond(extra: ibis.Value | None) -> ibis.Value | None:
        if where is None:
            return extra
        return where if extra is None else where & extra

    def total(col: str, where: ibis.Value | None) -> ibis.Value:
        # float64 for every sum: a null integer sum would come back from DuckDB's HUGEINT as
        # Python Decimal objects, and engines then agree on one type (exact below 2**53).
        return table[col].sum(where=where).cast("float64")

    skip_measures, skip_kpis = _skipped(complete)
    out: dict[str, ibis.Value] = {N_ROWS + suffix: table.count(where=where)}
    for m in S.MEASURES:
        out[m + suffix] = total(m, where)
        if m not in skip_measures:
            out[n_col(m) + suffix] = table.count(where=cond(table[m].notnull()))
    for k in RATIO_KPIS:
        if k in skip_kpis:
            continue
        num, den = table[k.numerator], table[k.denominator]
        both = cond(num.notnull() & den.notnull())
        out[num_col(k.name) + suffix] = total(k.numerator, both)
        out[den_col(k.name) + suffix] = total(k.denominator, both)
        out[n_col(k.name) + suffix] = table.count(where=both)
    return out


def expand_complete(parts: Mapping[str, Any], complete: Collection[str], suffix: str = "") -> dict[str, Any]:
    """The columns :func:`metric_exprs` left out for ``complete`` measures, from the others."""
    skip_measures, skip_kpis = _skipped(complete)
    rows = parts[N_ROWS + suffix]
    out: dict[str, Any] = {n_col(m) + suffix: rows for m in skip_measures}
    for k in skip_kpis:
        out[num_col(k.name) + suffix] = parts[k.numerator + suffix]
        out[den_col(k.name) + suffix] = parts[k.denominator + suffix]
        out[n_col(k.name) + suffix] = rows
    return out


def rollup_exprs(partial: ibis.Table, suffix: str = "") -> dict[str, ibis.Value]:
    """Re-aggregate partial aggregates (sums of sums and of counts): exact, because every
    column is additive. Columns of ``partial`` carry ``suffix``; the outputs keep it."""
    present = set(partial.columns)
    return {c: partial[c].sum().cast(partial[c].type()) for c in aggregate_columns(suffix) if c in present}


def aggregate_columns(suffix: str = "") -> tuple[str, ...]:
    """Names of the columns :func:`metric_exprs` produces."""
    cols = [N_ROWS]
    for m in S.MEASURES:
        cols += [m, n_col(m)]
    for k in RATIO_KPIS:
        cols += [num_col(k.name), den_col(k.name), n_col(k.name)]
    return tuple(c + suffix for c in cols)


def _group_keys(table: ibis.Table, by: Sequence[str]) -> list[ibis.Value]:
    return [table[c].cast("date").name(c) if c == S.DATE else table[c] for c in by]


def aggregate(table: ibis.Table, by: Sequence[str] = (), complete: Collection[str] = ()) -> ibis.Table:
    """Sums, known-value counts and per-ratio-KPI numerator/denominator sums, grouped by ``by``
    (an Ibis expression: nothing is executed). ``date`` in ``by`` is grouped as a calendar date.
    With ``complete`` (see :func:`complete_measures`) the redundant columns are left out."""
    t = with_all_measures(table)
    metrics = metric_exprs(t, complete=complete)
    if not by:
        return t.aggregate(**metrics)
    return t.group_by(_group_keys(t, by)).aggregate(**metrics)


# --- From aggregates to KPI values (small frames, in pandas) ----------------------------------


def unknown_total_reason(kpi: KPI) -> str:
    """Why an additive KPI has no value: none of the selected rows has it."""
    return f"no rows with {kpi.numerator} known"


def undefined_reason(kpi: KPI, num: Any, den: Any, n_known: Any) -> str | None:
    """Why a ratio KPI has no value (None when it has one)."""
    if _is_missing(n_known) or n_known == 0 or _is_missing(num) or _is_missing(den):
        return f"no rows with {kpi.numerator} and {kpi.denominator} both known"
    if den == 0:
        return f"zero {kpi.denominator}" + (f" and zero {kpi.numerator}" if num == 0 else "")
    return None


def kpi_columns(parts: Mapping[str, Any], suffix: str = "", kpis: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """From aggregate columns (a frame or a dict of arrays): ``<kpi><suffix>`` per ratio KPI
    (float; NaN where undefined, never inf), ``coverage_<kpi><suffix>`` and
    ``coverage_<measure><suffix>``, as float64 arrays."""
    wanted = {k.name for k in resolve_kpis(kpis)}

    def col(name: str) -> np.ndarray:
        return np.asarray(parts[name + suffix], dtype="float64")

    with np.errstate(divide="ignore", invalid="ignore"):
        rows = col(N_ROWS)
        rows = np.where(rows > 0, rows, np.nan)
        out: dict[str, np.ndarray] = {}
        for m in S.MEASURES:
            out[coverage_col(m) + suffix] = col(n_col(m)) / rows
        for k in RATIO_KPIS:
            if k.name not in wanted:
                continue
            den = col(den_col(k.name))
            out[k.name + suffix] = k.scale * col(num_col(k.name)) / np.where(den != 0, den, np.nan)
            out[coverage_col(k.name) + suffix] = col(n_col(k.name)) / rows
    return out


def add_kpi_columns(frame: pd.DataFrame, suffix: str = "", kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """``frame`` (aggregate columns) with the :func:`kpi_columns` added."""
    new = kpi_columns(frame, suffix, kpis)
    return pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)


def kpi_frame(table: ibis.Table, by: Sequence[str] = (), kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """Execute :func:`aggregate` and add KPI and coverage columns; sorted by ``by``.

    Columns: ``by``, ``n_rows``, measure sums with ``n_<measure>``/``coverage_<measure>``, and per
    ratio KPI ``<kpi>`` (NaN where undefined: convert with :func:`to_records` or
    :func:`kpi_values` before writing), ``coverage_<kpi>``, ``<kpi>_num``, ``<kpi>_den``, ``n_<kpi>``.
    """
    resolve_kpis(kpis)
    complete = complete_measures(table)
    frame = to_frame(aggregate(table, by, complete))
    frame = frame.assign(**expand_complete(frame, complete))[list(by) + list(aggregate_columns())]
    if S.DATE in by:
        frame[S.DATE] = pd.to_datetime(frame[S.DATE]).dt.date
    frame = add_kpi_columns(frame, kpis=kpis)
    if by:
        frame = frame.sort_values(list(by), na_position="last", kind="stable").reset_index(drop=True)
    return frame


def kpi_value_from_row(kpi: KPI | str, row: Mapping[str, Any], suffix: str = "") -> KpiValue:
    """One KPI from an aggregate row (a dict or Series holding the :func:`aggregate` columns)."""
    kpi = get_kpi(kpi) if isinstance(kpi, str) else kpi
    rows = row.get(N_ROWS + suffix)
    if _is_missing(rows) or rows == 0:
        if not kpi.is_ratio:  # an empty selection delivered nothing: its volumes are 0
            return KpiValue(value=0.0, coverage=None)
        return KpiValue(value=None, undefined_reason="no rows in this selection", coverage=None)
    n = row[n_col(kpi.name) + suffix]
    coverage = float(n) / float(rows)
    if not kpi.is_ratio:
        total = row[kpi.numerator + suffix]
        if n == 0 or _is_missing(total):
            return KpiValue(value=None, undefined_reason=unknown_total_reason(kpi), coverage=coverage)
        return KpiValue(value=float(total), coverage=coverage)
    num, den = row[num_col(kpi.name) + suffix], row[den_col(kpi.name) + suffix]
    reason = undefined_reason(kpi, num, den, n)
    if reason is not None:
        return KpiValue(value=None, undefined_reason=reason, coverage=coverage)
    return KpiValue(value=kpi.scale * float(num) / float(den), coverage=coverage)


def kpi_values(
    source: ibis.Table | Mapping[str, Any] | pd.Series, kpis: Sequence[str] | None = None, suffix: str = ""
) -> dict[str, KpiValue]:
    """Account-level KPIs (with coverage and undefined reasons) of a table or an aggregate row."""
    selected = resolve_kpis(kpis)
    if isinstance(source, ibis.Table):
        source = aggregate(source).to_pandas().iloc[0]
    return {k.name: kpi_value_from_row(k, source, suffix) for k in selected}


class KpiDelta(BaseModel):
    """Change of one KPI from baseline to current (None with a reason when not computable)."""

    model_config = ConfigDict(frozen=True)

    abs_delta: float | None
    rel_delta: float | None
    undefined_reason: str | None = None


def kpi_delta(baseline: KpiValue, current: KpiValue) -> KpiDelta:
    """Absolute and relative change from ``baseline`` to ``current``, or why it is undefined."""
    if baseline.value is None or current.value is None:
        which = "baseline" if baseline.value is None else "current"
        reason = (baseline if which == "baseline" else current).undefined_reason
        return KpiDelta(abs_delta=None, rel_delta=None, undefined_reason=f"{which} undefined: {reason}")
    abs_delta = current.value - baseline.value
    if baseline.value == 0:
        return KpiDelta(abs_delta=abs_delta, rel_delta=None, undefined_reason="baseline is 0 (relative change undefined)")
    return KpiDelta(abs_delta=abs_delta, rel_delta=current.value / baseline.value - 1.0)


def json_safe(value: Any) -> Any:
    """A scalar as strict JSON: NaN/inf/NA -> None, numpy -> Python, dates -> ISO strings."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (date, pd.Timestamp)):
        return value.isoformat()[:10] if isinstance(value, pd.Timestamp) else value.isoformat()
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def to_records(frame: pd.DataFrame, by: Sequence[str] = (), kpis: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """JSON-safe records of a :func:`kpi_frame`: the ``by`` columns plus, per KPI, a
    ``{"value", "undefined_reason", "coverage"}`` object (never NaN or inf)."""
    selected = resolve_kpis(kpis)
    records = []
    for row in frame.to_dict("records"):
        rec = {c: json_safe(row[c]) for c in by}
        rec["n_rows"] = json_safe(row[N_ROWS])
        for k in selected:
            rec[k.name] = kpi_value_from_row(k, row).model_dump()
        records.append(rec)
    return records


def format_kpi(kpi: KPI | str, value: KpiValue) -> str:
    """Human text of a KPI value ('n/a' when undefined)."""
    kpi = get_kpi(kpi) if isinstance(kpi, str) else kpi
    return "n/a" if value.value is None else kpi.fmt.format(value.value)
