"""Generic accelerator templates beside our generated units, for comparisons on one model:
systolic arrays that are weight- or output-stationary, and the sparsity support of other
sparse designs (2:4-only, unstructured) to put on an array of ours.

A template is an architecture of a ``rows x cols`` array of MACs under a global buffer and DRAM,
and a mapping of a GEMM onto it in its dataflow:

* **weight-stationary** (TPU-like): each PE holds one weight W[m][k]; the array is K (rows) x M
  (cols) and inputs X[k][n] stream through it, one column n a cycle; partial sums flow down the
  columns (a spatial reduction over K) into the buffer;
* **output-stationary** (ShiDianNao-like): each PE holds one output Y[m][n]; the array is M
  (rows) x N (cols), and W[m][k] and X[k][n] stream through it, one k a cycle.

The dimensions are padded to whole array tiles (the padding is computed, its MACs counted as
work the array does). Where the buffer cannot hold a whole tile's stream, the stream is cut
along N (weight-stationary) or K (output-stationary) into the largest pieces that fit.
Energies and areas: ``sparseloom.model.energy``'s defaults, per word of the level's width.

**Sparsity support** (``NofM``, ``CoordinateList``) is what another sparse design does with a
sparse weight on the same multipliers: which share of the dense computes it still performs
(``compute_density``, from the weight's density model) and how many metadata bits each weight
it keeps carries (``metadata_bits``); ``on(workload, ...)`` turns that into the model's ``skip``
and the weights' element width. They describe

* a **2:4-only** array in the style of NVIDIA's sparse tensor core: along K, every aligned group
  of ``m`` weights that holds at most ``n`` non-zeros runs at ``n / m`` of the dense computes,
  with ``ceil(log2 m)`` bits of position per kept weight; a weight with any group denser than
  that runs dense, without metadata;
* an **unstructured** array with coordinate-list weights (Sparseloop's CP format along K): it
  performs exactly the non-zeros, each with a coordinate of ``ceil(log2 fiber)`` bits. It is
  ideal in throughput (no load imbalance between lanes) and its selection network costs
  nothing: a bound the real designs stay below.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import energy
from .arch import Architecture, Compute, Level
from .density import Density
from .mapping import LevelMapping, Mapping
from .workload import Workload

DATAFLOWS = ("weight_stationary", "output_stationary")


@dataclass(frozen=True)
class Systolic:
    """A ``rows x cols`` systolic array of ``data_bits`` MACs with ``acc_bits`` accumulators
    under a buffer of ``buffer_words`` words of ``data_bits``."""
    name: str
    rows: int
    cols: int
    dataflow: str = "weight_stationary"
    buffer_words: int = 64 * 1024
    data_bits: int = 8
    acc_bits: int = 32

    def __post_init__(self):
        for field in ("rows", "cols", "buffer_words", "data_bits", "acc_bits"):
            v = getattr(self, field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"template {self.name}: {field} must be an integer >= 1, got {v!r}")
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"template {self.name}: dataflow must be one of {', '.join(DATAFLOWS)}, "
                             f"got {self.dataflow!r}")

    @property
    def macs(self) -> int:
        return self.rows * self.cols

    def architecture(self) -> Architecture:
        e, dw, aw = energy.DEFAULT, self.data_bits, self.acc_bits
        stationary = "Weights" if self.dataflow == "weight_stationary" else "Outputs"
        bits = dw if stationary == "Weights" else aw
        return Architecture(self.name, (
            Level("DRAM", word_bits=dw, energy={a: e.dram(dw) for a in ("read", "write", "update")}),
            Level("GlobalBuffer", capacity=self.buffer_words, word_bits=dw,
                  energy={a: e.sram(self.buffer_words * dw, dw) for a in ("read", "write", "update")},
                  area_um2=e.storage_area(self.buffer_words * dw)),
            Level("PERegister", instances=self.macs, capacity=1, word_bits=bits, keeps=(stationary,),
                  energy={a: e.sram(bits, bits) for a in ("read", "write", "update")}, area_um2=e.storage_area(bits)),
        ), Compute("MAC", self.macs, e.multiply(dw, dw) + e.add(aw), dw,
                   area_um2=e.multiply_area(dw, dw) + e.add_area(aw)))

    def padded(self, m: int, n: int, k: int) -> dict[str, int]:
        """The GEMM the array runs: the spatial dimensions padded to whole array tiles."""
        def up(x, step):
            return -(-x // step) * step
        if self.dataflow == "weight_stationary":
            return {"M": up(m, self.cols), "N": n, "K": up(k, self.rows)}
        return {"M": up(m, self.rows), "N": up(n, self.cols), "K": k}

    def workload(self, m: int, n: int, k: int) -> Workload:
        p = self.padded(m, n, k)
        return Workload.gemm(p["M"], p["N"], p["K"]).with_bits(
            Weights=self.data_bits, Inputs=self.data_bits, Outputs=self.acc_bits)

    def mapping(self, m: int, n: int, k: int) -> Mapping:
        """The template's dataflow for an M x K x N GEMM (``padded`` sizes)."""
        p = self.padded(m, n, k)
        if self.dataflow == "weight_stationary":
            # a buffer tile: the array's K rows of X and its M columns of Y over a piece of N
            piece = _largest_piece(p["N"], lambda t: (self.rows + self.cols) * t + self.macs <= self.buffer_words)
            return Mapping((
                LevelMapping("DRAM", {"M": p["M"] // self.cols, "K": p["K"] // self.rows, "N": p["N"] // piece},
                             ("K", "M", "N")),
                LevelMapping("GlobalBuffer", {"N": piece}, ("N",), spatial={"K": self.rows, "M": self.cols}),
                LevelMapping("PERegister")))
        piece = _largest_piece(p["K"], lambda t: (self.rows + self.cols) * t + self.macs <= self.buffer_words)
        return Mapping((
            LevelMapping("DRAM", {"M": p["M"] // self.rows, "N": p["N"] // self.cols, "K": p["K"] // piece},
                         ("K", "N", "M")),
            LevelMapping("GlobalBuffer", spatial={"M": self.rows, "N": self.cols}),
            LevelMapping("PERegister", {"K": piece}, ("K",))))

    def evaluate(self, m: int, n: int, k: int, skip: dict[str, float] | None = None):
        """The analytical model's result for an M x K x N GEMM on this template."""
        from .analysis import analyse
        return analyse(self.workload(m, n, k), self.architecture(), self.mapping(m, n, k), skip)


@dataclass(frozen=True)
class NofM:
    """Structured N:M sparsity only (2:4 by default): ``n`` of every aligned ``m`` weights along K."""
    n: int = 2
    m: int = 4

    def __post_init__(self):
        if not (isinstance(self.n, int) and isinstance(self.m, int) and 1 <= self.n < self.m):
            raise ValueError(f"N:M support needs integers 1 <= n < m, got {self.n}:{self.m}")

    @property
    def name(self) -> str:
        return f"{self.n}:{self.m}-only"

    def applies(self, weights: Density) -> bool:
        """Whether every aligned group of ``m`` along K holds at most ``n`` non-zeros."""
        return max(k for k, p in weights.distribution((1, self.m)).items() if p > 0) <= self.n

    def compute_density(self, weights: Density) -> float:
        return self.n / self.m if self.applies(weights) else 1.0

    def metadata_bits(self, weights: Density) -> int:
        return (self.m - 1).bit_length() if self.applies(weights) else 0


@dataclass(frozen=True)
class CoordinateList:
    """Unstructured sparsity: each non-zero weight with its coordinate in a fiber of ``fiber`` along K."""
    fiber: int

    def __post_init__(self):
        if not isinstance(self.fiber, int) or self.fiber < 2:
            raise ValueError(f"a coordinate list needs a fiber of at least 2 weights, got {self.fiber!r}")

    name = "unstructured"

    def compute_density(self, weights: Density) -> float:
        return weights.density

    def metadata_bits(self, weights: Density) -> int:
        return (self.fiber - 1).bit_length()


def on(support, workload: Workload, weights: Density, value_bits: int) -> tuple[Workload, dict[str, float]]:
    """``workload`` as an array with this sparsity ``support`` runs it: the weights' element width
    with their metadata, and the model's ``skip`` of the computes it does not perform."""
    bits = value_bits + support.metadata_bits(weights)
    return workload.with_bits(Weights=bits), {"Weights": support.compute_density(weights)}


def _largest_piece(size: int, fits) -> int:
    """The largest divisor of ``size`` for which ``fits`` holds (1 if none does)."""
    return max((d for d in range(1, size + 1) if size % d == 0 and fits(d)), default=1)
