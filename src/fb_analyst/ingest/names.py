"""Text repair and entity resolution of campaign / ad set names (only DISTINCT texts come here).

``repair_text``: ftfy mojibake repair (quotes left curly) + whitespace normalisation.
``resolve_names``: one canonical name per entity from its many spellings:

1. user overrides (``settings.ingest.name_overrides_file``, CSV ``raw_name,canonical_name``
   with an optional ``level`` column) win;
2. a normalised key (case, separators ``_ - | / .``, "&" vs "and", spaces) groups exact variants;
3. keys are visited from most to least rows; each joins the best-scoring existing entity when the
   rapidfuzz score (max of ratio with and without spaces) reaches ``fuzzy_threshold``, unless a
   guard forbids it: different numbers ("Adset-1" vs "Adset-2", "LAL1" vs "LAL2") or a difference
   explained by swapping a known token for its sibling ("men" vs "women", "broad" vs "lookalike").
   A corrupted token ("w men", "omen") is not a known token, so it can still join its entity.

The canonical (display) spelling is chosen among the raw spellings of the entity's own key: one
in mixed case ("Men Bold Drop", not "MEN BOLD DROP" or "men_bold_drop") when there is one, then the
one with most of its words in title case ("Men Signature Soft", not "MEN Signature Soft"), then
the most frequent (whitespace collapsed); see ``display_rank``.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from fb_analyst.errors import InputError

_SPACES = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[_\-|/.:+,;]+")

#: Tokens whose sibling swap makes a different entity. Each tuple is one exclusive group.
KNOWN_TOKEN_GROUPS: tuple[tuple[str, ...], ...] = (
    ("men", "women", "male", "female", "mens", "womens", "man", "woman", "boys", "girls", "kids", "unisex"),
    ("broad", "lookalike", "lal", "retarget", "retargeting", "rt", "prospecting", "interest", "atc", "wc", "custom"),
    ("facebook", "instagram", "fb", "ig", "audience network", "messenger"),
    ("ios", "android", "desktop", "mobile"),
    ("image", "video", "carousel", "ugc", "collection"),
    ("us", "uk", "in", "ca", "au", "de", "fr"),
    ("summer", "winter", "spring", "autumn", "fall"),
    ("launch", "relaunch", "retention", "awareness", "conversion", "traffic"),
)
_SIBLINGS = {tok: group for group in KNOWN_TOKEN_GROUPS for tok in group}


@cache
def _fix_mojibake() -> Callable[[str], str]:
    """ftfy's repair (quotes left curly), imported on first use: only non-ASCII texts need it, and
    its import (codec tables) costs 0.05-0.2 s that inputs without such texts need not pay."""
    import ftfy

    config = ftfy.TextFixerConfig(uncurl_quotes=False, fix_character_width=False, fix_latin_ligatures=False)
    return lambda text: ftfy.fix_text(text, config=config)


def repair_text(text: str | None) -> str | None:
    """Repair mojibake and normalise whitespace; empty becomes None."""
    if text is None:
        return None
    fixed = _fix_mojibake()(text) if not text.isascii() else text
    fixed = _SPACES.sub(" ", fixed.replace("\u00a0", " ")).strip()
    return fixed or None


def normalise_name(text: str) -> str:
    """Grouping key: case-folded, separators to spaces, '&' -> 'and', spaces collapsed."""
    key = text.casefold().replace("&", " and ")
    key = _SEPARATORS.sub(" ", key)
    return _SPACES.sub(" ", key).strip()


def _compact(key: str) -> str:
    # "Fit & Lift" often loses its "&" ("Fit  Lift"): compare without spaces and "and".
    return "".join(t for t in key.split() if t != "and")


def similarity(a: str, b: str) -> float:
    """0-100: the better of the plain ratio and the ratio ignoring spaces and 'and'."""
    return max(fuzz.ratio(a, b), fuzz.ratio(_compact(a), _compact(b)))


def merge_forbidden(a: str, b: str) -> str | None:
    """Why two keys must never merge (None when allowed)."""
    if re.findall(r"\d+", a) != re.findall(r"\d+", b):
        return "different numbers"
    ta, tb = a.split(), b.split()
    base = Levenshtein.distance(a, b)
    for tok in set(ta) - set(tb):
        for sib in _SIBLINGS.get(tok, ()):
            if sib != tok and sib in tb and sib not in ta:
                swapped = " ".join(sib if t == tok else t for t in ta)
                if Levenshtein.distance(swapped, b) < base:
                    return f"known tokens {tok!r} vs {sib!r}"
    return None


def _mixed_case(text: str) -> bool:
    """Neither all capitals nor all lower case: how a name reads when it was typed with care."""
    return text != text.upper() and text != text.lower()


_WORDS = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")  # "Men's" is one word
#: A spelling's title case counts only when it has at least this share of the commonest spelling's
#: rows (the commonest of any case, all-capitals included): one stray "Men Usa Launch" row must not
#: rename "Men USA Launch" typed a hundred times.
TITLE_MIN_SHARE = 0.1


def _title_share(text: str) -> float:
    """Share of the words written as a name's words usually are: a capital, then not all capitals
    ("Men", "ComfortMax", "Men's"; not "MEN", "men"). A one-letter word counts when it is a capital."""
    words = _WORDS.findall(text)
    if not words:
        return 0.0
    ok = sum(1 for w in words if w[0].isupper() and (len(w) == 1 or w[1:] != w[1:].upper()))
    return ok / len(words)


def display_rank(text: str, rows: int, most: int) -> tuple:
    """Sort key of a spelling as the entity's display name (largest wins); ``most``: the rows of the
    commonest spelling. Mixed case first; then, among spellings with at least ``TITLE_MIN_SHARE`` of
    ``most`` rows, the share of words in title case ("Men Signature Soft" over "MEN Signature Soft",
    "Women Summer Invisible" over "women Summer Invisible"); then the rows; then the text itself."""
    title = _title_share(text) if rows >= TITLE_MIN_SHARE * most else -1.0
    return (_mixed_case(text), title, rows, text)


@dataclass(frozen=True)
class NameDecision:
    """How one raw spelling was resolved."""

    raw: str
    canonical: str
    rows: int
    score: float
    rule: str  # exact | normalised | fuzzy | override


def load_overrides(path: Path | None, level: str) -> dict[str, str]:
    """Read the user override CSV (raw_name,canonical_name[,level])."""
    if path is None:
        return {}
    if not Path(path).is_file():
        raise InputError(f"{path}: name overrides file not found; fix ingest.name_overrides_file in the config")
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"raw_name", "canonical_name"} <= set(reader.fieldnames):
            raise InputError(
                f"{path}: name overrides file needs the header raw_name,canonical_name[,level] "
                f"(found {', '.join(reader.fieldnames or [])})"
            )
        out = {}
        for row in reader:
            if row.get("level") and row["level"].strip() not in {level, ""}:
                continue
            raw, canon = (row.get("raw_name") or "").strip(), (row.get("canonical_name") or "").strip()
            if raw and canon:
                out[_SPACES.sub(" ", raw)] = canon
        return out


def resolve_names(
    counts: dict[str, int], threshold: float = 90.0, overrides: dict[str, str] | None = None
) -> list[NameDecision]:
    """Resolve raw spellings (with their row counts) to canonical names."""
    overrides = overrides or {}
    decisions: list[NameDecision] = []
    by_key: dict[str, dict[str, int]] = defaultdict(dict)
    for raw, n in counts.items():
        clean = repair_text(raw)
        if clean is None:
            continue
        if raw in overrides or clean in overrides:
            decisions.append(NameDecision(raw, overrides.get(raw) or overrides[clean], n, 100.0, "override"))
            continue
        by_key[normalise_name(clean)][raw] = n
    key_rows = {k: sum(v.values()) for k, v in by_key.items()}
    reps: list[str] = []  # representative keys, most rows first
    key_to_rep: dict[str, tuple[str, float]] = {}
    for key in sorted(key_rows, key=lambda k: (-key_rows[k], k)):
        best, best_score = None, -1.0
        for rep in reps:
            score = similarity(key, rep)
            if score > best_score and score >= threshold and merge_forbidden(key, rep) is None:
                best, best_score = rep, score
        if best is None:
            reps.append(key)
            key_to_rep[key] = (key, 100.0)
        else:
            key_to_rep[key] = (best, best_score)
    canonical_of_rep: dict[str, str] = {}
    for rep in reps:
        spellings = by_key[rep]
        most = max(spellings.values())
        top = max(spellings, key=lambda r: display_rank(r, spellings[r], most))
        canonical_of_rep[rep] = repair_text(top) or top
    for key, spellings in by_key.items():
        rep, score = key_to_rep[key]
        for raw, n in spellings.items():
            if rep != key:
                rule = "fuzzy"
            elif raw == canonical_of_rep[rep]:
                rule = "exact"
            else:
                rule = "normalised"
            decisions.append(NameDecision(raw, canonical_of_rep[rep], n, round(score, 1), rule))
    return sorted(decisions, key=lambda d: (d.canonical, -d.rows, d.raw))
