"""The canonical table: column names, roles and types, defined once.

One row per date x entity (x breakdown). Every other module refers to these names; nothing
else spells a column name as a string literal for the canonical table.

Dimensions that the input lacks are absent from the table (not filled with "unknown").
Missing measures stay missing (null), never 0. Per-cell imputation flags are boolean columns
named ``imputed_<measure>`` (True when the value was recomputed from redundant columns of the
same row); the rule used is recorded in ``data_quality.json``.
"""

from __future__ import annotations

from typing import Final

DATE: Final = "date"
ACCOUNT: Final = "account"
CAMPAIGN: Final = "campaign"
ADSET: Final = "adset"
AD: Final = "ad"
CREATIVE_MESSAGE: Final = "creative_message"
CREATIVE_TYPE: Final = "creative_type"
AUDIENCE_TYPE: Final = "audience_type"
PLATFORM: Final = "platform"
PLACEMENT: Final = "placement"
COUNTRY: Final = "country"
AGE: Final = "age"
GENDER: Final = "gender"
DEVICE: Final = "device"

SPEND: Final = "spend"
IMPRESSIONS: Final = "impressions"
CLICKS: Final = "clicks"
PURCHASES: Final = "purchases"
REVENUE: Final = "revenue"
CURRENCY: Final = "currency"

SOURCE_FILE: Final = "source_file"
SOURCE_ROW: Final = "source_row"

#: Entity hierarchy, coarse to fine.
ENTITY_DIMENSIONS: Final = (ACCOUNT, CAMPAIGN, ADSET, AD)
#: Breakdown / attribute dimensions.
ATTRIBUTE_DIMENSIONS: Final = (
    CREATIVE_MESSAGE,
    CREATIVE_TYPE,
    AUDIENCE_TYPE,
    PLATFORM,
    PLACEMENT,
    COUNTRY,
    AGE,
    GENDER,
    DEVICE,
)
#: Every dimension, in the order segment tables list them.
DIMENSIONS: Final = ENTITY_DIMENSIONS + ATTRIBUTE_DIMENSIONS
#: Dimensions analysed as segments (account is the whole; creative_message is text and
#: handled by the creative stage, but still a valid segment).
SEGMENT_DIMENSIONS: Final = (
    CAMPAIGN,
    ADSET,
    AD,
    CREATIVE_MESSAGE,
    CREATIVE_TYPE,
    AUDIENCE_TYPE,
    PLATFORM,
    PLACEMENT,
    COUNTRY,
    AGE,
    GENDER,
    DEVICE,
)

#: Additive measures. Counts are integers >= 0; money is float >= 0 in ``currency``.
MEASURES: Final = (SPEND, IMPRESSIONS, CLICKS, PURCHASES, REVENUE)
COUNT_MEASURES: Final = (IMPRESSIONS, CLICKS, PURCHASES)
MONEY_MEASURES: Final = (SPEND, REVENUE)

PROVENANCE: Final = (SOURCE_FILE, SOURCE_ROW)

#: Minimum columns an input must provide (after mapping) to be analysable.
REQUIRED: Final = (DATE, CAMPAIGN, SPEND, IMPRESSIONS)


def imputed_flag(measure: str) -> str:
    """Name of the boolean column flagging imputed cells of ``measure``."""
    return f"imputed_{measure}"


IMPUTED_FLAGS: Final = tuple(imputed_flag(m) for m in MEASURES)

#: Column order of the canonical table (columns absent from an input are simply skipped).
CANONICAL_ORDER: Final = (
    (DATE,) + DIMENSIONS + MEASURES + (CURRENCY,) + PROVENANCE + IMPUTED_FLAGS
)


def present_dimensions(columns: list[str] | tuple[str, ...]) -> list[str]:
    """Dimensions (in canonical order) that a table actually has."""
    cols = set(columns)
    return [d for d in DIMENSIONS if d in cols]


def present_segment_dimensions(columns: list[str] | tuple[str, ...]) -> list[str]:
    """Segment dimensions (in canonical order) that a table actually has."""
    cols = set(columns)
    return [d for d in SEGMENT_DIMENSIONS if d in cols]
