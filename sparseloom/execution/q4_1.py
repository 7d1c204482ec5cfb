"""GGUF Q4_1 weights x Q8_1 activations on the LUT Tensor Core, combined on the host as llama.cpp does.

Formats (ggml's ``block_q4_1`` / ``block_q8_1``, 32 elements along K a block):

* Q4_1, 20 bytes a block: d (float16), m (float16), 16 bytes of nibbles; byte j holds element j in its low
  nibble and element j + 16 in its high one. Weight = d * q + m, q in 0..15.
* Q8_1 (``quantise_q8_1``, llama.cpp's ``quantize_row_q8_1_ref``): d_x = amax / 127, x_q = roundf(x * (1 / d_x)),
  s_x = d_x * sum(x_q); d_x and s_x are stored as float16.

Block dot (``ggml_vec_dot_q4_1_q8_1``, scalar path): for block b,
sumf += (d_w * d_x) * sumi + m_w * s_x with sumi = sum_k q[k] * x_q[k], float32 throughout, blocks in order,
each operation rounded (no fused multiply-add). ggml's SIMD paths sum blocks in other orders, so they agree
with this only to float32 rounding.

On the core.  The LUT core's formats are symmetric around -corr (``golden/lut.py``), so none holds the unsigned
codes 0..15 in 4 planes; the codes run as q - 8 in format "4" (two's complement -8..7) and the host adds the
exact integer 8 * sum(x_q) of the block: sumi = (q - 8) @ x_q + 8 * sum(x_q). The core returns a whole-K sum,
so each block of 32 is its own GEMM (K = 32, M = out, N = tokens), in block order; ``combine`` takes their int64
results and applies the float scales block by block, exactly as ggml's scalar loop.
"""
from __future__ import annotations

import re

import numpy as np

from sparseloom.gen.lut.config import LutConfig
from sparseloom.golden import lut
from sparseloom.units import unit

from . import Gemm, LayerProgram

QK = 32                 # elements a block (QK4_1 = QK8_1 = 32)
BLOCK_BYTES = 20        # sizeof(block_q4_1): two float16, 16 bytes of nibbles
CODE_OFFSET = 8         # codes 0..15 run as q - 8 in format "4"
LINEAR_WEIGHT = re.compile(r"blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight")


def _blocks_along(cols, name: str) -> int:
    """Number of blocks of 32 in ``cols`` elements; refuses anything but a positive multiple of 32."""
    if not isinstance(cols, (int, np.integer)) or isinstance(cols, bool) or cols <= 0 or cols % QK:
        raise ValueError(f"{name} must be a positive multiple of {QK} (whole Q4_1/Q8_1 blocks), got {cols!r}")
    return int(cols) // QK


def q4_1_blocks(raw: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse the bytes of a GGUF Q4_1 tensor of ``rows`` x ``cols`` (row-major, blocks along cols) into
    (codes uint8 rows x cols in 0..15, d float32 rows x cols/32, m float32 rows x cols/32)."""
    if not isinstance(rows, (int, np.integer)) or isinstance(rows, bool) or rows <= 0:
        raise ValueError(f"rows must be a positive integer, got {rows!r}")
    nb = _blocks_along(cols, "cols")
    raw = np.asarray(raw)
    if raw.dtype != np.uint8:
        raise TypeError(f"raw must be a uint8 array of Q4_1 bytes, got dtype {raw.dtype}")
    want = int(rows) * nb * BLOCK_BYTES
    if raw.size != want:
        raise ValueError(f"raw holds {raw.size} bytes; a {rows} x {cols} Q4_1 tensor is {want} "
                         f"({rows} rows x {nb} blocks x {BLOCK_BYTES} bytes)")
    b = raw.reshape(int(rows), nb, BLOCK_BYTES)
    d = np.ascontiguousarray(b[..., 0:2]).view("<f2")[..., 0].astype(np.float32)
    m = np.ascontiguousarray(b[..., 2:4]).view("<f2")[..., 0].astype(np.float32)
    qs = b[..., 4:]
    codes = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).reshape(int(rows), int(cols))
    return codes, d, m


def dequantise(codes: np.ndarray, d: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The float32 weights d * q + m of Q4_1 blocks, as ggml's ``dequantize_row_q4_1`` (rows x cols)."""
    codes, d, m = _checked_blocks((codes, d, m), "blocks")
    rows, cols = codes.shape
    q = codes.reshape(rows, cols // QK, QK).astype(np.float32)
    return (q * d[..., None] + m[..., None]).reshape(rows, cols)


def _checked_blocks(blocks, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, d, m) validated: codes 2-D integers in 0..15, d and m float rows x cols/32."""
    if not isinstance(blocks, tuple) or len(blocks) != 3:
        raise TypeError(f"{name} must be a tuple (codes, d, m), got {type(blocks).__name__}")
    codes, d, m = (np.asarray(a) for a in blocks)
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"{name}: codes must be a 2-D integer array, got shape {codes.shape} dtype {codes.dtype}")
    nb = _blocks_along(codes.shape[1], f"{name}: the columns of codes")
    if codes.size and (codes.min() < 0 or codes.max() > 15):
        raise ValueError(f"{name}: codes must lie in 0..15 (4-bit unsigned), got {codes.min()}..{codes.max()}")
    for label, a in (("d", d), ("m", m)):
        if a.shape != (codes.shape[0], nb) or not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"{name}: {label} must be float of shape {(codes.shape[0], nb)}, "
                             f"got shape {a.shape} dtype {a.dtype}")
    return codes.astype(np.uint8), d.astype(np.float32), m.astype(np.float32)


def _roundf(v: np.ndarray) -> np.ndarray:
    """C's roundf of float32 ``v``: nearest integer, halves away from zero (in float64, where |v| + 0.5 is
    exact, so 0.49999997 stays 0)."""
    a = np.abs(v.astype(np.float64))
    return np.copysign(np.floor(a + 0.5), v)


def quantise_q8_1(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """llama.cpp's ``quantize_row_q8_1_ref`` of each row of ``x`` (tokens x K): (codes int8 tokens x K,
    d float32 tokens x K/32, s float32 tokens x K/32).

    Per block, in float32: amax = max|x|, d = amax / 127, id = 1 / d (0 when d = 0), code = roundf(x * id),
    halves rounded away from zero (C ``roundf``, not NumPy's half-to-even ``rint``); s = sum(codes) * d. The
    block stores d and s as float16 (``ggml_half``, round to nearest even), so the returned d and s are those
    float16 values; the codes use the unrounded float32 d, as in ggml."""
    x = np.asarray(x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be a 2-D float array (tokens x K), got shape {x.shape} dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError("x must be finite: Q8_1 has no code for inf or nan")
    tokens, k = x.shape
    nb = _blocks_along(k, "K (the columns of x)")
    blocks = x.astype(np.float32).reshape(tokens, nb, QK)
    d = np.abs(blocks).max(axis=-1) / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    codes = _roundf(blocks * inv[..., None]).astype(np.int8)
    s = codes.sum(axis=-1, dtype=np.int32).astype(np.float32) * d
    return codes.reshape(tokens, k), _half(d), _half(s)


def _half(a: np.ndarray) -> np.ndarray:
    """float32 ``a`` through float16 and back (ggml's FP32_TO_FP16 then FP16_TO_FP32)."""
    return a.astype(np.float16).astype(np.float32)


def combine_blocks(sumi: np.ndarray, d: np.ndarray, m: np.ndarray, dx: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """llama.cpp's block combination, float32 tokens x out: for b in order,
    y += (d_w[o, b] * d_x[t, b]) * sumi[b, o, t] + m_w[o, b] * s_x[t, b], every operation rounded to float32."""
    y = np.zeros((dx.shape[0], d.shape[0]), dtype=np.float32)
    for b in range(sumi.shape[0]):
        scale = d[None, :, b] * dx[:, b, None]
        y = y + (scale * sumi[b].T.astype(np.float32) + m[None, :, b] * sx[:, b, None])
    return y


def llama_reference(codes: np.ndarray, d: np.ndarray, m: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The oracle: ggml's scalar ``ggml_vec_dot_q4_1_q8_1`` of every weight row and Q8_1 activation row,
    float32 tokens x out, from the unsigned codes (low and high half-block sums as ggml splits them)."""
    codes, d, m = _checked_blocks((codes, d, m), "blocks")
    xq, dx, sx = quantise_q8_1(x)
    if xq.shape[1] != codes.shape[1]:
        raise ValueError(f"x has {xq.shape[1]} columns, the weights {codes.shape[1]}")
    q, a = codes.astype(np.int32), xq.astype(np.int32)
    sumf = np.zeros((xq.shape[0], codes.shape[0]), dtype=np.float32)
    for ib in range(codes.shape[1] // QK):
        lo, hi = slice(ib * QK, ib * QK + QK // 2), slice(ib * QK + QK // 2, (ib + 1) * QK)
        sumi = (a[:, lo] @ q[:, lo].T) + (a[:, hi] @ q[:, hi].T)
        term = (d[None, :, ib] * dx[:, ib, None]) * sumi.astype(np.float32) + m[None, :, ib] * sx[:, ib, None]
        sumf = sumf + term
    return sumf


def _lut_config(config) -> LutConfig:
    """The LUT configuration: ``config`` (a LutConfig or {"lut": LutConfig}), by default the unit's default."""
    if isinstance(config, dict):
        if set(config) != {"lut"}:
            raise ValueError(f"config must be None, a LutConfig or a dict with the key 'lut' only, got {config!r}")
        config = config["lut"]
    if config is None:
        u = unit("lut")
        config = u.presets[u.default_preset]
    if not isinstance(config, LutConfig):
        raise TypeError(f"config must be None, a LutConfig or {{'lut': LutConfig}}, got {type(config).__name__}")
    return config


class Q4_1Method:
    """``q4_1``: a layer's own GGUF Q4_1 blocks on the LUT core (codes - 8 in format "4", one GEMM per block
    of 32) against Q8_1 activations, combined on the host as llama.cpp's scalar q4_1 x q8_1 dot."""

    text = "q4_1"
    units = ("lut",)

    def __init__(self, blocks: dict):
        """``blocks``: layer name -> (codes uint8 out x in in 0..15, d float out x in/32, m float out x in/32)."""
        if not isinstance(blocks, dict):
            raise TypeError(f"blocks must be a dict of layer name -> (codes, d, m), got {type(blocks).__name__}")
        self.blocks = {name: _checked_blocks(b, f"blocks[{name!r}]") for name, b in blocks.items()}

    @classmethod
    def from_gguf(cls, source) -> "Q4_1Method":
        """Every ``blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight`` of a GGUF file
        (a path or a ``gguf.GGUFReader``); raises if any of them is not Q4_1, naming them and their types."""
        import gguf
        reader = source if isinstance(source, gguf.GGUFReader) else gguf.GGUFReader(source)
        linear = [t for t in reader.tensors if LINEAR_WEIGHT.fullmatch(t.name)]
        if not linear:
            raise ValueError(f"{reader.data.filename}: no blk.N.<linear>.weight tensors")
        other = [f"{t.name} ({t.tensor_type.name})" for t in linear if t.tensor_type != gguf.GGMLQuantizationType.Q4_1]
        if other:
            raise ValueError(f"{reader.data.filename}: linear weights not in Q4_1: {', '.join(other)}")
        return cls({t.name: q4_1_blocks(t.data, int(t.shape[1]), int(t.shape[0])) for t in linear})

    def program(self, name: str, w: np.ndarray, x: np.ndarray, config=None) -> LayerProgram:
        """One LUT GEMM per block of 32 along K for layer ``name`` (``w`` only checks the shape), and ``combine``."""
        if name not in self.blocks:
            raise KeyError(f"q4_1 method: no Q4_1 blocks for layer {name!r}; it has {len(self.blocks)} layers")
        codes, d, m = self.blocks[name]
        if np.shape(w) != codes.shape:
            raise ValueError(f"{name}: w has shape {np.shape(w)}, its Q4_1 blocks {codes.shape}")
        fmt = lut.weight_format(4)
        lut_config = _lut_config(config)
        lut_config.check_format(fmt)
        xq, dx, sx = quantise_q8_1(x)
        if xq.shape[1] != codes.shape[1]:
            raise ValueError(f"{name}: x has {xq.shape[1]} columns, the layer {codes.shape[1]} inputs")
        nb = codes.shape[1] // QK
        shifted = (codes.astype(np.int16) - CODE_OFFSET).astype(np.int8)
        gemms = [Gemm("lut", fmt, np.ascontiguousarray(shifted[:, b * QK:(b + 1) * QK]),
                      np.ascontiguousarray(xq[:, b * QK:(b + 1) * QK].T), f"{name} block {b} (Q4_1 codes - 8)")
                 for b in range(nb)]
        offset = CODE_OFFSET * xq.reshape(xq.shape[0], nb, QK).sum(axis=-1, dtype=np.int64)  # (tokens, nb)

        def combine(ys: list[np.ndarray]) -> np.ndarray:
            if len(ys) != nb:
                raise ValueError(f"{name}: combine takes {nb} block results, got {len(ys)}")
            sumi = np.stack([np.asarray(y, dtype=np.int64) for y in ys])
            if sumi.shape != (nb, codes.shape[0], xq.shape[0]):
                raise ValueError(f"{name}: block results must each be {codes.shape[0]} x {xq.shape[0]}, "
                                 f"got {sumi.shape[1:]}")
            return combine_blocks(sumi + offset.T[:, None, :], d, m, dx, sx)

        report = {"format": fmt.name, "blocks": nb, "block": QK, "storage_bits_per_weight": BLOCK_BYTES * 8 / QK,
                  "codes": f"unsigned 0..15 run as q - {CODE_OFFSET}; host adds {CODE_OFFSET} * sum(x_q) per block",
                  "scales": "per block of 32 on the host, in combine (one LUT GEMM per block), float32 as ggml"}
        return LayerProgram(gemms, combine, report)
