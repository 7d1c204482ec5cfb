"""Simulator-side checks shared by the benches: every output word against the golden model,
and stall-free cycles against the unit's analytical cycle model."""
from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np

from sparseloom.golden.reference import gemm
from sparseloom.sim.run import run_back_to_back, run_plan
from sparseloom.units import unit, unit_of


def setup():
    """(configuration, data generator, stall generator), from the environment and cocotb's
    logged seed (``COCOTB_RANDOM_SEED`` reproduces a run)."""
    config = unit(os.environ["SPARSELOOM_UNIT"]).config_class.from_dict(json.loads(os.environ["SPARSELOOM_CONFIG"]))
    seed = cocotb.RANDOM_SEED
    return config, np.random.default_rng(seed), random.Random(seed)


def assert_equal(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Compare every element; the report names the first mismatching ones."""
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    bad = np.argwhere(got != want)
    if len(bad):
        lines = [f"Y[{i},{j}] expected {want[i, j]} got {got[i, j]}" for i, j in bad[:8]]
        raise AssertionError(f"{what}: {len(bad)} of {want.size} outputs differ:\n  " + "\n  ".join(lines))


async def check_gemm(dut, config, setting, w, x, *, stall, rng, exact_cycles=False, expected=None, mapping=None):
    """Run Y = W @ X through the core; compare Y with ``expected`` (default: the exact GEMM),
    the cycles with the unit's cycle model, computed from the shape and encoding alone, and,
    where the analytical model describes the unit, its access counts with the beats the driver
    saw on each stream. ``mapping`` (default: the planner's own) is what the planner and both
    models run."""
    u = unit_of(config)
    plan = u.plan(config, setting, w, x, mapping)
    y, cycles, handshakes = await run_plan(dut, plan, stall=stall, rng=rng)
    what = f"{config.name} {setting} M={w.shape[0]} K={w.shape[1]} N={x.shape[1]}"
    assert_equal(y, gemm(w, x) if expected is None else expected, what)
    model = u.cycles(config, plan.shape, plan.encoding, mapping)
    if exact_cycles:
        assert cycles == model, f"{what}: {cycles} cycles, the cycle model promises {model}"
    else:
        assert cycles >= model, f"{what}: {cycles} cycles is below the stall-free bound {model}"
    if u.model is not None:
        result = u.evaluate(config, plan.shape, plan.encoding, mapping)
        for stream, (level, tensor, action, words) in u.traffic(config).items():
            stats = result.level(level)
            counted = getattr(stats.tensors[tensor], action) * stats.instances
            beats = handshakes.get(stream, 0)   # a run without segments (an all-zero W on SME) handshakes nothing
            padding = plan.padding.get(stream, 0)
            assert counted == beats * words - padding, (
                f"{what}: the model counts {counted} {action} of {tensor} at {level}; the {stream} stream "
                f"carried {beats} beats of {words}, {padding} of them padding")
    return plan, cycles


async def check_back_to_back(dut, config, gemms, *, stall, rng, exact_cycles=False):
    """Run ``gemms`` ((setting, W, X) triples) back to back through an overlapped core; compare
    every Y with the exact GEMM and, stall-free, the cycles with the unit's back-to-back model,
    which must beat the GEMMs one at a time. Returns the cycles."""
    u = unit_of(config)
    plans = [u.plan(config, setting, w, x) for setting, w, x in gemms]
    ys, cycles, _ = await run_back_to_back(dut, plans, stall=stall, rng=rng)
    for i, (y, (setting, w, x)) in enumerate(zip(ys, gemms)):
        assert_equal(y, gemm(w, x), f"{config.name} back to back, GEMM {i} ({setting}) M={w.shape[0]} "
                                    f"K={w.shape[1]} N={x.shape[1]}")
    model = u.back_to_back_cycles(config, [(p.shape, p.encoding) for p in plans])
    if exact_cycles:
        one_at_a_time = sum(u.cycles(config, p.shape, p.encoding) for p in plans)
        assert cycles == model < one_at_a_time, (
            f"{config.name}: {len(plans)} GEMMs back to back took {cycles} cycles, the model promises {model} "
            f"(one at a time: {one_at_a_time})")
    else:
        assert cycles >= model, f"{config.name}: {cycles} cycles back to back is below the stall-free bound {model}"
    return cycles
