"""KPI registry and aggregation: hand-computed answers, missing values, zero denominators."""

from __future__ import annotations

import json
import math
import warnings
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fb_analyst import schema as S
from fb_analyst.engine import table_from_pandas
from fb_analyst.errors import UnknownNameError
from fb_analyst.kpis import (
    KPIS,
    RATIO_KPIS,
    aggregate,
    format_kpi,
    get_kpi,
    kpi_frame,
    kpi_values,
    ratio_array,
    ratio_value,
    safe_ratio,
    to_records,
)

NAN = float("nan")


@pytest.fixture
def three_rows_with_gaps() -> pd.DataFrame:
    """Three rows of one day; clicks missing in row 2, spend and revenue missing in row 3."""
    return pd.DataFrame(
        {
            S.DATE: pd.to_datetime(["2025-03-01"] * 3),
            S.CAMPAIGN: ["a", "a", "b"],
            S.SPEND: [10.0, 20.0, NAN],
            S.IMPRESSIONS: [1000, 3000, 2000],
            S.CLICKS: [50.0, NAN, 10.0],
            S.PURCHASES: [5, 2, 0],
            S.REVENUE: [40.0, 30.0, NAN],
        }
    )


def test_hand_computed_kpis_use_rows_where_inputs_are_known(three_rows_with_gaps):
    v = kpi_values(table_from_pandas(three_rows_with_gaps))
    # Additive: sums of known values; coverage = rows with the value / all rows.
    assert v["impressions"].value == 6000 and v["impressions"].coverage == 1
    assert v["clicks"].value == 60 and v["clicks"].coverage == pytest.approx(2 / 3)
    assert v["spend"].value == 30 and v["spend"].coverage == pytest.approx(2 / 3)
    assert v["purchases"].value == 7
    assert v["revenue"].value == 70
    # Ratios: sums over rows where both inputs are known.
    assert v["ctr"].value == pytest.approx(60 / 3000)  # rows 1, 3 (mean of row ratios would be 0.0275)
    assert v["ctr"].coverage == pytest.approx(2 / 3)
    assert v["cpc"].value == pytest.approx(10 / 50) and v["cpc"].coverage == pytest.approx(1 / 3)
    assert v["cpm"].value == pytest.approx(1000 * 30 / 4000)  # rows 1, 2
    assert v["cvr"].value == pytest.approx(5 / 60)  # rows 1, 3
    assert v["cpa"].value == pytest.approx(30 / 7)  # rows 1, 2
    assert v["aov"].value == pytest.approx(70 / 7)  # rows 1, 2
    assert v["roas"].value == pytest.approx(70 / 30)  # rows 1, 2
    assert all(x.undefined_reason is None for x in v.values())


def test_kpi_frame_groups_and_keeps_parts(three_rows_with_gaps):
    f = kpi_frame(table_from_pandas(three_rows_with_gaps), by=[S.CAMPAIGN])
    assert list(f[S.CAMPAIGN]) == ["a", "b"]
    a, b = f.iloc[0], f.iloc[1]
    assert a["ctr"] == pytest.approx(50 / 1000) and a["coverage_ctr"] == 0.5
    assert a["ctr_num"] == 50 and a["ctr_den"] == 1000 and a["n_ctr"] == 1
    assert a["roas"] == pytest.approx(70 / 30)
    assert b["ctr"] == pytest.approx(10 / 2000)
    # Campaign b has no known spend: spend-based KPIs are NaN in the frame ...
    assert math.isnan(b["cpm"]) and math.isnan(b["spend"]) and b["n_spend"] == 0
    # ... and explicit undefined values in records.
    rec = to_records(f, by=[S.CAMPAIGN])[1]
    assert rec["cpm"] == {"value": None, "undefined_reason": "no rows with spend and impressions both known",
                          "coverage": 0.0}
    assert rec["spend"]["undefined_reason"] == "no rows with spend known"
    json.dumps(to_records(f, by=[S.CAMPAIGN]), allow_nan=False)


def test_zero_denominators_are_explicit_undefined():
    df = pd.DataFrame({S.DATE: [date(2025, 3, 1)] * 2, S.CAMPAIGN: ["a", "a"], S.SPEND: [5.0, 0.0],
                       S.IMPRESSIONS: [100, 0], S.CLICKS: [0.0, 0.0], S.PURCHASES: [0, 0],
                       S.REVENUE: [0.0, 0.0]})
    v = kpi_values(table_from_pandas(df))
    assert v["cpc"].value is None and v["cpc"].undefined_reason == "zero clicks"
    assert v["cvr"].undefined_reason == "zero clicks and zero purchases"
    assert v["cpa"].undefined_reason == "zero purchases"
    assert v["aov"].undefined_reason == "zero purchases and zero revenue"
    assert v["ctr"].value == 0.0 and v["roas"].value == 0.0
    assert v["cpm"].value == pytest.approx(1000 * 5 / 100)
    f = kpi_frame(table_from_pandas(df))
    assert not np.isinf(f.select_dtypes("number").to_numpy()).any()


def test_all_values_missing_and_absent_columns():
    df = pd.DataFrame({S.DATE: [date(2025, 3, 1)] * 2, S.CAMPAIGN: ["a", "b"], S.SPEND: [1.0, 2.0],
                       S.IMPRESSIONS: [10, 20], S.CLICKS: [NAN, NAN]})  # no purchases/revenue columns
    v = kpi_values(table_from_pandas(df))
    assert v["clicks"].value is None and v["clicks"].coverage == 0
    assert v["ctr"].undefined_reason == "no rows with clicks and impressions both known"
    assert v["roas"].undefined_reason == "no rows with revenue and spend both known"
    assert v["cpm"].value == pytest.approx(1000 * 3 / 30)


def test_unknown_kpi_names_list_the_valid_ones(three_rows_with_gaps):
    with pytest.raises(UnknownNameError) as err:
        get_kpi("roi")
    assert "unknown KPI 'roi'" in str(err.value)
    for name in KPIS:
        assert name in str(err.value)
    with pytest.raises(UnknownNameError):
        kpi_frame(table_from_pandas(three_rows_with_gaps), kpis=["ctr", "bogus"])
    assert get_kpi("ROAS").name == "roas"


def test_legacy_helpers_and_formatting():
    assert ratio_value(1, 0).undefined_reason == "zero denominator"
    assert safe_ratio(3, 4, 1000) == 750
    assert format_kpi("ctr", kpi_values(pd.Series(_row(clicks=1, impressions=100)))["ctr"]) == "1.00%"
    assert format_kpi("cpa", ratio_value(1, 0)) == "n/a"


def _row(**sums: float) -> dict[str, float]:
    """An aggregate row with every row known (for kpi_values on a plain mapping)."""
    row: dict[str, float] = {"n_rows": 1}
    for m in S.MEASURES:
        row[m] = sums.get(m, 0.0)
        row[f"n_{m}"] = 1
    for k in RATIO_KPIS:
        row[f"{k.name}_num"], row[f"{k.name}_den"], row[f"n_{k.name}"] = row[k.numerator], row[k.denominator], 1
    return row


def test_aggregate_is_lazy_and_daily(three_rows_with_gaps):
    expr = aggregate(table_from_pandas(three_rows_with_gaps), by=[S.DATE])
    assert "n_rows" in expr.columns and "roas_num" in expr.columns  # an Ibis expression
    f = kpi_frame(table_from_pandas(three_rows_with_gaps), by=[S.DATE])
    assert f[S.DATE].tolist() == [date(2025, 3, 1)] and f["n_rows"].tolist() == [3]


measure = st.one_of(st.none(), st.integers(0, 10_000).map(float))
rows = st.lists(
    st.tuples(st.sampled_from("abc"), measure, measure, measure, measure, measure), min_size=1, max_size=25
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows)
def test_ratio_of_sums_of_a_partition_combines_to_the_whole(data):
    """Summing each part's numerator/denominator parts and dividing gives the whole's KPI."""
    df = pd.DataFrame(data, columns=[S.CAMPAIGN, S.SPEND, S.IMPRESSIONS, S.CLICKS, S.PURCHASES, S.REVENUE])
    df[list(S.MEASURES)] = df[list(S.MEASURES)].astype("float64")
    df[S.DATE] = date(2025, 3, 1)
    t = table_from_pandas(df)
    whole = kpi_values(t)
    parts = kpi_frame(t, by=[S.CAMPAIGN])
    for k in RATIO_KPIS:
        num, den = parts[f"{k.name}_num"].sum(min_count=1), parts[f"{k.name}_den"].sum(min_count=1)
        combined = ratio_value(num, den, k.scale).value
        # independent oracle: numpy over the rows where both inputs are known
        both = df[k.numerator].notna() & df[k.denominator].notna()
        oracle_den = df.loc[both, k.denominator].sum()
        oracle = k.scale * df.loc[both, k.numerator].sum() / oracle_den if both.any() and oracle_den else None
        if oracle is None:
            assert whole[k.name].value is None and combined is None
        else:
            assert whole[k.name].value == pytest.approx(oracle) == combined
        assert whole[k.name].coverage == pytest.approx(both.mean())


def test_ratio_array_divides_where_the_denominator_is_positive_and_fills_elsewhere():
    num = np.array([1.0, 2.0, 3.0, 0.0, np.nan])
    den = np.array([4.0, 0.0, -1.0, 0.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero / invalid warning escapes
        got = ratio_array(num, den)
        zero = ratio_array(num, den, fill=0.0)
    np.testing.assert_array_equal(got, [0.25, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(zero, [0.25, 0.0, 0.0, 0.0, np.nan])  # a NaN numerator stays NaN
    assert not np.isinf(got).any()


def test_ratio_array_broadcasts_like_numpy():
    # per value (rows) and window (columns) over the window totals: the spend-share use
    spend = np.array([[1.0, 0.0], [3.0, 0.0]])
    total = spend.sum(axis=0)
    np.testing.assert_array_equal(ratio_array(spend, total), [[0.25, np.nan], [0.75, np.nan]])
