"""Theme clustering of distinct messages: deterministic, every message assigned, k from the data.

Input: distinct message texts and the embedder. Output: a :class:`ThemeModel` with one theme per
message (no outlier bin), the record of how k was chosen (with scores), c-TF-IDF keywords, a label
and a representative message per theme.

Unit: messages are reduced to slot-masked templates first (``space``), so "20% off men's briefs"
and "20% off women's bras" are one template; every message takes its template's theme.

Default partition -- angle-seeded k-means (:func:`seeded_partition`): k-means started at the
known copy angles (``space.AD_ANGLES``) that are the nearest angle of at least one template, so k
is the number of angles the copy actually uses; Lloyd iterations then move centres and members to
fit the data. Its silhouette and subsample stability are reported next to the plain k-means scores.

Plain k-means (``creative.guide_with_angles = False``, or too few templates): for every k in
``[min_themes, max_themes]`` k-means (fixed seed, 10 restarts) is scored by mean cosine silhouette
and by stability -- the mean adjusted Rand index between the full partition and k-means partitions
of random 80% subsamples. The chosen k has the highest silhouette among the k whose stability is at
least ``stability_min``; if none is that stable, the most stable k wins.

Labels: class-based TF-IDF (BERTopic's c-TF-IDF): all messages of a theme form one document;
``w(t, c) = tf(t, c) / |c| * log(1 + A / f(t))`` where ``A`` is the mean words per theme and
``f(t)`` the frequency of ``t`` over all themes, so words common to every theme (brand, product
names) score low and the words that make a theme distinct score high.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_limits

from fb_analyst.creative.result import Keyword, KScore, KSelection
from fb_analyst.creative.space import AD_ANGLES, angle_prototypes, find_slot_words, mask_slots


@dataclass(frozen=True)
class ThemeModel:
    """Clustering of distinct messages; ``labels[i]`` is the theme index of ``messages[i]``."""

    messages: list[str]
    labels: np.ndarray
    selection: KSelection
    keywords: list[list[Keyword]]
    representatives: list[str]
    names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    slot_words: list[str] = field(default_factory=list)
    n_templates: int = 0

    @property
    def k(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def theme_ids(self) -> list[str]:
        return [f"T{i + 1}" for i in range(self.k)]

    def members(self, theme: int) -> list[str]:
        return [m for m, lab in zip(self.messages, self.labels, strict=True) if lab == theme]


def _kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means with 10 restarts; callers hold ``threadpool_limits(1)`` (see :func:`choose_k`)."""
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)


def _canonical_labels(labels: np.ndarray, messages: list[str]) -> np.ndarray:
    """Renumber clusters by size (desc), then by their alphabetically first member: stable ids."""
    k = int(labels.max()) + 1
    keys = []
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        keys.append((-len(idx), min(messages[i] for i in idx), c))
    order = {c: new for new, (_, _, c) in enumerate(sorted(keys))}
    return np.array([order[c] for c in labels], dtype=int)


def _stability(x: np.ndarray, labels: np.ndarray, k: int, seed: int, rounds: int) -> float:
    rng = np.random.default_rng(seed)
    n = len(x)
    m = max(k + 1, int(round(0.8 * n)))
    scores = []
    for r in range(rounds):
        idx = np.sort(rng.choice(n, size=min(m, n), replace=False))
        if len(np.unique(x[idx], axis=0)) <= k:
            continue
        sub = _kmeans(x[idx], k, seed + r + 1)
        scores.append(adjusted_rand_score(labels[idx], sub))
    return float(np.mean(scores)) if scores else float("nan")


def choose_k(
    x: np.ndarray,
    min_k: int,
    max_k: int,
    seed: int,
    stability_min: float = 0.8,
    stability_rounds: int = 5,
) -> tuple[np.ndarray, KSelection]:
    """Cluster ``x`` for each candidate k and pick k as described in the module docstring."""
    n_distinct = len(np.unique(np.round(x, 6), axis=0))
    hi = min(max_k, n_distinct - 1)
    if hi < max(2, min_k):
        labels = np.zeros(len(x), dtype=int)
        rule = (
            f"only {n_distinct} distinct embedding(s), fewer than needed to compare "
            f"{max(2, min_k)}+ themes: all messages form one theme"
        )
        return labels, KSelection(method="none", chosen_k=1, rule=rule, scores=[])
    results: dict[int, tuple[np.ndarray, float, float]] = {}
    # One thread, entered once (entering costs ~6 ms, more than a fit): these problems are tiny,
    # and OpenMP start-up dominates on a busy machine.
    with threadpool_limits(1):
        for k in range(max(2, min_k), hi + 1):
            labels = _kmeans(x, k, seed)
            sil = float(silhouette_score(x, labels, metric="cosine")) if len(set(labels)) > 1 else float("nan")
            stab = _stability(x, labels, k, seed, stability_rounds)
            results[k] = (labels, sil, stab)
    stable = [k for k, (_, s, st) in results.items() if np.isfinite(st) and st >= stability_min]
    if stable:
        best = max(stable, key=lambda k: (results[k][1], -k))
        rule = (
            f"highest cosine silhouette ({results[best][1]:.3f}) among k whose subsample stability "
            f"(mean ARI over {stability_rounds} random 80% subsamples) is >= {stability_min}"
        )
    else:
        best = max(results, key=lambda k: (np.nan_to_num(results[k][2], nan=-1.0), results[k][1]))
        rule = (
            f"no k reached subsample stability {stability_min}; chose the most stable k "
            f"(stability {results[best][2]:.3f}, silhouette {results[best][1]:.3f})"
        )
    scores = [
        KScore(
            k=k,
            silhouette=round(s, 4) if np.isfinite(s) else None,
            stability=round(st, 4) if np.isfinite(st) else None,
        )
        for k, (_, s, st) in results.items()
    ]
    selection = KSelection(
        method="k-means (cosine geometry on L2-normalised embeddings), 10 restarts, fixed seed",
        chosen_k=best,
        rule=rule,
        scores=scores,
    )
    return results[best][0], selection


_TOKEN = r"(?u)\b[^\W\d_][\w'’‑-]*\b"


def ctfidf_keywords(docs_by_theme: list[list[str]], top_n: int = 8) -> list[list[Keyword]]:
    """Top c-TF-IDF unigrams/bigrams per theme (see module docstring)."""
    joined = [" ".join(d) for d in docs_by_theme]
    vec = CountVectorizer(
        ngram_range=(1, 2), stop_words=list(ENGLISH_STOP_WORDS), token_pattern=_TOKEN, lowercase=True
    )
    try:
        counts = vec.fit_transform(joined).toarray().astype(float)
    except ValueError:  # only stop words
        return [[] for _ in docs_by_theme]
    terms = vec.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    avg_words = counts.sum() / max(len(joined), 1)
    idf = np.log1p(avg_words / np.maximum(counts.sum(axis=0), 1.0))
    weights = tf * idf
    out = []
    for row in weights:
        chosen: list[Keyword] = []
        for j in np.argsort(-row, kind="stable"):
            if row[j] <= 0 or len(chosen) >= top_n:
                break
            term = str(terms[j])
            # Skip a word already said by a chosen phrase, and a phrase made of chosen words.
            if any(term in c.term.split() or term == c.term for c in chosen):
                continue
            if " " in term and all(w in {c.term for c in chosen} for w in term.split()):
                continue
            chosen.append(Keyword(term=term, score=round(float(row[j]), 5)))
        out.append(chosen)
    return out


def theme_label(keywords: list[Keyword], n: int = 3) -> str:
    """A short human label from the top keywords, e.g. 'doctors recommend / breathable'."""
    words = [k.term for k in keywords[:n]]
    return " / ".join(words) if words else "(no distinctive words)"


def representative(x: np.ndarray, messages: list[str]) -> str:
    """The member closest (cosine) to the theme centroid; ties: shorter, then alphabetical."""
    centroid = x.mean(axis=0)
    norm = np.linalg.norm(centroid)
    sims = x @ (centroid / norm if norm > 0 else centroid)
    best = min(range(len(messages)), key=lambda i: (-round(float(sims[i]), 6), len(messages[i]), messages[i]))
    return messages[best]


def normalise_text(text: str) -> str:
    """Lower-case, unify dashes/quotes, collapse punctuation and spaces: for equality checks."""
    t = text.lower().replace("’", "'").replace("‑", "-")
    t = re.sub(r"[^\w%&']+", " ", t)
    return " ".join(t.split())


def seeded_partition(
    x: np.ndarray, seeds: np.ndarray, names: list[str], min_similarity: float, settings: Any
) -> tuple[np.ndarray, list[str | None], KSelection]:
    """Angle-seeded k-means (Basu et al., 2002): start at the angles that are the nearest angle of
    at least one template, refine by Lloyd iterations; templates whose best angle similarity is
    below ``min_similarity`` are clustered separately with :func:`choose_k` (or join their nearest
    angle when fewer than four). Returns labels, the angle name of each cluster (None for data-only
    clusters) and the selection record. The caller holds ``threadpool_limits(1)``
    (:func:`cluster_messages`).
    """
    cfg = settings.creative
    sims = x @ seeds.T
    nearest = sims.argmax(axis=1)
    matched = sims.max(axis=1) >= min_similarity
    if (~matched).sum() < 4:
        matched[:] = True
    used = sorted(set(nearest[matched].tolist()))
    labels = np.full(len(x), -1, dtype=int)
    angle_of: list[str | None] = []
    if used:
        km = KMeans(n_clusters=len(used), init=seeds[used], n_init=1, random_state=settings.seed)
        labels[matched] = km.fit_predict(x[matched]) if matched.sum() > len(used) else np.arange(matched.sum())
        angle_of = [names[u] for u in used]
    extra_rule = ""
    if (~matched).any():
        sub, sub_sel = choose_k(x[~matched], 2, max(2, cfg.max_themes - len(used)), settings.seed, cfg.stability_min)
        labels[~matched] = sub + len(used)
        angle_of += [None] * (int(sub.max()) + 1)
        extra_rule = f"; {int((~matched).sum())} templates below similarity {min_similarity} to every angle " \
                     f"were clustered on their own into {int(sub.max()) + 1} theme(s) ({sub_sel.rule})"
    k = int(labels.max()) + 1
    sil = float(silhouette_score(x, labels, metric="cosine")) if 1 < k < len(x) else float("nan")
    # Stability of the seeded solution: the same seeding on random 80% subsamples.
    rng = np.random.default_rng(settings.seed)
    stab = []
    for _ in range(5):
        idx = np.sort(rng.choice(len(x), size=max(k + 1, int(round(0.8 * len(x)))), replace=False))
        if len(idx) >= len(x) or matched[idx].sum() <= len(used):
            continue
        sub_near = sorted(set(nearest[idx][matched[idx]].tolist()))
        lab = KMeans(n_clusters=len(sub_near), init=seeds[sub_near], n_init=1).fit_predict(x[idx][matched[idx]])
        stab.append(adjusted_rand_score(labels[idx][matched[idx]], lab))
    stability = float(np.mean(stab)) if stab else float("nan")
    rule = (
        f"angle-seeded k-means: {len(used)} of {len(names)} known copy angles are the nearest angle of at "
        f"least one message template, so k starts at {len(used)} and k-means refines membership{extra_rule}; "
        f"silhouette {sil:.3f}, subsample stability {stability:.3f}"
    )
    selection = KSelection(
        method="angle-seeded k-means on L2-normalised embeddings of slot-masked templates",
        chosen_k=k, rule=rule,
        scores=[KScore(k=k, partition="angle-seeded k-means", silhouette=round(sil, 4) if np.isfinite(sil) else None,
                       stability=round(stability, 4) if np.isfinite(stability) else None)],
    )
    return labels, angle_of, selection


def cluster_messages(messages: list[str], embedder: Any, settings: Any) -> ThemeModel:
    """Cluster distinct ``messages`` into themes; deterministic for ``settings.seed``.

    Slot words are masked and the distinct masked texts (templates) embedded; with angle seeds on
    (default) :func:`seeded_partition` clusters them, otherwise plain k-means with k from
    :func:`choose_k`. Each message takes its template's theme. Keywords are c-TF-IDF over the
    masked messages of each theme; the label is the angle (when seeded) plus the top keywords.
    """
    cfg = settings.creative
    notes: list[str] = []
    slots = find_slot_words(messages) if cfg.mask_template_slots else set()
    masked = [mask_slots(m, slots) or m for m in messages] if slots else list(messages)
    templates = sorted(set(masked))
    position = {t: i for i, t in enumerate(templates)}
    template_of = np.array([position[t] for t in masked], dtype=int)
    x = np.asarray(embedder.embed(templates), dtype=np.float64)
    if slots:
        notes.append(f"{len(slots)} slot words masked before clustering "
                     f"({len(messages)} messages -> {len(templates)} templates): {', '.join(sorted(slots)[:30])}")
    angle_of: list[str | None] = []
    with threadpool_limits(1):  # tiny k-means problems: one thread, entered once (see choose_k)
        if cfg.guide_with_angles and len(templates) >= max(3, cfg.min_themes):
            raw, angle_of, selection = seeded_partition(
                x, angle_prototypes(embedder), list(AD_ANGLES), cfg.min_angle_similarity, settings)
            # For the record: how plain k-means would score each k on the same templates.
            _, plain = choose_k(x, cfg.min_themes, cfg.max_themes, settings.seed, cfg.stability_min)
            selection = selection.model_copy(update={
                "scores": selection.scores + [s.model_copy(update={"partition": "plain k-means"}) for s in plain.scores],
                "rule": selection.rule + f"; for comparison, plain k-means would choose k={plain.chosen_k} ({plain.rule})",
            })
        else:
            raw, selection = choose_k(x, cfg.min_themes, cfg.max_themes, settings.seed, cfg.stability_min)
    t_labels = _canonical_labels(raw, templates) if len(raw) else raw
    if angle_of:
        remap = {int(r): int(t) for r, t in zip(raw, t_labels, strict=True)}
        angle_of = [angle_of[old] for old, _ in sorted(remap.items(), key=lambda kv: kv[1])]
    labels = t_labels[template_of]
    k = int(labels.max()) + 1 if len(labels) else 0
    docs = [[masked[i] for i in np.flatnonzero(labels == c)] for c in range(k)]
    keywords = ctfidf_keywords(docs, 8) if k > 1 else [[] for _ in range(k)]
    reps = []
    for c in range(k):
        idx = np.flatnonzero(t_labels == c)
        rep_template = representative(x[idx], [templates[i] for i in idx])
        reps.append(min(m for m, t in zip(messages, masked, strict=True) if t == rep_template))
    names = []
    for c, kw in enumerate(keywords):
        words = theme_label(kw)
        angle = angle_of[c] if c < len(angle_of) else None
        names.append(f"{angle}: {words}" if angle else words)
    return ThemeModel(list(messages), labels, selection, keywords, reps, names, notes, sorted(slots), len(templates))
