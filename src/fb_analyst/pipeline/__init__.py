"""The pipeline: ingest -> windows/KPIs -> segments -> diagnosis -> creative -> forecast/budget -> report.

* :func:`analyse` runs the plan in memory (no file writes) on input paths or an Ibis table and
  returns a frozen :class:`Analysis` (used by ``run``, the dashboard and the agent).
* :func:`run_pipeline` is ``fb-analyst run``: ``analyse`` under a Rich progress display, then the
  report step writing every output atomically, ``run.json`` and the run history.
"""

from fb_analyst.pipeline.analysis import Analysis, Headline, analyse, make_headline
from fb_analyst.pipeline.run import RunManifest, RunResult, run_pipeline
from fb_analyst.pipeline.steps import PLAN, StageOutcome

__all__ = [
    "PLAN", "Analysis", "Headline", "RunManifest", "RunResult",
    "StageOutcome", "analyse", "make_headline", "run_pipeline",
]
