"""Escaping of user-provided text (campaign names, creative messages) for each output format.

HTML goes through Jinja's autoescape. Markdown has no autoescape, so the Markdown environment
escapes every ``{{ value }}`` by default (``finalize``): Markdown punctuation is backslash-escaped,
``<``/``>``/``&`` become entities (so no raw HTML reaches a renderer) and ``|``/newlines cannot
break a table. Text the template builds itself is marked :class:`MdSafe`. Chart labels are
HTML-escaped because Plotly renders a small HTML subset (``<b>``, ``<a href>``) in labels.
"""

from __future__ import annotations

import html
import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~])")
_MD_LEADING = re.compile(r"^(\s*)(\d*)([-+*.)])(?=\s|$)")


class MdSafe(str):
    """Markdown the template produced itself; not escaped again."""


def md_escape(value: Any) -> str:
    """Escape a value for Markdown (None -> empty string)."""
    if value is None:
        return ""
    if isinstance(value, MdSafe):
        return value
    text = str(value).replace("\r", " ").replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    # A leading list marker ("- ", "+ ", "1. ", "2) ") would turn the text into a list.
    return _MD_LEADING.sub(lambda m: m.group(1) + m.group(2) + "\\" + m.group(3), text)


def chart_label(value: Any) -> str:
    """A user string safe as a Plotly label (entities are shown literally by Plotly)."""
    return html.escape(str(value), quote=True)
