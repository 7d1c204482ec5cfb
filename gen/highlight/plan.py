"""Host side of a HighLight GEMM (and of its dense baseline): validate, tile, compress and
pack every stream beat.

Each tile's activation beats are ``banks`` blocks of ``h0`` rows of K; its weight beats are the
golden lane schedule of the compressed W, in the order batch, group, beat (rows inside
a beat). Padding K with zero groups and M with zero rows is valid HSS and changes no sum.
The dense baseline takes every weight, zero or not, in blocks of ``lanes`` along K, and
``load_blocks`` such blocks of activations a beat.
"""
from __future__ import annotations

import numpy as np

from sparseloom.golden import hss
from sparseloom.golden.reference import operands
from sparseloom.sim.plan import Plan, check_fits, padded_operands, struct_word, tiles, words

from ..config_base import TILES_WIDTH
from ..tiles import Tiling
from ..unit import GemmShape
from .config import DenseConfig, HighLightConfig


def highlight_tiling(config: HighLightConfig, shape: GemmShape, pattern: hss.HSSPattern, mapping=None) -> Tiling:
    """The tiling of ``mapping``, or by default groups of the pattern along K, as many per tile
    as a buffer half holds."""
    config.check_pattern(pattern)
    if mapping is None:
        return Tiling.of(config, shape, pattern.group_size, config.max_groups(pattern.h1))
    return Tiling.from_mapping(mapping, config, pattern.group_size, config.lanes,
                               config.max_groups(pattern.h1)).covering(config, shape)


def dense_tiling(config: DenseConfig, shape: GemmShape, mapping=None) -> Tiling:
    """The tiling of ``mapping``, or by default blocks of ``lanes`` along K, as many per tile as a
    buffer half holds."""
    if mapping is None:
        return Tiling.of(config, shape, config.lanes, config.max_blocks)
    return Tiling.from_mapping(mapping, config, config.lanes, config.lanes, config.max_blocks).covering(config, shape)


def highlight_mappings(config: HighLightConfig, shape: GemmShape, pattern: hss.HSSPattern) -> list:
    """Every mapping the array can run ``shape`` with under ``pattern`` (``Tiling.every``)."""
    config.check_pattern(pattern)
    return [t.mapping(config, config.lanes)
            for t in Tiling.every(config, shape, pattern.group_size, config.max_groups(pattern.h1))]


def dense_mappings(config: DenseConfig, shape: GemmShape, encoding=None) -> list:
    """Every mapping the dense array can run ``shape`` with (``Tiling.every``)."""
    return [t.mapping(config, config.lanes) for t in Tiling.every(config, shape, config.lanes, config.max_blocks)]


def _cfg_word(config, tiling: Tiling, **fields) -> int:
    """The configuration word: ``fields``, the tile shape and the GEMM's tile count (the loader
    takes that many tiles before it accepts the next configuration)."""
    limit = (1 << TILES_WIDTH) - 1
    if tiling.tiles > limit:
        raise ValueError(f"the GEMM needs {tiling.tiles} tiles ({tiling.n_tiles} column x {tiling.k_tiles} K tiles); "
                         f"{config.name} runs at most {limit} in one configuration: split it")
    return struct_word(config.cfg_layout, {**fields, "groups": tiling.groups, "batches": tiling.batches,
                                           "tiles": tiling.tiles})


def _check_data(config, w, x) -> None:
    """Weights and activations are ``data_width``-bit operands of the multipliers."""
    check_fits(w, "weights", "data_width", config.data_width, config)
    check_fits(x, "inputs", "data_width", config.data_width, config)


def plan_highlight(config: HighLightConfig, pattern: hss.HSSPattern, w, x, mapping=None) -> Plan:
    """Everything the streams carry for Y = W @ X under ``pattern``, tiled as ``mapping`` says
    (default: ``highlight_tiling``); validates first."""
    c = config
    shape = GemmShape(*operands(w, x))
    c.check_pattern(pattern)
    hss.check(w, pattern)
    _check_data(c, w, x)
    t = highlight_tiling(c, shape, pattern, mapping)
    wp, xp = padded_operands(c, t, w, x)
    sched = hss.schedule(hss.compress(wp, pattern), c.lanes)
    bpg = sched.values.shape[2]
    weight_words = []
    for kt in range(t.k_tiles):
        gsel = slice(kt * t.groups, (kt + 1) * t.groups)
        # (batches*rows, groups, beats, lanes) -> beats in order (batch, group, beat), rows inside
        per_beat = {name: a[:, gsel].reshape(t.batches, c.rows, t.groups, bpg, c.lanes)
                    .transpose(0, 2, 3, 1, 4).reshape(-1, c.rows, c.lanes)
                    for name, a in (("value", sched.values), ("offset", sched.offsets), ("slot", sched.slots))}
        weight_words.append(words(c.weight_layout, per_beat))
    cfg_word = _cfg_word(c, t, g0=pattern.g0, g1=pattern.g1, h1=pattern.h1)
    useful = int(np.count_nonzero(w)) * shape.n
    return Plan(c, shape, pattern, t, cfg_word, tiles(c, t, xp, c.banks * c.h0, weight_words),
                useful_ops=useful, peak_ops_per_cycle=c.multipliers, report={
                    "pattern": str(pattern), "density": float(pattern.density), "useful_macs": useful,
                    "multipliers": c.multipliers})


def plan_dense(config: DenseConfig, setting, w, x, mapping=None) -> Plan:
    """Y = W @ X on the dense baseline: every weight, zero or not, in blocks of ``lanes`` along K
    (the array has no run-time setting: ``setting`` must be None; K is padded to whole blocks)."""
    c = config
    if setting is not None:
        raise ValueError(f"the dense array takes int8 weights and no run-time setting, got {setting!r}")
    shape = GemmShape(*operands(w, x))
    _check_data(c, w, x)
    t = dense_tiling(c, shape, mapping)
    wp, xp = padded_operands(c, t, w, x)
    weight_words = []
    for kt in range(t.k_tiles):
        # (batches*rows, blocks*lanes) -> beats in order (batch, block), rows inside
        beats = (wp[:, kt * t.k_len:(kt + 1) * t.k_len].reshape(t.batches, c.rows, t.groups, c.lanes)
                 .transpose(0, 2, 1, 3).reshape(-1, c.rows, c.lanes))
        weight_words.append(words(c.weight_layout, beats))
    cfg_word = _cfg_word(c, t)
    useful = int(np.count_nonzero(w)) * shape.n
    return Plan(c, shape, None, t, cfg_word, tiles(c, t, xp, c.load_blocks * c.lanes, weight_words),
                useful_ops=useful, peak_ops_per_cycle=c.multipliers,
                report={"useful_macs": useful, "multipliers": c.multipliers})
