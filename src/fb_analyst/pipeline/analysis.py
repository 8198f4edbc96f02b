"""In-memory analysis: the plan of typed steps run on input files or an Ibis table, no file writes.

``analyse(inputs_or_table, spec, settings)`` returns a frozen :class:`Analysis` holding every
stage's result record (or ``None`` with the skip reason in ``stages``). The CLI's ``run`` writes it
out (:mod:`fb_analyst.pipeline.run`); the dashboard calls ``analyse`` on a filtered table; the
agent calls it with the windows its planner chose.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
from pydantic import BaseModel, ConfigDict

from fb_analyst.kpis import KPIS
from fb_analyst.pipeline.steps import PLAN, Context, ProgressFn, StageOutcome, Step, execute_step


def field_of(obj: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a pydantic model, dataclass or dict (stage records are read generically)."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def measure_text(name: Any, value: Any) -> str:
    """A measure's sum for a reader in its KPI's format (``kpis.KPIS``: counts whole, money with
    cents); money's format for a name the registry does not know."""
    if not isinstance(value, numbers.Real):
        return "n/a"
    kpi = KPIS.get(name) if isinstance(name, str) else None
    return (kpi.fmt if kpi else "{:,.2f}").format(value)


def baseline_share(effect: Any, baseline: Any) -> float | None:
    """A shift-share term as a share of the baseline KPI (mix + rate = the KPI's relative change),
    so CTR's terms (fractions of a percent) read as plainly as ROAS's; None when undefined."""
    if not isinstance(effect, numbers.Real) or not isinstance(baseline, numbers.Real) or not baseline:
        return None
    return effect / baseline


def optimism_note(plan: Any) -> str:
    """The sentence saying a budget plan's proposed revenue is net of its selection optimism (empty
    when there is none), written the same way in the report and the dashboard."""
    amount = field_of(plan, "selection_optimism") or 0.0
    if not amount:
        return ""
    return (f"Proposed revenue, for the plan and for each campaign, is net of the selection optimism: "
            f"{amount:,.0f}/day taken off, the bootstrap estimate of how much optimising on noisy response "
            "curves inflates their own predicted uplift.")


def segment_text(segment: Any) -> str:
    """``{"platform": "Instagram", "placement": "stories"}`` -> ``platform=Instagram & placement=stories``."""
    if not segment:
        return "the whole account"
    if isinstance(segment, dict):
        return " & ".join(f"{k}={v}" for k, v in segment.items())
    return str(segment)


def supported_hypotheses(diagnosis: Any) -> list[Any]:
    """Supported hypotheses in the diagnosis' own (impact) order."""
    hyps = field_of(diagnosis, "hypotheses", []) or []
    return [h for h in hyps if field_of(h, "status") == "supported"]


class Headline(BaseModel):
    """The one-line answer: how ROAS moved and the top supported cause (or that nothing did)."""

    model_config = ConfigDict(frozen=True)

    text: str
    metric: str = "roas"
    baseline: float | None = None
    current: float | None = None
    delta_pct: float | None = None
    cause_id: str | None = None
    significant: bool = False


def cause_text(h: Any) -> str:
    """``CPM +35.0% on placement=stories (H1, q=0.003)``."""
    metric = str(field_of(h, "metric", "")).upper()
    delta = field_of(h, "delta_pct")
    change = f" {delta:+.1%}" if isinstance(delta, (int, float)) else ""
    q = field_of(h, "q_value")
    qtxt = f", q={q:.2g}" if isinstance(q, (int, float)) else ""
    return f"{metric}{change} on {segment_text(field_of(h, 'segment'))} ({field_of(h, 'id')}{qtxt})"


def make_headline(account: dict[str, dict[str, Any]] | None, diagnosis: Any,
                  stages: Sequence[StageOutcome]) -> Headline:
    """Compose the headline from the account KPIs per window and the diagnosis (nothing invented)."""
    base = account["baseline"].get("roas") if account else None
    cur = account["current"].get("roas") if account else None
    b = base.value if base is not None else None
    c = cur.value if cur is not None else None
    if b is None or c is None or b == 0:
        why = next((v.undefined_reason for v in (base, cur) if v is not None and v.undefined_reason), None)
        move = "ROAS change undefined" + (f" ({why})" if why else "")
        b = c = d = None
    else:
        d = c / b - 1.0
        verb = "rose" if d > 0 else "fell" if d < 0 else "was flat"
        move = f"ROAS {verb} {abs(d):.1%} ({b:.2f} -> {c:.2f})"
    if diagnosis is None:
        stage = next((s for s in stages if s.name == "diagnose"), None)
        why = stage.reason if stage and stage.reason else "not run"
        return Headline(text=f"{move}; diagnosis skipped: {why}", baseline=b, current=c, delta_pct=d)
    supported = supported_hypotheses(diagnosis)
    if not supported:
        return Headline(text=f"{move}; no significant change (no supported hypothesis)",
                        baseline=b, current=c, delta_pct=d)
    aligned = [h for h in supported if d is not None and roas_effect(h) * d > 0]
    if aligned or d is None:
        top = (aligned or supported)[0]
        text = f"{move}; top supported cause: {cause_text(top)}"
    else:
        top = supported[0]
        text = f"{move}; no supported cause in that direction (largest supported change: {cause_text(top)})"
    return Headline(text=text, baseline=b, current=c, delta_pct=d, cause_id=str(field_of(top, "id")),
                    significant=True)


#: +1 when a rise of the metric raises ROAS (ROAS = CTR x CVR x AOV x 1000 / CPM), -1 when it lowers it.
_ROAS_SIGN = {"roas": 1, "ctr": 1, "cvr": 1, "aov": 1, "revenue": 1, "purchases": 1, "clicks": 1,
              "cpm": -1, "cpc": -1, "cpa": -1}


def roas_effect(h: Any) -> float:
    """Sign of a hypothesis' push on ROAS: its revenue at stake, else metric sign x direction."""
    stake = field_of(field_of(h, "impact"), "revenue_at_stake")
    if isinstance(stake, (int, float)) and stake != 0:
        return 1.0 if stake > 0 else -1.0
    direction = {"up": 1, "down": -1}.get(str(field_of(h, "direction")), 0)
    return float(_ROAS_SIGN.get(str(field_of(h, "metric")), 0) * direction)


@dataclass(frozen=True)
class Analysis:
    """Every stage's result record (None when skipped; ``stages`` says why) plus the headline."""

    table: ibis.Table | None
    ingest: Any
    windows: Any
    account: dict[str, dict[str, Any]] | None  # window -> KPI name -> KpiValue
    daily: pd.DataFrame | None
    segments: Any
    diagnosis: Any
    creative: Any
    forecast: Any
    stages: tuple[StageOutcome, ...]
    headline: Headline

    def stage(self, name: str) -> StageOutcome | None:
        return next((s for s in self.stages if s.name == name), None)

    @property
    def skipped(self) -> dict[str, str]:
        return {s.name: s.reason or "" for s in self.stages if s.status == "skipped"}


def analyse(
    inputs_or_table: ibis.Table | str | Path | Sequence[str | Path],
    spec: Any = None,
    settings: Any = None,
    *,
    progress: ProgressFn | None = None,
    con: Any = None,
    ingest: Any = None,
    stages: Collection[str] | None = None,
    parallel: bool = False,
    forecast_child: Any = None,
) -> Analysis:
    """Run the analysis plan in memory (no file writes) and return the frozen :class:`Analysis`.

    ``inputs_or_table``: input paths/globs (read by the ingest stage) or an already canonical
    ``ibis.Table`` (e.g. the dashboard's filtered table), optionally with its ``ingest`` result.
    ``stages``: names of the steps to run (default all); the others are recorded as skipped
    "not requested" (the dashboard and tests use it to leave out slow stages).
    ``parallel``: overlap independent work (the embedding-model load in a thread, the forecast
    stage in a child process alongside diagnose/creative; :mod:`fb_analyst.pipeline.overlap`).
    Same results and stage records; used by ``fb-analyst run``.
    ``forecast_child``: a :class:`~fb_analyst.pipeline.overlap.ParallelForecast` the caller started
    before its imports (``run``); used when ``parallel`` and the forecast step runs (the caller
    stops it otherwise).
    """
    from fb_analyst.settings import Settings

    settings = settings or Settings()
    if spec is None:
        from fb_analyst.windows import WindowSpec

        spec = WindowSpec()
    if settings.engine == "duckdb":
        from fb_analyst.engine import default_connection, limit_memory

        limit_memory(con or default_connection(), settings.memory_limit)
    ctx = Context(settings=settings, spec=spec, con=con)
    steps = list(PLAN)
    if isinstance(inputs_or_table, ibis.Table):
        ctx.table, ctx.ingest = inputs_or_table, ingest
        ctx.outcomes.append(StageOutcome(name="ingest", status="provided", seconds=0.0,
                                         detail="canonical table given by the caller"))
        if progress:
            progress("ingest", "provided", None)
        steps = steps[1:]
    else:
        items = [inputs_or_table] if isinstance(inputs_or_table, (str, Path)) else list(inputs_or_table)
        ctx.inputs = [str(p) for p in items]
    wanted = {st.name for st in steps if stages is None or st.name in stages}
    warmup = forecast = None
    threads, cap = None, contextlib.nullcontext()
    if parallel:  # two processes share the cores: numeric thread pools sized to match
        from fb_analyst.pipeline.overlap import ParallelForecast, cores_per_process, shared_cores

        threads = cores_per_process()
        cap = shared_cores(threads)
        if "forecast" in wanted:  # started now at the latest: the child imports during the ingest
            forecast = forecast_child if forecast_child is not None else ParallelForecast()
    with cap:
        try:
            for step in steps:
                if stages is not None and step.name not in stages:
                    ctx.outcomes.append(StageOutcome(name=step.name, status="skipped", seconds=0.0,
                                                     reason="not requested by the caller"))
                    if progress:
                        progress(step.name, "skipped", "not requested by the caller")
                    continue
                if parallel and step.name == "creative" and warmup is not None:
                    step = Step(step.name, step.produces, step.needs, warmup.before(step.run, threads))
                if parallel and step.name == "forecast" and forecast is not None:
                    step = Step(step.name, step.produces, step.needs, forecast.result)
                execute_step(step, ctx, progress)
                if not parallel:
                    continue
                if warmup is None and ctx.table is not None and "creative" in wanted:
                    from fb_analyst.pipeline.overlap import EmbedderWarmup, has_creative_text

                    if has_creative_text(ctx.table):
                        warmup = EmbedderWarmup(settings, ctx.table, threads)
                if step.name == "windows" and forecast is not None:
                    forecast.submit(ctx)
        finally:
            if forecast is not None:
                forecast.cleanup()
    stages = tuple(ctx.outcomes)
    return Analysis(
        table=ctx.table, ingest=ctx.ingest, windows=ctx.windows, account=ctx.account, daily=ctx.daily,
        segments=ctx.segments, diagnosis=ctx.diagnosis, creative=ctx.creative, forecast=ctx.forecast,
        stages=stages, headline=make_headline(ctx.account, ctx.diagnosis, stages),
    )
