"""Recommendations for low-CTR campaigns: new messages built from the winning themes' phrasing and
the campaign's own product wording, each scored by the CTR model and sized as an A/B test.

Which campaigns: those with a supported CTR-down hypothesis in the diagnosis (their ids are the
rationale); when the diagnosis has none, the campaigns whose current-window CTR is in the lowest
``creative.low_ctr_quantile`` (the output says which rule applied).

How (no LLM): every message is split into clauses at dashes, colons, semicolons and sentence
ends. Openings ("hooks") come from the messages of the best themes by context-adjusted CTR
(significant winners first; when no theme is a significant winner, the top themes by adjusted CTR,
and the rationale says so). Closings come from the campaign's own messages, ranked by how
distinctive their words are for that campaign (its products and brand vocabulary). A hook that uses
a word distinctive of *another* campaign, or a template slot word (product, material), that this
campaign never uses is skipped: a men's campaign does not get "cloud-soft cups". Candidates equal to an existing message after normalisation, or longer than
``creative.max_primary_text_chars``, are dropped; the rest are ranked by predicted CTR, preferring
distinct hooks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from fb_analyst.creative.result import ABTestPlan

_SPLIT = re.compile(r"\s+[—–-]\s+|:\s+|;\s+|(?<=[.!?])\s+|\s+\|\s+")
_WORD = re.compile(r"[^\W\d_][\w'’‑-]*", re.UNICODE)


def split_clauses(message: str) -> list[str]:
    """Clauses of a message, without trailing punctuation."""
    parts = [p.strip(" .!?,;:—–-|") for p in _SPLIT.split(message.strip())]
    return [p for p in parts if len(p.split()) >= 2]


def content_words(text: str) -> set[str]:
    return {w.lower().replace("’", "'") for w in _WORD.findall(text)} - set(ENGLISH_STOP_WORDS)


def compose(hook: str, closing: str) -> str:
    """'Hook — closing.' with the hook's first letter capitalised."""
    hook = hook[:1].upper() + hook[1:]
    return f"{hook} — {closing}."


def campaign_vocabulary(messages_by_campaign: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Per campaign, a distinctiveness score of each content word (share in the campaign's messages
    times log inverse share of campaigns using it: a c-TF-IDF over campaigns)."""
    counts = {c: {} for c in messages_by_campaign}
    for c, msgs in messages_by_campaign.items():
        for m in msgs:
            for w in content_words(m):
                counts[c][w] = counts[c].get(w, 0) + 1
    n_campaigns = max(len(counts), 1)
    df: dict[str, int] = {}
    for words in counts.values():
        for w in words:
            df[w] = df.get(w, 0) + 1
    out = {}
    for c, words in counts.items():
        n = max(len(messages_by_campaign[c]), 1)
        out[c] = {w: (k / n) * math.log(1 + n_campaigns / df[w]) for w, k in words.items()}
    return out


@dataclass(frozen=True)
class Hook:
    text: str
    theme: int


def rank_closings(messages: Sequence[str], vocab: dict[str, float], limit: int) -> list[str]:
    """The campaign's own clauses, most product/brand-specific first (ties: shorter first)."""
    seen: dict[str, float] = {}
    for m in messages:
        clauses = split_clauses(m)
        for cl in clauses[1:] if len(clauses) > 1 else clauses:
            words = content_words(cl)
            if words:
                seen[cl] = max(seen.get(cl, 0.0), sum(vocab.get(w, 0.0) for w in words) / len(words))
    return sorted(seen, key=lambda c: (-round(seen[c], 9), len(c), c))[:limit]


def foreign_words(campaign: str, vocab: dict[str, dict[str, float]], top: int = 15) -> set[str]:
    """Words most distinctive of other campaigns that this campaign never uses."""
    own = set(vocab.get(campaign, {}))
    out: set[str] = set()
    for c, words in vocab.items():
        if c == campaign:
            continue
        out |= {w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:top] if w not in own}
    return out


def candidate_hooks(theme_messages: dict[int, list[str]], themes_ranked: list[int], per_theme: int) -> list[Hook]:
    """Opening clauses of the given themes' messages, most frequent first (the template's words)."""
    hooks: list[Hook] = []
    for t in themes_ranked:
        freq: dict[str, int] = {}
        for m in theme_messages.get(t, []):
            clauses = split_clauses(m)
            if clauses:
                freq[clauses[0]] = freq.get(clauses[0], 0) + 1
        for text in sorted(freq, key=lambda h: (-freq[h], len(h), h))[:per_theme]:
            hooks.append(Hook(text, t))
    return hooks


def impressions_per_arm(p1: float, p2: float, alpha: float, power: float) -> int:
    """Impressions each arm needs to detect CTR ``p1 -> p2`` with a two-sided two-proportion z-test.

    Derivation: under H0 (p1 = p2) the difference of sample proportions has standard deviation
    ``sqrt(2 pbar (1 - pbar) / n)`` with ``pbar = (p1 + p2) / 2``; we reject when it exceeds
    ``z_{1-alpha/2}`` of those. Under H1 its sd is ``sqrt((p1 q1 + p2 q2) / n)``, and power
    ``1 - beta`` requires the true difference to sit ``z_{1-beta}`` of *those* beyond the critical
    value: ``|p2 - p1| = z_{1-alpha/2} sqrt(2 pbar qbar / n) + z_{1-beta} sqrt((p1 q1 + p2 q2) / n)``.
    Solving for n:

        n = (z_{1-alpha/2} sqrt(2 pbar qbar) + z_{1-beta} sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2

    (Fleiss, *Statistical Methods for Rates and Proportions*, without continuity correction).
    Impressions are treated as independent trials; ad delivery is over-dispersed, so read the
    result as a lower bound and run the test for whole weeks.
    """
    if not (0 < p1 < 1 and 0 < p2 < 1) or p1 == p2:
        raise ValueError(f"need two distinct CTRs in (0, 1); got {p1!r} and {p2!r}")
    za = stats.norm.ppf(1 - alpha / 2)
    zb = stats.norm.ppf(power)
    pbar = (p1 + p2) / 2
    n = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return int(math.ceil(n / (p2 - p1) ** 2))


def ab_plan(baseline: float, lift: float, lift_source: str, alpha: float, power: float) -> ABTestPlan:
    target = min(baseline * (1 + lift), 0.999)
    return ABTestPlan(
        baseline_ctr=baseline, target_ctr=target, expected_lift=lift, lift_source=lift_source,
        impressions_per_arm=impressions_per_arm(baseline, target, alpha, power), alpha=alpha, power=power,
    )


def pick_diverse(scored: list[tuple[float, str, Hook, str]], n: int) -> list[tuple[float, str, Hook, str]]:
    """Best predicted first, at most one per hook, then per closing, until n are chosen."""
    ordered = sorted(scored, key=lambda s: (-s[0], s[1]))
    chosen: list[tuple[float, str, Hook, str]] = []
    for pass_ in range(3):
        used_hooks = {c[2].text for c in chosen}
        used_themes = {c[2].theme for c in chosen}
        used_close = {c[3] for c in chosen}
        for s in ordered:
            if len(chosen) >= n:
                return chosen
            if s in chosen:
                continue
            if pass_ == 0 and (s[2].theme in used_themes or s[3] in used_close):
                continue
            if pass_ == 1 and s[2].text in used_hooks:
                continue
            chosen.append(s)
            used_hooks.add(s[2].text)
            used_themes.add(s[2].theme)
            used_close.add(s[3])
    return chosen

