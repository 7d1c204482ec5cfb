"""Simulator-side tests of the HighLight array: every output word against the golden GEMM.

Run by ``cocotb_tests/test_benches.py``; the configuration arrives as JSON in
``SPARSELOOM_CONFIG`` and the patterns to cover (all provisioned ones unless
``SPARSELOOM_PATTERNS`` lists some, ``;``-separated). Random data comes from cocotb's
logged seed; ``COCOTB_RANDOM_SEED`` reproduces a run.
"""
from __future__ import annotations

import os

import cocotb
import numpy as np

from sparseloom.execution.sdq import SdqMethod
from sparseloom.execution.tasd import TasdMethod
from sparseloom.gen.tiles import Tiling
from sparseloom.golden import hss
from sparseloom.sim.engine import start
from sparseloom.testbenches.checks import check_back_to_back, check_gemm, setup


def _setup():
    """The configuration, the patterns to cover, and data/stall generators from the logged seed."""
    config, rng, stall_rng = setup()
    patterns = os.environ.get("SPARSELOOM_PATTERNS")
    patterns = patterns.split(";") if patterns else config.provisioned_patterns()
    return config, [hss.HSSPattern.parse(p) for p in patterns], rng, stall_rng


def random_weights(rng: np.random.Generator, m: int, k: int, pattern) -> np.ndarray:
    return hss.prune(rng.integers(-128, 128, size=(m, k), dtype=np.int8), pattern)


@cocotb.test()
async def every_pattern_random_stalls(dut):
    """Each provisioned pattern on random shapes (tails of M and N), 30% stalls on every stream."""
    config, patterns, rng, stall_rng = _setup()
    await start(dut)
    for pattern in patterns:
        m = int(rng.integers(1, 3 * config.rows + 2))
        n = int(rng.integers(1, 3 * config.cols + 2))
        k = pattern.group_size * int(rng.integers(1, 5))
        w = random_weights(rng, m, k, pattern)
        x = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
        await check_gemm(dut, config, pattern, w, x, stall=0.3, rng=stall_rng)


@cocotb.test()
async def extremes_full_k(dut):
    """-128 x -128 over a full buffer of K (the largest sum), and -128 x 127 (the most negative)."""
    config, *_ = _setup()
    await start(dut)
    dense = hss.HSSPattern(config.g1_max, config.g1_max, config.g0_max, config.h0)
    k = config.max_groups(dense.h1) * dense.group_size
    for wv, xv in ((-128, -128), (-128, 127), (127, 127)):
        w = hss.prune(np.full((config.rows + 1, k), wv, dtype=np.int8), dense)
        x = np.full((k, config.cols + 1), xv, dtype=np.int8)
        await check_gemm(dut, config, dense, w, x, stall=0.0, rng=None)


@cocotb.test()
async def exact_cycles_multi_tile(dut):
    """Stall-free runs over several column and K tiles take exactly the modelled cycles."""
    config, patterns, rng, _ = _setup()
    await start(dut)
    chosen = [patterns[0], patterns[len(patterns) // 2], patterns[-1]]
    for pattern in chosen:
        groups = config.max_groups(pattern.h1) + 1  # forces two K tiles
        k = groups * pattern.group_size
        w = random_weights(rng, 2 * config.rows, k, pattern)
        x = rng.integers(-128, 128, size=(k, 2 * config.cols), dtype=np.int8)
        await check_gemm(dut, config, pattern, w, x, stall=0.0, rng=None, exact_cycles=True)


@cocotb.test()
async def exact_cycles_under_mappings(dut):
    """The same GEMM under other mappings of the map space (the host's loop order, one group a
    K tile): exact cycles, and the model's counts equal to the beats of every stream."""
    config, patterns, rng, _ = _setup()
    await start(dut)
    pattern = patterns[len(patterns) // 3]
    k = 3 * pattern.group_size
    w = random_weights(rng, 2 * config.rows + 1, k, pattern)
    x = rng.integers(-128, 128, size=(k, 2 * config.cols), dtype=np.int8)
    for order, groups in (("NK", 1), ("KN", 1), ("NK", 3)):
        tiling = Tiling(3, 2, 3 // groups, groups, pattern.group_size, order)
        await check_gemm(dut, config, pattern, w, x, stall=0.0, rng=None, exact_cycles=True,
                         mapping=tiling.mapping(config, config.lanes))


@cocotb.test()
async def back_pressure_and_reconfiguration(dut):
    """Heavy result back-pressure, and back-to-back GEMMs switching pattern when idle."""
    config, patterns, rng, stall_rng = _setup()
    await start(dut)
    for pattern in rng.permutation(np.array(patterns, dtype=object))[:6]:
        k = pattern.group_size * 2
        w = random_weights(rng, 3 * config.rows, k, pattern)
        x = rng.integers(-128, 128, size=(k, config.cols), dtype=np.int8)
        await check_gemm(dut, config, pattern, w, x, stall=0.8, rng=stall_rng)


@cocotb.test()
async def back_to_back_gemms(dut):
    """Six GEMMs of different patterns and shapes (one and several column and K tiles, odd tile
    counts so the halves swap between GEMMs) in one transaction: each configuration is taken while
    the previous GEMM still computes. 30% stalls, then stall-free in exactly the modelled cycles."""
    config, patterns, rng, stall_rng = _setup()
    await start(dut)
    chosen = [patterns[int(i)] for i in rng.choice(len(patterns), 6)]
    gemms = []
    for i, pattern in enumerate(chosen):
        groups = config.max_groups(pattern.h1) + 1 if i == 2 else int(rng.integers(1, 4))
        k = groups * pattern.group_size
        m, n = int(rng.integers(1, 2 * config.rows + 1)), int(rng.integers(1, 3 * config.cols + 1))
        gemms.append((pattern, random_weights(rng, m, k, pattern), rng.integers(-128, 128, (k, n), dtype=np.int8)))
    await check_back_to_back(dut, config, gemms, stall=0.3, rng=stall_rng)
    await check_back_to_back(dut, config, gemms, stall=0.0, rng=None, exact_cycles=True)


@cocotb.test()
async def tasd_and_sdq_outlier_terms(dut):
    """The HighLight GEMMs of TASD series of 2 and 3 terms (two sharing a pattern, so concatenated along K)
    and of SDQ outliers, on a small float layer (K = 2 groups of 16), each against its golden, 30% stalls;
    a method a configuration cannot represent is skipped with a log line."""
    config, _, rng, stall_rng = _setup()
    await start(dut)
    w = rng.standard_normal((config.rows + 1, 32)).astype(np.float32)
    x = rng.standard_normal((config.cols + 1, 32)).astype(np.float32)
    for method in (TasdMethod("2:4+1:4"), TasdMethod("2:8+2:8+1:8"), SdqMethod("1:8+W4g16")):
        try:
            program = method.program("layer", w, x, {"highlight": config} if method.units != ("highlight",) else config)
        except ValueError as err:
            dut._log.info(f"skip {method.text} on {config.name}: {err}")
            continue
        for g in program.gemms:
            if g.unit == "highlight":
                await check_gemm(dut, config, g.setting, g.w, g.x, stall=0.3, rng=stall_rng, expected=g.golden())


@cocotb.test()
async def large_gemm_sweep(dut):
    """Slow sweep (``-m slow``): a full-buffer K and several column tiles for every pattern, 10% stalls."""
    config, patterns, rng, stall_rng = _setup()
    await start(dut)
    for pattern in patterns:
        k = config.max_groups(pattern.h1) * pattern.group_size
        w = random_weights(rng, 4 * config.rows + 3, k, pattern)
        x = rng.integers(-128, 128, size=(k, 3 * config.cols + 1), dtype=np.int8)
        await check_gemm(dut, config, pattern, w, x, stall=0.1, rng=stall_rng)
