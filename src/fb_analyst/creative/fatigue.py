"""Fatigue per message and per theme, computed only by the diagnosis' detector.

Per message: the diagnosis' own findings (``Diagnosis.fatigue`` with ``by == 'creative_message'``)
when a diagnosis is given, else ``fb_analyst.diagnose.detect_fatigue(table, by='creative_message')``.
Per theme: the same detector run on the table with each message replaced by its theme id, so a
theme's daily series is the sum of its messages' series and the rule is identical.

``detect_fatigue_adapter`` is the one place that reaches into the diagnosis package; when the
detector is not importable the report says so (``available = False``) instead of recomputing.
"""

from __future__ import annotations

from typing import Any

import ibis

from fb_analyst import schema as S
from fb_analyst.creative.result import FatigueReport

SOURCE = "fb_analyst.diagnose.detect_fatigue"


def detect_fatigue_adapter(table: ibis.Table, by: str, settings: Any, as_of: Any) -> list[Any] | str:
    """The diagnosis' fatigue findings, or the reason they cannot be computed."""
    try:
        from fb_analyst.diagnose import detect_fatigue  # type: ignore[attr-defined]
    except ImportError as exc:
        return f"{SOURCE} is not available ({exc})"
    return list(detect_fatigue(table, by=by, settings=settings, as_of=as_of))


def _dump(findings: list[Any]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") if hasattr(f, "model_dump") else dict(f) for f in findings]


def fatigue_report(
    table: ibis.Table, theme_of: dict[str, str], diagnosis: Any, settings: Any, as_of: Any
) -> FatigueReport:
    """Fatigue findings per message and per theme (see module docstring)."""
    reasons: list[str] = []
    given = getattr(diagnosis, "fatigue", None) if diagnosis is not None else None
    by_message: list[Any] | str
    if given is not None:
        by_message = [f for f in given if getattr(f, "by", None) == S.CREATIVE_MESSAGE]
    else:
        by_message = detect_fatigue_adapter(table, S.CREATIVE_MESSAGE, settings, as_of)
    if isinstance(by_message, str):
        reasons.append(by_message)
        by_message = []
    mapping = ibis.memtable({"_message": list(theme_of), "_theme": list(theme_of.values())})
    themed = table.join(mapping, table[S.CREATIVE_MESSAGE] == mapping["_message"], how="left")
    themed = themed.mutate(**{S.CREATIVE_MESSAGE: themed["_theme"]}).drop("_message", "_theme")
    by_theme = detect_fatigue_adapter(themed, S.CREATIVE_MESSAGE, settings, as_of)
    if isinstance(by_theme, str):
        reasons.append(by_theme)
        by_theme = []
    return FatigueReport(
        source=SOURCE + (" (message findings taken from the diagnosis)" if given is not None else ""),
        available=not reasons,
        reason="; ".join(dict.fromkeys(reasons)) or None,
        by_message=_dump(by_message),
        by_theme=[{**d, "theme": d.get("key")} for d in _dump(by_theme)],
    )
