"""Golden model of the LUT Tensor Core: low-bit weight x int8 activation GEMM by table look-up.

Y = W @ X with low-bit weights W (M x K) and int8 activations X (K x N).  The
activations are turned into tables once; the weights are split into bit planes
that are processed one after another (bit-serial), each plane only looking
entries up and scaling them by a power of two.

Tables.  X is cut along K into NG = K // g groups of g consecutive rows (K must
be a multiple of g).  For group q and column n, with x_i = X[q*g + i, n], the
full table has 2^g entries

    T[idx] = sum_{i<g} s_i * x_i,   s_i = +1 if bit i of idx is 1, else -1.

Symmetrisation.  Complementing idx flips every sign, so
T[idx ^ (2^g - 1)] = -T[idx].  Only the H = 2^(g-1) entries with bit g-1 clear
are stored, stored[e] = T[e] for e < H, and

    lookup(stored, idx) = -stored[(~idx) & (H - 1)]   if bit g-1 of idx is set,
                           stored[idx]                otherwise.

stored[0] = T[0] = -S with S = sum_i x_i.  For a-bit activations
|T| <= g * 2^(a-1), reached by x_i = -2^(a-1) at idx 0; ``table_width`` is the
signed width that holds this exactly.

Weight formats.  A ``WeightFormat`` writes a weight w as P planes of bits b_j,
s_j = 2*b_j - 1, with per-plane factors c_j = 2^j if ``weighted`` else 1, the
last one negated if ``neg_msb``:

    w = (sum_j c_j * s_j - corr) / 2^halve          (always exact)

    format   P  c_j                               corr halve weights              plane-j bit
    "1"      1  (1,)                              no   no    -1, +1               w > 0
    "b"      b  (1, 2, ..., 2^(b-2), -2^(b-1))    yes  yes   -2^(b-1)..2^(b-1)-1  (w >> j) & 1
    "ternary" 2 (1, 1)                            no   yes   -1, 0, +1            j=0: w >= 0, j=1: w > 0

"b" is 2, 3 or 4 and its plane bits are the two's complement bits of w; as
sum_j c_j = -1, w = (sum_j c_j s_j - 1) / 2.  A weight is encoded by the
lowest-numbered plane pattern sum_j b_j 2^j that decodes to it; only ternary 0
has two, the canonical (b_0, b_1) = (1, 0) and (0, 1), which also decodes to 0.

GEMM.  The weight stream (``plane_indices``) holds one index per plane j, row m
and group q, bit i being the plane-j bit of W[m, q*g + i]:
idx_j[m, q] = sum_i b_j(W[m, q*g + i]) * 2^i.  Since sum_i s_i x_i = T[idx],

    A[m, n] = sum_q sum_j c_j * lookup(stored[q, n], idx_j[m, q]) - corr * S_total[n]
            = 2^halve * sum_k W[m, k] * X[k, n]
    Y[m, n] = A[m, n] / 2^halve

with S_total[n] = sum_k X[k, n]; A is even whenever halve is set, so the
division is exact.  |A| <= (sum_j |c_j| + corr) * K * 2^(a-1)
(``accumulator_bound``), reached by W = lo and X = -2^(a-1).

Arrays: ``full_tables`` int32 (NG, N, 2^g) [q, n, idx]; ``stored_tables`` int32
(NG, N, H) [q, n, e]; ``plane_bits`` uint8 (P, M, K) [j, m, k];
``plane_indices`` (P, M, NG) [j, m, q], uint8 for g <= 8 and uint16 up to
g = 16.  Table word (``pack_table_word``): the H stored entries of one
(group, column) as one unsigned integer of H * tw bits, entry e in bits
[e*tw, (e+1)*tw) as tw-bit two's complement.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import is_int, matrix, whole_groups
from .reference import INT32_MAX

_MAX_G = 16  # plane indices fit uint16


@dataclass(frozen=True)
class WeightFormat:
    """Bit-plane decomposition of a low-bit weight; see the module docstring for the algebra."""

    name: str
    planes: int
    weighted: bool
    neg_msb: bool
    corr: bool
    halve: bool
    lo: int
    hi: int

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")
        if not is_int(self.planes) or not 1 <= self.planes <= 8:
            raise ValueError(f"planes must be an integer in 1..8, got {self.planes!r}")
        for flag in ("weighted", "neg_msb", "corr", "halve"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be a bool, got {getattr(self, flag)!r}")
        for bound in ("lo", "hi"):
            v = getattr(self, bound)
            if not is_int(v) or not -128 <= v <= 127:
                raise ValueError(f"{bound} must be an integer in -128..127 (int8 weights), got {v!r}")
        numerators = _numerators(_all_patterns(self.planes), self)
        if np.any(numerators % (1 << self.halve)):
            raise ValueError(f"format {self.name!r}: some plane patterns do not divide exactly by 2^halve")
        weights = numerators >> int(self.halve)
        if (weights.min(), weights.max()) != (self.lo, self.hi):
            raise ValueError(f"format {self.name!r}: the planes decode to {weights.min()}..{weights.max()}, "
                             f"not lo..hi = {self.lo}..{self.hi}")

    @property
    def coefficients(self) -> tuple[int, ...]:
        """Per-plane factors c_j."""
        c = [2**j if self.weighted else 1 for j in range(self.planes)]
        if self.neg_msb:
            c[-1] = -c[-1]
        return tuple(c)

    @property
    def values(self) -> tuple[int, ...]:
        """Every weight the format represents, ascending."""
        return tuple(_codebook(self)[0].tolist())


def _all_patterns(planes: int) -> np.ndarray:
    """uint8 (planes, 2^planes): column p holds the bits of plane pattern p."""
    return ((np.arange(1 << planes) >> np.arange(planes)[:, None]) & 1).astype(np.uint8)


def _numerators(bits: np.ndarray, fmt: WeightFormat) -> np.ndarray:
    """sum_j c_j s_j - corr for plane bits (P, ...), int64."""
    return np.tensordot(np.array(fmt.coefficients, np.int64), 2 * bits.astype(np.int64) - 1, axes=1) - int(fmt.corr)


def _codebook(fmt: WeightFormat) -> tuple[np.ndarray, np.ndarray]:
    """(weights ascending, lowest plane pattern encoding each)."""
    return np.unique(_numerators(_all_patterns(fmt.planes), fmt) >> int(fmt.halve), return_index=True)


FORMATS = {f.name: f for f in (
    WeightFormat("1", 1, weighted=False, neg_msb=False, corr=False, halve=False, lo=-1, hi=1),
    *(WeightFormat(str(b), b, weighted=True, neg_msb=True, corr=True, halve=True, lo=-2**(b - 1), hi=2**(b - 1) - 1)
      for b in (2, 3, 4)),
    WeightFormat("ternary", 2, weighted=False, neg_msb=False, corr=False, halve=True, lo=-1, hi=1),
)}


def weight_format(wbits) -> WeightFormat:
    """The format named "1", "2", "3", "4" or "ternary"; the ints 1..4 name the first four."""
    key = str(wbits) if is_int(wbits) else wbits
    if not isinstance(key, str) or key not in FORMATS:
        raise ValueError(f"wbits must be one of 1, 2, 3, 4 (int or str) or 'ternary', got {wbits!r}")
    return FORMATS[key]


def _format(fmt) -> WeightFormat:
    return fmt if isinstance(fmt, WeightFormat) else weight_format(fmt)


def _check_g(g) -> None:
    if not is_int(g) or not 1 <= g <= _MAX_G:
        raise ValueError(f"g must be an integer in 1..{_MAX_G}, got {g!r}")


def _check_act_width(act_width) -> None:
    if not is_int(act_width) or act_width < 1:
        raise ValueError(f"act_width must be an integer >= 1, got {act_width!r}")


def _weights(w, fmt: WeightFormat) -> np.ndarray:
    """Validate int8 2-D weights whose every value ``fmt`` represents."""
    matrix(w, "weights", np.int8)
    values = fmt.values
    bad = np.argwhere(~np.isin(w, values))
    if len(bad):
        row, col = map(int, bad[0])
        allowed = f"{fmt.lo}..{fmt.hi}" if len(values) == fmt.hi - fmt.lo + 1 else ", ".join(map(str, values))
        raise ValueError(f"weights[{row}, {col}] = {w[row, col]} is not a format {fmt.name!r} weight; "
                         f"allowed: {allowed}")
    return w


def _groups(k: int, g: int) -> int:
    """Number of groups NG = K // g."""
    return whole_groups(k, g, f"g={g}")


def _full(x: np.ndarray, g: int) -> np.ndarray:
    idx = np.arange(1 << g)
    signs = (2 * ((idx[:, None] >> np.arange(g)) & 1) - 1).astype(np.int32)  # (2^g, g)
    groups = x.reshape(_groups(x.shape[0], g), g, x.shape[1]).astype(np.int32)
    return np.einsum("qin,ei->qne", groups, signs)


def full_tables(x: np.ndarray, g: int) -> np.ndarray:
    """Full tables T of int8 activations X (K, N): int32 (NG, N, 2^g)."""
    _check_g(g)
    return _full(matrix(x, "inputs", np.int8), g)


def stored_tables(x: np.ndarray, g: int) -> np.ndarray:
    """Symmetrised tables (entries with bit g-1 of idx clear) of X (K, N): int32 (NG, N, 2^(g-1))."""
    return full_tables(x, g)[..., :table_entries_stored(g)]


def _lookup(stored: np.ndarray, idx: np.ndarray, g: int) -> np.ndarray:
    half = 1 << (g - 1)
    negate = (idx & half) != 0
    entry = np.where(negate, ~idx & (half - 1), idx)
    shape = np.broadcast_shapes(stored.shape[:-1], entry.shape)
    value = np.take_along_axis(np.broadcast_to(stored, shape + (half,)),
                               np.broadcast_to(entry, shape)[..., None], axis=-1)[..., 0]
    return np.where(negate, -value, value)


def lookup(stored: np.ndarray, idx, g: int) -> np.ndarray:
    """T[idx] from symmetrised tables (..., 2^(g-1)); ``idx`` broadcasts against ``stored.shape[:-1]``."""
    _check_g(g)
    if not isinstance(stored, np.ndarray) or not np.issubdtype(stored.dtype, np.signedinteger):
        got = getattr(stored, "dtype", type(stored).__name__)
        raise TypeError(f"stored must be a numpy array of signed integer dtype, got {got}")
    if stored.ndim < 1 or stored.shape[-1] != 1 << (g - 1):
        raise ValueError(f"stored must have shape (..., {1 << (g - 1)}) for g={g}, got {stored.shape}")
    idx = np.asarray(idx)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"idx must have an integer dtype, got {idx.dtype}")
    bad = (idx < 0) | (idx >= 1 << g)
    if bad.any():
        raise ValueError(f"idx must lie in 0..{(1 << g) - 1} for g={g}, got {idx[bad].flat[0]}")
    try:
        np.broadcast_shapes(stored.shape[:-1], idx.shape)
    except ValueError:
        raise ValueError(f"idx shape {idx.shape} does not broadcast against stored shape {stored.shape}") from None
    return _lookup(stored, idx, g)


def table_entries_stored(g: int) -> int:
    """Entries per symmetrised table: 2^(g-1)."""
    _check_g(g)
    return 1 << (g - 1)


def table_width(g: int, act_width: int = 8) -> int:
    """Smallest signed width holding every table entry, |T| <= g * 2^(act_width-1), exactly."""
    _check_g(g)
    _check_act_width(act_width)
    return (g << (act_width - 1)).bit_length() + 1


def _bits(w: np.ndarray, fmt: WeightFormat) -> np.ndarray:
    values, patterns = _codebook(fmt)
    code = patterns[np.searchsorted(values, w)]
    return ((code >> np.arange(fmt.planes)[:, None, None]) & 1).astype(np.uint8)


def plane_bits(w: np.ndarray, fmt) -> np.ndarray:
    """Plane bits of int8 weights (M, K) in format ``fmt``: uint8 (P, M, K)."""
    fmt = _format(fmt)
    return _bits(_weights(w, fmt), fmt)


def from_planes(bits: np.ndarray, fmt) -> np.ndarray:
    """Exact inverse of ``plane_bits``: int8 (M, K) weights from uint8 bits (P, M, K)."""
    fmt = _format(fmt)
    matrix(bits, "bits", np.uint8, ndim=3)
    if bits.shape[0] != fmt.planes:
        raise ValueError(f"bits must have {fmt.planes} planes for format {fmt.name!r}, got shape {bits.shape}")
    if (bits > 1).any():
        raise ValueError(f"bits must be 0 or 1, got {bits.max()}")
    return (_numerators(bits, fmt) >> int(fmt.halve)).astype(np.int8)


def _indices(w: np.ndarray, fmt: WeightFormat, g: int) -> np.ndarray:
    bits = _bits(w, fmt)
    grouped = bits.reshape(fmt.planes, w.shape[0], _groups(w.shape[1], g), g).astype(np.uint16)
    idx = (grouped << np.arange(g, dtype=np.uint16)).sum(axis=-1, dtype=np.uint16)
    return idx.astype(np.uint8 if g <= 8 else np.uint16)


def plane_indices(w: np.ndarray, fmt, g: int) -> np.ndarray:
    """Weight stream (P, M, NG): bit i of [j, m, q] is the plane-j bit of W[m, q*g + i]."""
    fmt = _format(fmt)
    _check_g(g)
    return _indices(_weights(w, fmt), fmt, g)


def pack_table_word(stored_entries, table_width: int) -> int:
    """One (group, column) table as an integer: entry e in bits [e*tw, (e+1)*tw), two's complement."""
    if not is_int(table_width) or table_width < 1:
        raise ValueError(f"table_width must be an integer >= 1, got {table_width!r}")
    entries = np.asarray(stored_entries)
    if not np.issubdtype(entries.dtype, np.integer) or entries.ndim != 1:
        raise TypeError(f"stored_entries must be a 1-D integer sequence, got dtype {entries.dtype}, "
                        f"ndim={entries.ndim}")
    lo, hi = -(1 << (table_width - 1)), (1 << (table_width - 1)) - 1
    bad = np.flatnonzero((entries < lo) | (entries > hi))
    if len(bad):
        raise ValueError(f"stored_entries[{bad[0]}] = {entries[bad[0]]} does not fit table_width={table_width} "
                         f"(range {lo}..{hi})")
    mask = (1 << table_width) - 1
    return sum((e & mask) << (i * table_width) for i, e in enumerate(entries.tolist()))


def accumulator_bound(fmt_or_max_bits, k: int, act_width: int = 8) -> int:
    """Largest |A| (the sum before halving) over K = k: (sum_j |c_j| + corr) * k * 2^(act_width-1)."""
    fmt = _format(fmt_or_max_bits)
    if not is_int(k) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    _check_act_width(act_width)
    return (sum(map(abs, fmt.coefficients)) + fmt.corr) * k << (act_width - 1)


def lut_accumulate(w: np.ndarray, x: np.ndarray, fmt, g: int) -> np.ndarray:
    """Accumulator A (M, N) of the table method, before the final halving: int32, 2^halve * W @ X."""
    fmt = _format(fmt)
    _check_g(g)
    _weights(w, fmt)
    matrix(x, "inputs", np.int8)
    if w.shape[1] != x.shape[0]:
        raise ValueError(f"weights shape {w.shape} and inputs shape {x.shape} do not chain (K differs)")
    _groups(x.shape[0], g)
    bound = accumulator_bound(fmt, x.shape[0])
    if bound > INT32_MAX:
        raise ValueError(f"K={x.shape[0]} is too large for format {fmt.name!r}: "
                         f"accumulator bound {bound} exceeds int32")
    stored = _full(x, g)[..., :1 << (g - 1)]  # (NG, N, H)
    acc = np.zeros((w.shape[0], x.shape[1]), np.int64)
    for c, idx in zip(fmt.coefficients, _indices(w, fmt, g)):  # one plane at a time
        acc += c * _lookup(stored, idx[:, :, None], g).sum(axis=1, dtype=np.int64)
    if fmt.corr:
        acc -= x.sum(axis=0, dtype=np.int64)
    return acc.astype(np.int32)


def lut_gemm(w: np.ndarray, x: np.ndarray, fmt, g: int) -> np.ndarray:
    """Y = W @ X by the table method: int32 (M, N)."""
    return lut_accumulate(w, x, fmt, g) >> int(_format(fmt).halve)
