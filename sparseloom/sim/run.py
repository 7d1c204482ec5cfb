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


async def run_back_to_back(dut, plans, *, stall: float = 0.0, rng=None):
    """Play the GEMMs of ``plans`` back to back on an overlapped core: every configuration word
    on the cfg stream, every activation and weight beat after another, as one transaction (the
    core takes the next configuration once the previous GEMM's tiles are loaded). Returns (the
    Y of each plan, cycles from the first activation beat to the last result beat, handshakes)."""
    segments = [segment for plan in plans for segment in plan.segments()]
    if len(segments) != len(plans):
        raise ValueError("back to back: each plan must be one segment (a tiled core's GEMM)")
    sources = {"cfg": [s.cfg_word for s in segments],
               **{name: [word for s in segments for word in s.sources[name]] for name in ("act", "w")}}
    got, cycles, seen = await play(dut, sources, {"result": sum(s.result_beats for s in segments)},
                                   stall=stall, rng=rng, untimed=("cfg",))
    results, start = [], 0
    for plan, segment in zip(plans, segments):
        results.append(plan.assemble([got["result"][start:start + segment.result_beats]]))
        start += segment.result_beats
    return results, cycles, seen
