"""Host side of a HighLight GEMM: validate, tile, compress and pack every stream beat.

Tiling: N is cut into ``cols``-wide column tiles and K into equal tiles of whole groups
that fit one activation-buffer half (zero groups pad K, zero rows pad M and N; zeros are
valid HSS and change no sum). Each (column tile, K tile) is one hardware tile: its
activation blocks, then ``batches x groups x beats`` weight beats, giving one result
beat per row batch. Partial sums of the K tiles are added here in int64.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparseloom.gen.emit import layout_fields
from sparseloom.gen.highlight import HighLightConfig
from sparseloom.gen.tiles import tile_cycles
from sparseloom.golden import hss

from .bits import pack, unpack


@dataclass
class Tile:
    n_tile: int
    k_tile: int
    act: list[int]       # activation beats (one block each)
    weights: list[int]   # weight beats
    beats: int


@dataclass
class HighLightPlan:
    config: HighLightConfig
    pattern: hss.HSSPattern
    m: int
    n: int
    k: int
    cfg_word: int
    tiles: list[Tile]
    batches: int
    useful_macs: int

    @property
    def result_beats(self) -> int:
        return len(self.tiles) * self.batches

    def model_cycles(self) -> int:
        """Cycles the array takes with no stalls (exact, see ``gen.tiles.tile_cycles``)."""
        return tile_cycles([(len(t.act), t.beats) for t in self.tiles])

    def assemble(self, result_words: list[int]) -> np.ndarray:
        """Y (int32, M x N) from the result beats, in stream order."""
        c = self.config
        if len(result_words) != self.result_beats:
            raise ValueError(f"expected {self.result_beats} result beats, got {len(result_words)}")
        fields = layout_fields(c.result_layout)
        vals = unpack(fields, result_words)
        beats = np.stack([vals[f"{r}.{col}"] for r in range(c.rows) for col in range(c.cols)], axis=1)
        beats = beats.reshape(len(self.tiles), self.batches, c.rows, c.cols)
        m_pad, n_pad = self.batches * c.rows, -(-self.n // c.cols) * c.cols
        y = np.zeros((m_pad, n_pad), dtype=np.int64)
        for i, tile in enumerate(self.tiles):
            cols = slice(tile.n_tile * c.cols, (tile.n_tile + 1) * c.cols)
            y[:, cols] += beats[i].reshape(m_pad, c.cols)
        return y[:self.m, :self.n].astype(np.int32)


def plan_gemm(config: HighLightConfig, pattern, w, x) -> HighLightPlan:
    """Everything the streams carry for Y = W @ X under ``pattern``; validates first."""
    c = config
    if isinstance(pattern, str):
        pattern = hss.HSSPattern.parse(pattern)
    hss.gemm(w, x)  # validates dtypes, shapes, and a K whose int32 result could overflow
    c.check_pattern(pattern)
    hss.check(w, pattern)
    m, k = w.shape
    n = x.shape[1]
    gs = pattern.group_size

    batches = -(-m // c.rows)
    if batches >= 1 << c.cfg_layout["batches"].shape.width:
        raise ValueError(f"M={m} needs {batches} row batches; {c.name} allows at most "
                         f"{(1 << c.cfg_layout['batches'].shape.width) - 1}")
    groups = k // gs
    k_tiles = -(-groups // c.max_groups(pattern.h1))
    tile_groups = -(-groups // k_tiles)
    n_tiles = -(-n // c.cols)
    wp = np.zeros((batches * c.rows, k_tiles * tile_groups * gs), dtype=np.int8)
    wp[:m, :k] = w
    xp = np.zeros((wp.shape[1], n_tiles * c.cols), dtype=np.int8)
    xp[:k, :n] = x

    sched = hss.schedule(hss.compress(wp, pattern), c.lanes)
    bpg = sched.values.shape[2]
    row_fields = layout_fields(c.weight_layout)
    act_fields = layout_fields(c.act_layout)
    field_arrays = {"value": sched.values, "offset": sched.offsets, "slot": sched.slots}

    weight_words = []
    for kt in range(k_tiles):
        gsel = slice(kt * tile_groups, (kt + 1) * tile_groups)
        # (batches*rows, groups, beats, lanes) -> beats in order (batch, group, beat), rows inside
        per = {name: a[:, gsel].reshape(batches, c.rows, tile_groups, bpg, c.lanes)
               .transpose(0, 2, 3, 1, 4).reshape(-1, c.rows, c.lanes)
               for name, a in field_arrays.items()}

        def weight_column(field, per=per):
            r, name, lane = field.split(".")
            return per[name][:, int(r), int(lane)]

        weight_words.append(pack(row_fields, weight_column))

    tiles = []
    for nt in range(n_tiles):
        for kt in range(k_tiles):
            xs = xp[kt * tile_groups * gs:(kt + 1) * tile_groups * gs, nt * c.cols:(nt + 1) * c.cols]
            blocks = xs.reshape(-1, c.h0, c.cols)

            def act_column(field, blocks=blocks):
                o, col = field.split(".")
                return blocks[:, int(o), int(col)]

            tiles.append(Tile(nt, kt, pack(act_fields, act_column), weight_words[kt], len(weight_words[kt])))

    cfg_fields = layout_fields(c.cfg_layout)
    cfg_values = {"g0": pattern.g0, "g1": pattern.g1, "h1": pattern.h1, "groups": tile_groups, "batches": batches}
    cfg_word = pack(cfg_fields, lambda f: [cfg_values[f]])[0]
    useful = int(np.count_nonzero(w)) * n
    return HighLightPlan(c, pattern, m, n, k, cfg_word, tiles, batches, useful)
