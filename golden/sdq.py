"""Golden model of SDQ (Sparse Decomposed Quantization): W = W_sparse + W_quant, two integer products summed.

W_sparse holds the outliers of W (M x K) as n:m structured-sparse int8 codes, W_quant the remainder as dense
``bits``-bit codes with a scale per group of K elements: W @ X ~ s_sparse * (S @ X) + sum_g s_quant_g * (Q_g @ X_g).

Configuration ``SDQConfig(n, m, bits, group)``, written "N:M+WBgG", e.g. "1:8+W4g64".  n = 0 means no sparse
part (plain group quantisation); otherwise 1 <= n < m.

Format (``SDQDecomposition``), Q = 2^(bits-1) - 1, G = K // group:

* ``sparse``       int8    (M, K): outlier codes in [-127, 127], at most n non-zeros per block of m along K;
* ``sparse_scale`` float32 (M, 1): one symmetric scale per row;
* ``quant``        int8    (M, K): remainder codes in [-Q, Q];
* ``quant_scale``  float32 (M, G): one symmetric scale per row and group of ``group`` consecutive K elements.

Value (``dense``), in float32: dequant(S) = S * sparse_scale, dequant(Q)[:, k] = Q[:, k] * quant_scale[:, k // group],
W ~ dequant(S) + dequant(Q).

Decomposition (``decompose``).  W is read as float32 (it must be finite there); arithmetic is float64 on those
values unless stated.  (1) Outliers: in every block of m consecutive elements of a row, the n largest |w|,
ties to the lower index (``tasd.top_n_mask``).  (2) sparse_scale = float32(max |outlier of the row| / 127),
S = clip(rint(w / sparse_scale), -127, 127) at the outliers, 0 elsewhere.  (3) Remainder
R = W - dequant(S) at every position (at an outlier it is the int8 rounding error).  (4) quant_scale =
float32(max |R| of the group / Q), Q codes = clip(rint(R / quant_scale), -Q, Q).  Rounding is np.rint (round
half to even), done only when a value is divided by its scale; saturation is the clip right after it, which
only bites when rounding the scale to float32 (e.g. a subnormal one) makes |value / scale| exceed the range.
A scale whose values are all 0 is 0, and its codes are 0, so an all-zero row reconstructs to exactly 0.  An
outlier that is small next to its row's largest one may get code 0; the remainder then carries it.

Accounting.  ``relative_compute`` = n/m + bits/8: MACs relative to a dense int8 x int8 array, the sparse
product running at density n/m on structured-sparse hardware and a b-bit weight costing b/8 of an int8 MAC;
the scaling multiplications are not counted.  ``storage_bits_per_weight`` = n/m * (8 + ceil(log2 m)) (an
int8 outlier and its position in its block) + bits + 16/group (a 16-bit quant scale per group) + 16/K (a
16-bit sparse scale per row; not charged when n = 0).  Scales are charged as 16-bit (fp16/bf16) numbers but
kept, and used, as float32 here: their rounding to 16 bits is not modelled.

SDQ's own accounting (``sdq_compute``), next to ours: activations are quantised too (the outlier product at
a_s bits, the remainder's at a_q bits), and time is counted against a dense 16-bit product, a part of density
d whose operands are b = max(weight bits, activation bits) wide taking d * b / 16 (the usual model of a
structured-sparse, precision-scalable tensor core): n/m * max(8, a_s)/16 + max(bits, a_q)/16. Dense W4A4 is
then 1/4 (4x), W8A8 1/2 (2x), and 1:8 int8 outliers at A8 over a W4A4 remainder 1/16 + 1/4 (3.2x). Our
remainder covers every position (the outliers' rounding error included), so the inlier part is never sparser
than dense: the paper's 4x with outliers would need inliers pruned too, which is not modelled here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .arrays import expect, is_int, matrix
from .tasd import top_n_mask

_CONFIG_RE = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*\+\s*W(\d+)g(\d+)\s*", re.ASCII)
_SPARSE_MAX = 127  # int8 codes, symmetric
_FLOAT32_MAX = np.finfo(np.float32).max  # a float32 scalar: comparing float16 weights with it does not overflow


@dataclass(frozen=True)
class SDQConfig:
    """n:m outliers (n = 0: none) plus ``bits``-bit remainder codes with a scale per ``group`` K elements."""

    n: int
    m: int
    bits: int
    group: int

    def __post_init__(self):
        if not is_int(self.m) or self.m < 2:
            raise ValueError(f"m must be an integer >= 2, got {self.m!r}")
        if not is_int(self.n) or not 0 <= self.n < self.m:
            raise ValueError(f"n must be an integer in 0..m-1={self.m - 1}, got {self.n!r}")
        if not is_int(self.bits) or not 2 <= self.bits <= 8:
            raise ValueError(f"bits must be an integer in 2..8, got {self.bits!r}")
        if not is_int(self.group) or self.group < 1:
            raise ValueError(f"group must be an integer >= 1, got {self.group!r}")

    @classmethod
    def parse(cls, text: str) -> SDQConfig:
        """Parse "N:M+WBgG", e.g. "1:8+W4g64" (whitespace around the fields is ignored)."""
        match = _CONFIG_RE.fullmatch(text)
        if match is None:
            raise ValueError(f"malformed SDQ config {text!r}; expected 'N:M+WBgG', e.g. '1:8+W4g64'")
        return cls(*map(int, match.groups()))

    def __str__(self) -> str:
        return f"{self.n}:{self.m}+W{self.bits}g{self.group}"

    @property
    def qmax(self) -> int:
        """Largest remainder code: 2^(bits-1) - 1."""
        return 2 ** (self.bits - 1) - 1


def _check_k(k: int, config: SDQConfig) -> None:
    for name, size in (("m", config.m), ("group", config.group)):
        if k == 0 or k % size:
            raise ValueError(f"K={k} is not a positive multiple of {name}={size} (config {config})")


def _weights(w) -> np.ndarray:
    """Validate a 2-D floating matrix, finite in float32, and return it as float32."""
    if not isinstance(w, np.ndarray):
        raise TypeError(f"weights must be a numpy array, got {type(w).__name__}")
    if not np.issubdtype(w.dtype, np.floating):
        raise TypeError(f"weights must have a floating dtype, got {w.dtype}")
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D, got ndim={w.ndim}")
    if not np.all(np.abs(w) <= _FLOAT32_MAX):
        raise ValueError("weights must be finite in float32 (no NaN, inf or |w| > float32 max)")
    return w.astype(np.float32)


def to_codes(values: np.ndarray, scale: np.ndarray, qmax: int) -> np.ndarray:
    """int8 clip(rint(values / scale), -qmax, qmax); a zero scale gives code 0."""
    divisor = np.where(scale > 0, scale, 1).astype(np.float64)
    return np.clip(np.rint(values / divisor), -qmax, qmax).astype(np.int8)


def _quantise(values: np.ndarray, qmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric absmax quantisation along the last axis: int8 codes and float32 scales (last axis kept, size 1)."""
    scale = (np.abs(values).max(axis=-1, keepdims=True, initial=0.0) / qmax).astype(np.float32)
    return to_codes(values, scale, qmax), scale


def _dequantise(codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """codes * scale in float32 (scale broadcast along the last axis)."""
    return codes.astype(np.float32) * scale


@dataclass(frozen=True, eq=False)
class SDQDecomposition:
    """Outlier and remainder codes with their scales; see the module docstring for the format."""

    config: SDQConfig
    sparse: np.ndarray
    sparse_scale: np.ndarray
    quant: np.ndarray
    quant_scale: np.ndarray

    def __post_init__(self):
        c = self.config
        if not isinstance(c, SDQConfig):
            raise TypeError(f"config must be an SDQConfig, got {type(c).__name__}")
        shape = matrix(self.sparse, "sparse", np.int8).shape
        _check_k(shape[1], c)
        expect(self.quant, "quant", np.int8, shape)
        expect(self.sparse_scale, "sparse_scale", np.float32, (shape[0], 1))
        expect(self.quant_scale, "quant_scale", np.float32, (shape[0], shape[1] // c.group))
        if (self.sparse < -_SPARSE_MAX).any() or (np.abs(self.quant.astype(np.int16)) > c.qmax).any():
            raise ValueError(f"codes out of range: sparse must be in -127..127 and quant in -{c.qmax}..{c.qmax}")
        if (np.count_nonzero(self.sparse.reshape(shape[0], -1, c.m), axis=-1) > c.n).any():
            raise ValueError(f"sparse breaks the n:m pattern {c.n}:{c.m}")
        for name in ("sparse_scale", "quant_scale"):
            scale = getattr(self, name)
            if not (np.isfinite(scale).all() and (scale >= 0).all()):
                raise ValueError(f"{name} must be finite and >= 0")

    @property
    def k(self) -> int:
        return self.sparse.shape[1]

    def dense(self) -> np.ndarray:
        """dequant(sparse) + dequant(quant), float32 (M, K)."""
        m, g = self.quant_scale.shape
        quant = _dequantise(self.quant.reshape(m, g, -1), self.quant_scale[..., None]).reshape(m, self.k)
        return _dequantise(self.sparse, self.sparse_scale) + quant

    def partial_products(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact integer products for int8 X (K x N), int64: S @ X (M, N) and Q_g @ X_g per group (M, G, N)."""
        matrix(x, "inputs", np.int8)
        if x.shape[0] != self.k:
            raise ValueError(f"weights shape {self.sparse.shape} and inputs shape {x.shape} do not chain (K differs)")
        m, g = self.quant_scale.shape
        xs = x.astype(np.int64)
        quant = self.quant.astype(np.int64).reshape(m, g, -1)
        return self.sparse.astype(np.int64) @ xs, np.einsum("mgj,gjn->mgn", quant, xs.reshape(g, -1, x.shape[1]))

    def matmul(self, x: np.ndarray) -> np.ndarray:
        """W @ X ~ sparse_scale * (S @ X) + sum_g quant_scale[:, g] * (Q_g @ X_g): integer products, then scales.

        float64 (M, N); every integer product is exact, only the scaling and the sum over groups round.
        """
        sparse, quant = self.partial_products(x)
        scaled = np.einsum("mg,mgn->mn", self.quant_scale.astype(np.float64), quant.astype(np.float64))
        return self.sparse_scale.astype(np.float64) * sparse + scaled

    def relative_compute(self) -> Fraction:
        """MACs relative to a dense int8 x int8 product: n/m + bits/8."""
        return Fraction(self.config.n, self.config.m) + Fraction(self.config.bits, 8)

    def storage_bits_per_weight(self) -> Fraction:
        """n/m * (8 + ceil(log2 m)) + bits + 16/group + 16/K (the last only when n > 0)."""
        c = self.config
        outliers = Fraction(c.n, c.m) * (8 + (c.m - 1).bit_length())
        row_scale = Fraction(16, self.k) if c.n else 0
        return outliers + c.bits + Fraction(16, c.group) + row_scale


def sdq_compute(config: SDQConfig, outlier_act_bits: int, remainder_act_bits: int) -> Fraction:
    """Time relative to a dense 16-bit product in SDQ's accounting (module docstring); 1 / it is the
    effective compute throughput SDQ reports."""
    for name, bits in (("outlier_act_bits", outlier_act_bits), ("remainder_act_bits", remainder_act_bits)):
        if not is_int(bits) or not 2 <= bits <= 16:
            raise ValueError(f"{name} must be an integer in 2..16, got {bits!r}")
    outliers = Fraction(config.n, config.m) * Fraction(max(8, outlier_act_bits), 16)
    return outliers + Fraction(max(config.bits, remainder_act_bits), 16)


def clipped_scale(values: np.ndarray, qmax: int, steps: int = 21) -> np.ndarray:
    """float32 scales (..., 1) for symmetric codes of ``values`` (..., n), clipped: along the last axis, of the
    ``steps`` candidates s = float32(p * max|v| / qmax) with p from 1 down to 1/4 evenly, the one minimising
    sum (to_codes(v, s, qmax) * s - v)^2 (the first on ties, so the largest s). GPTQ's grid search of the
    clipping range: at 2-3 bits it keeps more than the few largest values off zero."""
    values = np.asarray(values, dtype=np.float64)
    peak = np.abs(values).max(axis=-1, keepdims=True, initial=0.0)
    shrink = np.linspace(1.0, 0.25, steps).reshape((steps,) + (1,) * values.ndim)
    scales = (shrink * peak / qmax).astype(np.float32)
    err = np.square(to_codes(values, scales, qmax) * scales.astype(np.float64) - values).sum(axis=-1, keepdims=True)
    return np.take_along_axis(scales, err.argmin(axis=0)[None], axis=0)[0]


def decompose(w: np.ndarray, config: SDQConfig, clip: bool = False) -> SDQDecomposition:
    """Split float W (M x K) into int8 n:m outliers and ``bits``-bit group-quantised remainder codes; ``clip``
    gives each remainder group the ``clipped_scale`` instead of max |R| / Q."""
    w = _weights(w).astype(np.float64)
    _check_k(w.shape[1], config)
    outliers = np.where(top_n_mask(w, config.n, config.m), w, 0.0)
    sparse, sparse_scale = _quantise(outliers, _SPARSE_MAX)
    remainder = w - _dequantise(sparse, sparse_scale)
    rows, groups = w.shape[0], w.shape[1] // config.group
    grouped = remainder.reshape(rows, groups, config.group)
    quant_scale = clipped_scale(grouped, config.qmax) if clip else _quantise(grouped, config.qmax)[1]
    quant = to_codes(grouped, quant_scale, config.qmax)
    return SDQDecomposition(config, sparse, sparse_scale, quant.reshape(w.shape), quant_scale.reshape(rows, groups))
