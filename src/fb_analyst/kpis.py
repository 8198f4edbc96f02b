"""The KPI registry: every KPI defined once, as a ratio of sums (never a mean of row ratios).

CTR = clicks/impressions, CPC = spend/clicks, CPM = 1000*spend/impressions, CVR = purchases/clicks,
CPA = spend/purchases, AOV = revenue/purchases, ROAS = revenue/spend.

Each ratio KPI is computed over the rows where *all* of its inputs are known (``coverage`` is the
share of rows used). A zero denominator yields an explicit undefined value with its reason, never
inf or NaN in an output.

Identity used by the diagnosis: ROAS = CTR * CVR * AOV * 1000 / CPM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from fb_analyst import schema as S
from fb_analyst.errors import UnknownNameError

Direction = Literal["higher_is_better", "lower_is_better"]


@dataclass(frozen=True)
class KPI:
    """A KPI. Additive KPIs have ``denominator=None``; ratio KPIs are scale*num/den."""

    name: str
    label: str
    numerator: str
    denominator: str | None = None
    scale: float = 1.0
    better: Direction = "higher_is_better"
    fmt: str = "{:,.2f}"

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.numerator,) if self.denominator is None else (self.numerator, self.denominator)

    def ratio(self, num: float | None, den: float | None) -> "KpiValue":
        """Value of this ratio KPI from already-summed inputs."""
        return ratio_value(num, den, self.scale)


ADDITIVE_KPIS: Final = (
    KPI("impressions", "Impressions", S.IMPRESSIONS, fmt="{:,.0f}"),
    KPI("clicks", "Clicks", S.CLICKS, fmt="{:,.0f}"),
    KPI("spend", "Spend", S.SPEND, better="lower_is_better"),
    KPI("purchases", "Purchases", S.PURCHASES, fmt="{:,.0f}"),
    KPI("revenue", "Revenue", S.REVENUE),
)
RATIO_KPIS: Final = (
    KPI("ctr", "CTR", S.CLICKS, S.IMPRESSIONS, fmt="{:.2%}"),
    KPI("cpc", "CPC", S.SPEND, S.CLICKS, better="lower_is_better"),
    KPI("cpm", "CPM", S.SPEND, S.IMPRESSIONS, scale=1000.0, better="lower_is_better"),
    KPI("cvr", "CVR", S.PURCHASES, S.CLICKS, fmt="{:.2%}"),
    KPI("cpa", "CPA", S.SPEND, S.PURCHASES, better="lower_is_better"),
    KPI("aov", "AOV", S.REVENUE, S.PURCHASES),
    KPI("roas", "ROAS", S.REVENUE, S.SPEND, fmt="{:.2f}x"),
)
KPIS: Final[dict[str, KPI]] = {k.name: k for k in ADDITIVE_KPIS + RATIO_KPIS}


def get_kpi(name: str) -> KPI:
    """Look a KPI up by (case-insensitive) name; unknown names list the valid ones."""
    try:
        return KPIS[name.lower()]
    except KeyError:
        raise UnknownNameError("KPI", name, list(KPIS)) from None


class KpiValue(BaseModel):
    """A KPI value or an explicit undefined with its reason (JSON-safe: no inf/NaN)."""

    model_config = ConfigDict(frozen=True)

    value: float | None
    undefined_reason: str | None = None
    coverage: float | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None


def _is_missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def ratio_value(
    num: float | None, den: float | None, scale: float = 1.0, coverage: float | None = None
) -> KpiValue:
    """scale*num/den, or undefined with a reason when an input is missing or den == 0."""
    if _is_missing(num) or _is_missing(den):
        return KpiValue(value=None, undefined_reason="no rows with both inputs known", coverage=coverage)
    if den == 0:
        reason = "zero denominator" + (" and numerator" if num == 0 else "")
        return KpiValue(value=None, undefined_reason=reason, coverage=coverage)
    return KpiValue(value=scale * float(num) / float(den), coverage=coverage)


def safe_ratio(num: float | None, den: float | None, scale: float = 1.0) -> float | None:
    """Plain-float version of :func:`ratio_value` (None when undefined)."""
    return ratio_value(num, den, scale).value
