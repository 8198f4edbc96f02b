"""The same Ibis expressions on DuckDB and on PySpark (local mode) give the same tables.

One Spark session for the whole module (it takes ~10 s to start). Floats are compared with a
relative tolerance of 1e-9 because the engines add floating-point numbers in different orders;
counts, labels and the set and order of segments must match exactly.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fb_analyst import schema as S
from fb_analyst.engine import connect, table_from_pandas
from fb_analyst.segments import account_daily, compare_segments, segment_daily, window_kpis
from fb_analyst.windows import WindowSpec, resolve_windows

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def sample_frame(sample_csv_path) -> pd.DataFrame:
    df = pd.read_csv(sample_csv_path).rename(columns={"campaign_name": S.CAMPAIGN, "adset_name": S.ADSET})
    df[S.DATE] = pd.to_datetime(df[S.DATE])
    return df


@pytest.fixture(scope="module")
def spark_con():
    pytest.importorskip("pyspark")
    con = connect("pyspark")
    yield con
    con._session.stop()


@pytest.fixture(scope="module")
def both_engines(sample_frame, spark_con):
    """The sample as a DuckDB table and as a Spark table."""
    return table_from_pandas(sample_frame), table_from_pandas(sample_frame, con=spark_con)


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                  check_exact=False, rtol=1e-9, check_dtype=False)


def test_windows_are_identical(both_engines):
    duck, spark = both_engines
    for spec in (WindowSpec(), WindowSpec(preset="long"), WindowSpec(current="2025-03-01:2025-03-10")):
        assert resolve_windows(duck, spec) == resolve_windows(spark, spec)


def test_segment_tables_are_identical(both_engines):
    duck, spark = both_engines
    windows = resolve_windows(duck)
    d = compare_segments(duck, windows)
    s = compare_segments(spark, windows)
    assert len(d.frame) > 1000  # every dimension and pair of the sample
    assert d.frame["segment"].tolist() == s.frame["segment"].tolist()
    assert d.dependent_pairs == s.dependent_pairs
    assert_same(d.frame, s.frame)
    spark_kpis = window_kpis(spark, windows)
    for w in ("baseline", "current"):
        for name, value in d.account_kpis(w).items():
            other = spark_kpis[w][name]
            assert other.undefined_reason == value.undefined_reason
            assert other.value == pytest.approx(value.value, rel=1e-9)


def test_daily_series_are_identical(both_engines):
    duck, spark = both_engines
    assert_same(account_daily(duck), account_daily(spark))
    assert_same(segment_daily(duck, [S.PLATFORM, S.COUNTRY]), segment_daily(spark, [S.PLATFORM, S.COUNTRY]))
