"""Per-file cleaning expression: one lazy Ibis table per input, in the common staging layout.

Maps headers, decides the decimal mark and date order from a sample of the file, parses every
cell, applies Ads Manager blank-is-zero, recovers missing measures, and computes per row the
hard-rule inputs (blank/unparseable flags, ``_suspect``), soft-anomaly flags, and the raw cells of
suspect rows (for quarantine.csv). All of it is row-local, so the whole thing is one streaming
pass of the engine over the file. Text columns pass through raw: their repair happens later on
distinct values (see ``stage``). Delimited files with a decimal point take a fast path where
DuckDB's CSV reader parses plain numbers and ISO dates natively.

The work is split into layers, each a temporary engine view: Ibis inlines a column expression
into every place that uses it, which would repeat the parsing once per reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis

from fb_analyst import schema as S
from fb_analyst.engine import temp_view
from fb_analyst.errors import EmptyInputError
from fb_analyst.ingest import mapping as M
from fb_analyst.ingest.parsing import (
    Decision, date_expr, decide_date_order, decide_decimal, finite, is_blank, number_expr,
)
from fb_analyst.ingest.readers import RawSource, retype_delimited
from fb_analyst.ingest.validate import (
    BLANK_CAMPAIGN, BLANK_DATE, ROW_SOFT_RULES, SUMMARY, hard_violations, impute, soft_flags, unparsed_col,
)
from fb_analyst.settings import Settings

FILE_IDX, SUSPECT, RAW, ACTION_TYPE, FLAGS, RULES = "_file", "_suspect", "_raw", "_action_type", "_flags", "_rules"
_RESULTS_COLUMNS = (S.CLICKS, S.PURCHASES, S.REVENUE, M.ROAS)
_SUMMARY_NAME = r"(?i)^\s*(total|totals|grand total|summary|results from .*|total results.*)\s*$"
_DISTINCT_CAP = 2_000  # distinct texts per column looked at to decide the decimal mark


def rule_col(measure: str) -> str:
    """Staging column with the index (in IMPUTATION_RULES) of the rule that filled ``measure``."""
    return f"_rule_{measure}"


def warn_col(kind: str) -> str:
    return f"_w_{kind}"


#: Bit of each boolean staging column inside the packed ``_flags`` integer.
FLAG_BITS: dict[str, int] = {
    name: bit for bit, name in enumerate(
        [SUMMARY, BLANK_DATE, BLANK_CAMPAIGN, SUSPECT,
         *[unparsed_col(m) for m in S.MEASURES], *[warn_col(k) for k in ROW_SOFT_RULES]])
}
#: Shift of each measure's 3-bit (rule index + 1) field inside the packed ``_rules`` integer.
RULE_SHIFT: dict[str, int] = {m: 3 * i for i, m in enumerate(S.MEASURES)}


def unpack(t: ibis.Table, measures: list[str]) -> ibis.Table:
    """The staged table with its packed flags and rule indices as named columns again."""
    flags = {name: (t[FLAGS] & (1 << bit)) != 0 for name, bit in FLAG_BITS.items()
             if not name.startswith("_unparsed_") or name[len("_unparsed_"):] in measures}
    rules = {}
    for m in measures:
        field = (t[RULES] >> RULE_SHIFT[m]) & 7
        rules[rule_col(m)] = ibis.ifelse(field == 0, ibis.null("int8"), (field - 1).cast("int8"))
    keep = [c for c in t.columns if c not in (FLAGS, RULES)]
    return t.select(*keep, **flags, **rules)


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


def _decide(t: ibis.Table, raw: dict[str, Any], numeric: list[str], src: RawSource,
            settings: Settings) -> tuple[Decision | None, Decision, str | None]:
    """Decimal mark, date order (from the first rows; all distinct dates if ambiguous) and a
    currency written in the spend cells."""
    texts = [r for r in [*numeric, S.DATE] if raw[r].type().is_string()]
    sample = (t.select(*[raw[r].name(r) for r in texts]).limit(settings.ingest.decision_sample_rows).execute()
              if texts else None)
    decimal = None
    symbols = _currency_marks(sample[S.SPEND].dropna().unique()[:_DISTINCT_CAP]) \
        if sample is not None and S.SPEND in sample.columns else None
    if sample is not None and any(r in sample.columns for r in numeric):
        values = [v for r in numeric if r in sample.columns for v in sample[r].dropna().unique()[:_DISTINCT_CAP]]
        decimal = decide_decimal([str(v) for v in values], src.delimiter)
    order = Decision("ymd", f"typed {raw[S.DATE].type()} column")
    if sample is not None and S.DATE in sample.columns:
        order = decide_date_order([str(v) for v in sample[S.DATE].dropna().unique()], settings.ingest.date_order)
        if "ambiguous" in order.evidence and len(sample) >= settings.ingest.decision_sample_rows:
            # The sample may be the first days of a month: decide on every distinct date.
            every = t.select(d=raw[S.DATE]).distinct().execute()["d"].dropna()
            order = decide_date_order([str(v) for v in every], settings.ingest.date_order)
    return decimal, order, symbols


_SYMBOLS = {"€": "EUR", "£": "GBP", "₹": "INR", "¥": "JPY", "₩": "KRW", "₽": "RUB", "₺": "TRY", "₫": "VND", "₱": "PHP"}


def _currency_marks(values: Any) -> str | None:
    """A currency written in every non-empty spend cell of the sample ('€ 12,50', 'INR 1,000')."""
    found = set()
    for v in values:
        text = str(v).strip()
        code = next((c for sym, c in _SYMBOLS.items() if sym in text), None)
        if code is None and len(text) > 3 and text[:3].isalpha() and text[:3].isupper():
            code = text[:3]
        if code is None:
            return None
        found.add(code)
    return found.pop() if len(found) == 1 else None


def prepare_file(src: RawSource, index: int, settings: Settings, con: Any, view: str,
                 typed: bool = True) -> PreparedFile:
    """Build the lazy staging expression for one file (only a small sample is computed).

    ``view`` prefixes the temporary engine views holding the intermediate layers. ``typed``
    allows the native-type fast path for delimited files with a decimal point.
    """
    t = src.table
    headers = [c for c in t.columns if c != S.SOURCE_ROW and not c.startswith("_")]
    cmap = M.map_columns(headers, settings.ingest.column_mapping, api=src.format == "json", file_label=src.label)
    if t.limit(1).count().execute() == 0:
        raise EmptyInputError(f"{src.label}: has a header but no data rows; export the report again with at least one row")
    raw = {role: t[h] for role, h in cmap.sources.items()}
    numeric = [r for r in (*S.MEASURES, M.CTR, M.ROAS, M.CPC, M.CPM, M.CPA) if r in raw]
    decimal, date_order, spend_currency = _decide(t, raw, numeric, src, settings)
    if typed and src.read_path is not None and (decimal is None or decimal.value == "."):
        src = retype_delimited(src, con, view, {cmap.sources[r] for r in numeric},
                               {cmap.sources[r] for r in (S.DATE, M.DATE_END) if r in cmap.sources})
        t = src.table
        raw = {role: t[h] for role, h in cmap.sources.items()}
    ads_manager = cmap.source_kind == "ads_manager"  # Meta writes zero results as blank cells
    dims = [d for d in S.DIMENSIONS if d in raw]
    headers_all = headers + [c for c in t.columns if c.startswith("_")]

    # Layer 1: parse each cell once.
    blank_roles = [*numeric, S.DATE, S.CAMPAIGN] + ([d for d in (S.ADSET, S.AD) if d in raw] if ads_manager else [])
    l1: dict[str, Any] = {h: t[h] for h in headers_all}
    l1[S.SOURCE_ROW] = ibis.null("int64") if src.numbered_when_staged else t[S.SOURCE_ROW].cast("int64")
    for role in blank_roles:
        # CSV null tokens ('', '-', 'n/a', ...) are already NULL (read_csv nullstr)
        l1[f"_b_{role}"] = raw[role].isnull() if src.nulls_normalised else is_blank(raw[role])
    for role in numeric:
        l1[f"_p_{role}"] = number_expr(raw[role], decimal.value if decimal else ".")
    for role in (S.DATE, M.DATE_END):
        if role in raw:
            l1[f"_p_{role}"] = date_expr(raw[role], date_order.value)
    p1 = temp_view(con, f"{view}_l1", t.select(**l1))

    blank = {r: p1[f"_b_{r}"] for r in blank_roles}
    cols: dict[str, Any] = {r: finite(p1[f"_p_{r}"]) for r in numeric}
    unparsed = {r: ~blank[r] & cols[r].isnull() for r in numeric}
    if M.CTR in cols and cmap.ctr_is_percent:
        cols[M.CTR] = cols[M.CTR] / 100.0
    if ads_manager:
        for r in _RESULTS_COLUMNS:
            if r in cols:
                cols[r] = ibis.ifelse(blank[r], ibis.literal(0.0), cols[r])
    raw_counts = {m: cols[m] for m in S.COUNT_MEASURES if m in cols}

    # Layer 2: recovery of missing measures from the same row.
    values, rules = impute(cols)
    l2: dict[str, Any] = {h: p1[h] for h in headers_all + [S.SOURCE_ROW]}
    l2 |= {f"_p_{r}": p1[f"_p_{r}"] for r in (S.DATE, M.DATE_END) if r in raw}
    l2 |= {f"_v_{k}": v for k, v in values.items()}
    l2 |= {f"_r_{m}": r for m, r in rules.items()}
    l2 |= {f"_u_{m}": u for m, u in unparsed.items()}
    l2 |= {f"_b_{r}": b for r, b in blank.items()}
    l2 |= {f"_c_{m}": c for m, c in raw_counts.items()}
    p2 = temp_view(con, f"{view}_l2", p1.select(**l2))

    # Layer 3: hard reasons, soft flags, the staging layout.
    values = {k: p2[f"_v_{k}"] for k in values} | {r: p2[f"_p_{r}"] for r in (S.DATE, M.DATE_END) if r in raw}
    rules = {m: p2[f"_r_{m}"] for m in rules}
    unparsed = {m: p2[f"_u_{m}"] for m in unparsed}
    blank = {r: p2[f"_b_{r}"] for r in blank}
    summary = ibis.literal(False)
    if ads_manager:  # total rows: "Total"-like names, or no entity names at all
        entity_blank = blank[S.CAMPAIGN]
        for d in (S.ADSET, S.AD):
            if d in blank:
                entity_blank = entity_blank & blank[d]
        summary = p2[cmap.sources[S.CAMPAIGN]].re_search(_SUMMARY_NAME).fill_null(False) | entity_blank
    present = [m for m in S.MEASURES if m in values]
    stored = {m: (values[m].round().cast("int64") if m in S.COUNT_MEASURES else values[m]) for m in present}
    checked = {S.DATE: values[S.DATE], SUMMARY: summary, BLANK_DATE: blank[S.DATE],
               BLANK_CAMPAIGN: blank[S.CAMPAIGN], **stored, **{unparsed_col(m): unparsed[m] for m in present}}
    suspect = ibis.or_(*hard_violations(checked, present).values())
    flags = soft_flags(values, rules, {m: p2[f"_c_{m}"] for m in raw_counts}, settings.ingest.ctr_tolerance)

    if S.CURRENCY in raw:
        currency_expr = p2[cmap.sources[S.CURRENCY]].cast("string").strip().upper()
        currency, currency_source = "per row", f"column {cmap.sources[S.CURRENCY]!r}"
    else:
        currency = cmap.currency or spend_currency or settings.ingest.default_currency
        currency_source = cmap.currency_source or (
            "symbol in the spend cells" if spend_currency else "ingest.default_currency (the input does not say)")
        currency_expr = ibis.literal(currency)

    out: dict[str, Any] = {
        FILE_IDX: ibis.literal(index, "int16"),
        S.SOURCE_ROW: p2[S.SOURCE_ROW],
        S.DATE: values[S.DATE],
        **{d: p2[cmap.sources[d]].cast("string") for d in dims},
        **stored,
        **{rule_col(m): rules[m] for m in S.MEASURES if m in rules},
        S.CURRENCY: currency_expr,
        **{k: checked[k] for k in (SUMMARY, BLANK_DATE, BLANK_CAMPAIGN)},
        **{unparsed_col(m): unparsed[m] for m in present},
        SUSPECT: suspect,
        **{warn_col(k): flags.get(k, ibis.literal(False)) for k in ROW_SOFT_RULES},
        **{f"_h_{h}": p2[h] for h in headers},
        ACTION_TYPE: p2[ACTION_TYPE].cast("string") if ACTION_TYPE in p2.columns else ibis.null("string"),
    }
    p3 = temp_view(con, f"{view}_l3", p2.select(**{k: v.name(k) for k, v in out.items()}))
    # Flags and rule indices are packed into two integers: ~20 mostly-constant columns would
    # cost a quarter of the write. ``unpack`` restores them by name.
    flags = ibis.literal(0, "int32")
    for name, bit in FLAG_BITS.items():
        if name in out:
            flags = flags + ibis.ifelse(p3[name], ibis.literal(1 << bit, "int32"), ibis.literal(0, "int32"))
    rules_packed = ibis.literal(0, "int32")
    for m, shift in RULE_SHIFT.items():
        if rule_col(m) in out:
            rules_packed = rules_packed + (p3[rule_col(m)].cast("int32") + 1).fill_null(0) * (1 << shift)
    raw_cells = ibis.struct({h: p3[f"_h_{h}"].cast("string") for h in headers}).cast("json")
    final = [p3[c] for c in out if not c.startswith("_h_") and c not in FLAG_BITS and not c.startswith("_rule_")]
    final += [flags.name(FLAGS), rules_packed.name(RULES)]
    final.append(ibis.ifelse(p3[SUSPECT], raw_cells, ibis.null("json")).name(RAW))  # raw cells of suspects only
    expr = p3.select(*final)
    api_zero = cmap.source_kind == "marketing_api" and bool(src.notes.get("action_lists"))
    return PreparedFile(src, cmap, expr, decimal, date_order, currency, currency_source, ads_manager or api_zero)


def conform(files: list[PreparedFile]) -> tuple[ibis.Table, list[str], list[str]]:
    """Union all files in one staging layout (absent columns as typed NULLs).

    Returns (union, dimensions present in any file, measures present in any file).
    """
    dims = [d for d in S.DIMENSIONS if any(d in f.table.columns for f in files)]
    measures = [m for m in S.MEASURES if any(m in f.table.columns for f in files)]
    order = [FILE_IDX, S.SOURCE_ROW, S.DATE, *dims, *measures, S.CURRENCY, ACTION_TYPE, FLAGS, RULES, RAW]
    fill = {d: ibis.null("string") for d in dims} | {
        m: ibis.null("int64" if m in S.COUNT_MEASURES else "float64") for m in measures}
    parts = []
    for f in files:
        t = f.table
        parts.append(t.select(*[t[c] if c in t.columns else fill[c].name(c) for c in order]))
    union = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    return union, dims, measures
