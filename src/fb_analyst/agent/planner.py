"""Deterministic planner: a question in plain English -> a typed :class:`AskPlan` over library tools.

It recognises the intent (why did a KPI change, which creatives to refresh, what-if budget,
forecast, trend, plain KPI summary), the KPI, the direction, the analysis windows ("last week",
"last 14 days", "last month", "since 2025-03-01", "between A and B", "yesterday", "month over
month"), segment filters matched against the values really present in the data ("on Instagram",
"in the UK", "for retargeting", "on stories"), extra dimensions ("by placement"), a budget change
("add 20% budget", "cut spend by 10%", "double the budget") and a forecast horizon. Every
decision is written to ``plan.notes`` so the trace shows why the plan looks the way it does.
Relative periods count back from the last day in the data, not from today.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fb_analyst import schema as S

Intent = Literal["diagnose", "creative", "budget", "forecast", "trend", "summary"]

#: Tools each intent runs, in order (names of :mod:`fb_analyst.agent.tools`).
INTENT_TOOLS: dict[str, tuple[str, ...]] = {
    "diagnose": ("windows", "kpis", "diagnose", "fatigue"),
    "creative": ("windows", "kpis", "diagnose", "creative"),
    "budget": ("windows", "kpis", "forecast"),
    "forecast": ("windows", "kpis", "forecast"),
    "trend": ("windows", "kpis", "trend"),
    "summary": ("windows", "kpis"),
}

_METRICS: tuple[tuple[str, str], ...] = (  # (regex, KPI name); first match wins
    (r"\broas\b|return on ad ?spend", "roas"),
    (r"\bctr\b|click[- ]?through", "ctr"),
    (r"\bcpc\b|cost per click", "cpc"),
    (r"\bcpm\b|cost per (?:thousand|mille)", "cpm"),
    (r"\bcvr\b|conversion rate", "cvr"),
    (r"\bcpa\b|cost per (?:acquisition|purchase|conversion)", "cpa"),
    (r"\baov\b|(?:average )?order value|basket size", "aov"),
    (r"\brevenue\b|\bsales\b", "revenue"),
    (r"\bpurchases?\b|\bconversions?\b|\borders?\b", "purchases"),
    (r"\bclicks?\b", "clicks"),
    (r"\bimpressions?\b|\breach\b", "impressions"),
    (r"\bspend\b|\bspent\b|\bcosts?\b", "spend"),
)
_DOWN = r"\b(drop(?:ped)?|fall|fell|fallen|decline[d]?|decrease[d]?|down|worse|lower|tank(?:ed)?|dip(?:ped)?|collapse[d]?)\b"
_UP = r"\b(rise|rose|risen|increase[d]?|up|improve[d]?|better|higher|jump(?:ed)?|grow|grew|spike[d]?)\b"
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "twelve": 12, "fourteen": 14, "thirty": 30}
_UNIT_DAYS = {"day": 1, "week": 7, "month": 28}
#: Spoken names -> spellings a country column may use (the one present in the data is chosen).
COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "uk": ("UK", "GB", "United Kingdom"), "united kingdom": ("UK", "GB", "United Kingdom"),
    "britain": ("UK", "GB", "United Kingdom"), "great britain": ("UK", "GB", "United Kingdom"),
    "england": ("UK", "GB", "United Kingdom"),
    "us": ("US", "USA", "United States"), "usa": ("US", "USA", "United States"),
    "united states": ("US", "USA", "United States"), "america": ("US", "USA", "United States"),
    "canada": ("CA", "Canada"), "australia": ("AU", "Australia"), "india": ("IN", "India"),
    "germany": ("DE", "Germany"), "france": ("FR", "France"), "spain": ("ES", "Spain"),
    "italy": ("IT", "Italy"), "netherlands": ("NL", "Netherlands"), "brazil": ("BR", "Brazil"),
    "mexico": ("MX", "Mexico"), "japan": ("JP", "Japan"),
}
_DIM_WORDS: dict[str, str] = {
    "campaign": S.CAMPAIGN, "ad set": S.ADSET, "adset": S.ADSET, "ad": S.AD, "creative type": S.CREATIVE_TYPE,
    "format": S.CREATIVE_TYPE, "audience": S.AUDIENCE_TYPE, "platform": S.PLATFORM,
    "placement": S.PLACEMENT, "country": S.COUNTRY, "market": S.COUNTRY, "age": S.AGE, "gender": S.GENDER,
    "device": S.DEVICE,
}


class WindowRequest(BaseModel):
    """The windows the question asks for, in :class:`~fb_analyst.windows.WindowSpec` terms."""

    model_config = ConfigDict(frozen=True)

    current: str | None = None
    current_days: int | None = None
    baseline: str | None = None
    baseline_days: int | None = None
    preset: Literal["wow", "mom", "long"] | None = None

    def spec(self):  # noqa: ANN201 - WindowSpec, imported lazily
        from fb_analyst.windows import WindowSpec

        return WindowSpec(**self.model_dump())


class AskPlan(BaseModel):
    """A typed plan: intent, KPI, windows, segment filter, dimensions and the tools to run."""

    model_config = ConfigDict(frozen=True)

    question: str
    intent: Intent
    metric: str = "roas"
    direction: Literal["down", "up"] | None = None
    window: WindowRequest = Field(default_factory=WindowRequest)
    segment: dict[str, str] = Field(default_factory=dict, description="Row filter {dimension: value}.")
    dimensions: list[str] | None = Field(None, description="Dimensions to localise over (None = all).")
    budget_change: float | None = Field(None, description="Relative total budget change, e.g. 0.2.")
    horizon: int | None = None
    tools: list[str]
    planner: str = "deterministic"
    notes: list[str] = Field(default_factory=list)


def _intent(q: str) -> tuple[Intent, str]:
    if re.search(r"\bbudget\b|\ballocat|\bwhat if\b|\bmove (?:money|spend)|\bscale (?:up|down)\b|"
                 r"\b(?:add|increase|cut|reduce|raise|double|halve)\b.{0,20}\b(?:spend|budget)", q):
        return "budget", "mentions budget / allocation / what-if"
    if re.search(r"\bcreatives?\b|\bads? copy\b|\bmessages?\b|\bthemes?\b|\bfatigue|\brefresh|"
                 r"\bwearing out\b|\bheadlines?\b", q):
        return "creative", "mentions creatives / messages / fatigue"
    if re.search(r"\bforecast|\bpredict|\bnext (?:week|\d+ days|month)|\bwill\b.*\b(?:be|look)\b|\bexpect", q):
        return "forecast", "asks about the future"
    if re.search(r"\btrend|\btrending\b|\bover time\b|\btrajectory\b", q):
        return "trend", "asks about a trend"
    if re.search(r"\bwhy\b|\bwhat (?:happened|changed|caused|drove)\b|\bexplain\b|\bcause|\broot cause|"
                 r"\bdriv(?:e|er|ers|ing)\b|" + _DOWN + "|" + _UP, q):
        return "diagnose", "asks why / what changed"
    return "summary", "no specific intent: KPI summary"


def _number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return _NUMBER_WORDS.get(token)


_ISO = r"(\d{4}-\d{2}-\d{2})"


def _window(q: str, notes: list[str]) -> WindowRequest:
    m = re.search(rf"\b(?:between|from)\s+{_ISO}\s+(?:and|to|until|-)\s+{_ISO}", q)
    if m:
        notes.append(f"window: explicit range {m.group(1)}..{m.group(2)} (baseline = as many days before)")
        return WindowRequest(current=f"{m.group(1)}:{m.group(2)}")
    m = re.search(r"\b(week[- ]over[- ]week|wow|month[- ]over[- ]month|mom)\b", q)
    if m:
        preset = "wow" if m.group(1).startswith("w") else "mom"
        notes.append(f"window: '{m.group(1)}' -> preset {preset}")
        return WindowRequest(preset=preset)
    m = re.search(r"\b(?:last|past|previous|recent|over the last|in the last)\s+(\d+|[a-z]+)\s+(day|week|month)s?\b", q)
    if m and _number(m.group(1)):
        days = _number(m.group(1)) * _UNIT_DAYS[m.group(2)]
        notes.append(f"window: '{m.group(0)}' -> current = last {days} days of the data, baseline = the {days} before")
        return WindowRequest(current_days=days, baseline_days=days)
    m = re.search(r"\b(?:last|past|this|previous)\s+(week|month|fortnight)\b|\byesterday\b|\btoday\b", q)
    if m:
        word = m.group(1) or m.group(0)
        days = {"week": 7, "fortnight": 14, "month": 28, "yesterday": 1, "today": 1}[word]
        notes.append(f"window: '{m.group(0)}' -> current = last {days} days of the data, baseline = the {days} before")
        return WindowRequest(current_days=days, baseline_days=days)
    m = re.search(rf"\bsince\s+{_ISO}", q)
    if m:
        notes.append(f"window: 'since {m.group(1)}' -> current from {m.group(1)} to the last day of the data")
        return WindowRequest(current=f"{m.group(1)}:END")
    notes.append("window: none given -> default (last 7 days vs the 7 before)")
    return WindowRequest()


def _segment(q: str, values: Mapping[str, Sequence[str]], notes: list[str]) -> dict[str, str]:
    seg: dict[str, str] = {}
    countries = {str(v).lower(): str(v) for v in values.get(S.COUNTRY, [])}
    for alias, spellings in sorted(COUNTRY_ALIASES.items(), key=lambda kv: -len(kv[0])):
        if S.COUNTRY not in seg and re.search(rf"\b(?:in|for|from)\s+(?:the\s+)?{alias}\b", q):
            hit = next((countries[s.lower()] for s in spellings if s.lower() in countries), None)
            if hit:
                seg[S.COUNTRY] = hit
                notes.append(f"segment: '{alias}' -> {S.COUNTRY}={hit}")
    for dim in (S.PLATFORM, S.PLACEMENT, S.AUDIENCE_TYPE, S.CREATIVE_TYPE, S.COUNTRY, S.GENDER, S.AGE,
                S.DEVICE, S.CAMPAIGN):
        if dim in seg:
            continue
        for value in sorted(values.get(dim, []), key=lambda v: -len(str(v))):
            text = str(value).lower()
            if len(text) < 2 or (dim == S.COUNTRY and len(text) == 2 and text not in ("uk", "us")):
                continue  # two-letter codes are only taken through the alias table above
            if re.search(rf"(?<![\w-]){re.escape(text)}(?![\w-])", q):
                seg[dim] = str(value)
                notes.append(f"segment: '{text}' found in the data's {dim} values -> {dim}={value}")
                break
    return seg


def _dimensions(q: str, present: Sequence[str], notes: list[str]) -> list[str] | None:
    dims = []
    for m in re.finditer(r"\b(?:by|per|across|split by|broken down by)\s+([a-z ]+?)s?\b(?=$|[ ,?.]|and)", q):
        for word, dim in sorted(_DIM_WORDS.items(), key=lambda kv: -len(kv[0])):
            if m.group(1).strip().startswith(word) and dim in present and dim not in dims:
                dims.append(dim)
                break
    if dims:
        notes.append(f"dimensions: {', '.join(dims)} (asked 'by ...')")
    return dims or None


def _budget_change(q: str, notes: list[str]) -> float | None:
    if re.search(r"\bdouble\b", q):
        change = 1.0
    elif re.search(r"\bhalve\b|\bhalf\b", q):
        change = -0.5
    else:
        m = re.search(r"([+-]?\d+(?:\.\d+)?)\s*(?:%|percent)", q)
        if not m:
            return None
        change = float(m.group(1)) / 100.0
        if re.search(r"\b(?:cut|reduce|lower|decrease|less|drop|remove|take)\b", q) and change > 0:
            change = -change
    notes.append(f"budget change: {change:+.0%} of the current total")
    return change


def _horizon(q: str, notes: list[str]) -> int | None:
    m = re.search(r"\bnext\s+(\d+|[a-z]+)\s+(day|week)s?\b", q)
    if m and _number(m.group(1)):
        days = _number(m.group(1)) * _UNIT_DAYS[m.group(2)]
    elif re.search(r"\bnext (?:two weeks|fortnight)\b", q):
        days = 14
    elif re.search(r"\bnext week\b", q):
        days = 7
    else:
        return None
    days = 14 if days > 7 else 7
    notes.append(f"horizon: {days} days (forecasts support 7 or 14)")
    return days


def plan_question(question: str, values: Mapping[str, Sequence[str]] | None = None) -> AskPlan:
    """Turn ``question`` into an :class:`AskPlan`. ``values``: the data's distinct values per dimension."""
    values = values or {}
    q = " ".join(question.lower().replace("’", "'").split())
    notes: list[str] = []
    intent, why = _intent(q)
    notes.append(f"intent: {intent} ({why})")
    metric = next((name for pattern, name in _METRICS if re.search(pattern, q)), None)
    if metric is None:
        metric = "ctr" if intent == "creative" else "revenue" if intent == "forecast" else "roas"
        notes.append(f"metric: none named -> {metric}")
    else:
        notes.append(f"metric: {metric}")
    direction = "down" if re.search(_DOWN, q) else "up" if re.search(_UP, q) else None
    window = _window(q, notes)
    if intent == "trend" and window == WindowRequest():
        window = WindowRequest(current_days=14, baseline_days=14)
        notes.append("window: trend over the last 28 days (two 14-day windows)")
    segment = _segment(q, values, notes)
    dims = _dimensions(q, list(values), notes)
    budget = _budget_change(q, notes) if intent == "budget" else None
    horizon = _horizon(q, notes) if intent in ("forecast", "budget") else None
    return AskPlan(question=question, intent=intent, metric=metric, direction=direction, window=window,
                   segment=segment, dimensions=dims, budget_change=budget, horizon=horizon,
                   tools=list(INTENT_TOOLS[intent]), notes=notes)
