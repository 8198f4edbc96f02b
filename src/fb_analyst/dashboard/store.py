"""The dashboard's analysis cache: ingest results per input, analyses per selection, run in stages.

:class:`AnalysisStore` (one per server process, held by ``st.cache_resource``) caches the
:class:`~fb_analyst.ingest.IngestResult` of each source (key: SHA-256 of the files' names and bytes,
plus the settings) and the analysis of each selection (source + settings + filters + windows).
The analysis runs the pipeline's own plan (:data:`fb_analyst.pipeline.PLAN`) on the filtered
canonical table in two parts: the core stages every page needs at once, and the slow creative and
forecast stages when their page (or a download) first asks for them. One lock serialises engine
access: the in-process DuckDB connection is shared by every browser session.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import ibis

from fb_analyst.dashboard.data import Filters, Source, filter_table
from fb_analyst.errors import FbAnalystError, InputError
from fb_analyst.pipeline.analysis import Analysis, make_headline
from fb_analyst.pipeline.steps import PLAN, Context, StageOutcome, execute_step


ProgressFn = Callable[[str, str, "str | None"], None]


def settings_key(settings: Any) -> str:
    return hashlib.sha256(settings.model_dump_json().encode("utf-8")).hexdigest()[:16]


def analysis_key(source: Source, filters: Filters, spec: Any, settings: Any) -> str:
    return "|".join((source.key, settings_key(settings), filters.key(), spec.model_dump_json()))


#: Stages every page needs (seconds); the creative and forecast stages (minutes on a busy
#: machine) run when their page is first opened or a download needs them.
CORE_STAGES: tuple[str, ...] = ("windows", "segments", "diagnose")
ALL_STAGES: tuple[str, ...] = tuple(step.name for step in PLAN if step.name != "ingest")


def start_analysis(table: ibis.Table, ingest: Any, spec: Any, settings: Any) -> Context:
    """The analysis plan's context on an already canonical ``table`` (as ``analyse`` sets it up)."""
    ctx = Context(settings=settings, spec=spec, con=None)
    ctx.table, ctx.ingest = table, ingest
    ctx.outcomes.append(StageOutcome(name="ingest", status="provided", seconds=0.0,
                                     detail="canonical table of the dashboard's data source, filtered"))
    return ctx


def run_stages(ctx: Context, stages: Sequence[str], progress: ProgressFn | None = None) -> None:
    """Run, in plan order, the steps of ``stages`` that ``ctx`` has not run yet (and those they need).

    This is :func:`fb_analyst.pipeline.analyse` split in two, with the plan's own steps: the
    dashboard shows the core stages at once and runs the slow ones on demand.
    """
    wanted = set(stages) | set(CORE_STAGES)
    done = {o.name for o in ctx.outcomes}
    for step in PLAN:
        if step.name in wanted and step.name not in done:
            execute_step(step, ctx, progress)


def snapshot(ctx: Context) -> Analysis:
    """A frozen :class:`Analysis` of what ``ctx`` holds so far (stages not run are simply absent)."""
    stages = tuple(ctx.outcomes)
    return Analysis(
        table=ctx.table, ingest=ctx.ingest, windows=ctx.windows, account=ctx.account, daily=ctx.daily,
        segments=ctx.segments, diagnosis=ctx.diagnosis, creative=ctx.creative, forecast=ctx.forecast,
        stages=stages, headline=make_headline(ctx.account, ctx.diagnosis, stages),
    )


class AnalysisStore:
    """Process-wide cache of ingest results (per source) and analyses (per source + selection).

    One lock serialises every call into the engine: the in-process DuckDB connection is shared by
    all sessions, and a second session asking for an analysis being computed waits for it instead
    of computing it again. Failures with a domain error (bad file) are cached too, so a bad upload
    is not re-read on every widget interaction.
    """

    def __init__(self, max_sources: int = 4, max_analyses: int = 12):
        self.lock = threading.RLock()
        self.max_sources, self.max_analyses = max_sources, max_analyses
        self._ingest: OrderedDict[str, Any] = OrderedDict()
        self._runs: OrderedDict[str, Any] = OrderedDict()
        self._failed: dict[tuple[str, str], FbAnalystError] = {}
        self._extras: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def _lookup(self, cache: OrderedDict, key: Any) -> Any:
        cache.move_to_end(key)
        hit = cache[key]
        if isinstance(hit, FbAnalystError):
            raise hit
        return hit

    def ingest(self, source: Source, settings: Any) -> Any:
        """The :class:`~fb_analyst.ingest.IngestResult` of ``source`` (InputError if it is not an export)."""
        from fb_analyst.ingest import ingest_files

        key = f"{source.key}|{settings_key(settings)}"
        with self.lock:
            if key in self._ingest:
                return self._lookup(self._ingest, key)
            try:
                result = ingest_files(list(source.paths), settings)
            except InputError as exc:  # not an ads export: remember it, in the user's file names
                failure = InputError(source.clean(str(exc)))
                self._ingest[key] = failure
                raise failure from None
            self._ingest[key] = result
            while len(self._ingest) > self.max_sources:
                old_key, old = self._ingest.popitem(last=False)
                self._forget(old_key.split("|")[0], old)
            return result

    def _forget(self, source_key: str, old: Any) -> None:
        for k in [k for k in self._runs if k.startswith(source_key)]:
            del self._runs[k]
        table = getattr(old, "table", None)
        if table is not None:  # plain SQL: see engine.table_from_pandas on Ibis' DROP
            table.get_backend().raw_sql(f'DROP TABLE IF EXISTS "{table.get_name()}"')

    def analysis(self, source: Source, filters: Filters, spec: Any, settings: Any,
                 stages: Sequence[str] = CORE_STAGES, progress: ProgressFn | None = None) -> Analysis:
        """The analysis of the filtered canonical table with at least ``stages`` run (cached; a
        later call runs only the stages still missing). A stage that failed with a domain or
        stage error fails again from the cache instead of re-running on every interaction."""
        key = analysis_key(source, filters, spec, settings)
        with self.lock:
            if key in self._runs:
                ctx = self._lookup(self._runs, key)
            else:
                ingest = self.ingest(source, settings)
                ctx = start_analysis(filter_table(ingest.table, filters), ingest, spec, settings)
                self._runs[key] = ctx
                while len(self._runs) > self.max_analyses:
                    old = self._runs.popitem(last=False)[0]
                    self._failed = {k: v for k, v in self._failed.items() if k[0] != old}
            for stage in {*stages, *CORE_STAGES}:
                if (key, stage) in self._failed:
                    raise self._failed[(key, stage)]
            try:
                run_stages(ctx, stages, progress)
            except FbAnalystError as exc:
                failed = getattr(exc, "stage", None) or next(
                    (s.name for s in PLAN if s.name in {*stages, *CORE_STAGES} and ctx.outcome(s.name) is None),
                    "windows")
                self._failed[(key, failed)] = exc
                raise
            return snapshot(ctx)

    def ready(self, source: Source, filters: Filters, spec: Any, settings: Any,
              stages: Sequence[str] = CORE_STAGES) -> bool:
        """Whether ``stages`` of this analysis already ran (then no progress display is needed)."""
        ctx = self._runs.get(analysis_key(source, filters, spec, settings))
        return isinstance(ctx, Context) and all(ctx.outcome(s) is not None for s in {*stages, *CORE_STAGES})

    def extra(self, key: str, name: str, compute: Callable[[], Any]) -> Any:
        """A derived artefact of one analysis (theme map, exports), computed once."""
        with self.lock:
            k = (key, name)
            if k not in self._extras:
                self._extras[k] = compute()
                while len(self._extras) > 4 * self.max_analyses:
                    self._extras.popitem(last=False)
            self._extras.move_to_end(k)
            return self._extras[k]


