"""Segment tables: daily series and baseline vs current per segment (hand-computed), JSON, summary."""

from __future__ import annotations

import json
import math
from datetime import date

import pandas as pd
import pytest
from rich.console import Console

from fb_analyst import schema as S
from fb_analyst.engine import table_from_pandas
from fb_analyst.errors import UnknownNameError
from fb_analyst.segments import (
    account_daily,
    compare_segments,
    kpi_tables,
    render_kpi_summary,
    segment_daily,
    window_kpis,
)
from fb_analyst.windows import WindowSpec, resolve_windows

NAN = float("nan")
COLUMNS = [S.DATE, S.CAMPAIGN, S.PLATFORM, S.SPEND, S.IMPRESSIONS, S.CLICKS, S.PURCHASES, S.REVENUE]
ROWS = [  # baseline = days 1-2, current = days 3-4; campaign C only runs in the current window
    ("2025-03-01", "A", "fb", 10.0, 1000, 10.0, 1, 20.0),
    ("2025-03-01", "B", "ig", 30.0, 2000, 40.0, 2, 30.0),
    ("2025-03-02", "A", "ig", 10.0, 1000, 10.0, 1, 40.0),
    ("2025-03-02", "B", "ig", 50.0, 3000, NAN, 0, 0.0),
    ("2025-03-03", "A", "fb", 20.0, 2000, 30.0, 3, 90.0),
    ("2025-03-03", "C", "fb", 20.0, 1000, 20.0, 0, 0.0),
    ("2025-03-04", "A", "ig", 20.0, 2000, 10.0, 1, 30.0),
    ("2025-03-04", "B", "ig", 40.0, 4000, 40.0, 2, 80.0),
]


@pytest.fixture(scope="module")
def four_days_three_campaigns():
    df = pd.DataFrame(ROWS, columns=COLUMNS)
    df[S.DATE] = pd.to_datetime(df[S.DATE])
    return table_from_pandas(df)


@pytest.fixture(scope="module")
def two_day_windows(four_days_three_campaigns):
    spec = WindowSpec(current="2025-03-03:2025-03-04", baseline="2025-03-01:2025-03-02")
    return resolve_windows(four_days_three_campaigns, spec)


@pytest.fixture(scope="module")
def tables(four_days_three_campaigns, two_day_windows):
    return compare_segments(four_days_three_campaigns, two_day_windows)


def row_of(frame: pd.DataFrame, segment: str) -> pd.Series:
    match = frame[frame["segment"] == segment]
    assert len(match) == 1, segment
    return match.iloc[0]


def test_account_daily_is_ratio_of_the_days_sums(four_days_three_campaigns):
    daily = account_daily(four_days_three_campaigns)
    assert daily[S.DATE].tolist() == [date(2025, 3, d) for d in (1, 2, 3, 4)]
    day2 = daily.iloc[1]
    assert day2[S.SPEND] == 60 and day2[S.IMPRESSIONS] == 4000 and day2[S.CLICKS] == 10
    assert day2["ctr"] == pytest.approx(10 / 1000) and day2["coverage_ctr"] == 0.5  # B's clicks unknown
    assert day2["roas"] == pytest.approx(40 / 60)
    assert daily.iloc[3]["cpa"] == pytest.approx(60 / 3)


def test_segment_daily(four_days_three_campaigns):
    daily = segment_daily(four_days_three_campaigns, [S.CAMPAIGN])
    assert len(daily) == 8
    b2 = daily[(daily[S.DATE] == date(2025, 3, 2)) & (daily[S.CAMPAIGN] == "B")].iloc[0]
    assert math.isnan(b2["ctr"]) and b2["coverage_ctr"] == 0 and b2["cpa"] != b2["cpa"]  # zero purchases
    with pytest.raises(UnknownNameError, match="valid segment dimensions: campaign, platform"):
        segment_daily(four_days_three_campaigns, ["colour"])


def test_campaign_rows_hand_computed(tables):
    camp = tables.table(S.CAMPAIGN)
    assert camp["segment"].tolist() == ["campaign=A", "campaign=B", "campaign=C"]
    a = row_of(camp, "campaign=A")
    assert (a["spend_baseline"], a["spend_current"]) == (20, 40)
    assert a["ctr_baseline"] == pytest.approx(0.01) and a["roas_current"] == pytest.approx(3.0)
    assert a["spend_share_baseline"] == pytest.approx(0.2) and a["spend_share_current"] == pytest.approx(0.4)
    b = row_of(camp, "campaign=B")
    assert b["ctr_baseline"] == pytest.approx(40 / 2000) and b["coverage_ctr_baseline"] == 0.5
    assert b["cvr_baseline"] == pytest.approx(2 / 40)
    assert b["roas_baseline"] == pytest.approx(30 / 80) and b["roas_current"] == pytest.approx(2.0)
    assert b["roas_abs_delta"] == pytest.approx(2 - 0.375)
    assert b["roas_rel_delta"] == pytest.approx(2 / 0.375 - 1)
    assert b["ctr_rel_delta"] == pytest.approx(-0.5)
    assert b["cpa_baseline"] == pytest.approx(40.0) and b["cpa_rel_delta"] == pytest.approx(-0.5)
    c = row_of(camp, "campaign=C")  # new in the current window
    assert c["n_rows_baseline"] == 0 and c["spend_baseline"] == 0 and math.isnan(c["roas_baseline"])
    assert c["spend_abs_delta"] == 20 and math.isnan(c["spend_rel_delta"])
    assert math.isnan(c["cpa_current"]) and c["roas_current"] == 0


def test_platform_and_pair_rows(tables):
    plat = tables.table(S.PLATFORM)
    fb = row_of(plat, "platform=fb")
    assert (fb["spend_baseline"], fb["spend_current"]) == (10, 40)
    assert fb["spend_share_current"] == pytest.approx(0.4)
    pairs = tables.table(S.CAMPAIGN, S.PLATFORM)
    assert pairs["segment"].tolist() == ["campaign=A, platform=fb", "campaign=A, platform=ig",
                                         "campaign=B, platform=ig", "campaign=C, platform=fb"]
    big = row_of(pairs, "campaign=B, platform=ig")
    assert big["level"] == 2 and big["dimension"] == "campaign,platform"
    assert (big["spend_baseline"], big["spend_current"]) == (80, 40)
    assert set(tables.frame["dimension"]) == {"campaign", "platform", "campaign,platform"}
    assert tables.account["spend_baseline"] == 100 and tables.account["impressions_current"] == 9000


def test_min_spend_share_and_no_pairs(four_days_three_campaigns, two_day_windows):
    kept = compare_segments(four_days_three_campaigns, two_day_windows, min_spend_share=0.25)
    assert kept.frame["segment"].tolist() == ["campaign=A", "campaign=B", "platform=fb", "platform=ig",
                                              "campaign=B, platform=ig"]
    single = compare_segments(four_days_three_campaigns, two_day_windows, dims=[S.PLATFORM], pairs=False)
    assert single.frame["dimension"].unique().tolist() == ["platform"]
    with pytest.raises(UnknownNameError):
        compare_segments(four_days_three_campaigns, two_day_windows, dims=["age"])


def test_json_records_are_strict_and_explain_undefined(tables):
    records = tables.to_json_records()
    text = json.dumps(records, allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text
    c = next(r for r in records if r["segment"] == "campaign=C")
    assert c["undefined"]["baseline"] == "no rows in the baseline window"
    assert c["undefined"]["cpa_current"] == "zero purchases"
    assert c["undefined"]["aov_current"] == "zero purchases and zero revenue"
    assert c["roas_baseline"] is None and c["spend_rel_delta"] is None
    full = tables.to_json_records(full=True)
    assert "roas_num_current" in full[0] and "roas_num_current" not in records[0]
    json.dumps(full, allow_nan=False)


def test_account_kpis_and_summary(four_days_three_campaigns, two_day_windows, tables):
    kpis = window_kpis(four_days_three_campaigns, two_day_windows)
    assert kpis["baseline"]["roas"].value == pytest.approx(90 / 100)
    assert kpis["current"]["roas"].value == pytest.approx(200 / 100)
    assert kpis["current"]["cpm"].value == pytest.approx(1000 * 100 / 9000)
    assert tables.account_kpis("current")["roas"] == kpis["current"]["roas"]
    console = Console(record=True, width=100, color_system=None)
    console.print(render_kpi_summary(two_day_windows, four_days_three_campaigns))
    text = console.export_text()
    assert "2025-03-01..2025-03-02" in text and "2025-03-03..2025-03-04" in text
    assert "ROAS" in text and "0.90x" in text and "2.00x" in text and "+122.2%" in text


def test_kpi_tables_export(four_days_three_campaigns, two_day_windows):
    out = kpi_tables(four_days_three_campaigns, two_day_windows)
    data = json.loads(out.model_dump_json())
    json.dumps(data, allow_nan=False)
    assert data["schema_version"] == "1"
    assert data["account"]["current"]["roas"]["value"] == pytest.approx(2.0)
    assert data["account_deltas"]["roas"]["rel_delta"] == pytest.approx(2.0 / 0.9 - 1)
    assert len(data["daily"]) == 4 and data["daily"][0]["date"] == "2025-03-01"
    assert {r["dimension"] for r in data["segments"]} == {"campaign", "platform"}


def test_sample_segments_match_a_pandas_oracle(sample_csv_path):
    """Every single-dimension row of the sample equals a plain pandas ratio-of-sums computation."""
    df = pd.read_csv(sample_csv_path).rename(columns={"campaign_name": S.CAMPAIGN, "adset_name": S.ADSET})
    df[S.DATE] = pd.to_datetime(df[S.DATE])
    t = table_from_pandas(df)
    w = resolve_windows(t)
    seg = compare_segments(t, w, pairs=False)
    cur = df[(df[S.DATE].dt.date >= w.current.start) & (df[S.DATE].dt.date <= w.current.end)]
    for dim in (S.PLATFORM, S.COUNTRY, S.CREATIVE_TYPE):
        table = seg.table(dim).set_index("value_1")
        known = cur[cur[S.REVENUE].notna() & cur[S.SPEND].notna()]
        sums = known.groupby(dim)[[S.REVENUE, S.SPEND]].sum()
        expected = sums[S.REVENUE] / sums[S.SPEND]
        pd.testing.assert_series_equal(table["roas_current"].sort_index(), expected.sort_index(),
                                       check_names=False, rtol=1e-12)
        share = cur.groupby(dim)[S.SPEND].sum() / cur[S.SPEND].sum()
        pd.testing.assert_series_equal(table["spend_share_current"].sort_index(), share.sort_index(),
                                       check_names=False, rtol=1e-12)
    assert seg.frame["segment"].is_unique


@pytest.fixture(scope="module")
def adsets_within_campaigns():
    """Ad sets x1, x2 in campaign A, y1 in B; country missing on one row; 2 days."""
    rows = [
        ("2025-03-01", "A", "x1", "US", 10.0, 100, 5.0, 1, 20.0),
        ("2025-03-01", "A", "x2", None, 10.0, 100, 5.0, 1, 20.0),
        ("2025-03-01", "B", "y1", "US", 20.0, 100, 5.0, 1, 20.0),
        ("2025-03-02", "A", "x1", "UK", 30.0, 100, 5.0, 1, 20.0),
        ("2025-03-02", "B", "y1", "US", 40.0, 100, 5.0, 1, 20.0),
    ]
    cols = [S.DATE, S.CAMPAIGN, S.ADSET, S.COUNTRY, S.SPEND, S.IMPRESSIONS, S.CLICKS, S.PURCHASES, S.REVENUE]
    df = pd.DataFrame(rows, columns=cols)
    df[S.DATE] = pd.to_datetime(df[S.DATE])
    return table_from_pandas(df)


def test_dependent_pairs_are_the_finer_table(adsets_within_campaigns):
    t = adsets_within_campaigns
    w = resolve_windows(t, WindowSpec(current="2025-03-02:2025-03-02", baseline="2025-03-01:2025-03-01"))
    seg = compare_segments(t, w)
    assert seg.dependent_pairs == {"campaign,adset": "adset"}  # each ad set is in one campaign
    assert "campaign,adset" not in set(seg.frame["dimension"])
    pd.testing.assert_frame_equal(seg.table(S.CAMPAIGN, S.ADSET), seg.table(S.ADSET))
    full = compare_segments(t, w, dependent_pairs=True)
    pair = full.table(S.CAMPAIGN, S.ADSET)
    assert pair["segment"].tolist() == ["campaign=A, adset=x1", "campaign=A, adset=x2", "campaign=B, adset=y1"]
    numbers = [c for c in pair.columns if c.endswith(("_baseline", "_current"))]
    pd.testing.assert_frame_equal(pair[numbers], seg.table(S.ADSET)[numbers])


def test_missing_dimension_values_are_their_own_segment(adsets_within_campaigns):
    t = adsets_within_campaigns
    w = resolve_windows(t, WindowSpec(current="2025-03-02:2025-03-02", baseline="2025-03-01:2025-03-01"))
    country = compare_segments(t, w, dims=[S.COUNTRY]).table(S.COUNTRY)
    assert country["segment"].tolist() == ["country=UK", "country=US", "country=(missing)"]
    missing = country.iloc[2]
    assert missing["value_1"] is None and missing["spend_baseline"] == 10 and missing["spend_current"] == 0
    us = country.iloc[1]
    assert us["spend_share_baseline"] == pytest.approx(30 / 40) and us["spend_share_current"] == pytest.approx(40 / 70)


@pytest.fixture(scope="module")
def ads_within_adsets():
    """Ads a1, a2 in ad set x1 (campaign A), a3 in y1 (B); a1 runs in two countries, a3's
    country is missing; 2 days. Has ``ad``, so groupings without it roll up from a coarser cube."""
    rows = [
        ("2025-03-01", "A", "x1", "a1", "US", 10.0, 100, 5.0, 1, 20.0),
        ("2025-03-01", "A", "x1", "a2", "UK", 10.0, 100, 5.0, 1, 20.0),
        ("2025-03-01", "B", "y1", "a3", None, 20.0, 100, 5.0, 1, 20.0),
        ("2025-03-02", "A", "x1", "a1", "UK", 30.0, 100, 5.0, 1, 20.0),
        ("2025-03-02", "B", "y1", "a3", None, 40.0, 100, 5.0, 1, 20.0),
    ]
    cols = [S.DATE, S.CAMPAIGN, S.ADSET, S.AD, S.COUNTRY, S.SPEND, S.IMPRESSIONS, S.CLICKS, S.PURCHASES, S.REVENUE]
    df = pd.DataFrame(rows, columns=cols)
    df[S.DATE] = pd.to_datetime(df[S.DATE])
    return table_from_pandas(df)


def test_dependent_pairs_across_both_cubes_and_missing_values(ads_within_adsets):
    """Pairs with the fine ``ad`` and pairs without it are both recognised; a missing country
    counts as a value: the rows without one are all in ad set y1, so country determines the ad
    set (US and UK are only in x1) and the campaign."""
    t = ads_within_adsets
    w = resolve_windows(t, WindowSpec(current="2025-03-02:2025-03-02", baseline="2025-03-01:2025-03-01"))
    seg = compare_segments(t, w)
    assert seg.dependent_pairs == {"campaign,adset": "adset", "campaign,ad": "ad", "adset,ad": "ad",
                                   "campaign,country": "country", "adset,country": "country"}
    full = compare_segments(t, w, dependent_pairs=True)
    assert full.dependent_pairs == {}
    numbers = [c for c in full.frame.columns if c.endswith(("_baseline", "_current"))]
    for pair, finer in seg.dependent_pairs.items():
        computed = full.table(*pair.split(","))
        finer_values = computed["value_2" if pair.endswith(finer) else "value_1"]
        assert finer_values.tolist() == seg.table(finer)["value_1"].tolist()
        pd.testing.assert_frame_equal(computed[numbers], seg.table(finer)[numbers])
    ad_country = seg.table(S.AD, S.COUNTRY)  # a1 has two countries: not dependent
    assert ad_country["segment"].tolist() == ["ad=a1, country=UK", "ad=a1, country=US", "ad=a2, country=UK",
                                              "ad=a3, country=(missing)"]
    assert seg.frame["dimension"].drop_duplicates().tolist()[:4] == [S.CAMPAIGN, S.ADSET, S.AD, S.COUNTRY]
