"""The analysis plan: typed steps, each calling one stage library function.

A :class:`Step` names the stage, the context fields it needs and a function that reads the
context and returns the stage's result record. A step is *skipped*, with its reason recorded,
when its stage module is not installed/built, when a step it needs was skipped, or when the data
cannot support it (no creative text, too few days to forecast); it is never faked.

Errors: a domain :class:`~fb_analyst.errors.InputError` (bad window, bad file) passes through
unchanged (exit code 2); any other exception becomes :class:`~fb_analyst.errors.StageError`
naming the stage and the cause (exit code 1).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from fb_analyst import schema as S
from fb_analyst.errors import InputError, StageError
from fb_analyst.logs import get_logger

if TYPE_CHECKING:  # not imported at run time: ``run`` imports this module before the analysis stack
    import ibis

log = get_logger(__name__)

StageStatus = Literal["ok", "skipped", "provided"]
#: ``progress(stage, event, detail)``; event is "start", "ok", "skipped" or "provided".
ProgressFn = Callable[[str, str, str | None], None]


class StageOutcome(BaseModel):
    """What happened to one step: status, wall time and (when skipped) why."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: StageStatus
    seconds: float
    reason: str | None = None
    detail: str | None = None


class SkipStage(Exception):
    """Raised inside a step to skip it on purpose; the message is the recorded reason."""


def load_stage(module: str, attr: str) -> Callable[..., Any]:
    """Import ``module.attr`` or raise SkipStage saying what is missing (never a stand-in)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise SkipStage(f"stage module {module} is not available in this install") from None
        raise SkipStage(f"{module} needs the missing package {exc.name!r}") from None
    except ImportError as exc:  # a stage package whose API is not (yet) complete in this build
        raise SkipStage(f"{module} cannot be imported ({exc}); stage not finished in this build") from None
    fn = getattr(mod, attr, None)
    if fn is None:
        raise SkipStage(f"{module}.{attr} is not available (stage not finished in this build)")
    return fn


@dataclass
class Context:
    """Mutable state while the plan executes; frozen into an Analysis at the end."""

    settings: Any
    spec: Any
    con: Any
    inputs: list[str] | None = None
    table: ibis.Table | None = None
    ingest: Any = None
    windows: Any = None
    account: Any = None
    daily: Any = None
    segments: Any = None
    diagnosis: Any = None
    creative: Any = None
    forecast: Any = None
    outcomes: list[StageOutcome] = field(default_factory=list)

    def outcome(self, name: str) -> StageOutcome | None:
        return next((o for o in self.outcomes if o.name == name), None)


@dataclass(frozen=True)
class Step:
    """One typed step of the plan: ``run(ctx)`` returns (result, detail) stored under ``produces``."""

    name: str
    produces: str
    needs: tuple[str, ...]
    run: Callable[[Context], tuple[Any, str | None]]


def execute_step(step: Step, ctx: Context, progress: ProgressFn | None = None) -> StageOutcome:
    """Run ``step`` on ``ctx`` (timed, logged); skip it with a reason or raise StageError."""
    if progress:
        progress(step.name, "start", None)
    t0 = time.perf_counter()
    status: StageStatus = "ok"
    reason = detail = None
    missing = [n for n in step.needs if getattr(ctx, n) is None]
    try:
        if missing:
            maker = "ingest" if missing[0] == "table" else next(
                (s.name for s in PLAN if s.produces == missing[0]), missing[0])
            producer = ctx.outcome(maker)
            why = f" (stage {producer.name} skipped: {producer.reason})" if producer and producer.reason else ""
            raise SkipStage(f"needs {missing[0]}, which is not available{why}")
        result, detail = step.run(ctx)
        setattr(ctx, step.produces, result)
    except SkipStage as exc:
        status, reason = "skipped", str(exc)
    except (InputError, StageError):
        log.error("stage_failed", stage=step.name, seconds=round(time.perf_counter() - t0, 3))
        raise
    except Exception as exc:  # any internal failure of a stage is reported as that stage's failure
        log.error("stage_failed", stage=step.name, error=f"{type(exc).__name__}: {exc}")
        raise StageError(step.name, f"{type(exc).__name__}: {exc}") from exc
    seconds = round(time.perf_counter() - t0, 4)
    out = StageOutcome(name=step.name, status=status, seconds=seconds, reason=reason, detail=detail)
    ctx.outcomes.append(out)
    log.info("stage_done", stage=step.name, status=status, seconds=seconds, reason=reason, detail=detail)
    if progress:
        progress(step.name, status, reason or detail)
    return out


# ---- the steps -------------------------------------------------------------------------------


def _run_ingest(ctx: Context) -> tuple[Any, str | None]:
    ingest_files = load_stage("fb_analyst.ingest", "ingest_files")
    result = ingest_files(ctx.inputs, ctx.settings, con=ctx.con)
    ctx.table = result.table
    report = getattr(result, "report", None)
    accepted = getattr(report, "rows_accepted", None)
    return result, (f"{accepted:,} rows accepted" if isinstance(accepted, int) else None)


def _run_windows(ctx: Context) -> tuple[Any, str | None]:
    resolve_windows = load_stage("fb_analyst.windows", "resolve_windows")
    window_kpis = load_stage("fb_analyst.segments", "window_kpis")
    account_daily = load_stage("fb_analyst.segments", "account_daily")
    windows = resolve_windows(ctx.table, ctx.spec, ctx.settings)
    ctx.account = window_kpis(ctx.table, windows)
    ctx.daily = account_daily(ctx.table)
    return windows, f"baseline {windows.baseline.label}, current {windows.current.label}"


def _run_segments(ctx: Context) -> tuple[Any, str | None]:
    compare_segments = load_stage("fb_analyst.segments", "compare_segments")
    # Pairs only above the diagnosis' spend-share floor: the long tail of tiny combinations is
    # what nobody reads and what made kpis.json hundreds of MB (BENCHMARKS.md, "Whole run").
    share = ctx.settings.diagnose.min_spend_share
    tables = compare_segments(ctx.table, ctx.windows, dims=None, pairs=True, pair_min_spend_share=share)
    return tables, f"{len(tables.frame):,} segment rows (pairs with spend share >= {share:.0%})"


def _run_diagnose(ctx: Context) -> tuple[Any, str | None]:
    diagnose = load_stage("fb_analyst.diagnose", "diagnose")
    result = diagnose(ctx.table, ctx.windows, ctx.settings)
    hyps = list(getattr(result, "hypotheses", []) or [])
    supported = sum(1 for h in hyps if getattr(h, "status", None) == "supported")
    return result, f"{len(hyps)} hypotheses, {supported} supported"


def _run_creative(ctx: Context) -> tuple[Any, str | None]:
    if S.CREATIVE_MESSAGE not in ctx.table.columns:
        raise SkipStage(f"the input has no {S.CREATIVE_MESSAGE} column (no creative text to analyse)")
    analyze_creatives = load_stage("fb_analyst.creative", "analyze_creatives")
    result = analyze_creatives(ctx.table, ctx.windows, ctx.diagnosis, ctx.settings)
    clusters = getattr(result, "clusters", None)
    themes = getattr(clusters, "themes", None)
    return result, (f"{len(themes)} themes" if isinstance(themes, list) else None)


def forecast_history_short(ctx: Context) -> str | None:
    """Why the forecast stage cannot run on this history, or None when it can."""
    need = ctx.settings.forecast.min_history_days
    days = len(ctx.daily) if ctx.daily is not None else 0
    if days < need:
        return f"only {days} days of data; forecasting needs at least {need} (setting forecast.min_history_days)"
    return None


def _run_forecast(ctx: Context) -> tuple[Any, str | None]:
    short = forecast_history_short(ctx)
    if short:
        raise SkipStage(short)
    forecast_and_allocate = load_stage("fb_analyst.forecast", "forecast_and_allocate")
    return forecast_and_allocate(ctx.table, ctx.settings, windows=ctx.windows), None


#: The analysis plan, in order (``run_pipeline`` appends the report step, which writes files).
PLAN: tuple[Step, ...] = (
    Step("ingest", "ingest", (), _run_ingest),
    Step("windows", "windows", ("table",), _run_windows),
    Step("segments", "segments", ("windows",), _run_segments),
    Step("diagnose", "diagnosis", ("windows",), _run_diagnose),
    Step("creative", "creative", ("windows",), _run_creative),
    Step("forecast", "forecast", ("table", "windows"), _run_forecast),
)
