"""The space themes are clustered in: what a message *says*, not which product it names.

Ad copy is mostly templates with slots: "{product} now {pct}% off", "Breathable {material} that
moves with you". Sentence embeddings of such texts are dominated by the slot words (men's vs
women's, bras vs briefs), so clustering raw embeddings groups by product line. Two steps fix that:

1. **Slot masking** (:func:`find_slot_words`): a word is a slot filler when it is what differs
   between otherwise identical messages. Pairs of messages sharing most of their words are aligned
   token by token (difflib); the words in short differing runs of well-aligned pairs are counted,
   and words swapped in at least ``min_swaps`` pairs are removed before embedding. Hand-written copy
   has few such pairs, so little is masked there.
2. **Angle guidance** (:func:`guide`), BERTopic's guided topic modelling: each message embedding is
   averaged (weights 3:1) with the embedding of the closest well-known ad-copy angle below, unless
   the corpus mean is closer. It pulls paraphrases of one angle ("20% off", "buy 2 get 1 free")
   together; k and membership are still decided by the data (``themes.choose_k``).

Clustering runs on the distinct masked texts ("copy templates"), so a template repeated for ten
products counts once; every message then takes its template's theme.
"""

from __future__ import annotations

import re
from collections import Counter
from difflib import SequenceMatcher

import numpy as np
from scipy import sparse

#: Well-known direct-response copy angles (name: description) used only as guidance seeds.
AD_ANGLES: dict[str, str] = {
    "comfort": "comfortable, soft, cozy, all-day comfort, feels like nothing, no pinching, gentle on skin",
    "price": "sale, percent off, discount, save money, deal, buy one get one free, lower price, bundle offer",
    "sustainability": "eco-friendly, organic, sustainable, recycled, kind to the planet, responsibly made",
    "fit": "perfect fit, stays in place, no ride-up, sizes for every body, fit guarantee, free exchanges",
    "social proof": "best-selling, five-star reviews, thousands of happy customers, top rated, everyone loves it",
    "urgency": "last chance, ends tonight, limited time, hurry, almost gone, only a few left, final hours",
    "quality": "premium quality, durable, long-lasting, crafted, luxury materials, built to last",
    "performance": "workout, sweat-wicking, cooling, breathable, active lifestyle, sports performance",
    "confidence": "confidence, look great, feel attractive, bold style, elevate your look, express yourself",
    "novelty": "new arrival, just launched, new collection, back in stock, meet our latest",
    "expert": "doctor recommended, dermatologist tested, expert approved, healthy, hypoallergenic",
    "convenience": "free shipping, fast delivery, easy returns, subscribe and save, delivered to your door",
}

_TOKEN = re.compile(r"[\w'’‑%-]+|[^\w\s]", re.UNICODE)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def find_slot_words(
    messages: list[str], min_shared: float = 0.5, max_run: int = 3, min_swaps: int = 2
) -> set[str]:
    """Words that messages swap in and out of otherwise identical copy (see module docstring)."""
    toks = [tokens(m) for m in messages]
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, ts in enumerate(toks):
        for t in set(ts):
            rows.append(i)
            cols.append(vocab.setdefault(t, len(vocab)))
    if not rows:
        return set()
    m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(toks), len(vocab)))
    overlap = (m @ m.T).tocoo()
    sizes = np.asarray(m.sum(axis=1)).ravel()
    swaps: Counter[str] = Counter()
    for i, j, shared in zip(overlap.row, overlap.col, overlap.data, strict=True):
        if i >= j or shared < min_shared * max(sizes[i], sizes[j]):
            continue
        ops = SequenceMatcher(None, toks[i], toks[j], autojunk=False).get_opcodes()
        equal = sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag == "equal")
        diffs = [(toks[i][i1:i2], toks[j][j1:j2]) for tag, i1, i2, j1, j2 in ops if tag != "equal"]
        if equal < 3 or not diffs or len(diffs) > 3 or any(max(len(a), len(b)) > max_run for a, b in diffs):
            continue
        for a, b in diffs:
            swaps.update(t for t in set(a) | set(b) if re.search(r"\w", t))
    return {w for w, c in swaps.items() if c >= min_swaps}


def mask_slots(message: str, slot_words: set[str]) -> str:
    """The message without its slot words (tokens re-joined with single spaces)."""
    kept = [t for t in tokens(message) if t not in slot_words]
    text = " ".join(kept)
    return re.sub(r"\s+([^\w\s])", r"\1", text).strip()


def guide(x: np.ndarray, seeds: np.ndarray, weight: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Average each row with its closest seed (weights ``weight``:1) unless the mean is closer.

    Returns the re-normalised embeddings and the index of the seed used (-1 = none).
    """
    mean = x.mean(axis=0)
    ref = np.vstack([seeds, mean / (np.linalg.norm(mean) or 1.0)])
    nearest = (x @ ref.T).argmax(axis=1)
    nearest[nearest == len(seeds)] = -1
    out = x.copy()
    for s in range(len(seeds)):
        hit = nearest == s
        out[hit] = (weight * x[hit] + seeds[s]) / (weight + 1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms), nearest


def angle_texts() -> list[str]:
    return [f"{name}: {desc}" for name, desc in AD_ANGLES.items()]
