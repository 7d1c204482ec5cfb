"""Host side of a low-bit GEMM on the LUT Tensor Core or on its dequantise-then-MAC baseline.

Both cores take activation beats of ``g`` rows of K and the same configuration word
(the weight format's fields and the tile shape). The LUT core's weight beats are the
golden bit-plane indices, in the order batch, group, plane; the baseline's carry one
column of W (each weight's plane bits) per beat, in the order batch, k.
Padding: K to whole groups with zero activations (any weight then adds nothing), M with
rows of a valid weight whose results are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparseloom.gen.lut import LutConfig, MacConfig
from sparseloom.golden import hss, lut

from .plan import Plan, k_tiling, padded, row_batches, struct_word, tiles, words


@dataclass
class _Padded:
    """The validated, padded GEMM shared by both planners."""
    fmt: lut.WeightFormat
    w: np.ndarray        # (batches * m_tile, k_tiles * k_len)
    x: np.ndarray        # (k_tiles * k_len, column tiles * n_tile)
    batches: int
    k_tiles: int
    tile_groups: int
    k_len: int
    cfg_word: int
    report: dict

    def plan(self, config, m, n, k, weight_words) -> Plan:
        return Plan(config, m, n, k, self.cfg_word, tiles(config, self.x, config.g, self.k_len, weight_words),
                    self.batches, self.report["useful_weight_bit_macs"], config.wbit_macs_per_cycle, self.report)


def _prepare(config, wbits, w, x) -> _Padded:
    fmt = lut.weight_format(wbits)
    hss.gemm(w, x)  # validates dtypes, shapes, and a K whose int32 result could overflow
    lut.plane_bits(w, fmt)  # validates every weight against the format's range
    config.check_format(fmt)
    (m, k), n = w.shape, x.shape[1]
    batches = row_batches(config, m)
    k_tiles, tile_groups = k_tiling(-(-k // config.g), config.max_groups)
    k_len = tile_groups * config.g
    fill = 0 if 0 in fmt.values else fmt.hi
    wp = padded(w, (batches * config.m_tile, k_tiles * k_len), fill)
    xp = padded(x, (wp.shape[1], -(-n // config.n_tile) * config.n_tile))
    cfg_word = struct_word(config.cfg_layout, {
        "planes": fmt.planes, "weighted": fmt.weighted, "neg_msb": fmt.neg_msb, "corr": fmt.corr,
        "halve": fmt.halve, "groups": tile_groups, "batches": batches})
    report = {"wbits": fmt.name, "planes": fmt.planes, "useful_macs": m * n * k,
              "useful_weight_bit_macs": m * n * k * fmt.planes,
              "peak_weight_bit_macs_per_cycle": config.wbit_macs_per_cycle}
    return _Padded(fmt, wp, xp, batches, k_tiles, tile_groups, k_len, cfg_word, report)


def plan_lut(config: LutConfig, wbits, w, x) -> Plan:
    """Everything the streams carry for Y = W @ X with ``wbits`` weights on the LUT core."""
    c = config
    p = _prepare(c, wbits, w, x)
    index = lut.plane_indices(p.w, p.fmt, c.g)  # (planes, batches*m_tile, groups)
    weight_words = []
    for kt in range(p.k_tiles):
        part = index[:, :, kt * p.tile_groups:(kt + 1) * p.tile_groups]
        beats = part.reshape(p.fmt.planes, p.batches, c.m_tile, p.tile_groups).transpose(1, 3, 0, 2)
        weight_words.append(words(c.weight_layout, beats.reshape(-1, c.m_tile)))
    p.report.update(table_entries_stored=c.entries, table_entries_full=2 * c.entries,
                    tables_built=p.k_tiles * (p.x.shape[1] // c.n_tile) * p.tile_groups * c.n_tile)
    return p.plan(c, w.shape[0], x.shape[1], w.shape[1], weight_words)


def plan_mac(config: MacConfig, wbits, w, x) -> Plan:
    """The same GEMM on the dequantise-then-multiply baseline."""
    c = config
    p = _prepare(c, wbits, w, x)
    bits = lut.plane_bits(p.w, p.fmt).astype(np.int64)
    codes = sum(bits[j] << j for j in range(p.fmt.planes))  # (batches*m_tile, K)
    weight_words = []
    for kt in range(p.k_tiles):
        part = codes[:, kt * p.k_len:(kt + 1) * p.k_len]
        beats = part.reshape(p.batches, c.m_tile, p.k_len).transpose(0, 2, 1)
        weight_words.append(words(c.weight_layout, beats.reshape(-1, c.m_tile)))
    return p.plan(c, w.shape[0], x.shape[1], w.shape[1], weight_words)
