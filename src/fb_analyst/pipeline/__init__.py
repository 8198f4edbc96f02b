"""The pipeline: ingest -> windows/KPIs -> segments -> diagnosis -> creative -> forecast/budget -> report.

* :func:`analyse` runs the plan in memory (no file writes) on input paths or an Ibis table and
  returns a frozen :class:`Analysis` (used by ``run``, the dashboard and the agent).
* :func:`run_pipeline` is ``fb-analyst run``: ``analyse`` under a Rich progress display, then the
  report step writing every output atomically, ``run.json`` and the run history.

The names below are imported on first use (PEP 562), not with the package: ``fb-analyst run``
starts its forecast child from :mod:`fb_analyst.pipeline.overlap` before it imports the analysis
stack (pandas, Ibis, ...), so that the child's imports overlap this process' own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fb_analyst.pipeline.analysis import Analysis, Headline, analyse, make_headline
    from fb_analyst.pipeline.run import RunManifest, RunResult, run_pipeline
    from fb_analyst.pipeline.steps import PLAN, StageOutcome

_HOME = {
    "Analysis": "analysis", "Headline": "analysis", "analyse": "analysis", "make_headline": "analysis",
    "RunManifest": "run", "RunResult": "run", "run_pipeline": "run",
    "PLAN": "steps", "StageOutcome": "steps",
}

__all__ = [
    "PLAN", "Analysis", "Headline", "RunManifest", "RunResult",
    "StageOutcome", "analyse", "make_headline", "run_pipeline",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value
