"""Fixtures for the creative stage. Fixtures are named for the data they hold."""

from __future__ import annotations

import numpy as np
import pytest

from fb_analyst.creative.embed import TfidfLsaEmbedder
from fb_analyst.settings import Settings


class CountingEmbedder:
    """A deterministic in-memory embedder (hashes words into 64 dims) that counts its calls."""

    name = "counting-hash"
    fallback_reason = None

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 64))
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


@pytest.fixture
def counting_embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def default_settings() -> Settings:
    return Settings()


@pytest.fixture
def tfidf_embedder() -> TfidfLsaEmbedder:
    return TfidfLsaEmbedder(seed=0)
