"""Recovery, hard rules (quarantine) and soft anomalies (warnings), as row-local engine expressions.

* Recovery without invention: a missing measure is recomputed only from redundant columns of
  the same row (``IMPUTATION_RULES``); the rule is kept per cell and reported. Otherwise it
  stays NULL, never 0.
* Hard violations send a row to quarantine with reason codes (``HARD_RULES``).
* Soft anomalies are counted as warnings (``SOFT_RULES``) and never drop a row.
* ``canonical_schema`` is the pandera (Ibis backend) schema of the canonical table, so code after
  ingest can trust the types and rules: pandera validates its schema level, and its data checks
  run as aggregates of one query over the accepted rows (``canonical_check_counts``).

All functions take and return Ibis expressions over a dict of named columns (``cols``); nothing
is evaluated here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ibis

from fb_analyst import schema as S
from fb_analyst.ingest import mapping as M

Cols = dict[str, Any]

#: measure -> [(rule text, needed columns, formula)]; the first applicable rule wins.
IMPUTATION_RULES: dict[str, list[tuple[str, tuple[str, ...], Callable[[Cols], Any]]]] = {
    S.CLICKS: [
        ("clicks = ctr x impressions", (M.CTR, S.IMPRESSIONS), lambda c: (c[M.CTR] * c[S.IMPRESSIONS]).round()),
        ("clicks = spend / cpc", (S.SPEND, M.CPC), lambda c: _div(c[S.SPEND], c[M.CPC]).round()),
    ],
    S.IMPRESSIONS: [
        ("impressions = clicks / ctr", (S.CLICKS, M.CTR), lambda c: _div(c[S.CLICKS], c[M.CTR]).round()),
        ("impressions = 1000 x spend / cpm", (S.SPEND, M.CPM), lambda c: _div(1000 * c[S.SPEND], c[M.CPM]).round()),
    ],
    S.SPEND: [
        ("spend = revenue / roas", (S.REVENUE, M.ROAS), lambda c: _div(c[S.REVENUE], c[M.ROAS])),
        ("spend = cpc x clicks", (M.CPC, S.CLICKS), lambda c: c[M.CPC] * c[S.CLICKS]),
        ("spend = cpm x impressions / 1000", (M.CPM, S.IMPRESSIONS), lambda c: c[M.CPM] * c[S.IMPRESSIONS] / 1000),
        ("spend = cpa x purchases", (M.CPA, S.PURCHASES), lambda c: c[M.CPA] * c[S.PURCHASES]),
    ],
    S.REVENUE: [("revenue = roas x spend", (M.ROAS, S.SPEND), lambda c: c[M.ROAS] * c[S.SPEND])],
    S.PURCHASES: [("purchases = spend / cpa", (S.SPEND, M.CPA), lambda c: _div(c[S.SPEND], c[M.CPA]).round())],
}


def _div(num: Any, den: Any) -> Any:
    return ibis.ifelse(den > 0, num / den, ibis.null("float64"))


def impute(cols: Cols) -> tuple[Cols, Cols]:
    """Fill missing measures from same-row redundant columns.

    Returns (values, rule index per measure): the index into ``IMPUTATION_RULES[measure]`` of the
    rule used, NULL where the value was not imputed. Only original values feed a formula.
    """
    values, rules = dict(cols), {}
    for measure, candidates in IMPUTATION_RULES.items():
        if measure not in cols:
            continue
        value, rule = cols[measure], ibis.null("int8")
        for i, (_text, needs, formula) in reversed(list(enumerate(candidates))):  # first rule outermost
            if not all(n in cols for n in needs):
                continue
            est = formula(cols)
            ok = cols[measure].isnull() & est.notnull()
            value = ibis.ifelse(ok, est, value)
            rule = ibis.ifelse(ok, ibis.literal(i, "int8"), rule)
        values[measure], rules[measure] = value, rule
    return values, rules


#: Hard-violation reason codes -> description (quarantine.csv carries the codes).
HARD_RULES: dict[str, str] = {
    "summary_row": "Ads Manager total/summary row, not a data row",
    "missing_date": "date cell is empty",
    "unparseable_date": "date cell is not a date in the file's date order",
    "missing_campaign": "campaign name is empty",
    **{f"unparseable_{m}": f"{m} cell is not a number" for m in S.MEASURES},
    **{f"negative_{m}": f"{m} is negative" for m in S.MEASURES},
    "clicks_gt_impressions": "clicks exceed impressions",
}

#: Soft anomalies computed per row in the engine.
ROW_SOFT_RULES: dict[str, str] = {
    "ctr_mismatch": "ctr column disagrees with clicks / impressions beyond ingest.ctr_tolerance",
    "purchases_gt_clicks": "more purchases than clicks",
    "fractional_count": "a count (impressions, clicks, purchases) had a fractional part; rounded",
    "multi_day_row": "row covers several days (reporting start != end); dated by its start",
}
#: All soft anomalies; the audience check runs on distinct (ad set, audience_type) pairs.
SOFT_RULES: dict[str, str] = {
    **ROW_SOFT_RULES,
    "audience_label_mismatch": "audience label in the ad set name contradicts audience_type",
}

_AUDIENCE_LABELS = {
    "lookalike": re.compile(r"(^|[^a-z])(lal\d*|lookalike|lla)([^a-z]|$)"),
    "retargeting": re.compile(r"(^|[^a-z])(retarget\w*|remarketing|rt|atc|wc|vc|engagers)([^a-z]|$)"),
    "broad": re.compile(r"(^|[^a-z])(broad|open)([^a-z]|$)"),
    "interest": re.compile(r"(^|[^a-z])(interest\w*|int)([^a-z]|$)"),
}


def audience_category(text: str | None) -> str | None:
    """Audience family named in a text (ad set name or audience_type), if any."""
    if not text:
        return None
    low = text.lower()
    return next((cat for cat, pattern in _AUDIENCE_LABELS.items() if pattern.search(low)), None)


def audience_contradiction(adset: str | None, audience_type: str | None) -> bool:
    """True when the ad set name says one audience family and audience_type another."""
    label, declared = audience_category(adset), audience_category(audience_type)
    return label is not None and declared is not None and label != declared


SUMMARY, BLANK_DATE, BLANK_CAMPAIGN = "_summary", "_blank_date", "_blank_campaign"


def unparsed_col(measure: str) -> str:
    """Staging flag: the measure's cell held text that is not a number."""
    return f"_unparsed_{measure}"


def hard_violations(c: Any, measures: list[str]) -> dict[str, Any]:
    """Reason code -> boolean expression, True where the row breaks that hard rule.

    ``c`` maps column names to expressions: a dict while the staging pass is built, the staged
    Ibis table afterwards (for the pandera checks). A summary row carries only its own reason.
    """
    plain = ~c[SUMMARY]
    out = {
        "summary_row": c[SUMMARY],
        "missing_date": c[BLANK_DATE] & plain,
        "unparseable_date": ~c[BLANK_DATE] & c[S.DATE].isnull() & plain,
        "missing_campaign": c[BLANK_CAMPAIGN] & plain,
    }
    for m in measures:
        out[f"unparseable_{m}"] = c[unparsed_col(m)] & plain
        out[f"negative_{m}"] = (c[m] < 0).fill_null(False) & plain
    if S.CLICKS in measures and S.IMPRESSIONS in measures:
        out["clicks_gt_impressions"] = (c[S.CLICKS] > c[S.IMPRESSIONS]).fill_null(False) & plain
    return out


def quarantine_schema(measures: list[str]) -> Any:
    """pandera (Ibis backend) schema of the hard rules over the staged table, one named check each.

    Validated lazily on the rows the staging pass flagged (the same ``hard_violations``; the flag
    is cross-checked over every row): each failing row of each check comes back in
    ``failure_cases`` with its ``_file``/``source_row`` (and raw cells), which is what
    ``quarantine.csv`` is made of.
    """
    import pandera.ibis as pa

    def rule(code: str) -> Any:
        def ok(data: Any) -> Any:  # data: pandera IbisData(table, key)
            return ~hard_violations(data.table, measures)[code]

        return pa.Check(ok, name=code)

    codes = [c for c in HARD_RULES if c in _codes(measures)]
    return pa.DataFrameSchema(checks=[rule(c) for c in codes], name="hard_rules")


def _codes(measures: list[str]) -> set[str]:
    return set(hard_violations({k: ibis.literal(False) for k in (SUMMARY, BLANK_DATE, BLANK_CAMPAIGN)}
                               | {S.DATE: ibis.null("date")}
                               | {m: ibis.null("float64") for m in measures}
                               | {unparsed_col(m): ibis.literal(False) for m in measures}, measures))


def soft_flags(cols: Cols, rules: Cols, raw_counts: Cols, ctr_tolerance: float) -> Cols:
    """Boolean column per soft rule that applies to this file."""
    flags: Cols = {}
    if M.CTR in cols and S.CLICKS in cols:
        observed = _div(cols[S.CLICKS], cols[S.IMPRESSIONS])
        flags["ctr_mismatch"] = (
            rules[S.CLICKS].isnull() & observed.notnull() & cols[M.CTR].notnull()
            & ((cols[M.CTR] - observed).abs() > ctr_tolerance * ibis.greatest(observed, 1e-9))
        )
    if S.PURCHASES in cols and S.CLICKS in cols:
        flags["purchases_gt_clicks"] = cols[S.PURCHASES] > cols[S.CLICKS]
    fractional = [(v - v.round()).abs() > 1e-9 for m, v in raw_counts.items()]
    if fractional:
        flags["fractional_count"] = ibis.or_(*fractional)
    if M.DATE_END in cols:
        flags["multi_day_row"] = cols[M.DATE_END].notnull() & (cols[M.DATE_END] != cols[S.DATE])
    return {k: v.fill_null(False) for k, v in flags.items()}


def canonical_schema(columns: list[str]) -> Any:
    """pandera (Ibis backend) schema of the canonical table restricted to ``columns``."""
    import ibis.expr.datatypes as dt
    import pandera.ibis as pa

    spec: dict[str, Any] = {}
    for c in columns:
        if c == S.DATE:
            spec[c] = pa.Column(dt.Date(), nullable=False)
        elif c in S.COUNT_MEASURES:
            spec[c] = pa.Column(dt.Int64(), pa.Check.ge(0), nullable=True)
        elif c in S.MONEY_MEASURES:
            spec[c] = pa.Column(dt.Float64(), pa.Check.ge(0), nullable=True)
        elif c == S.CAMPAIGN:
            spec[c] = pa.Column(dt.String(), nullable=False)
        elif c == S.SOURCE_ROW:
            spec[c] = pa.Column(dt.Int64(), pa.Check.ge(1), nullable=False)
        elif c.startswith("imputed_"):
            spec[c] = pa.Column(dt.Boolean(), nullable=False)
        else:
            spec[c] = pa.Column(dt.String(), nullable=True)
    checks = []
    if S.CLICKS in columns:
        def clicks_le_impressions(data: Any) -> Any:  # data: pandera IbisData(table, key)
            t = data.table
            return (t[S.CLICKS] <= t[S.IMPRESSIONS]).fill_null(True)

        checks.append(pa.Check(clicks_le_impressions, name="clicks_le_impressions"))
    return pa.DataFrameSchema(spec, checks=checks, strict=True, name="canonical")


def canonical_check_counts(t: ibis.Table, schema: Any) -> dict[str, Any]:
    """The data checks of the pandera ``schema`` as aggregates counting the rows of ``t`` failing each.

    pandera's Ibis backend runs one query per check; these named aggregates join the report's one
    profile query instead (``summaries.profile``), while pandera validates the schema level itself
    (columns, dtypes, strict). A check with no aggregate form here is an error, never skipped.
    """
    from pandera.api.ibis.types import IbisData

    out: dict[str, Any] = {}
    for name, column in schema.columns.items():
        if not column.nullable:
            out[f"check:{name}:not_null"] = t[name].isnull().sum()
        for check in column.checks:
            if check.name != "greater_than_or_equal_to":
                raise NotImplementedError(f"no aggregate form for pandera check {check.name!r} on {name!r}")
            out[f"check:{name}:{check.name}"] = (t[name] < check.statistics["min_value"]).sum()
    for check in schema.checks:
        out[f"check:{check.name}"] = (~check._check_fn(IbisData(t, None))).sum()
    return out
