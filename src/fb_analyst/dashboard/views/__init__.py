"""The dashboard's pages, one module each, all rendering the same filtered :class:`Analysis`.

Each page module has ``render(page: Page)``. :class:`Page` carries the analysis of the current
selection and can ask for a slow stage (creative, forecast) on demand, with progress shown.
(The folder is not called ``pages/``: Streamlit would turn such a folder into its own navigation.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from fb_analyst.dashboard.data import Filters, Source
from fb_analyst.dashboard.store import ALL_STAGES, CORE_STAGES, AnalysisStore, analysis_key
from fb_analyst.report.escape import md_escape

#: What each stage is doing, for the progress bar.
STAGE_TEXT = {
    "windows": "resolving the comparison windows and account KPIs",
    "segments": "comparing every segment between the windows",
    "diagnose": "decomposing the change and testing hypotheses",
    "creative": "embedding and clustering messages, fitting the CTR model (the slowest step)",
    "forecast": "backtesting forecasts and fitting spend response curves",
}


def run_with_progress(store: AnalysisStore, source: Source, filters: Filters, spec: Any, settings: Any,
                      stages: Sequence[str] = CORE_STAGES) -> Any:
    """The cached analysis with ``stages``; when stages must run, a progress bar says which."""
    if store.ready(source, filters, spec, settings, stages):
        return store.analysis(source, filters, spec, settings, stages)
    todo = [s for s in ALL_STAGES if s in {*stages, *CORE_STAGES}]
    bar = st.progress(0.0, text="Waiting for the analysis engine…")
    done: list[str] = []

    def progress(stage: str, event: str, detail: str | None) -> None:
        if event == "start":
            text = f"Running {stage}: {STAGE_TEXT.get(stage, '')}…"
        else:
            done.append(stage)
            text = f"{stage} {event}" + (f" ({detail})" if detail else "")
        bar.progress(min(len(done) / max(len(todo), 1), 1.0), text=text)

    try:
        return store.analysis(source, filters, spec, settings, stages, progress=progress)
    finally:
        bar.empty()


@dataclass(frozen=True)
class Page:
    """Everything a page needs: the analysis of the current selection and how to extend it."""

    analysis: Any
    source: Source
    filters: Filters
    spec: Any
    settings: Any
    store: AnalysisStore

    @property
    def key(self) -> str:
        return analysis_key(self.source, self.filters, self.spec, self.settings)

    def require(self, *stages: str) -> Any:
        """The analysis with ``stages`` run too (cached after the first time)."""
        return run_with_progress(self.store, self.source, self.filters, self.spec, self.settings,
                                 (*CORE_STAGES, *stages))

    def extra(self, name: str, compute: Any) -> Any:
        """A derived artefact of this analysis (theme map, histories), computed once."""
        return self.store.extra(self.key, name, compute)


def table(frame: Any, key: str, **kwargs: Any) -> None:
    """A dataframe inside a keyed container, so tests and the browser can find it by ``key``
    (Streamlit ignores the key of a dataframe without row selection)."""
    with st.container(key=key):
        st.dataframe(frame, hide_index=True, **kwargs)


def stage_notice(analysis: Any, stage: str) -> bool:
    """Show why ``stage`` has no result; True when there is nothing to render."""
    outcome = analysis.stage(stage)
    if outcome is not None and outcome.status == "skipped":
        st.info(f"The {stage} stage was skipped: {md_escape(outcome.reason or '')}")
        return True
    return False


def fmt_selection(page: Page) -> str:
    w = page.analysis.windows
    return (f"Baseline **{w.baseline.label}** vs current **{w.current.label}** · "
            f"filters: {md_escape(page.filters.describe())} · data: {md_escape(page.source.label)}")
