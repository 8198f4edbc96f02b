"""Every dashboard page on the bundled sample, through Streamlit's AppTest (the real script).

The module shares one AppTest (``app_on_sample``): each test picks its page, so the analysis of the
sample is computed once and later pages read it from the dashboard's cache, as a user would.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard_support import errors_of, shown_text


def show(at: AppTest, page: str) -> AppTest:
    at.radio(key="page").set_value(page).run()
    assert not errors_of(at), errors_of(at)
    return at


def frame(at: AppTest, key: str):  # noqa: ANN201 - pandas DataFrame
    """The dataframe inside the page's container ``key``."""
    return at.get_by_key(key).dataframe[0].value


def has_key(at: AppTest, key: str) -> bool:
    try:
        at.get_by_key(key)
    except KeyError:
        return False
    return True


def test_overview_shows_kpi_tiles_with_change_and_trend(app_on_sample: AppTest) -> None:
    at = show(app_on_sample, "Overview")
    tiles = {m.label: m for m in at.metric}
    assert {"ROAS", "Spend", "Revenue", "CTR", "CVR", "CPM", "CPA", "AOV", "Purchases"} <= set(tiles)
    assert tiles["ROAS"].value.endswith("x")
    assert tiles["ROAS"].delta.endswith("%")  # change vs baseline
    assert has_key(at, "trend_chart")
    assert any("ROAS" in m.value for m in at.markdown)  # the headline answer
    assert any("Baseline" in c.value and "current" in c.value for c in at.caption)


def test_overview_window_picker_changes_the_windows(app_on_sample: AppTest) -> None:
    at = show(app_on_sample, "Overview")
    before = next(c.value for c in at.caption if c.value.startswith("Baseline"))
    modes = at.selectbox(key="window_mode")
    at = modes.set_value(next(o for o in modes.options if o.startswith("Month over month"))).run()
    assert not errors_of(at)
    after = next(c.value for c in at.caption if c.value.startswith("Baseline"))
    assert after != before
    at.selectbox(key="window_mode").set_value(modes.options[0]).run()


def test_diagnosis_shows_waterfall_mix_hypotheses_and_drilldown(app_on_sample: AppTest) -> None:
    at = show(app_on_sample, "Diagnosis")
    for key in ("waterfall_chart", "decomposition_table", "mix_chart", "hypotheses_table", "evidence_table",
                "drill_chart", "drill_table"):
        assert has_key(at, key), key
    hyps = frame(at, "hypotheses_table")
    assert {"id", "status", "title", "segment", "change", "q_value", "confidence"} <= set(hyps.columns)
    assert hyps["id"].iloc[0] == "H1"
    evidence = frame(at, "evidence_table")
    assert set(evidence["window"]) >= {"baseline", "current"}
    at.selectbox(key="drill_dimension").set_value("platform").run()
    drill = frame(at, "drill_table")
    assert set(drill["platform"]) >= {"Facebook", "Instagram"}


def test_data_quality_accounts_for_every_row_and_offers_the_correction_file(app_on_sample: AppTest) -> None:
    at = show(app_on_sample, "Data quality")
    m = {x.label: int(x.value.replace(",", "")) for x in at.metric}
    assert m["Rows read"] == 4500
    assert m["Rows read"] == m["Accepted"] + m["Quarantined"] + m["Duplicates removed"]
    audit = at.data_editor(key="name_audit").value
    assert {"raw_name", "canonical_name", "level", "score"} <= set(audit.columns)
    assert (audit["raw_name"] != audit["canonical_name"]).any()  # the sample's messy spellings
    assert has_key(at, "dl_overrides")


def test_filters_apply_to_every_page(app_on_sample: AppTest) -> None:
    at = show(app_on_sample, "Overview")
    spend_all = next(m.value for m in at.metric if m.label == "Spend")
    at.multiselect(key="filter_platform").set_value(["Instagram"]).run()
    assert not errors_of(at)
    spend_ig = next(m.value for m in at.metric if m.label == "Spend")
    assert spend_ig != spend_all
    at = show(at, "Diagnosis")
    assert any("platform in {Instagram}" in shown_text(c.value) for c in at.caption)
    at.selectbox(key="drill_dimension").set_value("platform").run()
    assert set(frame(at, "drill_table")["platform"]) == {"Instagram"}
    at = show(at, "Data quality")
    assert any("the current filters keep" in c.value and "of its 4,500" in c.value for c in at.caption)
    at.multiselect(key="filter_platform").set_value([]).run()


@pytest.mark.slow
def test_forecast_page_shows_fan_chart_and_allocation(app_on_sample: AppTest) -> None:
    at = show(app_on_sample, "Forecast & budget")
    for key in ("fan_chart", "series_table", "allocation_chart", "allocation_table"):
        assert has_key(at, key), key
    alloc = frame(at, "allocation_table")
    assert {"campaign", "current spend/day", "proposed spend/day"} <= set(alloc.columns)
    assert any(m.label == "Daily budget" for m in at.metric)


@pytest.mark.slow
def test_creatives_page_shows_themes_fatigue_and_recommendations(app_on_sample: AppTest) -> None:
    at = show(app_on_sample, "Creatives")
    for key in ("theme_map_chart", "theme_perf_chart", "themes_table"):
        assert has_key(at, key), key
    themes = frame(at, "themes_table")
    assert {"theme", "label", "verdict", "CTR", "CTR interval"} <= set(themes.columns)
    assert any(e.label.startswith(("Men", "MEN", "Women", "WOMEN")) for e in at.expander)  # recommendations
    assert any("predicted CTR" in df.value.columns for df in at.dataframe if hasattr(df.value, "columns"))
