"""Play a ``Plan`` through a simulated core (simulator side)."""
from __future__ import annotations

from .engine import play
from .plan import Plan


async def run_plan(dut, plan: Plan, *, stall: float = 0.0, rng=None, progress=None):
    """Configure the core, stream the GEMM, return (Y, cycles).

    ``cycles`` runs from the first activation beat to the last result beat.
    """
    await play(dut, {"cfg": [plan.cfg_word]}, {})
    act = [word for tile in plan.tiles for word in tile.act]
    weights = [word for tile in plan.tiles for word in tile.weights]
    got, cycles = await play(dut, {"act": act, "w": weights}, {"result": plan.result_beats},
                             stall=stall, rng=rng, progress=progress)
    return plan.assemble(got["result"]), cycles
