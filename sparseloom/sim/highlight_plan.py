"""Host side of a HighLight GEMM (and of its dense baseline): validate, tile, compress and
pack every stream beat.

Each tile's activation beats are blocks of ``h0`` rows of K; its weight beats are the
golden lane schedule of the compressed W, in the order batch, group, beat (rows inside
a beat). Tiling and padding follow ``sparseloom.sim.plan``; padding K with zero groups
and M with zero rows is valid HSS and changes no sum.
"""
from __future__ import annotations

import numpy as np

from sparseloom.gen.highlight import DenseConfig, HighLightConfig
from sparseloom.golden import hss

from .plan import Plan, k_tiling, padded, row_batches, struct_word, tiles, words


def plan_gemm(config: HighLightConfig, pattern, w, x) -> Plan:
    """Everything the streams carry for Y = W @ X under ``pattern``; validates first."""
    c = config
    if isinstance(pattern, str):
        pattern = hss.HSSPattern.parse(pattern)
    hss.gemm(w, x)  # validates dtypes, shapes, and a K whose int32 result could overflow
    c.check_pattern(pattern)
    hss.check(w, pattern)
    (m, k), n = w.shape, x.shape[1]
    batches = row_batches(c, m)
    k_tiles, tile_groups = k_tiling(k // pattern.group_size, c.max_groups(pattern.h1))
    k_len = tile_groups * pattern.group_size
    wp = padded(w, (batches * c.rows, k_tiles * k_len))
    xp = padded(x, (wp.shape[1], -(-n // c.cols) * c.cols))

    sched = hss.schedule(hss.compress(wp, pattern), c.lanes)
    bpg = sched.values.shape[2]
    weight_words = []
    for kt in range(k_tiles):
        gsel = slice(kt * tile_groups, (kt + 1) * tile_groups)
        # (batches*rows, groups, beats, lanes) -> beats in order (batch, group, beat), rows inside
        per_beat = {name: a[:, gsel].reshape(batches, c.rows, tile_groups, bpg, c.lanes)
                    .transpose(0, 2, 3, 1, 4).reshape(-1, c.rows, c.lanes)
                    for name, a in (("value", sched.values), ("offset", sched.offsets), ("slot", sched.slots))}
        weight_words.append(words(c.weight_layout, per_beat))

    cfg_word = struct_word(c.cfg_layout, {"g0": pattern.g0, "g1": pattern.g1, "h1": pattern.h1,
                                          "groups": tile_groups, "batches": batches})
    useful = int(np.count_nonzero(w)) * n
    return Plan(c, m, n, k, cfg_word, tiles(c, xp, c.h0, k_len, weight_words), batches,
                useful_ops=useful, peak_ops_per_cycle=c.multipliers, report={
                    "pattern": str(pattern), "density": float(pattern.density), "useful_macs": useful,
                    "multipliers": c.multipliers})


def plan_dense(config: DenseConfig, spec, w, x) -> Plan:
    """Y = W @ X on the dense baseline: every weight, zero or not, in blocks of ``lanes`` along K
    (``spec`` must be "int8"; K is padded with zeros to whole blocks)."""
    c = config
    if spec != "int8":
        raise ValueError(f"the dense array takes int8 weights only (spec 'int8'), got {spec!r}")
    hss.gemm(w, x)
    (m, k), n = w.shape, x.shape[1]
    batches = row_batches(c, m)
    k_tiles, tile_blocks = k_tiling(-(-k // c.lanes), c.max_blocks)
    k_len = tile_blocks * c.lanes
    wp = padded(w, (batches * c.rows, k_tiles * k_len))
    xp = padded(x, (wp.shape[1], -(-n // c.cols) * c.cols))
    weight_words = []
    for kt in range(k_tiles):
        # (batches*rows, blocks*lanes) -> beats in order (batch, block), rows inside
        beats = (wp[:, kt * k_len:(kt + 1) * k_len].reshape(batches, c.rows, tile_blocks, c.lanes)
                 .transpose(0, 2, 1, 3).reshape(-1, c.rows, c.lanes))
        weight_words.append(words(c.weight_layout, beats))
    cfg_word = struct_word(c.cfg_layout, {"groups": tile_blocks, "batches": batches})
    useful = int(np.count_nonzero(w)) * n
    return Plan(c, m, n, k, cfg_word, tiles(c, xp, c.lanes, k_len, weight_words), batches,
                useful_ops=useful, peak_ops_per_cycle=c.multipliers,
                report={"useful_macs": useful, "multipliers": c.multipliers})
