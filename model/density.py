"""Density models: how a tensor's non-zeros fall into its tiles.

A model answers, for a tile of a given shape (its extent in each rank of the tensor, outermost
rank first; one number for a tile of a one-rank tensor): the distribution of the number of
non-zeros in it (``distribution``: count -> probability), and from that the probability the tile
is empty (``prob_empty``), its expected non-zeros (``expected_nnz``) and expected density.
``given(shape, nnz)`` is the model of the sub-tiles of a tile known to hold ``nnz`` non-zeros
(what a compressed tile's metadata depends on, as in Sparseloop).

* ``Dense``: every element is non-zero.
* ``Uniform(density, size)``: ``ceil(density * size)`` non-zeros (or exactly ``nonzeros``)
  placed uniformly at random in the ``size`` elements of the tensor, so a tile of ``t`` elements
  holds ``k`` with the hypergeometric probability C(nnz, k) C(size - nnz, t - k) / C(size, t)
  (Sparseloop's ``hypergeometric``).
* ``FixedStructured(density)``: every tile of ``t`` elements holds ``floor(t * density)`` or
  ``ceil(t * density)`` non-zeros, the latter with probability ``frac(t * density)``, so the
  mean is exact (Sparseloop's ``fixed_structured``).
* ``HSS(((g1, h1), (g0, h0)))`` (``HSS.parse("2:4,2:4")``): hierarchical structured sparsity
  along the tensor's last rank (HighLight): blocks of ``h0`` elements hold ``g0`` non-zeros,
  groups of ``h1`` blocks hold ``g1`` non-empty blocks, positions uniformly at random; one rank
  (``HSS.parse("2:4")``) is N:M sparsity. A tile starts where a group of the pattern does (so
  does one that is an equal part of a block, its extent a whole number of sub-blocks).
* ``ActualData(array)``: the tensor's values; a tile's distribution is the histogram of the
  non-zero counts of the tiles of that shape that cover the array.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field

import numpy as np


def _size(shape) -> int:
    return math.prod(_shape(shape))


def _shape(shape) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(not isinstance(e, (int, np.integer)) or e < 0 for e in shape):
        raise ValueError(f"a tile shape is a sequence of integers >= 0, got {shape!r}")
    return tuple(int(e) for e in shape)


def _check_density(density) -> None:
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be a number in [0, 1], got {density!r}")


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def hypergeometric(population: int, successes: int, draws: int) -> dict[int, float]:
    """Probability of each number of successes in ``draws`` draws without replacement."""
    lo, hi = max(0, draws + successes - population), min(draws, successes)
    total = _log_comb(population, draws)
    return {k: math.exp(_log_comb(successes, k) + _log_comb(population - successes, draws - k) - total)
            for k in range(lo, hi + 1)}


class Density:
    """The interface every model implements (``distribution`` and ``density``)."""

    density: float

    def distribution(self, shape) -> dict[int, float]:
        raise NotImplementedError

    def prob_empty(self, shape) -> float:
        return self.distribution(shape).get(0, 0.0)

    def expected_nnz(self, shape) -> float:
        return sum(k * p for k, p in self.distribution(shape).items())

    def expected_density(self, shape) -> float:
        size = _size(shape)
        return self.expected_nnz(shape) / size if size else 0.0

    def given(self, shape, nnz: int) -> Density:
        """The model of sub-tiles inside a tile of ``shape`` that holds ``nnz`` non-zeros."""
        return self


@dataclass(frozen=True)
class Dense(Density):
    density: float = 1.0

    def distribution(self, shape) -> dict[int, float]:
        return {_size(shape): 1.0}


@dataclass(frozen=True)
class Uniform(Density):
    density: float
    size: int                     # elements of the tensor
    nonzeros: int | None = None   # exactly this many (None: ceil(density x size))

    def __post_init__(self):
        _check_density(self.density)
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"size must be an integer >= 1 (the tensor's elements), got {self.size!r}")
        if self.nonzeros is not None and not (isinstance(self.nonzeros, int) and 0 <= self.nonzeros <= self.size):
            raise ValueError(f"nonzeros must be an integer in 0..size={self.size}, got {self.nonzeros!r}")

    @property
    def nnz(self) -> int:
        return math.ceil(self.density * self.size) if self.nonzeros is None else self.nonzeros

    @functools.lru_cache(maxsize=4096)
    def distribution(self, shape) -> dict[int, float]:
        return hypergeometric(self.size, self.nnz, min(_size(shape), self.size))

    def prob_empty(self, shape) -> float:
        t = min(_size(shape), self.size)
        if t > self.size - self.nnz:
            return 0.0
        return math.exp(_log_comb(self.size - self.nnz, t) - _log_comb(self.size, t))

    def given(self, shape, nnz: int) -> Density:
        size = _size(shape)
        return Uniform(nnz / size, size, nnz) if size else self


@dataclass(frozen=True)
class FixedStructured(Density):
    density: float

    def __post_init__(self):
        _check_density(self.density)

    def distribution(self, shape) -> dict[int, float]:
        exact = _size(shape) * self.density
        lo = math.floor(exact)
        return {lo: 1.0} if exact == lo else {lo: 1.0 - (exact - lo), lo + 1: exact - lo}

    def given(self, shape, nnz: int) -> Density:
        size = _size(shape)
        return FixedStructured(nnz / size) if size else self


_RANK = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*")


@dataclass(frozen=True)
class HSS(Density):
    ranks: tuple[tuple[int, int], ...]   # (g, h) per rank, outermost first: "G1:H1,G0:H0"

    def __post_init__(self):
        if not self.ranks:
            raise ValueError("an HSS pattern needs at least one rank g:h")
        for g, h in self.ranks:
            if not (isinstance(g, int) and isinstance(h, int) and 1 <= g <= h):
                raise ValueError(f"each HSS rank g:h needs integers 1 <= g <= h, got {g}:{h}")

    @classmethod
    def parse(cls, text: str) -> HSS:
        """``"2:4,2:4"`` (outer rank first) or ``"2:4"`` (N:M)."""
        parts = [_RANK.fullmatch(p) for p in str(text).split(",")]
        if not all(parts):
            raise ValueError(f"pattern must be ranks g:h separated by commas, outer first, e.g. '2:4,2:4'; "
                             f"got {text!r}")
        return cls(tuple((int(m[1]), int(m[2])) for m in parts))

    @property
    def density(self) -> float:
        return math.prod(g / h for g, h in self.ranks)

    def _block(self, r: int) -> int:
        """Elements in a block of rank r (rank 0 the innermost; rank -1 an element)."""
        return math.prod(h for _, h in self.ranks[len(self.ranks) - 1 - r:]) if r >= 0 else 1

    def _full(self, r: int) -> int:
        return math.prod(g for g, _ in self.ranks[len(self.ranks) - 1 - r:]) if r >= 0 else 1

    def _segment(self, r: int, e: int) -> dict[int, float]:
        """Non-zeros in the first ``e`` (0 < e <= block) elements of a rank-r block."""
        g, h = self.ranks[len(self.ranks) - 1 - r]
        b, c = divmod(e, self._block(r - 1))
        out: dict[int, float] = {}
        for k, pk in hypergeometric(h, g, b).items():
            base = k * self._full(r - 1)
            if not c:
                out[base] = out.get(base, 0.0) + pk
                continue
            p_next = (g - k) / (h - b)
            out[base] = out.get(base, 0.0) + pk * (1 - p_next)
            for j, pj in self._segment(r - 1, c).items():
                out[base + j] = out.get(base + j, 0.0) + pk * p_next * pj
        return {k: p for k, p in out.items() if p > 0}

    @functools.lru_cache(maxsize=4096)
    def distribution(self, shape) -> dict[int, float]:
        shape = _shape(shape)
        if not shape or not math.prod(shape):
            return {0: 1.0}
        top = len(self.ranks) - 1
        groups, rest = divmod(shape[-1], self._block(top))
        row = {groups * self._full(top): 1.0}
        if rest:
            row = {k + j: p for j, p in self._segment(top, rest).items() for k in row}
        return _power(row, math.prod(shape[:-1]))


def _power(dist: dict[int, float], n: int) -> dict[int, float]:
    """The distribution of a sum of ``n`` independent draws of ``dist``."""
    lo = min(dist)
    if len(dist) == 1:
        return {lo * n: 1.0}
    pmf = np.zeros(max(dist) - lo + 1)
    for k, p in dist.items():
        pmf[k - lo] = p
    out, todo = np.ones(1), n
    while todo:
        if todo & 1:
            out = np.convolve(out, pmf)
        todo >>= 1
        if todo:
            pmf = np.convolve(pmf, pmf)
    return {i + lo * n: float(p) for i, p in enumerate(out) if p > 1e-15}


@dataclass(frozen=True, eq=False)
class ActualData(Density):
    array: np.ndarray = field(repr=False)

    def __post_init__(self):
        object.__setattr__(self, "array", np.asarray(self.array))

    @property
    def density(self) -> float:
        return float(np.count_nonzero(self.array)) / self.array.size if self.array.size else 0.0

    @functools.lru_cache(maxsize=4096)
    def distribution(self, shape) -> dict[int, float]:
        shape = _shape(shape)
        if len(shape) != self.array.ndim:
            raise ValueError(f"a tile of this {self.array.ndim}-rank tensor needs {self.array.ndim} extents, "
                             f"got {shape}")
        counts = (self.array != 0).astype(np.int64)
        for axis, e in enumerate(shape):
            if e < 1:
                return {0: 1.0}
            counts = np.add.reduceat(counts, np.arange(0, counts.shape[axis], e), axis=axis)
        values, frequencies = np.unique(counts, return_counts=True)
        return {int(v): float(f) / counts.size for v, f in zip(values, frequencies)}


DISTRIBUTIONS = ("fixed_structured", "fixed", "hypergeometric")


def from_timeloop(spec: dict, size: int) -> Density:
    """A Sparseloop density spec (``{distribution: fixed_structured, density: 0.25}``) for a
    tensor of ``size`` elements."""
    name = spec.get("distribution")
    if name in ("fixed_structured", "fixed"):
        return FixedStructured(spec.get("density"))
    if name == "hypergeometric":
        return Uniform(spec.get("density"), int(spec.get("workload_tensor_size", size)))
    raise ValueError(f"density distribution must be one of {', '.join(DISTRIBUTIONS)}, got {name!r}")
