"""Golden model of SME, the Sparse-Multiplication-Engine: a ReRAM crossbar GEMM that saves crossbars on bit sparsity.

Y = W @ X with int8 weights W (M x K) and int8 activations X (K x N), exact in int64.

Crossbars.  A crossbar (``CrossbarSpec``) has ``xbar_rows`` word lines (rows) and
``xbar_cols`` bit lines (columns) of cells holding ``cell_bits`` (1 or 2) bits.
It holds W transposed: rows are inputs k, columns are outputs m.

Weight encoding (differential sign-magnitude).  W = P - Q with P = max(W, 0) and
Q = max(-W, 0) (polarity 0 and 1), magnitudes 0..128 in 8 magnitude bits (bit 7
is set only by -128).  Each polarity is cut into S = ``slices`` = 8 / cell_bits
slices; slice s holds the value (magnitude >> (s * cell_bits)) & (2^cell_bits - 1),
i.e. bit s for cell_bits = 1 and bits 2s, 2s+1 as 0..3 for cell_bits = 2, with
significance 2^(s * cell_bits).  K is cut into k_tiles = ceil(K / xbar_rows) tiles
and M into m_tiles = ceil(M / xbar_cols) tiles, zero padded.  A dense crossbar is
one (polarity, slice, k_tile, m_tile): cell [r, c] holds slice s of weight
W[m_tile*xbar_cols + c, k_tile*xbar_rows + r]; crossbars_dense = 2 * S * k_tiles * m_tiles.

Bit-serial MVM.  Activations are fed one two's complement bit of every input per
step (1-bit DAC): x = -2^7 x_7 + sum_{j<7} 2^j x_j.  In step j each column c of
each crossbar senses sum_r x_j[k_r] * cell[r, c] (k_r: the input driving row r)
through an ADC of ``adc_bits`` bits that returns min(sum, 2^adc_bits - 1); the
periphery multiplies the ADC code by the slice significance 2^(s * cell_bits) and
the input significance (2^j, -2^7 for j = 7), negates it for polarity Q, and adds
it to Y[m_tile*xbar_cols + c].  No other rounding happens anywhere.  A column sum
is at most xbar_rows * (2^cell_bits - 1); ``exact_adc_bits`` is its bit length and
is used when adc_bits is None, and then Y = W @ X exactly.  A narrower ADC makes
the saturation part of the result.

Bit-sparsity orchestration (``orchestrate``).  Each magnitude is replaced by the
nearest magnitude in 0..127 with at most ``max_bits_per_weight`` set bits, ties toward the
smaller one, keeping the sign; magnitude 128 (one set bit, only -128) stays 128.  Targets
are capped at 127 for both signs so the map is sign symmetric and the result fits
int8 (so 127 -> 64 for max_bits_per_weight = 1, never 128).  Fewer set bits leave more dense
crossbars, and more rows, all zero.

Squeeze-out (``squeeze``).  In each dense crossbar a row whose cells are all zero
is dropped.  The remaining rows of all crossbars with the same (polarity, slice,
m_tile), i.e. the same bit significance and output columns, are packed in
ascending k into ceil(rows / xbar_rows) physical crossbars; columns keep their m.
A (polarity, slice, m_tile) with no row left needs no physical crossbar.

Mapping format (``SqueezedMapping``): ``crossbars`` is a tuple of
``PhysicalCrossbar(polarity, slice, m_tile, inputs, cells)`` ordered by
(polarity, slice, m_tile) and then ascending k, with

* ``inputs`` int64 (xbar_rows,): the input k driving each row, -1 for an unused
  row; used rows come first, with strictly increasing k;
* ``cells``  uint8 (xbar_rows, xbar_cols): cell [r, c] holds slice ``slice`` of
  polarity ``polarity`` of W[m_tile*xbar_cols + c, inputs[r]]; unused rows and
  padded columns hold 0.

``dense_mapping`` is the same format with one physical crossbar per dense crossbar
(all rows kept, inputs k_tile*xbar_rows + r, -1 past K).  With a saturating ADC
squeezing changes which rows share a column sum, so squeezed and dense results
can differ; with an exact ADC both equal W @ X.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import expect, is_int, matrix

_MAX_XBAR = 1024
_MAX_ADC_BITS = 16
#: Magnitude bits of a weight, and two's complement bits of an activation (one per bit-serial step).
BITS = 8
_INPUT_SIGNIFICANCE = np.array([1 << j for j in range(BITS - 1)] + [-(1 << (BITS - 1))], np.int64)


@dataclass(frozen=True)
class CrossbarSpec:
    """Crossbar geometry, cell width and ADC resolution (None: exact, ``exact_adc_bits``)."""

    xbar_rows: int
    xbar_cols: int
    cell_bits: int = 1
    adc_bits: int | None = None

    def __post_init__(self):
        for name in ("xbar_rows", "xbar_cols"):
            v = getattr(self, name)
            if not is_int(v) or not 1 <= v <= _MAX_XBAR:
                raise ValueError(f"{name} must be an integer in 1..{_MAX_XBAR}, got {v!r}")
        if not is_int(self.cell_bits) or self.cell_bits not in (1, 2):
            raise ValueError(f"cell_bits must be 1 or 2, got {self.cell_bits!r}")
        if self.adc_bits is not None and (not is_int(self.adc_bits) or not 1 <= self.adc_bits <= _MAX_ADC_BITS):
            raise ValueError(f"adc_bits must be an integer in 1..{_MAX_ADC_BITS} or None (exact), "
                             f"got {self.adc_bits!r}")

    @property
    def slices(self) -> int:
        """Weight slices per polarity: 8 // cell_bits."""
        return BITS // self.cell_bits

    @property
    def exact_adc_bits(self) -> int:
        """Bits of the largest column sum, xbar_rows * (2^cell_bits - 1)."""
        return (self.xbar_rows * ((1 << self.cell_bits) - 1)).bit_length()

    @property
    def adc_max(self) -> int:
        """Largest ADC code, 2^adc_bits - 1; column sums above it saturate."""
        return (1 << (self.exact_adc_bits if self.adc_bits is None else self.adc_bits)) - 1


@dataclass(frozen=True, eq=False)
class PhysicalCrossbar:
    """One programmed crossbar; see the module docstring for ``inputs`` and ``cells``."""

    polarity: int
    slice: int
    m_tile: int
    inputs: np.ndarray
    cells: np.ndarray


@dataclass(frozen=True, eq=False)
class SqueezedMapping:
    """Physical crossbars of W (M x K) and the counts of its dense crossbars.

    ``crossbars_dense``: all dense crossbars; ``crossbars_occupied``: dense
    crossbars holding a non-zero cell; ``rows_occupied``: their non-zero rows.
    """

    config: CrossbarSpec
    m: int
    k: int
    crossbars: tuple[PhysicalCrossbar, ...]
    crossbars_dense: int
    crossbars_occupied: int
    rows_occupied: int

    def __post_init__(self):
        c = self.config
        m_tiles = -(-self.m // c.xbar_cols)
        for i, xb in enumerate(self.crossbars):
            if not (xb.polarity in (0, 1) and 0 <= xb.slice < c.slices and 0 <= xb.m_tile < m_tiles):
                raise ValueError(f"crossbars[{i}]: (polarity, slice, m_tile) must lie in "
                                 f"(0..1, 0..{c.slices - 1}, 0..{m_tiles - 1}), "
                                 f"got {(xb.polarity, xb.slice, xb.m_tile)}")
            expect(xb.inputs, f"crossbars[{i}].inputs", np.int64, (c.xbar_rows,))
            expect(xb.cells, f"crossbars[{i}].cells", np.uint8, (c.xbar_rows, c.xbar_cols))
            if ((xb.inputs < -1) | (xb.inputs >= self.k)).any() or (xb.cells >= 1 << c.cell_bits).any():
                raise ValueError(f"crossbars[{i}]: inputs must lie in -1..{self.k - 1} and cells in "
                                 f"0..{(1 << c.cell_bits) - 1}")

    @property
    def crossbars_physical(self) -> int:
        return len(self.crossbars)


def _config(config) -> CrossbarSpec:
    if not isinstance(config, CrossbarSpec):
        raise TypeError(f"config must be a CrossbarSpec, got {type(config).__name__}")
    return config


def _weights(w) -> np.ndarray:
    matrix(w, "weights", np.int8)
    if 0 in w.shape:
        raise ValueError(f"weights must be non-empty, got shape {w.shape}")
    return w


def _columns(w: np.ndarray, config: CrossbarSpec) -> np.ndarray:
    """Cell values per (polarity, slice, m_tile) as uint8 (2, S, m_tiles, K, xbar_cols): W transposed, M padded."""
    m, k = w.shape
    cols = config.xbar_cols
    w16 = w.astype(np.int16)
    mags = np.zeros((2, -(-m // cols) * cols, k), np.int16)
    mags[0, :m], mags[1, :m] = np.maximum(w16, 0), np.maximum(-w16, 0)
    shifts = config.cell_bits * np.arange(config.slices)
    cells = (mags[:, None] >> shifts[:, None, None]) & ((1 << config.cell_bits) - 1)
    return cells.astype(np.uint8).reshape(2, config.slices, -1, cols, k).swapaxes(-1, -2)


def _mapping(w, config: CrossbarSpec, squeezed: bool) -> SqueezedMapping:
    _config(config)
    columns = _columns(_weights(w), config)
    rows, k = config.xbar_rows, w.shape[1]
    k_tiles = -(-k // rows)
    nonzero = columns.any(axis=-1)  # (2, S, m_tiles, K): rows with a non-zero cell
    padded = np.zeros(nonzero.shape[:-1] + (k_tiles * rows,), bool)
    padded[..., :k] = nonzero
    crossbars = []
    for p, s, mt in np.ndindex(nonzero.shape[:-1]):
        kept = np.flatnonzero(nonzero[p, s, mt]) if squeezed else np.arange(k)
        count = -(-len(kept) // rows)
        inputs = np.full(count * rows, -1, np.int64)
        inputs[:len(kept)] = kept
        cells = np.zeros((count * rows, config.xbar_cols), np.uint8)
        cells[:len(kept)] = columns[p, s, mt, kept]
        crossbars += [PhysicalCrossbar(p, s, mt, inputs[i * rows:(i + 1) * rows], cells[i * rows:(i + 1) * rows])
                      for i in range(count)]
    return SqueezedMapping(config, w.shape[0], k, tuple(crossbars), nonzero[..., 0].size * k_tiles,
                           int(padded.reshape(padded.shape[:-1] + (k_tiles, rows)).any(axis=-1).sum()),
                           int(nonzero.sum()))


def dense_mapping(w: np.ndarray, config: CrossbarSpec) -> SqueezedMapping:
    """One physical crossbar per dense crossbar of int8 ``w`` (M, K), all rows in order."""
    return _mapping(w, config, squeezed=False)


def squeeze(w: np.ndarray, config: CrossbarSpec) -> SqueezedMapping:
    """Drop all-zero rows of the dense crossbars of int8 ``w`` and pack the rest per (polarity, slice, m_tile)."""
    return _mapping(w, config, squeezed=True)


def _mapping_of(mapping_or_w, config) -> SqueezedMapping:
    if isinstance(mapping_or_w, SqueezedMapping):
        if config is not None and _config(config) != mapping_or_w.config:
            raise ValueError(f"config {config} differs from the mapping's config {mapping_or_w.config}")
        return mapping_or_w
    if config is None:
        raise TypeError("config is required when mapping_or_w is a weight matrix")
    return squeeze(mapping_or_w, config)


def _column_sums(mapping: SqueezedMapping, x: np.ndarray) -> np.ndarray:
    """What every column of every crossbar senses at every input bit, before the ADC:
    int64 (BITS, crossbars, xbar_cols, N), bit j of the inputs at index j."""
    matrix(x, "inputs", np.int8)
    if x.shape[0] != mapping.k:
        raise ValueError(f"mapping of weights shape {(mapping.m, mapping.k)} and inputs shape {x.shape} "
                         f"do not chain (K differs)")
    c = mapping.config
    if not mapping.crossbars:
        return np.zeros((BITS, 0, c.xbar_cols, x.shape[1]), np.int64)
    xbits = np.zeros((BITS, mapping.k + 1, x.shape[1]), np.int64)  # row K stays 0: inputs -1 drive it
    xbits[:, :-1] = (x.view(np.uint8) >> np.arange(BITS, dtype=np.uint8)[:, None, None]) & 1
    inputs = np.stack([xb.inputs for xb in mapping.crossbars])  # (C, R)
    cells = np.stack([xb.cells for xb in mapping.crossbars]).astype(np.int64)  # (C, R, Q)
    return np.einsum("jcrn,crq->jcqn", xbits[:, inputs], cells)


def mvm(mapping_or_w, x: np.ndarray, config: CrossbarSpec | None = None) -> np.ndarray:
    """Y = W @ X (int64, M x N) computed bit-serially through the physical crossbars and the ADC model.

    Takes a mapping (``config``, if given, must equal its config) or int8 weights,
    which are squeezed with ``config`` first.
    """
    mapping = _mapping_of(mapping_or_w, config)
    sums = np.minimum(_column_sums(mapping, x), mapping.config.adc_max)
    c, n = mapping.config, x.shape[1]
    y = np.zeros((-(-mapping.m // c.xbar_cols), c.xbar_cols, n), np.int64)
    if mapping.crossbars:
        scale = np.array([(1 - 2 * xb.polarity) << (c.cell_bits * xb.slice) for xb in mapping.crossbars], np.int64)
        np.add.at(y, np.array([xb.m_tile for xb in mapping.crossbars]),
                  np.einsum("j,c,jcqn->cqn", _INPUT_SIGNIFICANCE, scale, sums))
    return y.reshape(-1, n)[:mapping.m]


def adc_clips(mapping_or_w, x: np.ndarray, config: CrossbarSpec | None = None) -> tuple[int, int]:
    """(column sums the ADC clipped, column sums converted) over every crossbar, column, input
    bit and input vector of Y = W @ X (arguments as ``mvm``)."""
    mapping = _mapping_of(mapping_or_w, config)
    sums = _column_sums(mapping, x)
    return int((sums > mapping.config.adc_max).sum()), int(sums.size)


def _check_max_bits(max_bits_per_weight) -> None:
    if not is_int(max_bits_per_weight) or not 1 <= max_bits_per_weight <= BITS:
        raise ValueError(f"max_bits_per_weight must be an integer in 1..{BITS}, got {max_bits_per_weight!r}")


def orchestrate(w: np.ndarray, max_bits_per_weight: int) -> np.ndarray:
    """Re-encode int8 ``w`` so every magnitude has at most ``max_bits_per_weight`` set bits
    (nearest, ties down): int8."""
    _weights(w)
    _check_max_bits(max_bits_per_weight)
    targets = np.arange(1 << (BITS - 1))
    targets = targets[np.bitwise_count(targets) <= max_bits_per_weight]
    mags = np.arange((1 << (BITS - 1)) + 1)
    table = targets[np.argmin(np.abs(mags[:, None] - targets), axis=1)]  # first minimum: the smaller on a tie
    table[-1] = mags[-1]  # 128 stays
    w16 = w.astype(np.int16)
    return (np.sign(w16) * table[np.abs(w16)]).astype(np.int8)


def orchestration_error(w: np.ndarray, w2: np.ndarray) -> dict:
    """max_abs, mean_abs and relative_l2 = ||w - w2|| / ||w|| (0 for an all-zero w) of a re-encoding."""
    _weights(w)
    matrix(w2, "orchestrated weights", np.int8)
    if w.shape != w2.shape:
        raise ValueError(f"weights shape {w.shape} and orchestrated weights shape {w2.shape} differ")
    ref = w.astype(np.float64)
    diff = np.abs(ref - w2)
    norm = np.linalg.norm(ref)
    return {"max_abs": int(diff.max()), "mean_abs": float(diff.mean()),
            "relative_l2": float(np.linalg.norm(diff) / norm) if norm else 0.0}


def map_weights(w: np.ndarray, config: CrossbarSpec,
                max_bits_per_weight: int | None = None) -> tuple[SqueezedMapping, dict]:
    """Orchestrate int8 ``w`` to ``max_bits_per_weight`` set bits (None: as is) and squeeze it: the
    mapping and its crossbar counts.

    Counts: dense, occupied after orchestration, and physical after squeezing; with
    ``max_bits_per_weight`` also ``orchestration_error`` (see ``orchestration_error``).
    """
    w2 = _weights(w) if max_bits_per_weight is None else orchestrate(w, max_bits_per_weight)
    mapping = squeeze(w2, config)
    counts = {"crossbars_dense": mapping.crossbars_dense,
              "crossbars_after_orchestration": mapping.crossbars_occupied,
              "crossbars_after_squeeze": mapping.crossbars_physical}
    if max_bits_per_weight is not None:
        counts["orchestration_error"] = orchestration_error(w, w2)
    return mapping, counts


def crossbar_counts(w: np.ndarray, config: CrossbarSpec, max_bits_per_weight: int | None = None) -> dict:
    """The crossbar counts of ``map_weights``."""
    return map_weights(w, config, max_bits_per_weight)[1]
