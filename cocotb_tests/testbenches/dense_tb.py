"""Simulator-side tests of the dense baseline array: every output word against the exact GEMM.

Run by ``cocotb_tests/test_benches.py``; the configuration arrives as JSON in ``SPARSELOOM_CONFIG``.
Random data comes from cocotb's logged seed; ``COCOTB_RANDOM_SEED`` reproduces a run.
"""
from __future__ import annotations

import cocotb
import numpy as np

from sparseloom.sim.engine import start
from sparseloom.testbenches.checks import check_back_to_back, check_gemm, setup


@cocotb.test()
async def random_shapes_stalls(dut):
    """Random M, N and K (K not a multiple of lanes: zero padding), zero rows, 30% stalls."""
    config, rng, stall_rng = setup()
    await start(dut)
    for _ in range(6):
        m, n = (int(rng.integers(1, 3 * d + 2)) for d in (config.rows, config.cols))
        k = int(rng.integers(1, 3 * config.lanes + 2))
        w = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
        w[rng.random(m) < 0.3] = 0
        x = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
        await check_gemm(dut, config, None, w, x, stall=0.3, rng=stall_rng)


@cocotb.test()
async def extremes_full_k(dut):
    """-128 x -128 over a full buffer of K (the largest sum), -128 x 127 (the most negative)."""
    config, *_ = setup()
    await start(dut)
    for wv, xv in ((-128, -128), (-128, 127), (127, 127)):
        w = np.full((config.rows + 1, config.k_max), wv, dtype=np.int8)
        x = np.full((config.k_max, config.cols + 1), xv, dtype=np.int8)
        await check_gemm(dut, config, None, w, x, stall=0.0, rng=None)


@cocotb.test()
async def exact_cycles_multi_tile(dut):
    """Stall-free runs over two K tiles and two column tiles take exactly the modelled cycles."""
    config, rng, _ = setup()
    await start(dut)
    k = config.k_max + config.lanes
    w = rng.integers(-128, 128, size=(2 * config.rows, k), dtype=np.int8)
    x = rng.integers(-128, 128, size=(k, 2 * config.cols), dtype=np.int8)
    await check_gemm(dut, config, None, w, x, stall=0.0, rng=None, exact_cycles=True)


@cocotb.test()
async def back_pressure(dut):
    """80% result back-pressure (and stalls on the inputs) over several row batches."""
    config, rng, stall_rng = setup()
    await start(dut)
    k = 2 * config.lanes + 1
    w = rng.integers(-128, 128, size=(4 * config.rows, k), dtype=np.int8)
    x = rng.integers(-128, 128, size=(k, config.cols), dtype=np.int8)
    await check_gemm(dut, config, None, w, x, stall=0.8, rng=stall_rng)


@cocotb.test()
async def back_to_back_gemms(dut):
    """Five GEMMs of different shapes (K tails, one and two K and column tiles) in one transaction:
    each configuration is taken while the previous GEMM still computes. 30% stalls, then
    stall-free in exactly the modelled cycles."""
    config, rng, stall_rng = setup()
    await start(dut)
    gemms = []
    for i in range(5):
        k = config.k_max + config.lanes if i == 1 else int(rng.integers(1, 3 * config.lanes * config.load_blocks))
        m, n = int(rng.integers(1, 2 * config.rows + 1)), int(rng.integers(1, 3 * config.cols + 1))
        gemms.append((None, rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8)))
    await check_back_to_back(dut, config, gemms, stall=0.3, rng=stall_rng)
    await check_back_to_back(dut, config, gemms, stall=0.0, rng=None, exact_cycles=True)
