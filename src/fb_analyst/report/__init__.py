"""Reports for people: ``report.md`` and a self-contained ``report.html`` (Jinja2, Plotly inlined).

Input: an :class:`~fb_analyst.pipeline.analysis.Analysis` (and the run's drift report).
Output: the two files, written only into the folder given (the run's staging folder).
Sections: headline KPIs and their change, the ROAS decomposition as a waterfall, top hypotheses
with evidence, segment drill-down, creative themes and fatigue, forecasts with intervals (fan
charts), the budget plan, data quality and drift. Every piece of user text is escaped: HTML by
Jinja's autoescape, Markdown by :func:`~fb_analyst.report.escape.md_escape` on every expression.
The HTML embeds plotly.js once and loads nothing from the network, so it opens offline.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from fb_analyst.report.context import build_context
from fb_analyst.report.escape import md_escape

__all__ = ["render_html", "render_markdown", "write_reports"]


@lru_cache(maxsize=1)
def _html_env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("fb_analyst.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


@lru_cache(maxsize=1)
def _md_env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("fb_analyst.report", "templates"),
                              autoescape=False, finalize=md_escape, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    # A literal "</script>" inside the library would end the inline block early.
    return get_plotlyjs().replace("</script", "<\\/script")


def _charts(analysis: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    from fb_analyst.report import charts

    def safe(html: str | None) -> Markup | None:
        return Markup(html) if html else None  # noqa: S704 - Plotly output; its JSON escapes < > /

    fc = ctx["forecast"]
    fans = [safe(charts.fan_chart(s)) for s in fc.get("fan_series", [])] if not fc.get("skipped") else []
    budget = fc.get("budget") if not fc.get("skipped") else None
    return {"trend": safe(charts.trend_chart(analysis)), "waterfall": safe(charts.waterfall_chart(analysis)),
            "fans": [f for f in fans if f], "budget": safe(charts.budget_chart(budget["rows"])) if budget else None}


def render_markdown(ctx: dict[str, Any]) -> str:
    text = _md_env().get_template("report.md.j2").render(**ctx)
    # The template separates every block with blank lines; keep at most one between blocks.
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_html(ctx: dict[str, Any], charts: dict[str, Any]) -> str:
    return _html_env().get_template("report.html.j2").render(
        **ctx, charts=charts, plotly_js=Markup(_plotly_js()))  # noqa: S704 - the library itself


def write_reports(analysis: Any, out_dir: str | Path, *, run_id: str, drift: Any = None) -> list[Path]:
    """Write ``report.md`` and ``report.html`` for ``analysis`` into ``out_dir``."""
    out = Path(out_dir)
    ctx = build_context(analysis, run_id=run_id, drift=drift)
    md = out / "report.md"
    md.write_text(render_markdown(ctx), encoding="utf-8")
    html = out / "report.html"
    html.write_text(render_html(ctx, _charts(analysis, ctx)), encoding="utf-8")
    return [md, html]
