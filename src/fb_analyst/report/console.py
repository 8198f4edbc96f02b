"""Terminal rendering of a finished run (Rich): KPI summary, skipped stages, drift, headline."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel


def render_run_summary(result: Any, console: Console) -> None:
    """Print the compact KPI table, any skipped stages and drift, then the headline answer."""
    analysis = result.analysis
    if analysis.windows is not None and analysis.account is not None:
        from fb_analyst.segments import render_kpi_summary

        console.print(render_kpi_summary(analysis.windows, analysis.table, analysis.account))
    for stage in analysis.stages:
        if stage.status == "skipped":
            console.print(f"[yellow]skipped[/] {stage.name}: {escape(stage.reason or '')}")
    if result.drift is not None:
        console.print(f"drift vs run {escape(result.drift.previous_run_id)}:")
        for line in result.drift.summary:
            console.print(f"  - {escape(line)}")
    console.print(Panel(escape(analysis.headline.text), title="headline", title_align="left", expand=False))
    console.print(f"outputs in {escape(str(result.out_dir))}/ (report.html, report.md, run.json, ...)")
