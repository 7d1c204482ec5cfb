"""Play a plan through a simulated core: the plays each run is made of, and its result.

A run is a list of ``Play``s (one ``engine.play`` call each: the words of each source
stream, the words wanted from each sink); both engines, cocotb (``engine``) and the compiled
driver (``fast``), play the same list and the results are put together here.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .engine import play


@dataclass
class Play:
    sources: dict[str, list[int]]   # stream -> words to send
    sinks: dict[str, int]           # stream -> words to receive
    stalled: bool = True            # the run's random stalls apply (not to a lone configuration word)
    untimed: tuple[str, ...] = ()   # streams whose handshakes count for no cycle


def plan_plays(plan) -> list[Play]:
    """Each segment of ``plan``: its configuration word, then its streams."""
    plays = []
    for segment in plan.segments():
        plays += [Play({"cfg": [segment.cfg_word]}, {}, stalled=False),
                  Play(segment.sources, {"result": segment.result_beats})]
    return plays


def plan_result(plan, outcomes):
    """(Y, cycles, handshakes) from the outcomes of ``plan_plays(plan)``.

    ``cycles`` adds up, per segment, the cycles from its first input beat to its last
    result beat; configuration handshakes between segments are not counted. ``handshakes``
    counts the beats each stream carried, as the driver saw them.
    """
    results, cycles, handshakes = [], 0, {}
    for got, spent, seen in outcomes[1::2]:
        results.append(got["result"])
        cycles += spent
        for name, n in seen.items():
            handshakes[name] = handshakes.get(name, 0) + n
    return plan.assemble(results), cycles, handshakes


def back_to_back_plays(plans) -> list[Play]:
    """The GEMMs of ``plans`` back to back on an overlapped core: every configuration word on
    the cfg stream, every activation and weight beat after another, as one play (the core takes
    the next configuration once the previous GEMM's tiles are loaded)."""
    segments = [segment for plan in plans for segment in plan.segments()]
    if len(segments) != len(plans):
        raise ValueError("back to back: each plan must be one segment (a tiled core's GEMM)")
    sources = {"cfg": [s.cfg_word for s in segments],
               **{name: [word for s in segments for word in s.sources[name]] for name in ("act", "w")}}
    return [Play(sources, {"result": sum(s.result_beats for s in segments)}, untimed=("cfg",))]


def back_to_back_result(plans, outcomes):
    """(the Y of each plan, cycles from the first activation beat to the last result beat,
    handshakes) from the outcome of ``back_to_back_plays(plans)``."""
    ((got, cycles, seen),) = outcomes
    results, start = [], 0
    for plan in plans:
        (segment,) = plan.segments()
        results.append(plan.assemble([got["result"][start:start + segment.result_beats]]))
        start += segment.result_beats
    return results, cycles, seen


async def play_all(dut, plays, *, stall: float = 0.0, rng=None, progress=None):
    """The outcome of each play on the cocotb engine (one stall generator for all of them)."""
    rng = rng or random.Random(0)
    return [await play(dut, p.sources, p.sinks, stall=stall if p.stalled else 0.0, rng=rng,
                       progress=progress, untimed=p.untimed) for p in plays]


async def run_plan(dut, plan, *, stall: float = 0.0, rng=None, progress=None):
    """Play each segment of ``plan`` (configure, then stream); return (Y, cycles, handshakes)."""
    return plan_result(plan, await play_all(dut, plan_plays(plan), stall=stall, rng=rng, progress=progress))


async def run_back_to_back(dut, plans, *, stall: float = 0.0, rng=None):
    """Play ``plans`` back to back as one transaction; return (every Y, cycles, handshakes)."""
    return back_to_back_result(plans, await play_all(dut, back_to_back_plays(plans), stall=stall, rng=rng))
