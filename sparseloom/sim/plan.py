"""Host-side plans: what each stream carries for one GEMM, and how results are put together.

Every plan is a list of ``Segment``s: a configuration word, then the beats of each input
stream and the number of result beats (``sparseloom.sim.run`` plays them in order). The
tiled cores (HighLight, dense, LUT, MAC) need one segment: a GEMM Y = W @ X is cut as
``gen.tiles.Tiling`` says; each (column tile, K tile) pair is one hardware tile: its
activation beats, then its weight beats, giving one result beat per row batch of
``m_tile`` rows. Partial sums of the K tiles are added here in int64. Each unit's planner
(``gen/<unit>/plan.py``) fills these from its golden model's compressed format.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sparseloom.gen.tiles import Tiling
from sparseloom.gen.unit import GemmShape
from sparseloom.golden.reference import gemm

from .bits import layout_fields, pack, unpack


@dataclass
class Segment:
    cfg_word: int
    sources: dict[str, list[int]]   # stream name -> beats
    result_beats: int


@dataclass
class Tile:
    n_index: int         # column tile
    k_index: int         # K tile
    act: list[int]       # activation beats
    weights: list[int]   # weight beats
    act_padding: int = 0  # words of the last activation beat past the tile's K (zeros)


@dataclass
class Plan:
    """A GEMM on a tiled core: one segment of ``tiles`` in stream order."""

    config: object
    shape: GemmShape
    encoding: object          # what the cycle model takes: the pattern, weight format or None
    tiling: Tiling
    cfg_word: int
    tiles: list[Tile]
    useful_ops: int           # work that counts (MACs, or weight-bit MACs for low-bit units)
    peak_ops_per_cycle: int   # the same unit of work at the core's peak
    report: dict = field(default_factory=dict)  # unit-specific numbers for the CLI report

    def __post_init__(self):
        self.report["tiles"] = len(self.tiles)

    @property
    def result_beats(self) -> int:
        return len(self.tiles) * self.tiling.batches

    @property
    def padding(self) -> dict[str, int]:
        """Words each stream carries beyond the GEMM the model counts: the zero rows that fill
        every tile's last activation beat."""
        return {"act": sum(t.act_padding for t in self.tiles)}

    def segments(self) -> list[Segment]:
        return [Segment(self.cfg_word, {"act": [word for t in self.tiles for word in t.act],
                                        "w": [word for t in self.tiles for word in t.weights]},
                        self.result_beats)]

    def golden(self, w: np.ndarray, x: np.ndarray) -> np.ndarray:
        """What the core must return: the exact product."""
        return gemm(w, x)

    def utilization(self, cycles: int) -> float:
        return self.useful_ops / (self.peak_ops_per_cycle * cycles) if cycles else 0.0

    def cycle_report(self, cycles: int) -> dict:
        """The report's numbers beside ``utilization`` that need the cycles a run took (none here)."""
        return {}

    def assemble(self, segment_results: list[list[int]]) -> np.ndarray:
        """Y (int32, M x N) from the result beats of each segment, in stream order."""
        c, t = self.config, self.tiling
        (result_words,) = segment_results
        if len(result_words) != self.result_beats:
            raise ValueError(f"expected {self.result_beats} result beats, got {len(result_words)}")
        vals = unpack(layout_fields(c.result_layout), result_words)
        beats = np.stack([vals[f"{r}.{col}"] for r in range(c.m_tile) for col in range(c.n_tile)], axis=1)
        beats = beats.reshape(len(self.tiles), t.batches, c.m_tile, c.n_tile)
        y = np.zeros((t.batches * c.m_tile, t.n_tiles * c.n_tile), dtype=np.int64)
        for i, tile in enumerate(self.tiles):
            cols = slice(tile.n_index * c.n_tile, (tile.n_index + 1) * c.n_tile)
            y[:, cols] += beats[i].reshape(-1, c.n_tile)
        return y[:self.shape.m, :self.shape.n].astype(np.int32)


def padded(a: np.ndarray, shape, fill=0) -> np.ndarray:
    out = np.full(shape, fill, dtype=a.dtype)
    out[:a.shape[0], :a.shape[1]] = a
    return out


def padded_operands(config, tiling: Tiling, w: np.ndarray, x: np.ndarray, w_fill=0):
    """W and X zero padded (W's rows with ``w_fill``) to whole row batches, K tiles and column tiles."""
    wp = padded(w, (tiling.batches * config.m_tile, tiling.k_tiles * tiling.k_len), w_fill)
    return wp, padded(x, (wp.shape[1], tiling.n_tiles * config.n_tile))


def check_fits(a: np.ndarray, name: str, field: str, width: int, config) -> None:
    """Refuse a value of ``a`` outside the signed range of ``width`` bits (``config``'s ``field``)."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if a.size and (a.min() < lo or a.max() > hi):
        i, j = map(int, np.argwhere((a < lo) | (a > hi))[0])
        raise ValueError(f"{name}[{i}, {j}] = {a[i, j]} does not fit {field}={width} of {config.name} "
                         f"(allowed {lo}..{hi})")


def words(layout, arrays) -> list[int]:
    """Pack per-beat arrays into stream words. Field "2.3" is ``arrays[:, 2, 3]``; a struct
    field such as "2.value.3" is ``arrays["value"][:, 2, 3]``."""
    def column(name):
        parts = name.split(".")
        index = tuple(int(p) for p in parts if p.isdigit())
        keys = [p for p in parts if not p.isdigit()]
        return (arrays[keys[0]] if keys else arrays)[(slice(None), *index)]
    return pack(layout_fields(layout), column)


def struct_word(layout, values: dict) -> int:
    """One word of a struct layout (e.g. the configuration register) from field values."""
    return pack(layout_fields(layout), lambda name: [values[name]])[0]


def tiles(config, tiling: Tiling, x_padded: np.ndarray, rows_per_beat: int, weight_words) -> list[Tile]:
    """Tiles in stream order (the tiling's host loop order, "KN": K tiles inner); ``weight_words[kt]``
    are the weight beats of K tile kt, the same for every column tile. An activation beat holds
    ``rows_per_beat`` rows of K; a tile's last beat is filled with zero rows."""
    pairs = [(nt, kt) for nt in range(tiling.n_tiles) for kt in range(tiling.k_tiles)]
    if tiling.order == "NK":
        pairs.sort(key=lambda p: (p[1], p[0]))
    fill = -tiling.k_len % rows_per_beat
    out = []
    for nt, kt in pairs:
        xs = x_padded[kt * tiling.k_len:(kt + 1) * tiling.k_len, nt * config.n_tile:(nt + 1) * config.n_tile]
        xs = padded(xs, (tiling.k_len + fill, config.n_tile))
        out.append(Tile(nt, kt, words(config.act_layout, xs.reshape(-1, rows_per_beat, config.n_tile)),
                        weight_words[kt], fill * config.n_tile))
    return out
