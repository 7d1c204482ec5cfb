"""Host side of an SME GEMM: orchestrate, squeeze, cut into programmings, pack every beat.

The golden mapping (``golden.sme.squeeze`` of W, after ``orchestrate`` when a bit budget
is given) lists physical crossbars. They are ordered by output tile and cut into
programmings of at most ``crossbars`` crossbars feeding at most ``banks`` output tiles.
Each programming is one segment: its header, its crossbar rows, every column of X as one
input vector, and one result beat per bank and vector. Each crossbar's sum is
independent of the others (ADC saturation included), so adding the banks of all
programmings here in int64 reproduces ``golden.sme.mvm`` of the whole mapping exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparseloom.gen.emit import layout_fields
from sparseloom.gen.sme import SmeConfig
from sparseloom.gen.sme.config import STEPS
from sparseloom.gen.tiles import tile_cycles
from sparseloom.golden import hss, sme

from .bits import unpack
from .plan import Segment, padded, struct_word, words


def parse_budget(spec) -> int | None:
    """The ``--max-bits-per-weight`` budget: None or "none" (no orchestration) or 1..8."""
    if spec is None or spec == "none":
        return None
    try:
        return int(spec)
    except ValueError:
        raise ValueError(f"max bits per weight must be 1..8 or 'none', got {spec!r}") from None


@dataclass
class Programming:
    """Crossbars loaded together, and the output tile of each bank."""
    crossbars: list[sme.PhysicalCrossbar]
    m_tiles: list[int]


def programmings(mapping: sme.SqueezedMapping, config: SmeConfig) -> list[Programming]:
    """Greedy cut of the mapping's crossbars, in output-tile order, into programmings."""
    out: list[Programming] = []
    for xb in sorted(mapping.crossbars, key=lambda xb: xb.m_tile):  # stable: keeps (polarity, slice, k) order
        last = out[-1] if out else None
        new_bank = last is None or xb.m_tile != last.m_tiles[-1]
        if last is None or len(last.crossbars) == config.crossbars or (new_bank and len(last.m_tiles) == config.banks):
            out.append(last := Programming([], []))
            new_bank = True
        last.crossbars.append(xb)
        if new_bank:
            last.m_tiles.append(xb.m_tile)
    return out


@dataclass
class SmePlan:
    config: SmeConfig
    m: int
    n: int
    k: int
    mapping: sme.SqueezedMapping
    x: np.ndarray                 # int8, (act_beats * act_lanes, N): X zero padded along K
    programmings: list[Programming]
    report: dict

    @property
    def act_beats(self) -> int:
        return self.x.shape[0] // self.config.act_lanes

    def _segment(self, prog: Programming) -> Segment:
        c = self.config
        header = {"act_beats": self.act_beats, "crossbars": len(prog.crossbars), "banks": len(prog.m_tiles)}
        for p, xb in enumerate(prog.crossbars):
            header.update({f"xbar.{p}.shift": xb.slice * c.cell_bits, f"xbar.{p}.negate": xb.polarity,
                           f"xbar.{p}.bank": prog.m_tiles.index(xb.m_tile)})
        for p in range(len(prog.crossbars), c.crossbars):
            header.update({f"xbar.{p}.shift": 0, f"xbar.{p}.negate": 0, f"xbar.{p}.bank": 0})
        inputs = np.concatenate([xb.inputs for xb in prog.crossbars])
        rows = {"input": np.maximum(inputs, 0), "used": (inputs >= 0).astype(np.int64),
                "cells": np.concatenate([xb.cells for xb in prog.crossbars]).astype(np.int64)}
        vectors = self.x.T.reshape(-1, c.act_lanes)  # vector-major, act_lanes inputs per beat
        return Segment(struct_word(c.cfg_layout, header),
                       {"w": words(c.weight_layout, rows), "act": words(c.act_layout, vectors)},
                       self.n * len(prog.m_tiles))

    def segments(self) -> list[Segment]:
        return [self._segment(prog) for prog in self.programmings]

    def assemble(self, segment_results: list[list[int]]) -> np.ndarray:
        """Y (int32, M x N): every bank beat added into its output tile."""
        c = self.config
        if len(segment_results) != len(self.programmings):
            raise ValueError(f"expected results of {len(self.programmings)} programmings, got {len(segment_results)}")
        y = np.zeros((-(-self.m // c.xbar_cols), c.xbar_cols, self.n), np.int64)
        fields = layout_fields(c.result_layout)
        for prog, result in zip(self.programmings, segment_results):
            banks = len(prog.m_tiles)
            if len(result) != self.n * banks:
                raise ValueError(f"expected {self.n * banks} result beats, got {len(result)}")
            vals = unpack(fields, result)
            beats = np.stack([vals[str(q)] for q in range(c.xbar_cols)], axis=1).reshape(self.n, banks, c.xbar_cols)
            for b, mt in enumerate(prog.m_tiles):
                y[mt] += beats[:, b].T
        return y.reshape(-1, self.n)[:self.m].astype(np.int32)

    def model_cycles(self) -> int:
        """Stall-free cycles, summed over programmings (exact, see ``gen.tiles.tile_cycles``):
        rows load one a cycle while the first vectors arrive; each vector then takes
        ``STEPS`` cycles; the last vector's bank beats leave one a cycle."""
        return sum(tile_cycles([(self.act_beats, STEPS)] * self.n,
                               compute_from=len(p.crossbars) * self.config.xbar_rows,
                               last_results=len(p.m_tiles))
                   for p in self.programmings)

    def golden(self, w: np.ndarray, x: np.ndarray) -> np.ndarray:
        """What the engine must return: the golden bit-serial crossbar product of the mapping."""
        return sme.mvm(self.mapping, x).astype(np.int32)

    def utilization(self, cycles: int) -> float:
        """Non-zero cells x input bits / (all cells x cycles): how busy the crossbars are."""
        return self.report["useful_cell_ops"] / (self.config.cells * cycles) if cycles else 0.0


def plan_sme(config: SmeConfig, budget, w, x, *, squeezed: bool = True) -> SmePlan:
    """Everything the streams carry for Y = W @ X on the SME engine; validates first.

    ``budget`` is the largest number of set bits per weight magnitude (``orchestrate``),
    or None / "none" to run W as it is. ``squeezed=False`` programs the dense mapping
    instead (one crossbar per dense crossbar, all-zero word lines included): the baseline.
    """
    c = config
    k_bits = parse_budget(budget)
    hss.gemm(w, x)  # validates dtypes, shapes, and a K whose int32 result could overflow
    (m, k), n = w.shape, x.shape[1]
    if k > c.k_max:
        raise ValueError(f"K={k} exceeds k_max={c.k_max} of {c.name}: an input vector must fit the "
                         f"input buffer (allowed K: 1..{c.k_max})")
    mapping, counts = sme.map_weights(w, c.crossbar, k_bits)  # validates k_bits too
    if not squeezed:
        mapping = sme.dense_mapping(w if k_bits is None else sme.orchestrate(w, k_bits), c.crossbar)
    progs = programmings(mapping, c)
    act_beats = -(-k // c.act_lanes)
    nonzero_cells = sum(int(np.count_nonzero(xb.cells)) for xb in mapping.crossbars)
    report = {**counts, "max_bits_per_weight": k_bits, "programmings": len(progs), "engine_crossbars": c.crossbars,
              "useful_macs": m * n * k, "useful_cell_ops": nonzero_cells * n * STEPS}
    return SmePlan(c, m, n, k, mapping, padded(x, (act_beats * c.act_lanes, n)), progs, report)

