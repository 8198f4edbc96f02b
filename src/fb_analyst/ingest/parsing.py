"""Parsing raw cells into typed values, as engine (Ibis) expressions decided from the data.

* Numbers: thousands separators, comma decimals, currency symbols/codes, percent signs,
  non-breaking spaces, accounting negatives "(12.50)". The decimal mark is decided per file
  from the values (``decide_decimal``) and reported.
* Dates: ISO, dd-mm-yyyy and mm-dd-yyyy (separators - / .), with an optional time part. The
  day/month order is decided per file from the values (a day > 12 is evidence; when every date
  is ambiguous the order giving the most compact calendar span wins) and reported.

The decisions are made in Python on a small set of distinct values; the parsing itself runs in
the engine. DuckDB's ``try_strptime`` is called through an Ibis builtin UDF (Ibis' ``as_date``
raises on bad input instead of yielding NULL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt

#: Cell texts meaning "no value" (case variants included for readers that match exactly).
NULL_TOKENS = ("", "-", "--", "n/a", "N/A", "null", "NULL", "nan", "NaN", "#N/A", "#n/a")
_CURRENCY_CHARS = "$€£¥₹₩₽¢₺₫₱"
# Decorations removed before a number is cast: spaces (incl. NBSP, thin spaces), apostrophes
# (Swiss thousands), currency symbols, percent signs, a leading/trailing 3-letter currency code.
_DECORATION = r"[\s\x{00a0}\x{202f}\x{2009}'" + _CURRENCY_CHARS + r"%]|^[A-Za-z]{3}|[A-Za-z]{3}$"


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(s: str, fmt: str) -> dt.timestamp:  # type: ignore[empty-body]
    """DuckDB's try_strptime (NULL on failure)."""


@dataclass(frozen=True)
class Decision:
    """A parsing decision and the evidence it was made on (reported in data_quality.json)."""

    value: str
    evidence: str


# ----------------------------------------------------------------------------- numbers

_THOUSANDS_COMMA = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_THOUSANDS_DOT = re.compile(r"^-?\d{1,3}(\.\d{3})+(,\d+)?$")
_DEC_COMMA = re.compile(r"^-?\d*,\d+$")
_DEC_DOT = re.compile(r"^-?\d*\.\d+$")
_STRIP_PY = re.compile(r"[\s\u00a0\u202f\u2009'" + re.escape(_CURRENCY_CHARS) + r"%()]|^[A-Za-z]{3}|[A-Za-z]{3}$")


def decide_decimal(values: list[str], delimiter: str | None = None) -> Decision:
    """Decide the decimal mark ('.' or ',') from sample cell texts of numeric columns."""
    dot = comma = 0
    for raw in values:
        s = _STRIP_PY.sub("", raw.strip())
        if _THOUSANDS_DOT.match(s) and "," in s or re.match(r"^-?\d+(\.\d{3}){2,}$", s):
            comma += 1
        elif _THOUSANDS_COMMA.match(s) and "." in s or re.match(r"^-?\d+(,\d{3}){2,}$", s):
            dot += 1
        elif _DEC_COMMA.match(s) and not re.match(r"^-?\d{1,3},\d{3}$", s):
            comma += 1
        elif _DEC_DOT.match(s) and not re.match(r"^-?\d{1,3}\.\d{3}$", s):
            dot += 1
    if comma > dot:
        return Decision(",", f"{comma} values with a decimal comma vs {dot} with a decimal point")
    if dot > 0:
        return Decision(".", f"{dot} values with a decimal point vs {comma} with a decimal comma")
    if delimiter == "semicolon":
        return Decision(",", "no decisive value; semicolon-separated file, so decimal comma assumed")
    return Decision(".", "no decisive value; decimal point assumed")


def number_expr(col: ibis.Value, decimal: str) -> ibis.Value:
    """Engine expression turning a raw cell into DOUBLE (NULL when missing or unparseable)."""
    if col.type().is_numeric() or col.type().is_boolean():
        return col.cast("float64")
    s = col.cast("string").strip()
    cleaned = s.re_replace(_DECORATION, "")
    if decimal == ",":
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "")
    negative = cleaned.startswith("(") & cleaned.endswith(")")
    body = cleaned.re_replace(r"[()]", "")
    parsed = ibis.ifelse(negative, -body.try_cast("float64"), body.try_cast("float64"))
    if decimal == ".":
        parsed = ibis.coalesce(s.try_cast("float64"), parsed)  # fast path for plain numbers
    return parsed


def finite(x: ibis.Value) -> ibis.Value:
    """NULL for NaN/inf (``try_cast('nan')`` succeeds); apply on a column, not a big expression."""
    return ibis.ifelse(x.isnan() | x.isinf(), ibis.null("float64"), x)


def is_blank(col: ibis.Value) -> ibis.Value:
    """True where a raw cell means 'no value' (NULL, empty, '-', 'n/a', ...)."""
    if not col.type().is_string():
        return col.isnull()
    return col.isnull() | col.strip().lower().isin(sorted({t.lower() for t in NULL_TOKENS}))


# ----------------------------------------------------------------------------- dates

_DMY_LIKE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_ISO_LIKE = re.compile(r"^\d{4}[-/.]?\d{1,2}[-/.]?\d{1,2}$")
_FORMATS = {
    "ymd": ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"),
    "dmy": ("%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y"),
    "mdy": ("%m-%d-%Y", "%m/%d/%Y", "%m.%d.%Y"),
}


def _date_part(text: str) -> str:
    return re.split(r"[T ]", text.strip(), maxsplit=1)[0] if text else text


def decide_date_order(values: list[str], setting: str = "auto") -> Decision:
    """Decide day/month order ('ymd', 'dmy' or 'mdy') from distinct date texts."""
    if setting != "auto":
        return Decision(setting, "set in ingest.date_order")
    dmy = mdy = iso = ambiguous = 0
    pairs: list[tuple[int, int, int]] = []
    for raw in values:
        s = _date_part(raw)
        m = _DMY_LIKE.match(s)
        if m:
            a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if a > 12 >= b:
                dmy += 1
            elif b > 12 >= a:
                mdy += 1
            elif a <= 12 and b <= 12:
                ambiguous += 1
                pairs.append((a, b, y))
        elif _ISO_LIKE.match(s):
            iso += 1
    if dmy or mdy:
        order = "dmy" if dmy >= mdy else "mdy"
        other = mdy if order == "dmy" else dmy
        note = f"; {other} values contradict it and will not parse" if other else ""
        return Decision(order, f"{max(dmy, mdy)} dates have a day above 12 in {order} position{note}")
    if pairs:
        spans = {o: _span(pairs, o) for o in ("dmy", "mdy")}
        order = "dmy" if spans["dmy"] <= spans["mdy"] else "mdy"
        return Decision(
            order,
            f"all {ambiguous} day/month dates are ambiguous; {order} gives the more compact "
            f"calendar ({spans[order]} vs {spans['mdy' if order == 'dmy' else 'dmy']} days)",
        )
    if iso:
        return Decision("ymd", f"{iso} ISO dates (year first)")
    return Decision("ymd", "no recognisable dates; ISO assumed")


def _span(pairs: list[tuple[int, int, int]], order: str) -> int:
    days = []
    for a, b, y in pairs:
        d, m = (a, b) if order == "dmy" else (b, a)
        try:
            days.append(date(y, m, d).toordinal())
        except ValueError:
            continue
    return max(days) - min(days) if days else 10**9


def date_expr(col: ibis.Value, order: str) -> ibis.Value:
    """Engine expression turning a raw cell into DATE (NULL when missing or unparseable)."""
    t = col.type()
    if t.is_date():
        return col
    if t.is_timestamp():
        return col.date()
    text = col.cast("string")
    s = text.strip().re_replace(r"[T ].*$", "")
    tries = [text.try_cast("date"), s.try_cast("date")]  # the first is the fast path for ISO dates
    fmts = _FORMATS["ymd"] + (_FORMATS[order] if order != "ymd" else ())
    tries += [_try_strptime(s, f).cast("date") for f in fmts]
    return ibis.coalesce(*tries)


# ----------------------------------------------------------------------------- Python entry points
# Used by the property tests and for small value sets; they run the same engine expressions.


def parse_numbers(values: list[Any], decimal: str = ".", con: Any = None) -> list[float | None]:
    """Parse cell texts with :func:`number_expr` on ``con`` (default in-memory DuckDB)."""
    t = ibis.memtable({"v": [None if v is None else str(v) for v in values]}, schema={"v": "string"})
    out = _run(t.select(x=finite(number_expr(t.v, decimal)), i=ibis.row_number()).order_by("i"), con)
    return [None if v is None or v != v else float(v) for v in out["x"]]


def parse_dates(values: list[Any], order: str = "ymd", con: Any = None) -> list[date | None]:
    """Parse date texts with :func:`date_expr` on ``con`` (default in-memory DuckDB)."""
    t = ibis.memtable({"v": [None if v is None else str(v) for v in values]}, schema={"v": "string"})
    out = _run(t.select(x=date_expr(t.v, order), i=ibis.row_number()).order_by("i"), con)
    return [None if v is None or v != v else (v.date() if isinstance(v, datetime) else v) for v in out["x"]]


def _run(expr: ibis.Table, con: Any) -> Any:
    from fb_analyst.engine import default_connection

    return (con or default_connection()).execute(expr)
