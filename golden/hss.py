"""Golden model of HighLight's hierarchical structured sparsity (HSS).

A weight matrix W (M x K) is sparse along its reduction dimension K in two
ranks.  Rank 0 cuts each row into blocks of h0 consecutive elements; a block
holds at most g0 non-zeros (g0:h0).  Rank 1 groups h1 consecutive blocks; a
group (h1*h0 elements) holds at most g1 non-empty blocks (g1:h1).  The pattern
is written "G1:H1,G0:H0"; its density is (g1/h1)*(g0/h0).

Compressed format (``HSSCompressed``), NG = K // (h1*h0) groups per row:

* ``values``  int8  (M, NG, g1, g0): the kept values, block by block;
* ``offsets`` uint8 (M, NG, g1, g0): position of each value in its block
  (0..h0-1);
* ``blocks``  uint8 (M, NG, g1): position of each kept block in its group
  (0..h1-1).

Element ``values[m, n, j, i]`` sits at
``W[m, n*h1*h0 + blocks[m, n, j]*h0 + offsets[m, n, j, i]]``.  The form is
canonical: in a group the g1 block indices are strictly increasing, and a
group with fewer than g1 non-empty blocks is padded with its lowest-numbered
empty blocks; in a block the offsets are strictly increasing, and a block with
fewer than g0 non-zeros is padded with value 0 at its lowest unused offsets.
Every (block, offset) slot is therefore distinct and decompression is exact.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .arrays import expect, is_int, matrix, top_mask, whole_groups
from .reference import check_k

_PATTERN_RE = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*", re.ASCII)


@dataclass(frozen=True)
class HSSPattern:
    """Two-rank pattern g1:h1 (blocks per group) over g0:h0 (values per block)."""

    g1: int
    h1: int
    g0: int
    h0: int

    def __post_init__(self):
        for h in ("h1", "h0"):
            v = getattr(self, h)
            if not is_int(v) or v < 1:
                raise ValueError(f"{h} must be an integer >= 1, got {v!r}")
        for g, h in (("g1", "h1"), ("g0", "h0")):
            v, hv = getattr(self, g), getattr(self, h)
            if not is_int(v) or not 1 <= v <= hv:
                raise ValueError(f"{g} must be an integer in 1..{h}={hv}, got {v!r}")

    @classmethod
    def parse(cls, text: str) -> HSSPattern:
        """Parse "G1:H1,G0:H0", e.g. "2:4,2:4" (whitespace is ignored)."""
        match = _PATTERN_RE.fullmatch(text)
        if match is None:
            raise ValueError(f"malformed HSS pattern {text!r}; expected 'G1:H1,G0:H0', e.g. '2:4,2:4'")
        return cls(*map(int, match.groups()))

    def __str__(self) -> str:
        return f"{self.g1}:{self.h1},{self.g0}:{self.h0}"

    @property
    def density(self) -> Fraction:
        return Fraction(self.g1, self.h1) * Fraction(self.g0, self.h0)

    @property
    def group_size(self) -> int:
        return self.h1 * self.h0

    @property
    def is_dense(self) -> bool:
        return self.g0 == self.h0 and self.g1 == self.h1


class PatternViolation(ValueError):
    """A matrix breaks an HSS pattern; ``block`` is None for a rank-1 violation."""

    def __init__(self, row: int, group: int, block: int | None, reason: str):
        super().__init__(reason)
        self.row, self.group, self.block, self.reason = row, group, block, reason


def _groups(k, pattern: HSSPattern) -> int:
    """Number of groups NG in a row of length k."""
    return whole_groups(k, pattern.group_size, f"the group size {pattern.group_size} of pattern {pattern}")


def _blocks(w: np.ndarray, pattern: HSSPattern) -> np.ndarray:
    """View W (M, K) as (M, NG, h1, h0)."""
    return w.reshape(w.shape[0], _groups(w.shape[1], pattern), pattern.h1, pattern.h0)


def check(w: np.ndarray, pattern: HSSPattern) -> None:
    """Raise PatternViolation for the first (row, group, block) breaking ``pattern``."""
    b = _blocks(matrix(w, "weights"), pattern)
    counts = np.count_nonzero(b, axis=-1)  # (M, NG, h1)
    rank1 = np.count_nonzero(counts, axis=-1) > pattern.g1  # (M, NG)
    # Column h1 holds the rank-1 verdict, so row-major order puts it after the blocks.
    bad = np.argwhere(np.concatenate([counts > pattern.g0, rank1[..., None]], axis=-1))
    if len(bad) == 0:
        return
    row, group, block = map(int, bad[0])
    if block < pattern.h1:
        raise PatternViolation(row, group, block, (
            f"row {row}, group {group}, block {block} has {counts[row, group, block]} non-zeros, "
            f"pattern {pattern} allows at most g0={pattern.g0}"))
    raise PatternViolation(row, group, None, (
        f"row {row}, group {group} has {np.count_nonzero(counts[row, group])} non-empty blocks, "
        f"pattern {pattern} allows at most g1={pattern.g1}"))


def satisfies(w: np.ndarray, pattern: HSSPattern) -> bool:
    """True when ``w`` conforms to ``pattern``."""
    try:
        check(w, pattern)
    except PatternViolation:
        return False
    return True


def _score(score, shape: tuple) -> np.ndarray:
    """Validate a finite, non-negative real score array of ``shape``."""
    if not isinstance(score, np.ndarray) or not (np.issubdtype(score.dtype, np.integer)
                                                 or np.issubdtype(score.dtype, np.floating)):
        raise TypeError(f"score must be a real numpy array, got {getattr(score, 'dtype', type(score).__name__)}")
    if score.shape != shape:
        raise ValueError(f"score must have the weights' shape {shape}, got {score.shape}")
    if not (np.isfinite(score).all() and (score >= 0).all()):
        raise ValueError("score must be finite and >= 0")
    return score


def prune(w: np.ndarray, pattern: HSSPattern, score: np.ndarray | None = None) -> np.ndarray:
    """Prune integer ``w`` to ``pattern``: top-g0 scores per block, then the top-g1 blocks per group by the sum of
    their kept squared scores; ties go to the lower index.

    The score defaults to |w| (magnitude pruning: blocks ranked by L2 norm); a ``score`` array of ``w``'s shape
    (finite, >= 0) ranks the elements instead, e.g. Wanda's |w| * ||x_j||.
    """
    b = _blocks(matrix(w, "weights"), pattern)
    s = np.abs(b.astype(np.int64)) if score is None else _blocks(_score(score, w.shape), pattern)
    keep = top_mask(s, pattern.g0)
    norms = np.square(np.where(keep, s, 0), dtype=np.float64).sum(axis=-1)  # squared L2, exact for int8/int16
    keep &= top_mask(norms, pattern.g1)[..., None]
    return np.where(keep, b, 0).astype(w.dtype).reshape(w.shape)


def _first(present: np.ndarray, count: int) -> np.ndarray:
    """Sorted indices of the ``count`` first True entries along the last axis, padded with the first False ones."""
    return np.sort(np.argsort(~present, axis=-1, kind="stable")[..., :count], axis=-1)


@dataclass(frozen=True, eq=False)
class HSSCompressed:
    """Canonical compressed HSS matrix; see the module docstring for the format."""

    pattern: HSSPattern
    k: int
    values: np.ndarray
    offsets: np.ndarray
    blocks: np.ndarray

    def __post_init__(self):
        p = self.pattern
        shape = getattr(self.values, "shape", ())[:1] + (_groups(self.k, p), p.g1, p.g0)
        expect(self.values, "values", np.int8, shape)
        expect(self.offsets, "offsets", np.uint8, shape)
        expect(self.blocks, "blocks", np.uint8, shape[:-1])
        if (self.offsets >= p.h0).any() or (self.blocks >= p.h1).any():
            raise ValueError(f"offsets must be < h0={p.h0} and blocks < h1={p.h1}")

    @property
    def m(self) -> int:
        return self.values.shape[0]


def compress(w: np.ndarray, pattern: HSSPattern) -> HSSCompressed:
    """Compress an int8 matrix conforming to ``pattern`` into canonical HSS form."""
    matrix(w, "weights", np.int8)
    if pattern.h1 > 256 or pattern.h0 > 256:
        raise ValueError(f"pattern {pattern}: h1 and h0 must be <= 256 to fit uint8 indices")
    check(w, pattern)
    b = _blocks(w, pattern)
    offsets = _first(b != 0, pattern.g0)  # (M, NG, h1, g0)
    values = np.take_along_axis(b, offsets, axis=-1)
    blocks = _first((b != 0).any(axis=-1), pattern.g1)  # (M, NG, g1)
    pick = blocks[..., None]
    return HSSCompressed(pattern, w.shape[1], np.take_along_axis(values, pick, axis=2),
                         np.take_along_axis(offsets, pick, axis=2).astype(np.uint8), blocks.astype(np.uint8))


def decompress(c: HSSCompressed) -> np.ndarray:
    """Exact inverse of ``compress``: int8 (M, k)."""
    p = c.pattern
    m, ng = c.m, c.k // p.group_size
    out = np.zeros((m, ng, p.h1, p.h0), np.int8)
    out[np.arange(m)[:, None, None, None], np.arange(ng)[:, None, None], c.blocks[..., None], c.offsets] = c.values
    return out.reshape(m, c.k)


def _per_beat(pattern: HSSPattern, lanes: int) -> int:
    if not is_int(lanes) or lanes < 1:
        raise ValueError(f"lanes must be an integer >= 1, got {lanes!r}")
    if pattern.g0 > lanes:
        raise ValueError(f"g0={pattern.g0} exceeds lanes={lanes}: a kept block must fit in one beat")
    return lanes // pattern.g0


def beats_per_group(pattern: HSSPattern, lanes: int) -> int:
    """Beats a PE with ``lanes`` multipliers needs per group: ceil(g1 / (lanes // g0))."""
    return -(-pattern.g1 // _per_beat(pattern, lanes))


@dataclass(frozen=True, eq=False)
class LaneSchedule:
    """Per-beat lane assignment of a compressed matrix; arrays are (M, NG, beats, lanes).

    Beat b carries kept blocks j = b*P + s (P = lanes // g0, slot s < P, j < g1): lanes
    s*g0 .. s*g0+g0-1 hold block j's values/offsets and ``slots[..., b, s]`` its rank-1
    index.  Lane l reads its block index from ``slots[..., l // g0]``; unused entries are 0.
    """

    pattern: HSSPattern
    lanes: int
    k: int
    values: np.ndarray
    offsets: np.ndarray
    slots: np.ndarray

    def __post_init__(self):
        beats = beats_per_group(self.pattern, self.lanes)
        shape = getattr(self.values, "shape", ())[:1] + (_groups(self.k, self.pattern), beats, self.lanes)
        expect(self.values, "values", np.int8, shape)
        expect(self.offsets, "offsets", np.uint8, shape)
        expect(self.slots, "slots", np.uint8, shape)


def _to_lanes(a: np.ndarray, beats: int, per_beat: int, lanes: int) -> np.ndarray:
    """(M, NG, g1[, g0]) -> (M, NG, beats, lanes): kept blocks per_beat at a time, zero padded."""
    m, ng, g1 = a.shape[:3]
    padded = np.zeros((m, ng, beats * per_beat) + a.shape[3:], a.dtype)
    padded[:, :, :g1] = a
    out = np.zeros((m, ng, beats, lanes), a.dtype)
    flat = padded.reshape(m, ng, beats, -1)
    out[..., :flat.shape[-1]] = flat
    return out


def schedule(c: HSSCompressed, lanes: int) -> LaneSchedule:
    """Assign the kept blocks of ``c`` to the ``lanes`` multipliers of a PE, beat by beat."""
    per_beat = _per_beat(c.pattern, lanes)
    beats = beats_per_group(c.pattern, lanes)
    return LaneSchedule(c.pattern, lanes, c.k, *(_to_lanes(a, beats, per_beat, lanes)
                                                  for a in (c.values, c.offsets, c.blocks)))


def gemm_from_schedule(sched: LaneSchedule, x: np.ndarray) -> np.ndarray:
    """Y = W @ X computed beat by beat from a lane schedule, as the hardware does; int32."""
    matrix(x, "inputs", np.int8)
    p = sched.pattern
    if x.shape[0] != sched.k:
        shape = (sched.values.shape[0], sched.k)
        raise ValueError(f"schedule of weights shape {shape} and inputs shape {x.shape} do not chain")
    check_k(sched.k)
    m, ng, beats, lanes = sched.values.shape
    lane_block = sched.slots[..., np.arange(lanes) // p.g0].astype(np.int64)
    rows = np.arange(ng)[:, None, None] * p.group_size + lane_block * p.h0 + sched.offsets
    rows = rows.reshape(m, ng * beats, lanes)
    values = sched.values.reshape(m, ng * beats, lanes).astype(np.int64)
    xs = x.astype(np.int64)
    y = np.zeros((m, x.shape[1]), np.int64)
    for beat in range(ng * beats):
        y += np.einsum("ml,mln->mn", values[:, beat], xs[rows[:, beat]])
    return y.astype(np.int32)
