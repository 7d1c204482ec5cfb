"""Host side of a low-bit GEMM on the LUT Tensor Core or on its dequantise-then-MAC baseline.

Both cores take activation beats of ``g`` rows of K and the same configuration word
(the weight format's fields and the tile shape). The LUT core's weight beats are the
golden bit-plane indices, in the order batch, group, plane; the baseline's carry one
column of W (each weight's plane bits) per beat, in the order batch, k.
Padding: K to whole groups with zero activations (any weight then adds nothing), M with
rows of a valid weight whose results are dropped.
"""
from __future__ import annotations

import numpy as np

from sparseloom.golden import lut
from sparseloom.golden.reference import operands
from sparseloom.sim.plan import Plan, check_fits, padded_operands, struct_word, tiles, words

from ..tiles import Tiling
from ..unit import GemmShape
from .config import LutConfig


def low_bit_tiling(config, shape: GemmShape, fmt: lut.WeightFormat, mapping=None) -> Tiling:
    """The tiling of ``mapping``, or by default groups of ``g`` along K, as many per tile as a
    buffer half holds (both cores; the LUT core steps through the planes of each group, g K a
    step; the baseline through its K one at a time)."""
    config.check_format(fmt)
    if mapping is None:
        return Tiling.of(config, shape, config.g, config.max_groups)
    lanes, planes = _steps(config, fmt)
    return Tiling.from_mapping(mapping, config, config.g, lanes, config.max_groups, planes).covering(config, shape)


def low_bit_mappings(config, shape: GemmShape, fmt: lut.WeightFormat) -> list:
    """Every mapping either core can run ``shape`` with in ``fmt`` (``Tiling.every``)."""
    config.check_format(fmt)
    return [t.mapping(config, *_steps(config, fmt)) for t in Tiling.every(config, shape, config.g, config.max_groups)]


def _steps(config, fmt: lut.WeightFormat) -> tuple[int, int]:
    """K a step and weight planes a step: the LUT core looks up ``g`` K per plane, the baseline
    multiplies one K at a time."""
    return (config.g, fmt.planes) if isinstance(config, LutConfig) else (1, 1)


def _plan(config, fmt: lut.WeightFormat, w, x, weight_beats, mapping=None) -> Plan:
    """The plan both cores share; ``weight_beats(w_padded, tiling)`` packs each K tile's weight beats."""
    shape = GemmShape(*operands(w, x))
    lut.plane_bits(w, fmt)  # validates every weight against the format's range
    check_fits(x, "inputs", "act_width", config.act_width, config)
    t = low_bit_tiling(config, shape, fmt, mapping)
    wp, xp = padded_operands(config, t, w, x, w_fill=0 if 0 in fmt.values else fmt.hi)
    cfg_word = struct_word(config.cfg_layout, {
        "planes": fmt.planes, "weighted": fmt.weighted, "neg_msb": fmt.neg_msb, "corr": fmt.corr,
        "halve": fmt.halve, "groups": t.groups, "batches": t.batches})
    macs = shape.m * shape.n * shape.k
    report = {"wbits": fmt.name, "planes": fmt.planes, "useful_macs": macs, "useful_weight_bit_macs": macs * fmt.planes,
              "peak_weight_bit_macs_per_cycle": config.wbit_macs_per_cycle}
    return Plan(config, shape, fmt, t, cfg_word, tiles(config, t, xp, config.g, weight_beats(wp, t)),
                report["useful_weight_bit_macs"], config.wbit_macs_per_cycle, report)


def plan_lut(config, fmt: lut.WeightFormat, w, x, mapping=None) -> Plan:
    """Everything the streams carry for Y = W @ X with ``fmt`` weights on the LUT core."""
    c = config

    def weight_beats(wp, t):
        index = lut.plane_indices(wp, fmt, c.g)  # (planes, batches * m_tile, groups)
        out = []
        for kt in range(t.k_tiles):
            part = index[:, :, kt * t.groups:(kt + 1) * t.groups]
            beats = part.reshape(fmt.planes, t.batches, c.m_tile, t.groups).transpose(1, 3, 0, 2)
            out.append(words(c.weight_layout, beats.reshape(-1, c.m_tile)))
        return out

    plan = _plan(c, fmt, w, x, weight_beats, mapping)
    tables = plan.tiling.tiles * plan.tiling.groups * c.n_tile
    plan.report.update(table_entries_stored=c.entries, table_entries_full=2 * c.entries, tables_built=tables,
                       table_bits_stored=tables * c.entries * c.table_width,
                       table_bits_without_symmetrisation=tables * 2 * c.entries * c.table_width)
    return plan


def plan_mac(config, fmt: lut.WeightFormat, w, x, mapping=None) -> Plan:
    """The same GEMM on the dequantise-then-multiply baseline."""
    c = config

    def weight_beats(wp, t):
        bits = lut.plane_bits(wp, fmt).astype(np.int64)
        codes = sum(bits[j] << j for j in range(fmt.planes))  # (batches * m_tile, K)
        out = []
        for kt in range(t.k_tiles):
            part = codes[:, kt * t.k_len:(kt + 1) * t.k_len]
            out.append(words(c.weight_layout, part.reshape(t.batches, c.m_tile, t.k_len).transpose(0, 2, 1)
                             .reshape(-1, c.m_tile)))
        return out

    return _plan(c, fmt, w, x, weight_beats, mapping)
