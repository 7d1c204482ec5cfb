"""Simulator-side module behind ``sparseloom sim highlight``: one GEMM from files.

Reads W and X from ``SPARSELOOM_JOB`` (npz), plays them through the array under
``SPARSELOOM_PATTERN`` with ``SPARSELOOM_STALL`` stalls seeded by cocotb's seed, and
writes Y and the cycle count to ``SPARSELOOM_RESULT`` (npz). Progress goes to stderr.
"""
import json
import os
import random
import sys

import cocotb
import numpy as np

from sparseloom.gen.highlight import HighLightConfig
from sparseloom.sim.engine import start
from sparseloom.sim.highlight_plan import plan_gemm
from sparseloom.sim.highlight_run import run_plan


def _progress(done: int, total: int) -> None:
    print(f"sparseloom: {done}/{total} stream beats ({100 * done // total}%)", file=sys.stderr, flush=True)


@cocotb.test()
async def job(dut):
    config = HighLightConfig.from_dict(json.loads(os.environ["SPARSELOOM_CONFIG"]))
    data = np.load(os.environ["SPARSELOOM_JOB"])
    plan = plan_gemm(config, os.environ["SPARSELOOM_PATTERN"], data["weights"], data["inputs"])
    await start(dut)
    y, cycles = await run_plan(dut, plan, stall=float(os.environ["SPARSELOOM_STALL"]),
                               rng=random.Random(cocotb.RANDOM_SEED), progress=_progress)
    np.savez(os.environ["SPARSELOOM_RESULT"], y=y, cycles=cycles)
