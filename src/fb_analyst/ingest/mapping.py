"""Column mapping: the file's own headers -> canonical columns (schema.py) and helper columns.

Recognises the sample's snake_case schema, Meta Ads Manager export headers (currency taken from
"Amount spent (INR)"), Marketing API Insights field names and a user mapping from
``settings.ingest.column_mapping`` (applied first). Helper columns (ctr, roas, cpc, cpm, cpa,
reporting end) are redundant KPI columns kept only for recovery and consistency checks.
Missing required columns raise one message listing what was found and what is needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fb_analyst import schema as S
from fb_analyst.errors import MissingColumnsError, UnknownNameError

# Helper (non-canonical) roles.
CTR, ROAS, CPC, CPM, CPA, DATE_END, CTR_UNIT = "ctr", "roas", "cpc", "cpm", "cpa", "date_end", "ctr_unit"
HELPERS = (CTR, ROAS, CPC, CPM, CPA, DATE_END)

#: Normalised header key -> role, in priority order per role (the first present wins).
ALIASES: dict[str, tuple[str, ...]] = {
    S.DATE: ("date", "day", "date_start", "reporting_starts", "reporting_date", "report_date"),
    DATE_END: ("reporting_ends", "date_stop", "date_end"),
    S.ACCOUNT: ("account", "account_name"),
    S.CAMPAIGN: ("campaign", "campaign_name"),
    S.ADSET: ("adset", "adset_name", "ad_set_name", "ad_set"),
    S.AD: ("ad", "ad_name"),
    S.CREATIVE_MESSAGE: ("creative_message", "primary_text", "body", "ad_body", "message", "body_ad_settings"),
    S.CREATIVE_TYPE: ("creative_type", "media_type", "format", "ad_format"),
    S.AUDIENCE_TYPE: ("audience_type", "audience"),
    S.PLATFORM: ("platform", "publisher_platform"),
    S.PLACEMENT: ("placement", "platform_position", "position"),
    S.COUNTRY: ("country", "region_country"),
    S.AGE: ("age",),
    S.GENDER: ("gender",),
    S.DEVICE: ("device", "device_platform", "impression_device"),
    S.SPEND: ("spend", "amount_spent", "cost"),
    S.IMPRESSIONS: ("impressions",),
    S.CLICKS: ("link_clicks", "inline_link_clicks", "clicks", "clicks_all"),
    S.PURCHASES: ("purchases", "website_purchases", "purchase"),
    S.REVENUE: (
        "revenue", "purchases_conversion_value", "purchase_conversion_value",
        "website_purchases_conversion_value", "conversion_value", "purchase_value",
    ),
    S.CURRENCY: ("currency", "account_currency"),
    CTR: ("ctr_link_click_through_rate", "inline_link_click_ctr", "ctr", "ctr_all"),
    ROAS: ("roas", "purchase_roas_return_on_ad_spend", "purchase_roas", "website_purchase_roas"),
    CPC: ("cpc", "cpc_cost_per_link_click", "cost_per_inline_link_click", "cpc_all"),
    CPM: ("cpm", "cpm_cost_per_1_000_impressions"),
    CPA: ("cpa", "cost_per_purchase"),
}
_ALIAS_ROLE = {alias: role for role, aliases in ALIASES.items() for alias in aliases}
_CURRENCY_IN_HEADER = re.compile(r"^(amount_spent|spend|cost|revenue|purchases_conversion_value)_([a-z]{3})$")
#: Headers only Meta Ads Manager writes; two of them make a file an Ads Manager export.
_ADS_MANAGER_KEYS = {
    "reporting_starts", "reporting_ends", "amount_spent", "ad_set_name", "link_clicks",
    "clicks_all", "purchases_conversion_value", "purchase_roas_return_on_ad_spend",
    "ctr_link_click_through_rate", "cpm_cost_per_1_000_impressions", "cost_per_purchase", "day",
}
#: Click-type pairing: a link-click count goes with a link-click CTR, all clicks with CTR (all).
_LINK_CLICKS = {"link_clicks", "inline_link_clicks"}
_LINK_CTR = {"ctr_link_click_through_rate", "inline_link_click_ctr"}
_PERCENT_CTR = {"ctr_link_click_through_rate", "inline_link_click_ctr", "ctr_all"}

VALID_TARGETS = S.CANONICAL_ORDER[: len(S.DIMENSIONS) + len(S.MEASURES) + 2] + HELPERS


def header_key(header: str) -> str:
    """Normalised header: lower case, non-alphanumerics collapsed to '_'."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lstrip("\ufeff").lower()).strip("_")


@dataclass
class ColumnMap:
    """Which raw header feeds each canonical/helper role, and what the file is."""

    sources: dict[str, str] = field(default_factory=dict)  # role -> raw header
    unmapped: list[str] = field(default_factory=list)
    source_kind: str = "generic"  # sample_schema | ads_manager | marketing_api | generic
    currency: str | None = None
    currency_source: str | None = None
    ctr_is_percent: bool = False

    def has(self, role: str) -> bool:
        return role in self.sources


def map_columns(
    headers: list[str], user_mapping: dict[str, str], *, api: bool = False, file_label: str = ""
) -> ColumnMap:
    """Map a file's headers to roles. User mapping first, then built-in aliases."""
    cmap = ColumnMap()
    keys = {h: header_key(h) for h in headers if h != S.SOURCE_ROW}
    user = {header_key(k): v for k, v in user_mapping.items()}
    for raw, target in user_mapping.items():
        if target not in VALID_TARGETS:
            raise UnknownNameError("mapping target", target, list(VALID_TARGETS))
    taken: set[str] = set()
    for h, k in keys.items():
        target = user_mapping.get(h) or user.get(k)
        if target and target not in cmap.sources:
            cmap.sources[target] = h
            taken.add(h)
    for role, aliases in ALIASES.items():
        if role in cmap.sources:
            continue
        for alias in aliases:
            hit = next((h for h, k in keys.items() if h not in taken and _alias_matches(k, alias)), None)
            if hit is not None:
                cmap.sources[role] = hit
                taken.add(hit)
                break
    cmap.unmapped = [h for h in keys if h not in taken]
    present = set(keys.values())
    base_present = {re.sub(r"_[a-z]{3}$", "", k) if _CURRENCY_IN_HEADER.match(k) else k for k in present}
    if api:
        cmap.source_kind = "marketing_api"
    elif len(base_present & _ADS_MANAGER_KEYS) >= 2:
        cmap.source_kind = "ads_manager"
    elif {"campaign_name", "adset_name", "spend", "impressions"} <= present:
        cmap.source_kind = "sample_schema"
    if S.SPEND in cmap.sources:
        m = _CURRENCY_IN_HEADER.match(keys[cmap.sources[S.SPEND]])
        if m:
            cmap.currency, cmap.currency_source = m.group(2).upper(), f"header {cmap.sources[S.SPEND]!r}"
    if CTR in cmap.sources:
        ctr_key = keys[cmap.sources[CTR]]
        clicks_key = keys.get(cmap.sources.get(S.CLICKS, ""), "")
        generic = ctr_key == "ctr" and not api  # a plain "ctr" pairs with whatever "clicks" is
        if clicks_key and not generic and (clicks_key in _LINK_CLICKS) != (ctr_key in _LINK_CTR):
            # A CTR of another click type cannot recover or check this click count.
            cmap.unmapped.append(cmap.sources.pop(CTR))
        else:
            cmap.ctr_is_percent = (
                ctr_key in _PERCENT_CTR or cmap.source_kind in {"ads_manager", "marketing_api"}
                or "percent" in ctr_key or "%" in cmap.sources[CTR]
            )
    missing = [c for c in S.REQUIRED if c not in cmap.sources]
    if missing:
        raise MissingColumnsError(
            f"{file_label}: missing required columns {', '.join(missing)} "
            f"(found: {', '.join(h for h in keys) or 'none'}; needed: {', '.join(S.REQUIRED)}); "
            "rename those headers or map them under ingest.column_mapping in the --config file"
        )
    return cmap


def _alias_matches(key: str, alias: str) -> bool:
    if key == alias:
        return True
    m = _CURRENCY_IN_HEADER.match(key)
    return bool(m) and m.group(1) == alias
