"""Simulator-side tests of the HighLight array: every output word against the golden GEMM.

Run through ``test_highlight.py``; the configuration arrives as JSON in
``SPARSELOOM_CONFIG`` and the patterns to cover in ``SPARSELOOM_PATTERNS``. Random data
comes from ``random.Random(cocotb.RANDOM_SEED)``; the seed is logged by cocotb and
reproduced with ``COCOTB_RANDOM_SEED``.
"""
from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np

from sparseloom.gen.highlight import HighLightConfig
from sparseloom.golden import hss
from sparseloom.sim.engine import start
from sparseloom.sim.highlight_plan import plan_gemm
from sparseloom.sim.highlight_run import run_plan


def _setup():
    """The configuration, the patterns to cover, and data/stall generators from the logged seed."""
    config = HighLightConfig.from_dict(json.loads(os.environ["SPARSELOOM_CONFIG"]))
    patterns = json.loads(os.environ.get("SPARSELOOM_PATTERNS", "null")) or config.provisioned_patterns()
    seed = cocotb.RANDOM_SEED
    return (config, [hss.HSSPattern.parse(p) for p in patterns],
            np.random.default_rng(seed), random.Random(seed))


def assert_equal(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Compare every element; the report names the first mismatching ones."""
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    bad = np.argwhere(got != want)
    if len(bad):
        lines = [f"Y[{i},{j}] expected {want[i, j]} got {got[i, j]}" for i, j in bad[:8]]
        raise AssertionError(f"{what}: {len(bad)} of {want.size} outputs differ:\n  " + "\n  ".join(lines))


def random_weights(rng: np.random.Generator, m: int, k: int, pattern) -> np.ndarray:
    return hss.prune(rng.integers(-128, 128, size=(m, k), dtype=np.int8), pattern)


async def check_gemm(dut, config, pattern, w, x, *, stall, rng, exact_cycles=False):
    plan = plan_gemm(config, pattern, w, x)
    y, cycles = await run_plan(dut, plan, stall=stall, rng=rng)
    what = f"{config.name} pattern {pattern} M={w.shape[0]} K={w.shape[1]} N={x.shape[1]}"
    assert_equal(y, hss.gemm(w, x), what)
    model = plan.model_cycles()
    if exact_cycles:
        assert cycles == model, f"{what}: {cycles} cycles, the cycle model promises {model}"
    else:
        assert cycles >= model, f"{what}: {cycles} cycles is below the stall-free bound {model}"
    return cycles


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
        await check_gemm(dut, config, dense, w, x, stall=0.0, rng=random.Random(0))


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
        await check_gemm(dut, config, pattern, w, x, stall=0.0, rng=random.Random(0), exact_cycles=True)


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


@cocotb.test(skip="SPARSELOOM_SLOW" not in os.environ)
async def large_gemm_sweep(dut):
    """Slow sweep: a full-buffer K and several column tiles for every pattern, 10% stalls."""
    config, patterns, rng, stall_rng = _setup()
    await start(dut)
    for pattern in patterns:
        k = config.max_groups(pattern.h1) * pattern.group_size
        w = random_weights(rng, 4 * config.rows + 3, k, pattern)
        x = rng.integers(-128, 128, size=(k, 3 * config.cols + 1), dtype=np.int8)
        await check_gemm(dut, config, pattern, w, x, stall=0.1, rng=stall_rng)
