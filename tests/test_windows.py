"""Window rules: defaults, explicit ranges, presets, errors and partial edge days (hand-computed)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from fb_analyst import schema as S
from fb_analyst.engine import table_from_pandas
from fb_analyst.errors import InputError, UnknownNameError, WindowError
from fb_analyst.settings import Settings
from fb_analyst.windows import Window, WindowSpec, resolve_windows


def daily_rows(start: str, days: int, campaigns: int = 2, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """``campaigns`` rows per day with identical volumes, from ``start`` for ``days`` days."""
    first = date.fromisoformat(start)
    rows = []
    for i in range(days):
        day = first + timedelta(days=i)
        if day.isoformat() in skip:
            continue
        for c in range(campaigns):
            rows.append({S.DATE: day, S.CAMPAIGN: f"c{c}", S.SPEND: 100.0, S.IMPRESSIONS: 10_000,
                         S.CLICKS: 100.0, S.PURCHASES: 5, S.REVENUE: 250.0})
    df = pd.DataFrame(rows)
    df[S.DATE] = pd.to_datetime(df[S.DATE])
    return df


@pytest.fixture(scope="module")
def march_28_days():
    """2025-03-01 .. 2025-03-28, two campaigns a day."""
    return table_from_pandas(daily_rows("2025-03-01", 28))


@pytest.fixture(scope="module")
def sixty_days():
    """2025-01-01 .. 2025-03-01 (60 days)."""
    return table_from_pandas(daily_rows("2025-01-01", 60))


def span(w: Window) -> tuple[str, str]:
    return w.start.isoformat(), w.end.isoformat()


def test_default_is_last_7_days_vs_the_7_before(march_28_days):
    w = resolve_windows(march_28_days)
    assert span(w.current) == ("2025-03-22", "2025-03-28")
    assert span(w.baseline) == ("2025-03-15", "2025-03-21")
    assert w.current.days == 7 and w.current.days_with_data == 7
    assert (w.data_start, w.data_end) == (date(2025, 3, 1), date(2025, 3, 28))
    assert w.partial_days == [] and w.preset is None
    assert w.current.label == "2025-03-22..2025-03-28"
    assert w.window_of(date(2025, 3, 15)) == "baseline" and w.window_of(date(2025, 3, 1)) is None


def test_day_counts(march_28_days):
    w = resolve_windows(march_28_days, WindowSpec(current_days=3))
    assert span(w.current) == ("2025-03-26", "2025-03-28")
    assert span(w.baseline) == ("2025-03-19", "2025-03-25")  # settings' 7 days before current
    w = resolve_windows(march_28_days, WindowSpec(current_days=3, baseline_days=2))
    assert span(w.baseline) == ("2025-03-24", "2025-03-25")
    w = resolve_windows(march_28_days, settings=Settings(windows={"current_days": 14, "baseline_days": 14}))
    assert span(w.current) == ("2025-03-15", "2025-03-28") and span(w.baseline) == ("2025-03-01", "2025-03-14")


def test_explicit_ranges(march_28_days):
    spec = WindowSpec(current="2025-03-17:2025-03-23", baseline="2025-03-10:2025-03-16")
    w = resolve_windows(march_28_days, spec)
    assert span(w.current) == ("2025-03-17", "2025-03-23") and span(w.baseline) == ("2025-03-10", "2025-03-16")
    # explicit current, baseline from the day count: the N days right before it
    w = resolve_windows(march_28_days, WindowSpec(current="2025-03-20:2025-03-21", baseline_days=3))
    assert span(w.baseline) == ("2025-03-17", "2025-03-19")
    # a baseline after the current window is allowed as long as they do not overlap
    w = resolve_windows(march_28_days, WindowSpec(current="2025-03-01:2025-03-02", baseline="2025-03-03:2025-03-04"))
    assert w.baseline.start == date(2025, 3, 3)


def test_presets(sixty_days):
    wow = resolve_windows(sixty_days, WindowSpec(preset="wow"))
    assert span(wow.current) == ("2025-02-23", "2025-03-01") and span(wow.baseline) == ("2025-02-16", "2025-02-22")
    assert wow.preset == "wow"
    mom = resolve_windows(sixty_days, WindowSpec(preset="mom"))
    assert span(mom.current) == ("2025-02-02", "2025-03-01") and span(mom.baseline) == ("2025-01-05", "2025-02-01")
    long = resolve_windows(sixty_days, WindowSpec(preset="long"))
    assert span(long.current) == ("2025-02-23", "2025-03-01") and span(long.baseline) == ("2025-01-01", "2025-02-22")
    assert long.baseline.days == 53
    # explicit options override a preset's lengths
    w = resolve_windows(sixty_days, WindowSpec(preset="long", current_days=10))
    assert span(w.current) == ("2025-02-20", "2025-03-01") and w.baseline.end == date(2025, 2, 19)
    assert resolve_windows(sixty_days, WindowSpec(preset="MOM")).preset == "mom"


@pytest.mark.parametrize(
    "spec, fragments",
    [
        (dict(current="2025-03-25:2025-04-02"), ["--current 2025-03-25:2025-04-02", "outside the data",
                                                  "2025-03-01..2025-03-28"]),
        (dict(baseline="2025-02-20:2025-02-27"), ["--baseline 2025-02-20:2025-02-27", "outside the data"]),
        (dict(current_days=22), ["baseline window (7 days before current)", "2025-02-28..2025-03-06",
                                 "outside the data"]),
        (dict(current_days=29), ["--current-days 29", "outside the data"]),
        (dict(current="2025-03-10:2025-03-20", baseline="2025-03-01:2025-03-10"), ["overlaps", "--baseline"]),
        (dict(preset="mom"), ["preset mom", "outside the data"]),
        (dict(preset="long", current="2025-03-01:2025-03-05"), ["--compare long", "no days before"]),
        (dict(current="2025-03-20:2025-03-21", current_days=2), ["give --current or --current-days"]),
        (dict(preset="long", baseline_days=3), ["--compare long", "drop --baseline"]),
    ],
)
def test_window_errors_name_the_option_value_and_data_range(march_28_days, spec, fragments):
    with pytest.raises(WindowError) as err:
        resolve_windows(march_28_days, WindowSpec(**spec))
    for fragment in fragments:
        assert fragment in str(err.value)
    assert err.value.exit_code == 2


def test_window_without_data_rows_is_an_error():
    gap = tuple(f"2025-03-{d:02d}" for d in range(10, 17))
    t = table_from_pandas(daily_rows("2025-03-01", 28, skip=gap))
    with pytest.raises(WindowError, match="--baseline 2025-03-10:2025-03-16: window .* has no data rows"):
        resolve_windows(t, WindowSpec(current="2025-03-17:2025-03-23", baseline="2025-03-10:2025-03-16"))
    # windows partly in a gap are fine and report how many days have data
    w = resolve_windows(t, WindowSpec(current="2025-03-17:2025-03-23", baseline="2025-03-08:2025-03-14"))
    assert w.baseline.days == 7 and w.baseline.days_with_data == 2


@pytest.mark.parametrize(
    "spec, exc, fragment",
    [
        (dict(current="2025-03-23:2025-03-17"), WindowError, "empty window, END 2025-03-17 is before START"),
        (dict(current="2025-03-17"), WindowError, "expected START:END"),
        (dict(baseline="2025-02-30:2025-03-02"), WindowError, "--baseline '2025-02-30:2025-03-02': not valid ISO"),
        (dict(current_days=0), WindowError, "--current-days 0: must be a whole number of days >= 1"),
        (dict(baseline_days=-3), WindowError, "--baseline-days -3"),
        (dict(preset="yoy"), UnknownNameError, "valid --compare presets: wow, mom, long"),
    ],
)
def test_malformed_specs_fail_at_construction(spec, exc, fragment):
    with pytest.raises(exc) as err:
        WindowSpec(**spec)
    assert fragment in str(err.value)
    assert isinstance(err.value, InputError)


def test_empty_table_is_an_error():
    t = table_from_pandas(daily_rows("2025-03-01", 3).iloc[0:0].astype({S.CAMPAIGN: "string"}))
    with pytest.raises(WindowError, match="no rows with a date"):
        resolve_windows(t)


def test_partial_last_day_by_volume_and_first_day_by_rows():
    df = daily_rows("2025-03-01", 28, campaigns=4)
    last = df[S.DATE] == pd.Timestamp("2025-03-28")
    df.loc[last, S.IMPRESSIONS] = 3_000  # 30% of the usual 10,000 per row
    df = df[~((df[S.DATE] == pd.Timestamp("2025-03-01")) & (df[S.CAMPAIGN] != "c0"))]  # 1 of 4 rows
    w = resolve_windows(table_from_pandas(df))
    by_edge = {p.edge: p for p in w.partial_days}
    assert by_edge["last"].date == date(2025, 3, 28) and by_edge["last"].metric == "impressions"
    assert by_edge["last"].ratio == pytest.approx(0.3)
    assert by_edge["last"].reference == 40_000
    assert "last day 2025-03-28 looks cut mid-day" in by_edge["last"].reason
    first = by_edge["first"]
    assert first.date == date(2025, 3, 1) and first.ratio == pytest.approx(0.25)
    assert "rows 1 = 25% of the median 4" in first.reason
    # reported, not excluded, by default
    assert w.current.end == date(2025, 3, 28)
    # excluded on request: default windows end the day before
    w = resolve_windows(table_from_pandas(df), settings=Settings(windows={"exclude_partial_days": True}))
    assert span(w.current) == ("2025-03-21", "2025-03-27")


def test_normal_edge_days_are_not_partial():
    df = daily_rows("2025-03-01", 14)
    df.loc[df[S.DATE] == pd.Timestamp("2025-03-14"), S.SPEND] = 60.0  # 60%: above the 50% threshold
    assert resolve_windows(table_from_pandas(df)).partial_days == []


@pytest.mark.parametrize("as_type", ["date", "string", "timestamp"])
def test_date_column_types(as_type):
    df = daily_rows("2025-03-01", 14)
    if as_type == "date":
        df[S.DATE] = df[S.DATE].dt.date
    elif as_type == "string":
        df[S.DATE] = df[S.DATE].dt.strftime("%Y-%m-%d")
    w = resolve_windows(table_from_pandas(df))
    assert span(w.current) == ("2025-03-08", "2025-03-14")


def test_windows_json_round_trip(march_28_days):
    w = resolve_windows(march_28_days)
    dumped = w.model_dump(mode="json")
    assert dumped["current"] == {"start": "2025-03-22", "end": "2025-03-28", "days_with_data": 7,
                                 "days": 7, "label": "2025-03-22..2025-03-28"}
    assert "current = the last 7 days" in dumped["rule"]
