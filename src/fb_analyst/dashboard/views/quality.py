"""Data quality: row accounting, the name-resolution audit (with a correction file to download),
imputations, warnings, missingness and the quarantined rows."""

from __future__ import annotations

import streamlit as st

from fb_analyst.dashboard.data import row_count
from fb_analyst.dashboard.exports import name_audit_frame, overrides_csv
from fb_analyst.dashboard.frames import files_frame, missingness_frame, reasons_frame, warnings_frame
from fb_analyst.dashboard.views import Page, table
from fb_analyst.outputs import neutralise_csv_cell
from fb_analyst.report.escape import md_escape

_QUARANTINE_SHOWN = 1000


def render(page: Page) -> None:
    ingest = page.analysis.ingest
    st.subheader("Data quality")
    if ingest is None:
        st.info("No ingest report for this source.")
        return
    r = ingest.report
    selected = page.extra("row_count", lambda: row_count(page.analysis.table))
    st.caption(f"Row accounting describes the whole input ({md_escape(page.source.label)}); "
               f"the current filters keep {selected:,} of its {r.rows_accepted:,} accepted rows.")
    with st.container(key="row_accounting"):
        c = st.columns(4)
        c[0].metric("Rows read", f"{r.rows_read:,}")
        c[1].metric("Accepted", f"{r.rows_accepted:,}")
        c[2].metric("Quarantined", f"{r.rows_quarantined:,}")
        c[3].metric("Duplicates removed", f"{r.duplicates_removed:,}")
    balanced = r.rows_read == r.rows_accepted + r.rows_quarantined + r.duplicates_removed
    st.caption(("✓ " if balanced else "✗ ") + f"read {r.rows_read:,} = accepted {r.rows_accepted:,} + quarantined "
               f"{r.rows_quarantined:,} + duplicates {r.duplicates_removed:,}"
               + ("" if balanced else " — does not balance; please report this"))
    if r.date_range:
        st.caption(f"Dates {r.date_range[0]}..{r.date_range[1]} · currency {r.currency}")
    table(files_frame(r), key="files_table")
    if r.quarantined_by_reason:
        st.markdown("#### Quarantined by reason")
        table(reasons_frame(r), key="reasons_table")

    _name_audit(r)

    if r.imputations:
        st.markdown("#### Imputations (recomputed from the same row)")
        st.dataframe([i.model_dump() for i in r.imputations], hide_index=True)
    if r.warnings:
        st.markdown("#### Warnings (rows kept)")
        table(warnings_frame(r).assign(examples=lambda f: f["examples"].map(page.source.clean)),
              key="warnings_table")
    with st.expander("Missing values per column"):
        st.dataframe(missingness_frame(r), hide_index=True,
                     column_config={"share": st.column_config.NumberColumn(format="percent")})

    st.markdown("#### Quarantine")
    q = ingest.quarantine
    if "source_file" in q.columns and page.source.hidden_prefix:
        q = q.assign(source_file=q["source_file"].astype(str).map(page.source.clean))
    if q.empty:
        st.success("No row was quarantined.")
        return
    st.caption(f"{len(q):,} rejected rows with their source file, row number and reason"
               + (f" (first {_QUARANTINE_SHOWN:,} shown)" if len(q) > _QUARANTINE_SHOWN else ""))
    table(q.head(_QUARANTINE_SHOWN), key="quarantine_table")
    st.download_button("Download quarantine.csv", data=lambda: q.map(neutralise_csv_cell).to_csv(index=False),
                       file_name="quarantine.csv", mime="text/csv", on_click="ignore", key="dl_quarantine")


def _name_audit(r) -> None:  # noqa: ANN001 - DataQualityReport
    st.markdown("#### Name resolution")
    if not r.name_resolution:
        st.info("No entity names to resolve in this input.")
        return
    for level, res in r.name_resolution.items():
        st.caption(f"{level}: {res.raw_names} raw spellings resolved to {res.canonical_names} names")
    audit = name_audit_frame(r)
    st.caption("Edit *canonical_name* where a spelling was merged wrongly (or should be merged), then "
               "download the correction file and point `ingest.name_overrides_file` at it in the `--config` file.")
    edited = st.data_editor(
        audit, hide_index=True, key="name_audit", disabled=["level", "raw_name", "rows", "score", "rule"],
        column_config={"score": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.0f")},
    )
    st.download_button("Download name overrides (CSV)", data=overrides_csv(edited), file_name="name_overrides.csv",
                       mime="text/csv", on_click="ignore", key="dl_overrides")
