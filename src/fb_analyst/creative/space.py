"""The space themes are clustered in: what a message *says*, not which product it names.

Ad copy is mostly templates with slots: "{product} now {pct}% off", "Breathable {material} that
moves with you". Sentence embeddings of such texts are dominated by the slot words (men's vs
women's, bras vs briefs), so clustering raw embeddings groups by product line. Two steps fix that:

1. **Slot masking** (:func:`find_slot_words`): a word is a slot filler when it is what differs
   between otherwise identical messages. Pairs of messages sharing most of their words are aligned
   token by token (difflib); the words in short differing runs of well-aligned pairs are counted,
   and words swapped in at least ``min_swaps`` pairs are removed before embedding. Hand-written copy
   has few such pairs, so little is masked there.
2. **Angle seeds** (:data:`AD_ANGLES`): a short lexicon of well-known copy angles (comfort, price,
   urgency, social proof, ...), each the mean embedding of a few generic example lines. Themes
   start from the angles that are the nearest one of at least one template, and k-means refines
   them on the data (``themes.seeded_partition``); templates far from every angle are clustered on
   their own. The data decides which angles are present, how many themes there are and who belongs
   where; the seeds only say which paraphrases are "the same angle" (MiniLM alone often ranks
   "20% off" closer to "sized for real bodies" than to "buy 2, get 1 free").

Clustering runs on the distinct masked texts ("copy templates"), so a template repeated for ten
products counts once; every message then takes its template's theme.
"""

from __future__ import annotations

import re
from collections import Counter
from difflib import SequenceMatcher

import numpy as np
from scipy import sparse

#: Well-known direct-response copy angles, each described by a few generic example lines. They seed
#: the clustering (see ``themes.seeded_partition``); they were written as generic marketing
#: phrasing, not copied from any data set, and can be switched off (``creative.guide_with_angles``).
AD_ANGLES: dict[str, list[str]] = {
  "comfort": ["So comfortable you'll forget it's there", "Soft, cozy and gentle on skin", "No pinching, no digging, just comfort", "Comfort that lasts from morning to night", "Feels like a second skin"],
  "price": ["Save big today", "Get 30% off your order", "Special discount on everything", "Two for the price of one", "Great value for less money", "Sale prices on our bestsellers"],
  "sustainability": ["Eco-friendly and sustainably made", "Organic materials that are better for the planet", "Recycled and responsibly sourced", "Ethical production you can trust", "Low environmental footprint"],
  "fit": ["A perfect fit for every body", "Stays in place all day", "Find your size easily", "Fit guaranteed or exchange it free", "Designed to fit real bodies"],
  "social proof": ["Thousands of five-star reviews", "Loved by our customers", "Our most popular bestseller", "Join a community of happy customers", "Top rated by shoppers", "As seen everywhere"],
  "urgency": ["Limited time only", "Don't miss out, offer ends soon", "Hurry while stocks last", "Last chance to buy", "Selling out fast"],
  "quality": ["Premium quality that lasts", "Durable and well crafted", "Made with luxury materials", "Built to last wash after wash"],
  "performance": ["Made for workouts and sport", "Sweat-wicking and cooling", "Breathable for active days", "Moves with you during exercise"],
  "confidence": ["Feel confident and look great", "Bold style that shows who you are", "Feel your best every day", "Elevate your look"],
  "novelty": ["New arrivals just dropped", "Introducing our latest collection", "Meet the new design", "Just launched"],
  "expert": ["Recommended by doctors", "Dermatologist tested", "Expert approved and clinically tested", "Healthy for your skin"],
  "convenience": ["Free shipping and easy returns", "Fast delivery to your door", "Subscribe and save", "Order in seconds"],
}

_TOKEN = re.compile(r"[\w'’‑%-]+|[^\w\s]", re.UNICODE)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def find_slot_words(
    messages: list[str], min_equal: float = 0.6, max_run: int = 2, max_runs: int = 2, min_swaps: int = 2
) -> set[str]:
    """Words that messages swap in and out of otherwise identical copy (see module docstring).

    Two messages are a template pair when, aligned word by word (punctuation ignored), at least
    ``min_equal`` of the longer one's words match and they differ in at most ``max_runs`` runs of
    at most ``max_run`` words. A word is a slot word when it sits in a differing run of at least
    ``min_swaps`` template pairs.
    """
    toks = [[t for t in tokens(m) if re.search(r"\w", t)] for m in messages]
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, ts in enumerate(toks):
        for t in set(ts):
            rows.append(i)
            cols.append(vocab.setdefault(t, len(vocab)))
    if not rows:
        return set()
    m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(toks), len(vocab)))
    overlap = sparse.triu(m @ m.T, k=1).tocoo()
    sizes = np.array([len(t) for t in toks])
    longest_of = np.maximum(sizes[overlap.row], sizes[overlap.col])
    keep = overlap.data >= min_equal * longest_of  # vectorised pre-filter; difflib only on these
    swaps: Counter[str] = Counter()
    for i, j in zip(overlap.row[keep], overlap.col[keep], strict=True):
        longest = max(sizes[i], sizes[j])
        ops = SequenceMatcher(None, toks[i], toks[j], autojunk=False).get_opcodes()
        equal = sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag == "equal")
        diffs = [(toks[i][i1:i2], toks[j][j1:j2]) for tag, i1, i2, j1, j2 in ops if tag != "equal"]
        if equal < max(3, min_equal * longest) or not diffs or len(diffs) > max_runs:
            continue
        if any(max(len(a), len(b)) > max_run for a, b in diffs):
            continue
        for a, b in diffs:
            swaps.update(set(a) | set(b))
    return {w for w, c in swaps.items() if c >= min_swaps}


def mask_slots(message: str, slot_words: set[str]) -> str:
    """The message without its slot words (separators and punctuation kept, spaces collapsed)."""
    out = _TOKEN.sub(lambda m: "" if m.group(0).lower() in slot_words else m.group(0), message)
    out = re.sub(r"\s+([,.!?:;])", r"\1", " ".join(out.split()))
    return out.strip()


def angle_lines() -> list[str]:
    """Every angle's example lines, in order (what :func:`angle_prototypes` embeds)."""
    return [line for examples in AD_ANGLES.values() for line in examples]


def angle_prototypes(embedder: object) -> np.ndarray:
    """One unit vector per angle: the mean embedding of its example lines (one batched call)."""
    lines = angle_lines()
    vecs = np.asarray(embedder.embed(lines), dtype=np.float64)  # type: ignore[attr-defined]
    out, i = [], 0
    for examples in AD_ANGLES.values():
        v = vecs[i : i + len(examples)].mean(axis=0)
        out.append(v / (np.linalg.norm(v) or 1.0))
        i += len(examples)
    return np.vstack(out)
