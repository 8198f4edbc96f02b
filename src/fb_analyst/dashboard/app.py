"""The dashboard entry point: ``streamlit run app.py -- [--config FILE] [INPUT...]``.

The sidebar picks the data source (upload, the bundled sample, or the files named on the command
line), the filters (date range, campaign, platform, country, audience) and the comparison windows;
the same filtered analysis then feeds every page. Domain errors (a file that is not an ads export,
an upload over the size limit, a window outside the data) are shown with ``st.error``; internal
errors are logged with their traceback and shown as one line, never as a stack trace.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import streamlit as st

from fb_analyst.dashboard import data as D
from fb_analyst.dashboard import exports as X
from fb_analyst.dashboard.store import ALL_STAGES, AnalysisStore
from fb_analyst.dashboard.views import Page, creatives, diagnosis, forecast, overview, quality, run_with_progress
from fb_analyst.errors import FbAnalystError, InputError
from fb_analyst.logs import configure_logging, get_logger, new_run_id
from fb_analyst.report.escape import md_escape
from fb_analyst.settings import load_settings
from fb_analyst.windows import WindowSpec

log = get_logger(__name__)

PAGES = {"Overview": overview, "Diagnosis": diagnosis, "Creatives": creatives,
         "Forecast & budget": forecast, "Data quality": quality}
SOURCE_CLI, SOURCE_UPLOAD, SOURCE_SAMPLE = "Files from the command line", "Upload files", "Bundled sample"
FILTER_LABELS = {"campaign": "Campaign", "platform": "Platform", "country": "Country", "audience_type": "Audience"}


def command_line() -> argparse.Namespace:
    """``--config`` and input paths given after ``--`` to ``streamlit run`` (none under AppTest/pytest)."""
    parser = argparse.ArgumentParser(prog="fb-analyst dashboard", add_help=False)
    parser.add_argument("--config", default=None)
    parser.add_argument("inputs", nargs="*")
    ours = Path(sys.argv[0]).name == Path(__file__).name if sys.argv else False
    args, _ = parser.parse_known_args(sys.argv[1:] if ours else [])
    return args


@st.cache_resource(show_spinner=False)
def _store() -> AnalysisStore:
    return AnalysisStore()


@st.cache_resource(show_spinner=False)
def _workdir() -> Path:
    return D.new_workdir()


@st.cache_resource(show_spinner=False)
def _settings(config: str | None) -> Any:
    settings = load_settings(config)
    configure_logging(new_run_id(), level=settings.log_level)
    return settings


def choose_source(args: argparse.Namespace, settings: Any) -> D.Source | None:
    options = ([SOURCE_CLI] if args.inputs else []) + [SOURCE_UPLOAD, SOURCE_SAMPLE]
    choice = st.radio("Data source", options, key="source")
    if choice == SOURCE_CLI:
        return D.source_from_paths(args.inputs, kind="cli")
    if choice == SOURCE_SAMPLE:
        path, label = D.sample_path(_workdir())
        return D.source_from_paths([path], kind="sample", label=label)
    limit = settings.dashboard.max_upload_mb
    files = st.file_uploader(f"Ads export(s): CSV, XLSX, JSON or Parquet, up to {limit} MB each",
                             type=list(D.UPLOAD_TYPES), accept_multiple_files=True, key="upload",
                             max_upload_size=limit)
    if not files:
        return None
    # Hash and write the bytes once per upload, not on every rerun.
    ids = tuple(f.file_id for f in files)
    cached = st.session_state.get("_upload_source")
    if cached is None or cached[0] != ids:
        cached = (ids, D.source_from_uploads([(f.name, f.getvalue()) for f in files], limit, _workdir()))
        st.session_state["_upload_source"] = cached
    return cached[1]


def choose_filters(options: D.FilterOptions) -> D.Filters:
    start = end = None
    lo, hi = options.date_min, options.date_max
    if lo is not None and hi is not None:
        picked = st.date_input("Date range", value=(lo, hi), min_value=lo, max_value=hi, key="dates")
        if isinstance(picked, (tuple, list)) and len(picked) == 2:
            start = picked[0] if picked[0] != lo else None
            end = picked[1] if picked[1] != hi else None
    chosen = {}
    for dim, values in options.values.items():
        chosen[dim] = st.multiselect(FILTER_LABELS.get(dim, dim), values, key=f"filter_{dim}",
                                     placeholder="All")
    return D.Filters.build(start, end, chosen)


def choose_windows(settings: Any, options: D.FilterOptions, filters: D.Filters) -> WindowSpec:
    w = settings.windows
    modes = {
        f"Last {w.current_days} days vs the {w.baseline_days} before": WindowSpec(),
        f"Week over week ({w.wow_days} vs {w.wow_days} days)": WindowSpec(preset="wow"),
        f"Month over month ({w.mom_days} vs {w.mom_days} days)": WindowSpec(preset="mom"),
        f"Last {w.current_days} days vs every earlier day": WindowSpec(preset="long"),
    }
    mode = st.selectbox("Compare", [*modes, "Custom dates"], key="window_mode")
    if mode != "Custom dates":
        return modes[mode]
    lo, hi = filters.start or options.date_min, filters.end or options.date_max
    day = timedelta(days=1)
    cur = st.date_input("Current window", value=(max(lo, hi - (w.current_days - 1) * day), hi),
                        min_value=lo, max_value=hi, key="window_current")
    base_end = max(lo, hi - w.current_days * day)
    base = st.date_input("Baseline window", value=(max(lo, base_end - (w.baseline_days - 1) * day), base_end),
                         min_value=lo, max_value=hi, key="window_baseline")
    if not (isinstance(cur, (tuple, list)) and len(cur) == 2 and isinstance(base, (tuple, list)) and len(base) == 2):
        st.caption("Pick a start and an end date for both windows.")
        return WindowSpec()
    return WindowSpec(current=f"{cur[0]}:{cur[1]}", baseline=f"{base[0]}:{base[1]}")


#: The stages each download needs (the core ones are always there).
_DOWNLOADS: dict[str, tuple[str, ...]] = {
    "hypotheses.json": (), "kpis.json": (), "data_quality.json": (),
    "creative_clusters.json": ("creative",), "creatives.json": ("creative",), "forecast.json": ("forecast",),
}


def downloads(page: Page) -> None:
    """The JSON outputs and the HTML report of the current selection, built on click (a download
    that needs the creative or forecast stage runs it first)."""
    def files(stages: tuple[str, ...]) -> dict[str, bytes]:
        def build() -> dict[str, bytes]:
            analysis = page.store.analysis(page.source, page.filters, page.spec, page.settings, stages)
            return X.output_files(analysis)
        return page.store.extra(page.key, f"outputs:{','.join(stages)}", build)

    def report() -> bytes:
        def build() -> bytes:
            analysis = page.store.analysis(page.source, page.filters, page.spec, page.settings, ALL_STAGES)
            return X.report_html(analysis, f"dashboard-{page.key[:12]}")
        return page.store.extra(page.key, "report", build)

    st.caption("Built on click; the creative and forecast stages run first when a file needs them.")
    st.download_button("HTML report", data=report, file_name="report.html", mime="text/html",
                       on_click="ignore", key="dl_report")
    st.download_button("All JSON outputs (.zip)", data=lambda: X.outputs_zip(files(ALL_STAGES)),
                       file_name="fb-analyst-outputs.zip", mime="application/zip", on_click="ignore", key="dl_zip")
    for name, stages in _DOWNLOADS.items():
        st.download_button(name, data=lambda n=name, s=stages: files(s).get(n, b"{}"), file_name=name,
                           mime="application/json", on_click="ignore", key=f"dl_{name}")


def main() -> None:
    st.set_page_config(page_title="fb-analyst", page_icon="📈", layout="wide")
    # End users see no developer toolbar and, should an error escape run(), no stack trace.
    st.set_option("client.toolbarMode", "viewer")
    st.set_option("client.showErrorDetails", "none")
    args = command_line()
    settings = _settings(args.config)
    store = _store()
    with st.sidebar:
        st.title("fb-analyst")
        source = choose_source(args, settings)
    if source is None:
        st.title("Meta Ads performance analyst")
        st.info("Upload an Ads Manager or Marketing API export in the sidebar, or pick the bundled sample.")
        return
    with st.spinner(f"Reading {source.label}…"):
        ingest = store.ingest(source, settings)
    options = store.extra(source.key, "filter_options", lambda: D.filter_options(ingest.table))
    with st.sidebar:
        st.header("Filters")
        filters = choose_filters(options)
        st.header("Comparison windows")
        spec = choose_windows(settings, options, filters)
    page_name = st.radio("Page", list(PAGES), horizontal=True, key="page", label_visibility="collapsed")
    analysis = run_with_progress(store, source, filters, spec, settings)
    page = Page(analysis=analysis, source=source, filters=filters, spec=spec, settings=settings, store=store)
    with st.sidebar.expander("Downloads"):
        downloads(page)
    PAGES[page_name].render(page)


def run() -> None:
    """``main`` with errors shown in the page: the message for bad input, one line for a bug."""
    try:
        main()
    except InputError as exc:
        st.error(md_escape(str(exc)), icon="⚠️")
        st.caption("Fix the input (or change the filters and windows) and the page updates by itself.")
    except FbAnalystError as exc:
        log.error("dashboard_error", error=str(exc), exc_info=True)
        st.error(f"The analysis failed: {md_escape(str(exc))}. Details are in the server log.", icon="🛑")
    except Exception as exc:  # the dashboard's edge: log the traceback, show one line
        log.error("dashboard_internal_error", error=f"{type(exc).__name__}: {exc}", exc_info=True)
        st.error(f"Internal error ({type(exc).__name__}: {md_escape(str(exc))}). Details are in the server log.",
                 icon="🛑")


run()
