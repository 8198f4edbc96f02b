"""The simulated account: campaigns -> ad sets -> ads -> delivery cells, with their base levels.

A *cell* is one ad delivered in one platform x placement x country; it is the grain of the
generated rows (one row per cell and day once the ad is live). Age and gender are attributes of
the ad set, creative type and message attributes of the ad. Everything here is fixed over time;
the time dynamics (budgets, seasonality, noise, planted effects) live in ``simulate``.
Cells are ordered by campaign so per-campaign sums are contiguous (``np.add.reduceat``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fb_analyst.sample import catalog as C

_AUD_CODE = ("BR", "LAL", "RT")
#: Relative budget weight of an ad set by audience (retargeting pools are small).
_AUD_WEIGHT = np.array([1.0, 0.8, 0.5])
#: CTR multiplier of ads whose message belongs to the planted losing theme (constant over time).
LOSING_THEME_CTR = 0.75


@dataclass(frozen=True)
class Structure:
    """Entity tables (names) and per-cell base levels. Index arrays point into the name tables."""

    campaigns: list[str]
    campaign_gender: list[str]
    campaign_budget: np.ndarray  # base daily budget per campaign (USD)
    adsets: list[str]
    adset_campaign: np.ndarray
    adset_audience: np.ndarray
    adset_age: np.ndarray
    ads: list[str]
    ad_adset: np.ndarray
    ad_type: np.ndarray
    ad_message: np.ndarray
    ad_start: np.ndarray  # first live day index
    messages: list[str]
    message_theme: np.ndarray  # index into catalog.THEME_IDS
    losing_theme: int
    cell_ad: np.ndarray
    cell_pp: np.ndarray  # index into catalog.PLACEMENTS
    cell_country: np.ndarray
    cell_weight: np.ndarray  # relative share of its campaign's budget
    cell_cpm: np.ndarray
    cell_ctr: np.ndarray
    cell_cvr: np.ndarray
    cell_aov: np.ndarray
    campaign_starts: np.ndarray  # first cell index of each campaign

    @property
    def n_cells(self) -> int:
        return len(self.cell_ad)

    @property
    def cell_campaign(self) -> np.ndarray:
        return self.adset_campaign[self.ad_adset[self.cell_ad]]

    @property
    def cell_audience(self) -> np.ndarray:
        return self.adset_audience[self.ad_adset[self.cell_ad]]

    @property
    def cell_base_roas(self) -> np.ndarray:
        """Expected ROAS of each cell at base levels (funnel identity)."""
        return self.cell_ctr * self.cell_cvr * self.cell_aov * 1000.0 / self.cell_cpm


def _initials(name: str) -> str:
    return "".join(w[0] for w in name.split() if w[0].isalnum()).upper()


def build_structure(
    rng: np.random.Generator, n_campaigns: int, scale: float, days: int, losing_theme: int
) -> Structure:
    """Draw a campaign/ad set/ad/cell hierarchy; ``scale`` multiplies the number of ads."""
    n_adsets = max(3, round(3 * math.sqrt(scale)))
    ads_per_adset = max(1, round(12 * scale / n_adsets))
    per_theme = max(1, round(math.sqrt(scale)))  # messages per theme and campaign

    campaigns, genders, initials = [], [], []
    for k in range(n_campaigns):
        name, gender = C.CAMPAIGNS[k % len(C.CAMPAIGNS)]
        cycle = k // len(C.CAMPAIGNS)
        campaigns.append(name if cycle == 0 else f"{name} {cycle + 1}")
        initials.append(_initials(name) + ("" if cycle == 0 else str(cycle + 1)))
        genders.append(gender)
    budget = np.exp(rng.normal(np.log(1800.0), 0.5, n_campaigns)) * scale
    campaign_aov = rng.uniform(42.0, 68.0, n_campaigns)
    n_countries = len(C.COUNTRIES)
    # Every campaign sells in the US plus 0-2 other markets.
    country_mask = np.zeros((n_campaigns, n_countries), bool)
    country_mask[:, 0] = True
    for k in range(n_campaigns):
        extra = rng.choice(np.arange(1, n_countries), size=int(rng.integers(1, 3)), replace=False)
        country_mask[k, extra] = True

    # Messages: per campaign, a few paraphrases of every theme.
    messages: dict[str, int] = {}
    themes: list[int] = []
    pool = np.empty((n_campaigns, len(C.THEME_IDS), per_theme), np.int64)
    for k in range(n_campaigns):
        for t, theme in enumerate(C.THEME_IDS):
            for j in range(per_theme):
                text = C.make_message(theme, genders[k], rng)
                if text not in messages:
                    messages[text] = len(messages)
                    themes.append(t)
                pool[k, t, j] = messages[text]
    message_list = list(messages)
    message_theme = np.array(themes)

    adset_campaign = np.repeat(np.arange(n_campaigns), n_adsets)
    adset_audience = np.tile(np.arange(n_adsets) % 3, n_campaigns)
    adset_age = rng.choice(len(C.AGES), size=len(adset_campaign), p=C.AGE_P)
    adsets = [
        f"{campaigns[c]} | {C.AUDIENCES[a]} {C.AGES[g]} #{i % n_adsets + 1}"
        for i, (c, a, g) in enumerate(zip(adset_campaign, adset_audience, adset_age))
    ]
    n_ads = len(adsets) * ads_per_adset
    ad_adset = np.repeat(np.arange(len(adsets)), ads_per_adset)
    ad_type = rng.choice(len(C.CREATIVE_TYPES), size=n_ads, p=C.CREATIVE_TYPE_P)
    ad_campaign = adset_campaign[ad_adset]
    # Themes rotate over ads, ad sets and campaigns so each theme meets every audience about
    # equally: a theme's raw CTR is then not confounded by audience mix.
    ad_theme = (ad_campaign + ad_adset * ads_per_adset + np.arange(n_ads)) % len(C.THEME_IDS)
    ad_message = pool[ad_campaign, ad_theme, rng.integers(per_theme, size=n_ads)]
    late = rng.random(n_ads) < 0.3
    ad_start = np.where(late, rng.integers(1, max(2, days - 21), n_ads), 0)
    ads = [
        f"{initials[ad_campaign[i]]}-{_AUD_CODE[adset_audience[s]]}{s % n_adsets + 1}-"
        f"{C.CREATIVE_TYPES[ad_type[i]]}-{i % ads_per_adset + 1:02d}"
        for i, s in enumerate(ad_adset)
    ]

    # Cells: each ad runs in a random set of placements x all of its campaign's countries.
    pp_p = np.array([p[5] for p in C.PLACEMENTS]) * 0.75
    in_pp = rng.random((n_ads, len(C.PLACEMENTS))) < pp_p
    in_pp[~in_pp.any(axis=1), 0] = True
    cube = in_pp[:, :, None] & country_mask[ad_campaign][:, None, :]
    cell_ad, cell_pp, cell_country = (a.astype(np.int64) for a in np.nonzero(cube))
    n_cells = len(cell_ad)
    pp = np.array([p[2:5] for p in C.PLACEMENTS])  # cpm, ctr, cvr multiplier
    ctry = np.array([c[1:5] for c in C.COUNTRIES])  # cpm, cvr, aov, spend weight
    cell_adset = ad_adset[cell_ad]
    aud = adset_audience[cell_adset]
    ad_ctr_re = np.exp(rng.normal(0.0, 0.15, n_ads))
    theme_mult = np.where(message_theme[ad_message] == losing_theme, LOSING_THEME_CTR, 1.0)

    def re(sd: float) -> np.ndarray:
        return np.exp(rng.normal(-sd * sd / 2, sd, n_cells))

    cell_weight = (
        _AUD_WEIGHT[aud] * ctry[cell_country, 3] * np.array([p[5] for p in C.PLACEMENTS])[cell_pp]
        * np.exp(rng.normal(0.0, 0.5, n_ads))[cell_ad] * re(0.4)
    )
    cell_cpm = pp[cell_pp, 0] * ctry[cell_country, 0] * re(0.12)
    cell_ctr = (
        pp[cell_pp, 1] * C.AUDIENCE_CTR[aud] * C.CREATIVE_TYPE_CTR[ad_type[cell_ad]]
        * ad_ctr_re[cell_ad] * theme_mult[cell_ad] * re(0.1)
    )
    cell_cvr = C.AUDIENCE_CVR[aud] * pp[cell_pp, 2] * ctry[cell_country, 1] * re(0.12)
    cell_aov = campaign_aov[ad_campaign[cell_ad]] * ctry[cell_country, 2] * re(0.05)
    cell_campaign = ad_campaign[cell_ad]
    starts = np.searchsorted(cell_campaign, np.arange(n_campaigns))
    return Structure(
        campaigns=campaigns, campaign_gender=genders, campaign_budget=budget,
        adsets=adsets, adset_campaign=adset_campaign, adset_audience=adset_audience,
        adset_age=adset_age, ads=ads, ad_adset=ad_adset, ad_type=ad_type, ad_message=ad_message,
        ad_start=ad_start, messages=message_list, message_theme=message_theme,
        losing_theme=losing_theme, cell_ad=cell_ad, cell_pp=cell_pp, cell_country=cell_country,
        cell_weight=cell_weight, cell_cpm=cell_cpm, cell_ctr=cell_ctr, cell_cvr=cell_cvr,
        cell_aov=cell_aov, campaign_starts=starts,
    )
