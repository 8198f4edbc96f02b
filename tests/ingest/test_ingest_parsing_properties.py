"""Property tests (hypothesis) for number and date parsing, run through the real engine."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings as hsettings, strategies as st

from fb_analyst.engine import connect
from fb_analyst.ingest.parsing import decide_date_order, decide_decimal, parse_dates, parse_numbers

CON = connect()
amounts = st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


def render(value, decimal: str, thousands: bool, symbol: str, spaces: bool) -> str:
    text = f"{abs(value):,.2f}" if thousands else f"{abs(value):.2f}"
    if decimal == ",":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    text = ("-" if value < 0 else "") + text
    if symbol:
        text = f"{symbol} {text}" if symbol.isalpha() else symbol + text
    return f"  {text}\u00a0" if spaces else text


@hsettings(max_examples=40, deadline=None)
@given(
    st.lists(amounts, min_size=1, max_size=25),
    st.sampled_from([".", ","]),
    st.booleans(),
    st.sampled_from(["", "$", "€", "£", "₹", "INR", "USD"]),
    st.booleans(),
)
def test_numbers_round_trip(values, decimal, thousands, symbol, spaces):
    texts = [render(v, decimal, thousands, symbol, spaces) for v in values]
    parsed = parse_numbers(texts, decimal, con=CON)
    assert parsed == [float(v) for v in values]


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=25), st.sampled_from([".", ","]))
def test_integer_counts_with_thousands_separators(values, decimal):
    sep = "," if decimal == "." else "."
    texts = [f"{v:,}".replace(",", sep) for v in values]
    assert parse_numbers(texts, decimal, con=CON) == [float(v) for v in values]


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["", "  ", "-", "n/a", "abc", "1.2.3x", "nan", "inf"])),
                min_size=1, max_size=10))
def test_missing_and_garbage_never_become_numbers(texts):
    assert parse_numbers(texts, ".", con=CON) == [None] * len(texts)


dates = st.dates(min_value=date(1995, 1, 1), max_value=date(2090, 12, 31))
FORMATS = {"ymd": "{y:04d}{s}{m:02d}{s}{d:02d}", "dmy": "{d:02d}{s}{m:02d}{s}{y:04d}",
           "mdy": "{m:02d}{s}{d:02d}{s}{y:04d}"}


@hsettings(max_examples=40, deadline=None)
@given(st.lists(dates, min_size=1, max_size=25), st.sampled_from(list(FORMATS)), st.sampled_from(["-", "/", "."]))
def test_dates_round_trip_in_their_order(values, order, sep):
    texts = [FORMATS[order].format(y=v.year, m=v.month, d=v.day, s=sep) for v in values]
    assert parse_dates(texts, order, con=CON) == values


@hsettings(max_examples=200, deadline=None)
@given(st.lists(dates, min_size=1, max_size=40), st.sampled_from(["dmy", "mdy"]))
def test_date_order_is_decided_from_a_day_above_12(values, order):
    values = values + [date(2025, 3, 25)]  # one unambiguous date
    texts = [FORMATS[order].format(y=v.year, m=v.month, d=v.day, s="-") for v in values]
    assert decide_date_order(texts).value == order


@hsettings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.integers(min_value=2, max_value=40), st.sampled_from(["dmy", "mdy"]))
def test_contiguous_ambiguous_days_pick_the_compact_calendar(start, length, order):
    first = date(2025, 1, 1).toordinal() + start
    days = [date.fromordinal(first + i) for i in range(length)]
    days = [d for d in days if d.day <= 12] or [date(2025, 1, 2), date(2025, 1, 3)]
    if len({(d.day, d.month) for d in days}) < 2 or all(d.day == d.month for d in days):
        return
    texts = [FORMATS[order].format(y=d.year, m=d.month, d=d.day, s="/") for d in days]
    decided = decide_date_order(texts).value
    assert decided == order


@given(st.lists(amounts.filter(lambda v: v != v.to_integral_value()), min_size=3, max_size=20))
def test_decimal_comma_is_recognised(values):
    texts = [render(v, ",", True, "", False) for v in values]
    assert decide_decimal(texts).value == ","
