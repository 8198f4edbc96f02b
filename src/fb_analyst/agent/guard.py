"""The number guard: every number in LLM-written text must come from the computed evidence.

``evidence_numbers`` collects every number in the tool summaries (and the question); a number in
the text matches when some evidence value, as written or scaled to a percentage, rounds to it at
the precision the text used (half a unit of its last digit, plus a small relative tolerance for
"about 3.1k"-style rounding). ISO dates must appear in the evidence too; hypothesis ids (H1) and
list markers are not numbers. Any unmatched number rejects the whole text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_ID = re.compile(r"\b[A-Za-z]{1,3}\d+\b")  # H1, T3, C12: identifiers, checked as ids not numbers
_LIST_MARKER = re.compile(r"(?m)^\s*\d+[.)]\s")
_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s?[kKmM](?![a-zA-Z]))?")
RELATIVE_TOLERANCE = 0.005


class GuardResult(BaseModel):
    ok: bool
    checked: list[str]
    unmatched: list[str]
    unknown_ids: list[str]


def _walk(obj: Any) -> Iterable[Any]:
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _walk(v)
    else:
        yield obj


def evidence_numbers(evidence: Any, extra_text: str = "") -> tuple[set[float], set[str], set[str]]:
    """(numbers, ISO dates, ids) found in ``evidence`` (nested dicts/lists) and ``extra_text``."""
    numbers: set[float] = set()
    dates: set[str] = set()
    ids: set[str] = set()
    for value in _walk(evidence):
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            if math.isfinite(value):
                numbers.add(float(value))
        elif isinstance(value, str):
            dates.update(_DATE.findall(value))
            ids.update(m.upper() for m in _ID.findall(value))
            text = _DATE.sub(" ", value)
            numbers.update(v for v, _ in (_parse(t) for t in _NUMBER.findall(text)) if v is not None)
    dates.update(_DATE.findall(extra_text))
    numbers.update(v for v, _ in (_parse(t) for t in _NUMBER.findall(_DATE.sub(" ", extra_text))) if v is not None)
    return numbers, dates, ids


def _parse(token: str) -> tuple[float | None, int]:
    """(value, decimals) of a number token such as '1,234.5', '-3.1', '12k'."""
    t = token.replace("−", "-").replace(",", "").replace(" ", "")
    mult = 1.0
    if t[-1:] in "kK":
        mult, t = 1e3, t[:-1]
    elif t[-1:] in "mM":
        mult, t = 1e6, t[:-1]
    try:
        value = float(t)
    except ValueError:
        return None, 0
    decimals = len(t.split(".")[1]) if "." in t else 0
    return value * mult, decimals if mult == 1.0 else -3


def _matches(value: float, decimals: int, evidence: set[float]) -> bool:
    half = 0.5 * 10.0 ** (-decimals) if decimals >= 0 else 500.0
    for e in evidence:
        for cand in (e, 100.0 * e, abs(e), abs(100.0 * e)):
            if abs(abs(cand) - abs(value)) <= half + RELATIVE_TOLERANCE * abs(cand) + 1e-12:
                return True
    return False


def check_numbers(text: str, evidence: Any, question: str = "") -> GuardResult:
    """Check every number, date and id in ``text`` against ``evidence`` (see the module docstring)."""
    numbers, dates, ids = evidence_numbers(evidence, question)
    unmatched: list[str] = []
    checked: list[str] = []
    for d in _DATE.findall(text):
        checked.append(d)
        if d not in dates:
            unmatched.append(d)
    body = _LIST_MARKER.sub(" ", _DATE.sub(" ", text))
    unknown_ids = sorted({m.upper() for m in _ID.findall(body)} - ids)
    body = _ID.sub(" ", body)
    for token in _NUMBER.findall(body):
        value, decimals = _parse(token)
        if value is None:
            continue
        checked.append(token)
        if not _matches(value, decimals, numbers):
            unmatched.append(token)
    return GuardResult(ok=not unmatched and not unknown_ids, checked=checked, unmatched=unmatched,
                       unknown_ids=unknown_ids)
