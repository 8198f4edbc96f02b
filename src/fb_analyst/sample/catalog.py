"""Fixed vocabulary and realistic levels the generator draws from.

Levels are chosen so that account KPIs land where direct-to-consumer apparel accounts sit:
CTR 0.5-2.5%, CPM 5-20 USD, CVR 1-5%, AOV 30-80 USD, ROAS 1.5-4. Creative messages come from
templates grouped into themes; slot filling (product, material, discount, ...) makes messages of
one theme paraphrases of each other, which is what the creative stage must discover.
"""

from __future__ import annotations

from typing import Final

import numpy as np

ACCOUNT_NAME: Final = "Northwind Intimates"
CURRENCY: Final = "USD"

#: Campaign names and the gender line they sell to (cycled, suffixed beyond ten).
CAMPAIGNS: Final = (
    ("Men ComfortMax Launch", "male"),
    ("Women Seamless Everyday", "female"),
    ("Men Premium Modal", "male"),
    ("Women Cotton Classics", "female"),
    ("Men Athleisure Cooling", "male"),
    ("Women Fit & Lift", "female"),
    ("Men Bold Colors Drop", "male"),
    ("Women Summer Invisible", "female"),
    ("Men Signature Soft", "male"),
    ("Women Studio Sports", "female"),
)

AUDIENCES: Final = ("Broad", "Lookalike", "Retargeting")
#: Base CVR and CTR multiplier by audience (retargeting converts far better than prospecting).
AUDIENCE_CVR: Final = np.array([0.020, 0.032, 0.052])
AUDIENCE_CTR: Final = np.array([0.85, 1.0, 1.35])

AGES: Final = ("18-24", "25-34", "35-44", "45-54", "55-64")
AGE_P: Final = np.array([0.18, 0.34, 0.26, 0.14, 0.08])

#: (platform, placement, base CPM, base CTR, CVR multiplier, probability an ad runs there).
PLACEMENTS: Final = (
    ("Facebook", "feed", 13.0, 0.0125, 1.00, 0.90),
    ("Facebook", "stories", 9.5, 0.0085, 0.85, 0.45),
    ("Facebook", "reels", 8.0, 0.0090, 0.80, 0.35),
    ("Facebook", "marketplace", 7.0, 0.0070, 0.90, 0.20),
    ("Instagram", "feed", 14.5, 0.0120, 1.00, 0.85),
    ("Instagram", "stories", 10.0, 0.0090, 0.85, 0.65),
    ("Instagram", "reels", 9.0, 0.0100, 0.80, 0.55),
    ("Instagram", "explore", 7.5, 0.0075, 0.85, 0.25),
)
PLATFORMS: Final = ("Facebook", "Instagram")
PLACEMENT_NAMES: Final = ("feed", "stories", "reels", "marketplace", "explore")

#: (country, CPM multiplier, CVR multiplier, AOV multiplier, spend weight).
COUNTRIES: Final = (
    ("US", 1.00, 1.00, 1.00, 1.00),
    ("UK", 0.85, 0.95, 0.95, 0.55),
    ("CA", 0.80, 0.95, 0.92, 0.40),
    ("AU", 0.90, 0.92, 1.05, 0.35),
    ("IN", 0.45, 0.75, 0.60, 0.45),
)

CREATIVE_TYPES: Final = ("Image", "Video", "Carousel", "UGC")
CREATIVE_TYPE_P: Final = np.array([0.35, 0.35, 0.15, 0.15])
CREATIVE_TYPE_CTR: Final = np.array([0.92, 1.08, 1.0, 1.12])

#: Day-of-week multipliers, Monday first (averaged to 1 over a week where it matters).
WEEKDAY_CTR: Final = np.array([0.97, 0.98, 0.99, 1.00, 1.00, 1.03, 1.03])
WEEKDAY_CVR: Final = np.array([1.05, 1.01, 0.98, 0.96, 0.93, 1.00, 1.07])
WEEKDAY_CPM: Final = np.array([1.03, 1.01, 1.00, 1.01, 1.04, 0.96, 0.95])

#: theme id -> templates; slots: {g} gender word, {product}, {material}, {pct}, {n}.
THEMES: Final[dict[str, tuple[str, ...]]] = {
    "comfort": (
        "All-day comfort, zero pinch - try our {g} {product}!",
        "Ultra-soft {material} waistband, no marks - premium {g} {product}.",
        "So comfortable you forget you're wearing them: {g} {product} in {material}.",
        "Feels like nothing at all - {material} {g} {product} made for all-day ease.",
    ),
    "price": (
        "{g} {product} now {pct}% off - stock up and save.",
        "Save {pct}% on {g} {product} this week only at checkout.",
        "Buy 2, get 1 free on {material} {g} {product}.",
        "Better {g} {product} for less: {pct}% off every {material} pack.",
    ),
    "sustainability": (
        "Made from organic {material} - {g} {product} that are kind to the planet.",
        "Low-impact dyes, recycled packaging: meet our eco {g} {product}.",
        "Sustainably sourced {material} {g} {product}, certified and traceable.",
        "Good for you, good for the earth - responsibly made {g} {product}.",
    ),
    "fit": (
        "No ride-up guarantee - {g} {product} that stay put.",
        "Perfect fit or your money back: {g} {product} in {n} sizes.",
        "Find your fit in 60 seconds - {g} {product} sized for real bodies.",
        "Free exchanges until the fit is right on all {g} {product}.",
    ),
    "social_proof": (
        "Rated 4.8 by {n},000 customers - see why {g} {product} sell out.",
        "Our best-selling {g} {product} - join {n},000 happy customers.",
        "Stylists' pick: the {material} {g} {product} everyone is talking about.",
        "{n},000 five-star reviews can't be wrong - {g} {product}.",
    ),
    "urgency": (
        "Last chance: {g} {product} sale ends tonight.",
        "Almost gone - {material} {g} {product} back in stock for 48 hours only.",
        "Hurry, only a few {g} {product} left in your size.",
        "Final hours: limited drop of {material} {g} {product}.",
    ),
}
THEME_IDS: Final = tuple(THEMES)

PRODUCTS: Final = {
    "male": ("briefs", "boxers", "trunks", "boxer briefs", "undershirts"),
    "female": ("bras", "bralettes", "briefs", "thongs", "shapewear"),
}
MATERIALS: Final = ("cotton", "bamboo", "modal", "microfiber", "merino")
GENDER_WORD: Final = {"male": "men's", "female": "women's"}


def make_message(theme: str, gender: str, rng: np.random.Generator) -> str:
    """One creative message: a random template of ``theme`` with its slots filled."""
    templates = THEMES[theme]
    template = templates[int(rng.integers(len(templates)))]
    products = PRODUCTS[gender]
    return template.format(
        g=GENDER_WORD[gender],
        product=products[int(rng.integers(len(products)))],
        material=MATERIALS[int(rng.integers(len(MATERIALS)))],
        pct=(15, 20, 25, 30)[int(rng.integers(4))],
        n=(5, 8, 12, 20)[int(rng.integers(4))],
    )
