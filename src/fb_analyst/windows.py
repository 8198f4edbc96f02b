"""Analysis windows: which days are "current" and which are the "baseline" they are compared with.

Input: the canonical table (an ``ibis.Table``) and a :class:`WindowSpec` (what the user asked for,
as the CLI options ``--current``, ``--current-days``, ``--baseline``, ``--baseline-days`` and
``--compare``). Output: a frozen :class:`Windows` record with both windows (inclusive ISO dates),
the data range and the edge days that look cut mid-day.

Rules (lengths come from :class:`~fb_analyst.settings.WindowSettings`):

* default: current = the last ``current_days`` (7) days of the data, baseline = the
  ``baseline_days`` (7) days immediately before it;
* ``--current START:END`` / ``--baseline START:END``: explicit inclusive ranges;
* ``--current-days N`` / ``--baseline-days N``: current = last N days, baseline = N days before current;
* presets (``--compare``): ``wow`` = last ``wow_days`` (7) vs the 7 before; ``mom`` = last
  ``mom_days`` (28, whole weeks so the weekday mix matches) vs the 28 before; ``long`` = current as
  above, baseline = every day of the data before the current window. Explicit options override
  the preset's lengths.

A window that is malformed, reversed, outside the data, overlapping the other one or without any
data row raises :class:`~fb_analyst.errors.WindowError` naming the option, the value and the data range.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field, field_validator

from fb_analyst import schema as S
from fb_analyst.errors import UnknownNameError, WindowError
from fb_analyst.settings import Settings, WindowSettings

if TYPE_CHECKING:  # pandas and Ibis load when a window is resolved, not when a spec is parsed
    import ibis
    import pandas as pd

Preset = Literal["wow", "mom", "long"]
PRESETS: tuple[str, ...] = ("wow", "mom", "long")

#: CLI spelling of each WindowSpec field, used in error messages.
OPTION: dict[str, str] = {
    "current": "--current",
    "current_days": "--current-days",
    "baseline": "--baseline",
    "baseline_days": "--baseline-days",
    "preset": "--compare",
}


def parse_range(value: str, option: str = "--current") -> tuple[date, date]:
    """Parse ``'YYYY-MM-DD:YYYY-MM-DD'`` (inclusive); WindowError names ``option`` on bad input."""
    parts = value.strip().split(":") if isinstance(value, str) else []
    if len(parts) != 2:
        raise WindowError(
            f"{option} {value!r}: expected START:END as ISO dates, e.g. 2025-03-17:2025-03-23"
        )
    try:
        start, end = (date.fromisoformat(p.strip()) for p in parts)
    except ValueError:
        raise WindowError(
            f"{option} {value!r}: not valid ISO dates (YYYY-MM-DD:YYYY-MM-DD), e.g. 2025-03-17:2025-03-23"
        ) from None
    if end < start:
        raise WindowError(f"{option} {value!r}: empty window, END {end} is before START {start}")
    return start, end


class WindowSpec(BaseModel):
    """What the user asked for; ``None`` fields fall back to the preset, then to the settings.

    Malformed values raise WindowError / UnknownNameError (exit code 2) at construction.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    current: str | None = None
    current_days: int | None = None
    baseline: str | None = None
    baseline_days: int | None = None
    preset: Preset | None = None

    @field_validator("current", "baseline", mode="before")
    @classmethod
    def _check_range(cls, value: Any, info: Any) -> Any:
        if value is not None:
            parse_range(value, OPTION[info.field_name])
        return value

    @field_validator("current_days", "baseline_days", mode="before")
    @classmethod
    def _check_days(cls, value: Any, info: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise WindowError(f"{OPTION[info.field_name]} {value!r}: must be a whole number of days >= 1")
        return value

    @field_validator("preset", mode="before")
    @classmethod
    def _check_preset(cls, value: Any) -> Any:
        if value is not None:
            value = str(value).lower()
            if value not in PRESETS:
                raise UnknownNameError("--compare preset", value, PRESETS)
        return value


class Window(BaseModel):
    """An inclusive range of calendar days."""

    model_config = ConfigDict(frozen=True)

    start: date
    end: date
    days_with_data: int | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def date_filter(self, table: ibis.Table) -> ibis.Value:
        """Ibis boolean expression selecting the rows of ``table`` inside this window."""
        return table[S.DATE].cast("date").between(self.start, self.end)


class PartialDay(BaseModel):
    """An edge day of the data whose volume is far below its neighbours (likely cut mid-day)."""

    model_config = ConfigDict(frozen=True)

    date: date
    edge: Literal["first", "last"]
    metric: str
    value: float
    reference: float
    ratio: float
    reason: str


class Windows(BaseModel):
    """The resolved baseline and current windows, the data range and partial edge days."""

    model_config = ConfigDict(frozen=True)

    baseline: Window
    current: Window
    preset: str | None = None
    data_start: date
    data_end: date
    partial_days: list[PartialDay] = []
    rule: str = ""

    def window_of(self, day: date) -> str | None:
        """'baseline', 'current' or None for a day."""
        if self.current.contains(day):
            return "current"
        return "baseline" if self.baseline.contains(day) else None


def _daily_volumes(table: ibis.Table) -> pd.DataFrame:
    """Rows, impressions and spend per day (a tiny aggregate; the only data this module reads)."""
    dated = table.filter(table[S.DATE].notnull())
    metrics: dict[str, Any] = {"rows": dated.count()}
    for measure in (S.IMPRESSIONS, S.SPEND):
        if measure in table.columns:
            metrics[measure] = dated[measure].cast("float64").sum()
    import pandas as pd

    daily = dated.group_by(dated[S.DATE].cast("date").name(S.DATE)).aggregate(**metrics).to_pandas()
    daily[S.DATE] = pd.to_datetime(daily[S.DATE]).dt.date
    return daily.sort_values(S.DATE).reset_index(drop=True)


def detect_partial_days(daily: pd.DataFrame, cfg: WindowSettings) -> list[PartialDay]:
    """Edge days whose rows, impressions or spend fall below ``partial_day_ratio`` x the median
    of the ``partial_day_reference_days`` neighbouring days. Needs at least 3 days of data."""
    import pandas as pd  # loaded already: ``daily`` is a frame

    if len(daily) < 3:
        return []
    found: list[PartialDay] = []
    k = cfg.partial_day_reference_days
    edges = (("first", daily.iloc[0], daily.iloc[1 : 1 + k]), ("last", daily.iloc[-1], daily.iloc[-1 - k : -1]))
    for edge, row, neighbours in edges:
        low: list[tuple[float, str, float, float]] = []
        for metric in ("rows", S.IMPRESSIONS, S.SPEND):
            if metric not in daily.columns or pd.isna(row[metric]):
                continue
            reference = float(neighbours[metric].median())
            if not reference > 0:
                continue
            ratio = float(row[metric]) / reference
            if ratio < cfg.partial_day_ratio:
                low.append((ratio, metric, float(row[metric]), reference))
        if low:
            low.sort()
            parts = "; ".join(f"{m} {v:,.0f} = {r:.0%} of the median {ref:,.0f}" for r, m, v, ref in low)
            ratio, metric, value, reference = low[0]
            reason = (
                f"{edge} day {row[S.DATE]} looks cut mid-day: {parts} of the {len(neighbours)} "
                f"neighbouring days (threshold {cfg.partial_day_ratio:.0%})"
            )
            found.append(PartialDay(date=row[S.DATE], edge=edge, metric=metric, value=value,
                                    reference=reference, ratio=ratio, reason=reason))
    return found


def _preset_lengths(preset: str | None, cfg: WindowSettings) -> tuple[int, int | None]:
    """(current_days, baseline_days) of a preset; baseline None means 'everything before'."""
    if preset == "wow":
        return cfg.wow_days, cfg.wow_days
    if preset == "mom":
        return cfg.mom_days, cfg.mom_days
    if preset == "long":
        return cfg.current_days, None
    return cfg.current_days, cfg.baseline_days


def resolve_windows(
    table: ibis.Table, spec: WindowSpec | None = None, settings: Settings | None = None
) -> Windows:
    """Resolve ``spec`` against the dates present in ``table`` (see the module docstring)."""
    spec = spec or WindowSpec()
    cfg = (settings or Settings()).windows
    daily = _daily_volumes(table)
    if daily.empty:
        raise WindowError("cannot resolve windows: the table has no rows with a date")
    data_start, data_end = daily[S.DATE].iloc[0], daily[S.DATE].iloc[-1]
    data_range = f"the data covers {data_start}..{data_end}"
    partial = detect_partial_days(daily, cfg)
    first, last = data_start, data_end
    if cfg.exclude_partial_days:
        for p in partial:
            first, last = (p.date + timedelta(days=1), last) if p.edge == "first" else (first, p.date - timedelta(days=1))

    for a, b in (("current", "current_days"), ("baseline", "baseline_days")):
        if getattr(spec, a) is not None and getattr(spec, b) is not None:
            raise WindowError(f"give {OPTION[a]} or {OPTION[b]}, not both "
                              f"(got {OPTION[a]} {getattr(spec, a)} and {OPTION[b]} {getattr(spec, b)})")
    if spec.preset == "long" and (spec.baseline is not None or spec.baseline_days is not None):
        raise WindowError("--compare long sets the baseline to every day before the current window; "
                          "drop --baseline/--baseline-days or choose another preset")

    cur_days, base_days = _preset_lengths(spec.preset, cfg)
    cur_days = spec.current_days or cur_days
    base_days = spec.baseline_days or base_days

    if spec.current is not None:
        cur_start, cur_end = parse_range(spec.current, "--current")
        cur_opt = f"--current {spec.current}"
    else:
        cur_end = last
        cur_start = cur_end - timedelta(days=cur_days - 1)
        cur_opt = (f"--current-days {cur_days}" if spec.current_days else
                   f"current window (last {cur_days} days{', preset ' + spec.preset if spec.preset else ''})")
    if spec.baseline is not None:
        base_start, base_end = parse_range(spec.baseline, "--baseline")
        base_opt = f"--baseline {spec.baseline}"
        base_rule = f"baseline = {spec.baseline}"
    elif base_days is None:
        base_start, base_end = first, cur_start - timedelta(days=1)
        base_opt = "--compare long (every day before the current window)"
        base_rule = "baseline = every day before current"
    else:
        base_end = cur_start - timedelta(days=1)
        base_start = base_end - timedelta(days=base_days - 1)
        base_opt = (f"--baseline-days {base_days}" if spec.baseline_days else
                    f"baseline window ({base_days} days before current"
                    f"{', preset ' + spec.preset if spec.preset else ''})")
        base_rule = f"baseline = the {base_days} days before current"

    if base_end < base_start:
        raise WindowError(f"{base_opt}: no days before the current window {cur_start}..{cur_end}; "
                          f"{data_range}; choose a later or shorter current window")
    for opt, start, end in ((cur_opt, cur_start, cur_end), (base_opt, base_start, base_end)):
        if start < data_start or end > data_end:
            raise WindowError(
                f"{opt}: window {start}..{end} is outside the data; {data_range}; "
                "choose dates inside that range or fewer days (--current-days/--baseline-days)"
            )
    if base_start <= cur_end and cur_start <= base_end:
        raise WindowError(
            f"{base_opt} ({base_start}..{base_end}) overlaps {cur_opt} ({cur_start}..{cur_end}); "
            "the baseline and current windows must not share days"
        )
    dates = daily[S.DATE]
    windows = {}
    for name, opt, start, end in (("current", cur_opt, cur_start, cur_end),
                                  ("baseline", base_opt, base_start, base_end)):
        n = int(((dates >= start) & (dates <= end)).sum())
        if n == 0:
            raise WindowError(f"{opt}: window {start}..{end} has no data rows (a gap in the data); "
                              f"{data_range}; choose days that have data")
        windows[name] = Window(start=start, end=end, days_with_data=n)
    cur_rule = (f"current = {spec.current}" if spec.current is not None
                else f"current = the last {cur_days} days of the data")
    return Windows(baseline=windows["baseline"], current=windows["current"], preset=spec.preset,
                   data_start=data_start, data_end=data_end, partial_days=partial,
                   rule=f"{cur_rule}; {base_rule}")
