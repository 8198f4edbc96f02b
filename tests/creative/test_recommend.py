"""Building blocks of the recommendations: clauses, vocabulary, A/B sizing."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from fb_analyst.creative import recommend as R


def test_impressions_per_arm_matches_the_two_proportion_formula():
    p1, p2, alpha, power = 0.010, 0.012, 0.05, 0.8
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    pbar = (p1 + p2) / 2
    expected = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    expected /= (p2 - p1) ** 2
    assert R.impressions_per_arm(p1, p2, alpha, power) == math.ceil(expected)
    assert 42_000 < R.impressions_per_arm(p1, p2, alpha, power) < 44_000  # textbook order of magnitude


def test_smaller_lifts_need_more_impressions():
    assert R.impressions_per_arm(0.01, 0.011, 0.05, 0.8) > R.impressions_per_arm(0.01, 0.012, 0.05, 0.8)
    with pytest.raises(ValueError, match="distinct"):
        R.impressions_per_arm(0.01, 0.01, 0.05, 0.8)


def test_ab_plan_records_its_inputs():
    plan = R.ab_plan(0.01, 0.2, "the minimum practical effect", 0.05, 0.8)
    assert plan.target_ctr == pytest.approx(0.012) and plan.alpha == 0.05 and plan.power == 0.8
    assert plan.impressions_per_arm == R.impressions_per_arm(0.01, 0.012, 0.05, 0.8)


def test_split_clauses_and_compose():
    assert R.split_clauses("Hot & comfy: men briefs now 20% off — feel the difference.") == [
        "Hot & comfy", "men briefs now 20% off", "feel the difference"]
    assert R.compose("last chance", "women's bras") == "Last chance — women's bras."


def test_campaign_vocabulary_scores_products_above_shared_words():
    vocab = R.campaign_vocabulary({
        "Women": ["Last chance on women's bras", "Organic women's bras"],
        "Men": ["Last chance on men's boxers", "Organic men's boxers"],
    })
    assert vocab["Women"]["bras"] > vocab["Women"]["chance"]
    assert "bras" in R.foreign_words("Men", vocab)
