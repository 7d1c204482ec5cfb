"""Host side of an SME GEMM: orchestrate, squeeze, cut into programmings, pack every beat.

The golden mapping (``golden.sme.squeeze`` of W, after ``orchestrate`` when a bit budget
is given) lists physical crossbars. They are ordered by output tile and cut into
programmings of at most ``crossbars`` crossbars feeding at most ``banks`` output tiles.
Each programming is one segment: its header, its crossbar rows (``rows_per_beat`` a ``w``
beat), every column of X as one input vector, and one result beat per bank and vector. Each
crossbar's sum is independent of the others (ADC saturation included), so adding the banks of
all programmings here in int64 reproduces ``golden.sme.mvm`` of the whole mapping exactly.
The cycle model needs only how many crossbars each output tile has: the ``occupancy``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparseloom.golden import sme
from sparseloom.golden.reference import operands
from sparseloom.sim.bits import layout_fields, unpack
from sparseloom.sim.plan import Segment, padded, struct_word, words

from ..unit import GemmShape
from .config import STEPS, SmeConfig


def parse_max_bits_per_weight(text: str) -> int | None:
    """The ``--max-bits-per-weight`` text: "none" (no orchestration) or 1..8 set bits per magnitude."""
    if text == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"max bits per weight must be 1..8 or 'none', got {text!r}") from None


def occupancy(mapping: sme.SqueezedMapping) -> tuple[int, ...]:
    """Physical crossbars of each output tile of ``mapping``."""
    counts = [0] * -(-mapping.m // mapping.config.xbar_cols)
    for xb in mapping.crossbars:
        counts[xb.m_tile] += 1
    return tuple(counts)


def dense_occupancy(config: SmeConfig, shape: GemmShape) -> tuple[int, ...]:
    """The occupancy of the dense mapping (no squeeze-out): every slice of both polarities
    of every K tile, in every output tile."""
    c = config.crossbar
    return (2 * c.slices * -(-shape.k // c.xbar_rows),) * -(-shape.m // c.xbar_cols)


@dataclass
class Programming:
    """The crossbars loaded together: how many feed each bank, and each bank's output tile."""
    bank_crossbars: list[int]
    m_tiles: list[int]

    @property
    def crossbars(self) -> int:
        return sum(self.bank_crossbars)


def programmings(config: SmeConfig, occupied: tuple[int, ...]) -> list[Programming]:
    """Greedy cut of the crossbars, in output-tile order, into programmings of at most
    ``crossbars`` crossbars feeding at most ``banks`` output tiles."""
    out: list[Programming] = []
    for tile, count in enumerate(occupied):
        while count:
            last = out[-1] if out else None
            if last is None or last.crossbars == config.crossbars or (
                    last.m_tiles[-1] != tile and len(last.m_tiles) == config.banks):
                out.append(last := Programming([], []))
            if not last.m_tiles or last.m_tiles[-1] != tile:
                last.m_tiles.append(tile)
                last.bank_crossbars.append(0)
            take = min(count, config.crossbars - last.crossbars)
            last.bank_crossbars[-1] += take
            count -= take
    return out


def check_k(config: SmeConfig, shape: GemmShape) -> None:
    if shape.k > config.k_max:
        raise ValueError(f"K={shape.k} exceeds k_max={config.k_max} of {config.name}: an input vector must fit "
                         f"the input buffer (allowed K: 1..{config.k_max})")


def check_no_mapping(config: SmeConfig, mapping) -> None:
    """The engine runs one schedule, the planner's: no mapping can be given."""
    if mapping is not None:
        raise ValueError(f"the sme unit takes no mapping ({config.name}): its planner cuts the crossbars into "
                         f"programmings itself, each holding its crossbars while every vector streams through")


@dataclass
class SmePlan:
    config: SmeConfig
    shape: GemmShape
    encoding: tuple[int, ...]     # the occupancy: crossbars per output tile
    mapping: sme.SqueezedMapping
    x: np.ndarray                 # int8, (act_beats * act_lanes, N): X zero padded along K
    programmings: list[Programming]
    report: dict

    @property
    def act_beats(self) -> int:
        return self.x.shape[0] // self.config.act_lanes

    @property
    def padding(self) -> dict[str, int]:
        """Words a stream carries beyond the model's counts: none (the model runs X padded along K)."""
        return {}

    def segments(self) -> list[Segment]:
        c = self.config
        crossbars = sorted(self.mapping.crossbars, key=lambda xb: xb.m_tile)  # stable: keeps (polarity, slice, k)
        vectors = words(c.act_layout, self.x.T.reshape(-1, c.act_lanes))  # vector-major, act_lanes inputs a beat
        out, start = [], 0
        for prog in self.programmings:
            loaded, start = crossbars[start:start + prog.crossbars], start + prog.crossbars
            header = {"act_beats": self.act_beats, "crossbars": len(loaded), "banks": len(prog.m_tiles)}
            for p in range(c.crossbars):
                xb = loaded[p] if p < len(loaded) else None
                header.update({f"xbar.{p}.shift": xb.slice * c.cell_bits if xb else 0,
                               f"xbar.{p}.negate": xb.polarity if xb else 0,
                               f"xbar.{p}.bank": prog.m_tiles.index(xb.m_tile) if xb else 0})
            inputs = np.concatenate([xb.inputs for xb in loaded])
            rows = {"input": np.maximum(inputs, 0), "used": (inputs >= 0).astype(np.int64),
                    "cells": np.concatenate([xb.cells for xb in loaded]).astype(np.int64)}
            if c.rows_per_beat > 1:  # beat b, element j: row b * rows_per_beat + j (crossbars whole beats)
                rows = {key: a.reshape(-1, c.rows_per_beat, *a.shape[1:]) for key, a in rows.items()}
            out.append(Segment(struct_word(c.cfg_layout, header), {"w": words(c.weight_layout, rows), "act": vectors},
                               self.shape.n * len(prog.m_tiles)))
        return out

    def assemble(self, segment_results: list[list[int]]) -> np.ndarray:
        """Y (int32, M x N): every bank beat added into its output tile."""
        c, (m, n, _) = self.config, self.shape
        if len(segment_results) != len(self.programmings):
            raise ValueError(f"expected results of {len(self.programmings)} programmings, got {len(segment_results)}")
        y = np.zeros((-(-m // c.xbar_cols), c.xbar_cols, n), np.int64)
        fields = layout_fields(c.result_layout)
        for prog, result in zip(self.programmings, segment_results):
            banks = len(prog.m_tiles)
            if len(result) != n * banks:
                raise ValueError(f"expected {n * banks} result beats, got {len(result)}")
            vals = unpack(fields, result)
            beats = np.stack([vals[str(q)] for q in range(c.xbar_cols)], axis=1).reshape(n, banks, c.xbar_cols)
            for b, mt in enumerate(prog.m_tiles):
                y[mt] += beats[:, b].T
        return y.reshape(-1, n)[:m].astype(np.int32)

    def golden(self, w: np.ndarray, x: np.ndarray) -> np.ndarray:
        """What the engine must return: the golden bit-serial crossbar product of the mapping."""
        return sme.mvm(self.mapping, x).astype(np.int32)

    def utilization(self, cycles: int) -> float:
        """Non-zero cells x input bits / (all cells x cycles): how busy the crossbars are."""
        return self.report["useful_cell_ops"] / (self.config.cells * cycles) if cycles else 0.0

    def cell_utilization(self, cycles: int) -> float:
        """Programmed cells (used rows of the programmed crossbars, valid columns) x input bits /
        (all cells x cycles): the cell-cycles that multiply by a programmed weight bit, 0 or 1."""
        return self.report["programmed_cell_ops"] / (self.config.cells * cycles) if cycles else 0.0

    def cycle_report(self, cycles: int) -> dict:
        """The report's numbers beside ``utilization`` that need the cycles a run took."""
        return {"cell_utilization": self.cell_utilization(cycles)}


def plan_sme(config: SmeConfig, max_bits_per_weight: int | None, w, x, mapping=None) -> SmePlan:
    """Everything the streams carry for Y = W @ X on the SME engine; validates first.

    ``max_bits_per_weight`` is the largest number of set bits per weight magnitude
    (``golden.sme.orchestrate``), or None to run W as it is.
    """
    c = config
    shape = GemmShape(*operands(w, x))
    check_k(c, shape)
    check_no_mapping(c, mapping)
    mapping, counts = sme.map_weights(w, c.crossbar, max_bits_per_weight)  # validates the budget too
    occupied = occupancy(mapping)
    progs = programmings(c, occupied)
    act_beats = -(-shape.k // c.act_lanes)
    nonzero_cells = sum(int(np.count_nonzero(xb.cells)) for xb in mapping.crossbars)
    # the cells of a crossbar's used rows in its output tile's columns of W (the rest hold padding)
    programmed_cells = sum(int(np.count_nonzero(xb.inputs >= 0)) * min(c.xbar_cols, shape.m - xb.m_tile * c.xbar_cols)
                           for xb in mapping.crossbars)
    clipped, converted = sme.adc_clips(mapping, x)
    report = {**counts, "max_bits_per_weight": max_bits_per_weight, "programmings": len(progs),
              "adc_clipped_sums": clipped, "adc_column_sums": converted,
              "engine_crossbars": c.crossbars, "useful_macs": shape.m * shape.n * shape.k,
              "useful_cell_ops": nonzero_cells * shape.n * STEPS,
              "programmed_cell_ops": programmed_cells * shape.n * STEPS}
    return SmePlan(c, shape, occupied, mapping, padded(x, (act_beats * c.act_lanes, shape.n)), progs, report)
