"""Unit record of the SME bit-sliced crossbar engine."""
from __future__ import annotations

import numpy as np

from sparseloom.golden import sme

from ..tiles import TileRun
from ..unit import Bench, GemmShape, Setting, Unit, Workload
from .config import PRESETS, STEPS, SmeConfig
from .engine import SmeEngine
from .plan import check_k, occupancy, parse_max_bits_per_weight, plan_sme, programmings

#: Seed of the random weights of the FPGA table's reference workload.
WORKLOAD_SEED = 2026


def sme_runs(config: SmeConfig, shape: GemmShape, occupied: tuple[int, ...], mapping=None) -> list[TileRun]:
    """Per programming: its rows load one a cycle while the first vectors arrive, then every
    column of X is one vector of ``STEPS`` bit-serial steps; each vector's bank beats leave one
    a cycle (at most ``STEPS`` banks, so they never stall compute)."""
    check_k(config, shape)
    if mapping is not None:
        raise ValueError(f"the analytical model does not describe the {config.name} engine yet: it takes no mapping")
    if len(occupied) != -(-shape.m // config.xbar_cols):
        raise ValueError(f"occupancy must list the crossbars of each of the {-(-shape.m // config.xbar_cols)} "
                         f"output tiles of M={shape.m}, got {len(occupied)}")
    act_beats = -(-shape.k // config.act_lanes)
    return [TileRun(loads=act_beats, beats=STEPS, tiles=shape.n, compute_from=p.crossbars * config.xbar_rows,
                    last_results=len(p.m_tiles))
            for p in programmings(config, occupied)]


def sme_workloads(c: SmeConfig) -> list[Workload]:
    """Random int8 W (two output tiles, K up to 256), squeezed by the golden model, 64 vectors."""
    shape = GemmShape(2 * c.xbar_cols, 64, min(c.k_max, 256))
    w = np.random.default_rng(WORKLOAD_SEED).integers(-128, 128, size=(shape.m, shape.k), dtype=np.int8)
    return [Workload("none", shape, occupancy(sme.squeeze(w, c.crossbar)), "random int8 W, 64 vectors")]


SME = Unit(
    name="sme", summary="SME bit-sliced crossbars: int8 W x int8 X, squeezed (and orchestrated)",
    config_class=SmeConfig, presets=PRESETS, default_preset="sme_default",
    component=SmeEngine, plan=plan_sme, tile_runs=sme_runs,
    # a weight's 8 bits take 8 / cell_bits cells; a vector takes STEPS steps (dense mapping)
    peak_macs_per_cycle=lambda c, _: c.cells * c.cell_bits / (8 * STEPS),
    workloads=sme_workloads,
    setting=Setting("--max-bits-per-weight",
                    "re-encode W to at most this many set bits per magnitude first (default: none)",
                    parse_max_bits_per_weight, choices=tuple(map(str, range(1, 9))) + ("none",), default="none"),
    bench=Bench("sparseloom.testbenches.sme_tb", configs=tuple(PRESETS.values())),
    ice40_presets=("sme_small",),
)
