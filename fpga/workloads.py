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


def _workloads(unit: str, config, rng) -> list:
    """(spec, W, X, description) of the reference GEMMs of ``unit``; the first is the headline."""
    if unit == "highlight":
        # 25% dense where the array provisions it (2:4 over half-full blocks), e.g. 2:4,2:4
        pattern = f"{min(2, config.g1_max)}:{min(4, config.h1_max)},{min(config.h0 // 2, config.g0_max)}:{config.h0}"
        p = hss.HSSPattern.parse(pattern)
        k = min(config.k_max, 16 * p.group_size)
        w = hss.prune(rng.integers(-128, 128, size=(8 * config.rows, k), dtype=np.int8), p)
        return [(pattern, w, rng.integers(-128, 128, size=(k, 4 * config.cols), dtype=np.int8),
                 "M=8 rows, K<=16 groups")]
    if unit in ("lut", "mac"):
        k = min(config.k_max, 256)
        x = rng.integers(-128, 128, size=(k, 2 * config.n_tile), dtype=np.int8)
        values = {2: np.arange(-2, 2, dtype=np.int8), 1: np.array([-1, 1], np.int8)}  # W2 and W1 {-1, +1}
        return [(str(b), rng.choice(v, size=(4 * config.m_tile, k)), x, f"W{b} x INT8") for b, v in values.items()]
    k = min(config.k_max, 256)
    w = rng.integers(-128, 128, size=(2 * config.xbar_cols, k), dtype=np.int8)
    return [("none", w, rng.integers(-128, 128, size=(k, 64), dtype=np.int8), "random int8 W, 64 vectors")]


def throughput(config) -> dict:
    """Effective (dense-equivalent) MACs per cycle on the unit's reference GEMMs (headline first)."""
    unit = generator_of(config)
    _, planner = UNITS[unit]
    runs = []
    for spec, w, x, what in _workloads(unit, config, np.random.default_rng(SEED)):
        cycles = planner(config, spec, w, x).model_cycles()
        runs.append({"workload": f"{unit} {spec}: M={w.shape[0]} K={w.shape[1]} N={x.shape[1]} ({what})",
                     "cycles": cycles, "effective_macs_per_cycle": w.shape[0] * w.shape[1] * x.shape[1] / cycles})
    return {**runs[0], "workloads": runs}
