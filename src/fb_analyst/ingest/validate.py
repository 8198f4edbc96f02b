"""Recovery, hard rules (quarantine) and soft anomalies (warnings), as row-local engine expressions.

* Recovery without invention: a missing measure is recomputed only from redundant columns of
  the same row (``IMPUTATION_RULES``); the rule is kept per cell and reported. Otherwise it
  stays NULL, never 0.
* Hard violations send a row to quarantine with reason codes (``HARD_RULES``).
* Soft anomalies are counted as warnings (``SOFT_RULES``) and never drop a row.
* ``canonical_rules`` / ``ROW_CHECKS`` are the canonical table's contract, so code after ingest can
  trust the types and rules. The run checks them itself: the types from the table's schema
  (``schema_problems``, no query) and the data checks as aggregates of one query over the
  accepted rows (``canonical_check_counts``). ``canonical_schema`` states the same contract as a
  pandera (Ibis backend) schema for anyone validating a table with pandera; tests hold the two
  equal, and the run does not import pandera.

All functions take and return Ibis expressions over a dict of named columns (``cols``); nothing
is evaluated here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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
    Ibis table afterwards (the per-file re-check and the quarantine's reasons). A summary row
    carries only its own reason.
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


@dataclass(frozen=True)
class ColumnRule:
    """What the canonical table promises about one column: its type, whether it may be NULL and,
    for measures and ``source_row``, the least value it may hold."""

    dtype: str  # an Ibis type name
    nullable: bool
    min_value: float | None = None


def canonical_rules(columns: list[str]) -> dict[str, ColumnRule]:
    """The canonical table's column rules, restricted to ``columns`` (a table holds the dimensions
    and measures its inputs had). The one definition behind the run's checks (``schema_problems``,
    ``canonical_check_counts``) and the pandera contract (``canonical_schema``)."""
    rules: dict[str, ColumnRule] = {}
    for c in columns:
        if c == S.DATE:
            rules[c] = ColumnRule("date", nullable=False)
        elif c in S.COUNT_MEASURES:
            rules[c] = ColumnRule("int64", nullable=True, min_value=0)
        elif c in S.MONEY_MEASURES:
            rules[c] = ColumnRule("float64", nullable=True, min_value=0)
        elif c == S.CAMPAIGN:
            rules[c] = ColumnRule("string", nullable=False)
        elif c == S.SOURCE_ROW:
            rules[c] = ColumnRule("int64", nullable=False, min_value=1)
        elif c.startswith("imputed_"):
            rules[c] = ColumnRule("boolean", nullable=False)
        else:
            rules[c] = ColumnRule("string", nullable=True)
    return rules


#: Checks across columns of the canonical table: name -> (columns it needs, predicate of a table
#: that is True where a row passes).
ROW_CHECKS: dict[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "clicks_le_impressions": ((S.CLICKS, S.IMPRESSIONS),
                              lambda t: (t[S.CLICKS] <= t[S.IMPRESSIONS]).fill_null(True)),
}


def row_checks(columns: list[str]) -> dict[str, Callable[[Any], Any]]:
    """The ``ROW_CHECKS`` that apply to a canonical table holding ``columns``."""
    return {name: check for name, (needs, check) in ROW_CHECKS.items() if all(n in columns for n in needs)}


def schema_problems(t: ibis.Table) -> list[str]:
    """Columns of ``t`` whose type is not the canonical one (no query: the table's schema only).

    The same comparison pandera makes at schema depth for ``canonical_schema`` (a test holds them
    equal), without importing pandera on the run's path.
    """
    types = t.schema()
    return [f"{c}: {types[c]} instead of {rule.dtype}" for c, rule in canonical_rules(list(t.columns)).items()
            if types[c] != ibis.dtype(rule.dtype)]


def canonical_check_counts(t: ibis.Table, columns: list[str]) -> dict[str, Any]:
    """The data checks of the canonical ``columns`` as aggregates counting the rows of ``t`` failing each.

    They join the report's one profile query (``summaries.profile``, over a table that holds more
    columns than the canonical ones) instead of one query per check; the names follow pandera's
    checks of ``canonical_schema`` (a test holds them equal).
    """
    out: dict[str, Any] = {}
    for name, rule in canonical_rules(columns).items():
        if not rule.nullable:
            out[f"check:{name}:not_null"] = t[name].isnull().sum()
        if rule.min_value is not None:
            out[f"check:{name}:greater_than_or_equal_to"] = (t[name] < rule.min_value).sum()
    for name, passes in row_checks(columns).items():
        out[f"check:{name}"] = (~passes(t)).sum()
    return out


def canonical_schema(columns: list[str]) -> Any:
    """The canonical table's contract as a pandera (Ibis backend) schema restricted to ``columns``,
    for users and tests that validate a table with pandera (the run checks the same rules itself:
    importing pandera costs about a third of a second)."""
    import pandera.ibis as pa

    spec = {c: pa.Column(ibis.dtype(rule.dtype), *([pa.Check.ge(rule.min_value)] if rule.min_value is not None else []),
                         nullable=rule.nullable)
            for c, rule in canonical_rules(columns).items()}

    def row_check(name: str, passes: Callable[[Any], Any]) -> Any:
        return pa.Check(lambda data: passes(data.table), name=name)  # data: pandera IbisData(table, key)

    checks = [row_check(name, passes) for name, passes in row_checks(columns).items()]
    return pa.DataFrameSchema(spec, checks=checks, strict=True, name="canonical")
