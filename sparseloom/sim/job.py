"""Simulator-side module behind ``sparseloom sim``: one GEMM from files.

Reads W and X from ``SPARSELOOM_JOB`` (npz; W from the file ``SPARSELOOM_OPERAND`` names for a unit
whose first operand is not a matrix, the NPU's program), plans them for ``SPARSELOOM_UNIT`` with the
run-time setting's text ``SPARSELOOM_SETTING`` (pattern, weight format, bit budget) and the
mapping ``SPARSELOOM_MAPPING`` (JSON; empty: the planner's), plays
them (``SPARSELOOM_REPEAT`` times back to back, if more than once) with ``SPARSELOOM_STALL``
stalls seeded by ``SPARSELOOM_SEED`` (default: cocotb's seed; the fast driver takes the same seed), and writes every Y the cycle count and the seconds the play took to
``SPARSELOOM_RESULT``.
Progress goes to stderr.
"""
import json
import os
import random
import sys
import time

import cocotb
import numpy as np

from sparseloom.model.mapping import Mapping
from sparseloom.sim.engine import start
from sparseloom.sim.run import run_back_to_back, run_plan
from sparseloom.units import unit


def _progress(done: int, total: int) -> None:
    print(f"sparseloom: {done}/{total} stream beats ({100 * done // total}%)", file=sys.stderr, flush=True)


@cocotb.test()
async def job(dut):
    u = unit(os.environ["SPARSELOOM_UNIT"])
    config = u.config_class.from_dict(json.loads(os.environ["SPARSELOOM_CONFIG"]))
    setting = u.setting.parse(os.environ["SPARSELOOM_SETTING"]) if u.setting else None
    data = np.load(os.environ["SPARSELOOM_JOB"])
    mapping = os.environ.get("SPARSELOOM_MAPPING")
    mapping = Mapping.from_dict(json.loads(mapping)) if mapping else None
    weights = u.operands.load(os.environ["SPARSELOOM_OPERAND"], u.operands.flag) if u.operands.load else data["weights"]
    plan = u.plan(config, setting, weights, data["inputs"], mapping)
    await start(dut)
    stall, rng = float(os.environ["SPARSELOOM_STALL"]), random.Random(int(os.environ.get("SPARSELOOM_SEED") or cocotb.RANDOM_SEED))
    repeat = int(os.environ.get("SPARSELOOM_REPEAT") or 1)
    started = time.perf_counter()
    if repeat > 1:
        ys, cycles, _ = await run_back_to_back(dut, [plan] * repeat, stall=stall, rng=rng)
    else:
        y, cycles, _ = await run_plan(dut, plan, stall=stall, rng=rng, progress=_progress)
        ys = [y]
    np.savez(os.environ["SPARSELOOM_RESULT"], y=np.stack(ys), cycles=cycles, seconds=time.perf_counter() - started)
