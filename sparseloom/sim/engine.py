"""cocotb engine that plays valid/ready streams into a core and records what comes out.

All streams are served from one clocked loop (cheaper than a coroutine per stream).
At each rising edge the pre-edge ``valid``/``ready`` values tell which handshakes
happened; new values written then take effect from the next cycle. Optional random
stalls drop a source's ``valid`` or a sink's ``ready`` with the given probability.
"""
from __future__ import annotations

import random
import time

from cocotb.clock import Clock
from cocotb.triggers import RisingEdge


class StreamPorts:
    """The ``<name>__valid/ready/payload`` handles of one stream of an Amaranth core."""

    def __init__(self, dut, name: str):
        self.name = name
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")


async def start(dut, reset_cycles: int = 3) -> None:
    """Start the clock, hold reset, and leave every stream idle."""
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for name in ("cfg", "act", "w"):
        getattr(dut, f"{name}__valid").value = 0
    dut.result__ready.value = 0
    for _ in range(reset_cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


async def play(dut, sources: dict[str, list[int]], sinks: dict[str, int], *,
               stall: float = 0.0, rng: random.Random | None = None,
               timeout: int = 10_000_000, progress=None,
               untimed: tuple[str, ...] = ()) -> tuple[dict[str, list[int]], int, dict[str, int]]:
    """Send every word of ``sources``, receive ``sinks[name]`` words from each sink.

    Returns the received words, the cycles from the first handshake to the last (inclusive;
    the handshakes of the ``untimed`` streams count for neither) and the handshakes seen on
    each stream. ``progress(done, total)`` is called about every 5 s on long runs.
    """
    rng = rng or random.Random(0)
    clk = dut.clk
    src = [(StreamPorts(dut, n), words) for n, words in sources.items()]
    snk = [(StreamPorts(dut, n), want) for n, want in sinks.items()]
    sent = [0] * len(src)
    got: dict[str, list[int]] = {n: [] for n in sinks}
    total = sum(len(w) for _, w in src) + sum(sinks.values())
    driven_valid = [False] * len(src)
    driven_ready = [False] * len(snk)
    first = last = None
    cycle = 0
    reported = time.monotonic()

    def drive():
        for i, (ports, words) in enumerate(src):
            on = sent[i] < len(words) and not (stall and rng.random() < stall)
            if on:
                ports.payload.value = words[sent[i]]
            if on != driven_valid[i]:
                ports.valid.value = int(on)
                driven_valid[i] = on
        for j, (ports, want) in enumerate(snk):
            on = len(got[ports.name]) < want and not (stall and rng.random() < stall)
            if on != driven_ready[j]:
                ports.ready.value = int(on)
                driven_ready[j] = on

    drive()
    while any(s < len(w) for s, (_, w) in zip(sent, src)) or any(len(got[p.name]) < n for p, n in snk):
        await RisingEdge(clk)
        cycle += 1
        if cycle > timeout:
            raise TimeoutError(f"streams stalled for {timeout} cycles: sent {sent}, "
                               f"received { {k: len(v) for k, v in got.items()} }")
        fired = False
        for i, (ports, _) in enumerate(src):
            if driven_valid[i] and ports.ready.value:
                sent[i] += 1
                fired = fired or ports.name not in untimed
        for j, (ports, _) in enumerate(snk):
            if driven_ready[j] and ports.valid.value:
                got[ports.name].append(ports.payload.value.to_unsigned())
                fired = True
        if fired:
            last = cycle
            first = cycle if first is None else first
            if progress is not None and not cycle % 4096 and time.monotonic() - reported > 5:
                reported = time.monotonic()
                progress(sum(sent) + sum(len(v) for v in got.values()), total)
        drive()
    # Leave nothing asserted so the next transaction starts clean.
    for i, (ports, _) in enumerate(src):
        if driven_valid[i]:
            ports.valid.value = 0
    for j, (ports, _) in enumerate(snk):
        if driven_ready[j]:
            ports.ready.value = 0
    cycles = 0 if first is None else last - first + 1
    handshakes = {ports.name: n for (ports, _), n in zip(src, sent)} | {n: len(v) for n, v in got.items()}
    return got, cycles, handshakes
