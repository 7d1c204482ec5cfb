"""Throughput of each unit on a fixed reference workload, from the exact cycle models.

The cycle models equal the RTL's stall-free cycle counts (asserted by the cocotb benches),
so MACs per cycle here are what the Verilated core does on the same GEMM.
"""
from __future__ import annotations

import numpy as np

from sparseloom.gen.emit import generator_of
from sparseloom.golden import hss
from sparseloom.sim.units import UNITS

SEED = 2026


def _workload(unit: str, config, rng):
    """(spec, W, X, description) of the reference GEMM of ``unit``."""
    if unit == "highlight":
        pattern = "2:4,2:4" if config.g0_max >= 2 and config.g1_max >= 2 and config.h1_max >= 4 else "4:4,4:4"
        p = hss.HSSPattern.parse(pattern)
        k = min(config.k_max, 16 * p.group_size)
        w = hss.prune(rng.integers(-128, 128, size=(8 * config.rows, k), dtype=np.int8), p)
        return pattern, w, rng.integers(-128, 128, size=(k, 4 * config.cols), dtype=np.int8), "M=8 rows, K<=16 groups"
    if unit in ("lut", "mac"):
        k = min(config.k_max, 256)
        w = rng.integers(-2, 2, size=(4 * config.m_tile, k), dtype=np.int8)
        return "2", w, rng.integers(-128, 128, size=(k, 2 * config.n_tile), dtype=np.int8), "W2 x INT8"
    k = min(config.k_max, 256)
    w = rng.integers(-128, 128, size=(2 * config.xbar_cols, k), dtype=np.int8)
    return "none", w, rng.integers(-128, 128, size=(k, 64), dtype=np.int8), "random int8 W, 64 vectors"


def throughput(config) -> dict:
    """Peak and effective (dense-equivalent) MACs per cycle on the unit's reference GEMM."""
    unit = generator_of(config)
    _, planner = UNITS[unit]
    spec, w, x, what = _workload(unit, config, np.random.default_rng(SEED))
    plan = planner(config, spec, w, x)
    cycles = plan.model_cycles()
    dense_macs = w.shape[0] * w.shape[1] * x.shape[1]
    return {"workload": f"{unit} {spec}: M={w.shape[0]} K={w.shape[1]} N={x.shape[1]} ({what})",
            "cycles": cycles, "effective_macs_per_cycle": dense_macs / cycles}
