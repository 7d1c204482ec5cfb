"""Throughput of each unit on a fixed reference workload, from the exact cycle models.

The cycle models equal the RTL's stall-free cycle counts (asserted by the cocotb benches),
so MACs per cycle here are what the Verilated core does on the same GEMM.
"""
from __future__ import annotations

import numpy as np

from sparseloom.gen.emit import generator_of
from sparseloom.gen.sme.config import STEPS
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
    if unit == "dense":  # the HighLight workload's shape; a dense array does every weight, zero or not
        k = min(config.k_max, 256)
        w = hss.prune(rng.integers(-128, 128, size=(8 * config.rows, k), dtype=np.int8), hss.HSSPattern.parse("2:4,2:4"))
        return [("int8", w, rng.integers(-128, 128, size=(k, 4 * config.cols), dtype=np.int8),
                 "the HighLight workload's shape, every weight a slot")]
    if unit in ("lut", "mac"):
        k = min(config.k_max, 256)
        x = rng.integers(-128, 128, size=(k, 2 * config.n_tile), dtype=np.int8)
        values = {2: np.arange(-2, 2, dtype=np.int8), 1: np.array([-1, 1], np.int8)}  # W2 and W1 {-1, +1}
        return [(str(b), rng.choice(v, size=(4 * config.m_tile, k)), x, f"W{b} x INT8") for b, v in values.items()]
    k = min(config.k_max, 256)
    w = rng.integers(-128, 128, size=(2 * config.xbar_cols, k), dtype=np.int8)
    return [("none", w, rng.integers(-128, 128, size=(k, 64), dtype=np.int8), "random int8 W, 64 vectors")]


def peak_macs_per_cycle(config, plan) -> float:
    """Dense-equivalent MACs per cycle with every multiplier busy, in the plan's format:
    HighLight skips the pattern's zeros (multipliers / density); the LUT core does
    ``wbit_macs_per_cycle / planes``; SME holds a weight's 8 bits in 8 / cell_bits cells
    and takes 8 steps per input vector (dense mapping, no squeeze-out)."""
    unit = generator_of(config)
    if unit == "highlight":
        return config.multipliers / plan.report["density"]
    if unit == "dense":
        return config.multipliers
    if unit == "lut":
        return config.wbit_macs_per_cycle / plan.report["planes"]
    if unit == "mac":
        return config.m_tile * config.n_tile
    return config.cells * config.cell_bits / (8 * STEPS)


def throughput(config) -> dict:
    """Effective (dense-equivalent) and peak MACs per cycle on the unit's reference GEMMs
    (headline first)."""
    unit = generator_of(config)
    _, planner = UNITS[unit]
    runs = []
    for spec, w, x, what in _workloads(unit, config, np.random.default_rng(SEED)):
        plan = planner(config, spec, w, x)
        cycles = plan.model_cycles()
        runs.append({"format": f"W{spec}" if spec.isdigit() else spec, "workload": f"{unit} {spec}: M={w.shape[0]} K={w.shape[1]} N={x.shape[1]} ({what})",
                     "cycles": cycles, "effective_macs_per_cycle": w.shape[0] * w.shape[1] * x.shape[1] / cycles,
                     "peak_macs_per_cycle": peak_macs_per_cycle(config, plan)})
    return {**runs[0], "workloads": runs}
