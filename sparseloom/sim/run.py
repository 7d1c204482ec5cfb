"""Play a plan through a simulated core (simulator side)."""
from __future__ import annotations

from .engine import play


async def run_plan(dut, plan, *, stall: float = 0.0, rng=None, progress=None):
    """Play each segment of ``plan`` (configure, then stream), return (Y, cycles, handshakes).

    ``cycles`` adds up, per segment, the cycles from its first input beat to its last
    result beat; configuration handshakes between segments are not counted. ``handshakes``
    counts the beats each stream carried, as the driver saw them.
    """
    results, cycles, handshakes = [], 0, {}
    for segment in plan.segments():
        await play(dut, {"cfg": [segment.cfg_word]}, {})
        got, spent, seen = await play(dut, segment.sources, {"result": segment.result_beats},
                                      stall=stall, rng=rng, progress=progress)
        results.append(got["result"])
        cycles += spent
        for name, n in seen.items():
            handshakes[name] = handshakes.get(name, 0) + n
    return plan.assemble(results), cycles, handshakes
