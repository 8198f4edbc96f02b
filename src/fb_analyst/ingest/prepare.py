"""Per-file cleaning expression: one lazy Ibis table per input, in the common staging layout.

Maps headers, decides the decimal mark and date order from a sample of the file, parses every
cell, applies Ads Manager blank-is-zero, recovers missing measures, and computes per row the
hard-violation reasons, soft-anomaly flags and a duplicate hash. All of it is row-local, so the
whole thing is one streaming pass of the engine over the file.

Staging layout (``STAGE_FIXED`` + present dimensions/measures): see ``stage_columns``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis

from fb_analyst import schema as S
from fb_analyst.errors import EmptyInputError
from fb_analyst.ingest import mapping as M
from fb_analyst.ingest.parsing import Decision, date_expr, decide_date_order, decide_decimal, is_blank, number_expr
from fb_analyst.ingest.readers import RawSource
from fb_analyst.ingest.validate import SOFT_RULES, hard_reasons, impute, soft_flags
from fb_analyst.settings import Settings

FILE_IDX, DATE_RAW, REASON, HASH, RAW, ACTION_TYPE = "_file", "_date_raw", "_reason", "_hash", "_raw", "_action_type"
_RESULTS_COLUMNS = (S.CLICKS, S.PURCHASES, S.REVENUE, M.ROAS)
_SUMMARY_NAME = r"^\s*(total|totals|grand total|summary|results from .*|total results.*)\s*$"


def rule_col(measure: str) -> str:
    return f"_rule_{measure}"


def warn_col(kind: str) -> str:
    return f"_w_{kind}"


@dataclass
class PreparedFile:
    """One file's lazy staging expression and the decisions made on it."""

    source: RawSource
    cmap: M.ColumnMap
    table: ibis.Table
    decimal: Decision | None
    date_order: Decision
    currency: str
    currency_source: str
    blank_results_are_zero: bool


def prepare_file(src: RawSource, index: int, settings: Settings, con: Any, view: str) -> PreparedFile:
    """Build the lazy staging expression for one file (nothing is computed but a small sample).

    ``view`` prefixes the temporary engine views holding the intermediate layers.
    """
    t = src.table
    headers = [c for c in t.columns if c != S.SOURCE_ROW and not c.startswith("_")]
    cmap = M.map_columns(headers, settings.ingest.column_mapping, api=src.format == "json", file_label=src.label)
    if t.limit(1).count().execute() == 0:
        raise EmptyInputError(f"{src.label}: has a header but no data rows; export the report again with at least one row")
    raw = {role: t[h] for role, h in cmap.sources.items()}
    numeric_roles = [r for r in (*S.MEASURES, M.CTR, M.ROAS, M.CPC, M.CPM, M.CPA) if r in raw]
    sample = t.select(
        *[raw[r].cast("string").name(r) for r in numeric_roles + [S.DATE] if raw[r].type().is_string()]
    ).limit(settings.ingest.decision_sample_rows).execute() if any(
        raw[r].type().is_string() for r in numeric_roles + [S.DATE]
    ) else None

    decimal = None
    if sample is not None and any(r in sample.columns for r in numeric_roles):
        values = [v for r in numeric_roles if r in sample.columns for v in sample[r].dropna().unique().tolist()]
        decimal = decide_decimal(values, src.delimiter)
    date_order = Decision("ymd", f"typed {raw[S.DATE].type()} column")
    if raw[S.DATE].type().is_string():
        dates = sample[S.DATE].dropna().unique().tolist()
        date_order = decide_date_order(dates, settings.ingest.date_order)
        if "ambiguous" in date_order.evidence and len(sample) >= settings.ingest.decision_sample_rows:
            # The sample may be the first days of a month: decide on every distinct date.
            every = t.select(d=raw[S.DATE].cast("string")).distinct().execute()["d"].dropna().tolist()
            date_order = decide_date_order(every, settings.ingest.date_order)
    dec = decimal.value if decimal else "."

    # Layer 1 (a view): parse every cell once. Layers are separate views because Ibis inlines
    # column expressions into every use, which would repeat the parsing per reference.
    zero_blanks = cmap.source_kind == "ads_manager"  # Meta writes zero results as blank cells
    headers_all = headers + [c for c in t.columns if c.startswith("_") and c != S.SOURCE_ROW]
    dims = [d for d in S.DIMENSIONS if d in raw]
    l1: dict[str, Any] = {h: t[h] for h in headers_all}
    l1[S.SOURCE_ROW] = t[S.SOURCE_ROW].cast("int64")
    for role, col in raw.items():
        l1[f"_b_{role}"] = is_blank(col)
    for role in numeric_roles:
        l1[f"_p_{role}"] = number_expr(raw[role], dec)
    l1[f"_p_{S.DATE}"] = date_expr(raw[S.DATE], date_order.value)
    if M.DATE_END in raw:
        l1[f"_p_{M.DATE_END}"] = date_expr(raw[M.DATE_END], date_order.value)
    for d in dims:
        text = raw[d].cast("string")  # kept raw: whitespace and mojibake are repaired per distinct value
        l1[f"_p_{d}"] = ibis.ifelse(text.strip() == "", ibis.null("string"), text)
    l1[HASH] = ibis.struct({h: t[h].cast("string") for h in headers_all}).hash()
    p1 = _view(con, f"{view}_l1", t.select(**l1))

    blank = {role: p1[f"_b_{role}"] for role in raw}
    cols: dict[str, Any] = {r: p1[f"_p_{r}"] for r in [*numeric_roles, S.DATE, *dims]}
    if M.DATE_END in raw:
        cols[M.DATE_END] = p1[f"_p_{M.DATE_END}"]
    unparsed = {r: ~blank[r] & cols[r].isnull() for r in numeric_roles}
    if M.CTR in cols and cmap.ctr_is_percent:
        cols[M.CTR] = cols[M.CTR] / 100.0
    if zero_blanks:
        for r in _RESULTS_COLUMNS:
            if r in cols:
                cols[r] = ibis.ifelse(blank[r], ibis.literal(0.0), cols[r])
    raw_counts = {m: cols[m] for m in S.COUNT_MEASURES if m in cols}

    # Layer 2 (a view): recovery of missing measures, plus what layer 3 needs.
    values, rules = impute(cols)
    l2: dict[str, Any] = {h: p1[h] for h in headers_all + [S.SOURCE_ROW, HASH]}
    l2 |= {f"_v_{k}": v for k, v in values.items()}
    l2 |= {f"_r_{m}": r for m, r in rules.items()}
    l2 |= {f"_u_{m}": u for m, u in unparsed.items()}
    l2 |= {f"_b_{r}": b for r, b in blank.items()}
    l2 |= {f"_c_{m}": c for m, c in raw_counts.items()}
    p2 = _view(con, f"{view}_l2", p1.select(**l2))

    # Layer 3: hard reasons, soft flags, the staging layout.
    values = {k: p2[f"_v_{k}"] for k in values}
    rules = {m: p2[f"_r_{m}"] for m in rules}
    unparsed = {m: p2[f"_u_{m}"] for m in unparsed}
    blank = {r: p2[f"_b_{r}"] for r in blank}
    raw_counts = {m: p2[f"_c_{m}"] for m in raw_counts}
    others = [d for d in (S.ADSET, S.AD) if d in raw]
    summary = p2[cmap.sources[S.CAMPAIGN]].cast("string").re_search(f"(?i){_SUMMARY_NAME}").fill_null(False)
    if zero_blanks:
        entity_blank = blank[S.CAMPAIGN]
        for d in others:
            entity_blank = entity_blank & blank[d]
        summary = summary | entity_blank
    reason = hard_reasons(values, blank, unparsed, summary)
    flags = soft_flags(values, rules, raw_counts, settings.ingest.ctr_tolerance)

    if S.CURRENCY in raw:
        currency_expr = p2[cmap.sources[S.CURRENCY]].cast("string").strip().upper()
        currency, currency_source = "per row", f"column {cmap.sources[S.CURRENCY]!r}"
    else:
        currency = cmap.currency or settings.ingest.default_currency
        currency_source = cmap.currency_source or "ingest.default_currency (the input does not say)"
        currency_expr = ibis.literal(currency)

    out: dict[str, Any] = {
        FILE_IDX: ibis.literal(index, "int64"),
        S.SOURCE_FILE: ibis.literal(src.label),
        S.SOURCE_ROW: p2[S.SOURCE_ROW],
        DATE_RAW: p2[cmap.sources[S.DATE]].cast("string"),
        S.DATE: values[S.DATE],
        **{d: values[d] for d in dims},
        **{m: values[m] for m in S.MEASURES if m in values},
        **{rule_col(m): rules[m] for m in S.MEASURES if m in rules},
        S.CURRENCY: currency_expr,
        REASON: reason,
        **{warn_col(k): flags.get(k, ibis.literal(False)) for k in SOFT_RULES},
        HASH: p2[HASH],
        RAW: ibis.ifelse(reason.notnull(), ibis.struct({h: p2[h].cast("string") for h in headers}).cast("json"),
                         ibis.null("json")),
        ACTION_TYPE: p2[ACTION_TYPE].cast("string") if ACTION_TYPE in p2.columns else ibis.null("string"),
    }
    t = p2
    expr = t.select(**{k: v.name(k) if hasattr(v, "name") else v for k, v in out.items()})
    api_zero = cmap.source_kind == "marketing_api" and bool(src.notes.get("action_lists"))
    return PreparedFile(src, cmap, expr, decimal, date_order, currency, currency_source, zero_blanks or api_zero)


def _view(con: Any, name: str, expr: ibis.Table) -> ibis.Table:
    """Create a temporary engine view for ``expr`` and return a fresh reference to it."""
    con.raw_sql(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {con.compile(expr)}')
    return con.table(name)


def conform(files: list[PreparedFile]) -> tuple[ibis.Table, list[str], list[str]]:
    """Union all files in one staging layout (absent columns as typed NULLs).

    Returns (union, dimensions present in any file, measures present in any file).
    """
    dims = [d for d in S.DIMENSIONS if any(d in f.table.columns for f in files)]
    measures = [m for m in S.MEASURES if any(m in f.table.columns for f in files)]
    order = [FILE_IDX, S.SOURCE_FILE, S.SOURCE_ROW, DATE_RAW, S.DATE, *dims, *measures,
             *[rule_col(m) for m in measures], S.CURRENCY, REASON, *[warn_col(k) for k in SOFT_RULES],
             HASH, RAW, ACTION_TYPE]
    types = {rule_col(m): "string" for m in measures} | {m: "float64" for m in measures} | {d: "string" for d in dims}
    parts = []
    for f in files:
        t = f.table
        parts.append(t.select(*[t[c] if c in t.columns else ibis.null(types[c]).name(c) for c in order]))
    union = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    return union, dims, measures
