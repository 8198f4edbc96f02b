"""The embedding seam: de-duplication, hash cache (memory and disk), lazy loading, fallback."""

from __future__ import annotations

import numpy as np

from fb_analyst.creative import embed as E
from fb_analyst.settings import Settings


def test_cached_embedder_embeds_each_distinct_text_once(counting_embedder):
    cached = E.CachedEmbedder(counting_embedder)
    first = cached.embed(["a b", "c d", "a b"])
    second = cached.embed(["c d", "e f"])
    assert counting_embedder.calls == [["a b", "c d"], ["e f"]]
    assert first.shape == (3, 64)
    np.testing.assert_allclose(first[0], first[2])
    np.testing.assert_allclose(first[1], second[0])
    assert cached.stats["embedded"] == 3 and cached.stats["memory_hits"] == 1


def test_disk_cache_survives_a_new_process_cache(counting_embedder, tmp_path):
    E.CachedEmbedder(counting_embedder, cache_dir=tmp_path).embed(["hello world"])
    fresh_inner = type(counting_embedder)()
    again = E.CachedEmbedder(fresh_inner, cache_dir=tmp_path)
    vec = again.embed(["hello world"])
    assert fresh_inner.calls == [] and again.stats["disk_hits"] == 1
    assert vec.shape == (1, 64)


def test_sentence_transformer_embedder_loads_lazily():
    emb = E.SentenceTransformerEmbedder()
    assert emb._model is None  # constructing it never touches torch or the weights
    assert emb.name == "sentence-transformers:all-MiniLM-L6-v2"


def test_tfidf_fallback_is_deterministic_and_normalised():
    texts = ["20% off all bras", "last chance sale ends tonight", "organic cotton briefs", "20% off briefs"]
    a = E.TfidfLsaEmbedder(seed=0).embed(texts)
    b = E.TfidfLsaEmbedder(seed=0).embed(texts)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)


def test_auto_falls_back_to_tfidf_and_says_why(monkeypatch):
    monkeypatch.setattr(E, "embedding_stack_missing", lambda model: "python package 'tokenizers' is not installed")
    emb = E.get_embedder(Settings())
    assert emb.name == "tfidf-lsa"
    assert "tokenizers" in emb.fallback_reason


def test_explicit_tfidf_setting():
    emb = E.get_embedder(Settings(creative={"embedder": "tfidf"}))
    assert isinstance(emb, E.TfidfLsaEmbedder) and emb.fallback_reason is None


def test_default_embedder_is_shared_per_process():
    s = Settings()
    assert E.get_embedder(s) is E.get_embedder(s)
