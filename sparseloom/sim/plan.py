"""Host-side plans: what each stream carries for one GEMM, and how results are put together.

Every plan is a list of ``Segment``s: a configuration word, then the beats of each input
stream and the number of result beats (``sparseloom.sim.run`` plays them in order).
The tiled cores (HighLight, LUT, MAC) need one segment: a GEMM Y = W @ X is cut into column tiles of ``n_tile`` and equal K tiles of whole
groups that fit one buffer half (zero padding, which changes no sum); each (column
tile, K tile) pair is one hardware tile: its activation beats, then its weight beats,
giving one result beat per row batch of ``m_tile`` rows. Partial sums of the K tiles are
added here in int64.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sparseloom.gen.emit import layout_fields
from sparseloom.gen.tiles import tile_cycles
from sparseloom.golden import hss

from .bits import pack, unpack


@dataclass
class Segment:
    cfg_word: int
    sources: dict[str, list[int]]   # stream name -> beats
    result_beats: int


@dataclass
class Tile:
    n_tile: int
    k_tile: int
    act: list[int]       # activation beats
    weights: list[int]   # weight beats


@dataclass
class Plan:
    config: object
    m: int
    n: int
    k: int
    cfg_word: int
    tiles: list[Tile]
    batches: int
    useful_ops: int           # work that counts (MACs, or weight-bit MACs for low-bit units)
    peak_ops_per_cycle: int   # the same unit of work at the core's peak
    report: dict = field(default_factory=dict)  # unit-specific numbers for the CLI report

    def __post_init__(self):
        self.report["tiles"] = len(self.tiles)

    @property
    def result_beats(self) -> int:
        return len(self.tiles) * self.batches

    def segments(self) -> list[Segment]:
        return [Segment(self.cfg_word, {"act": [word for t in self.tiles for word in t.act],
                                        "w": [word for t in self.tiles for word in t.weights]},
                        self.result_beats)]

    def golden(self, w: np.ndarray, x: np.ndarray) -> np.ndarray:
        """What the core must return: the exact product."""
        return hss.gemm(w, x)

    def utilization(self, cycles: int) -> float:
        return self.useful_ops / (self.peak_ops_per_cycle * cycles)

    def model_cycles(self) -> int:
        """Cycles the core takes with no stalls (exact, see ``gen.tiles.tile_cycles``)."""
        return tile_cycles([(len(t.act), len(t.weights)) for t in self.tiles])

    def assemble(self, segment_results: list[list[int]]) -> np.ndarray:
        """Y (int32, M x N) from the result beats of each segment, in stream order."""
        c = self.config
        (result_words,) = segment_results
        if len(result_words) != self.result_beats:
            raise ValueError(f"expected {self.result_beats} result beats, got {len(result_words)}")
        vals = unpack(layout_fields(c.result_layout), result_words)
        beats = np.stack([vals[f"{r}.{col}"] for r in range(c.m_tile) for col in range(c.n_tile)], axis=1)
        beats = beats.reshape(len(self.tiles), self.batches, c.m_tile, c.n_tile)
        y = np.zeros((self.batches * c.m_tile, -(-self.n // c.n_tile) * c.n_tile), dtype=np.int64)
        for i, tile in enumerate(self.tiles):
            cols = slice(tile.n_tile * c.n_tile, (tile.n_tile + 1) * c.n_tile)
            y[:, cols] += beats[i].reshape(-1, c.n_tile)
        return y[:self.m, :self.n].astype(np.int32)


def k_tiling(groups: int, max_groups: int) -> tuple[int, int]:
    """(number of K tiles, groups per tile): equal tiles of at most ``max_groups``."""
    k_tiles = -(-groups // max_groups)
    return k_tiles, -(-groups // k_tiles)


def padded(a: np.ndarray, shape, fill=0) -> np.ndarray:
    out = np.full(shape, fill, dtype=a.dtype)
    out[:a.shape[0], :a.shape[1]] = a
    return out


def row_batches(config, m: int) -> int:
    batches = -(-m // config.m_tile)
    limit = (1 << config.cfg_layout["batches"].shape.width) - 1
    if batches > limit:
        raise ValueError(f"M={m} needs {batches} row batches of {config.m_tile}; {config.name} allows at most {limit}")
    return batches


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


def tiles(config, x_padded: np.ndarray, rows_per_beat: int, k_tile_len: int, weight_words) -> list[Tile]:
    """Tiles in stream order (column tile outer, K tile inner); ``weight_words[kt]`` are the
    weight beats of K tile kt, the same for every column tile."""
    out = []
    n_tiles = x_padded.shape[1] // config.n_tile
    for nt in range(n_tiles):
        for kt, wwords in enumerate(weight_words):
            xs = x_padded[kt * k_tile_len:(kt + 1) * k_tile_len, nt * config.n_tile:(nt + 1) * config.n_tile]
            out.append(Tile(nt, kt, words(config.act_layout, xs.reshape(-1, rows_per_beat, config.n_tile)), wwords))
    return out
