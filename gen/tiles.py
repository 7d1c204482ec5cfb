"""Pieces shared by the tiled cores: ping-pong buffer control, loop nests, the cycle model.

Every core here double-buffers its input: a loader fills one half while a three-stage
compute pipeline drains the other half, one step per cycle, stalling only on result
back-pressure. The HighLight and LUT cores hold an activation tile and step through
weight beats; the SME engine holds its weights in crossbars and steps through the bits
of one input vector.
"""
from amaranth import Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

#: Cycles from the issue of a batch's last weight beat to its result handshake.
RESULT_LATENCY = 3


class TiledCore(wiring.Component):
    """Base of the tiled cores: ``cfg`` (run-time register, accepted only when idle), ``act``
    (activation beats), ``w`` (weight beats), ``result`` (one beat per row batch) and
    ``idle``, all built from the layouts of a configuration of type ``config_class``."""

    config_class = None

    def __init__(self, config):
        if not isinstance(config, self.config_class):
            raise TypeError(f"config must be a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        super().__init__({
            "cfg": In(stream.Signature(config.cfg_layout)),
            "act": In(stream.Signature(config.act_layout)),
            "w": In(stream.Signature(config.weight_layout)),
            "result": Out(stream.Signature(config.result_layout)),
            "idle": Out(1),
        })


class PingPong(wiring.Component):
    """Which half the loader fills (``wsel``) and which the compute side reads (``rsel``).

    A half becomes full on ``load_done`` and free again on ``compute_done``; the two never
    name the same half in one cycle (loading needs it free, computing needs it full).
    """

    load_done: In(1)
    compute_done: In(1)
    wsel: Out(1)
    rsel: Out(1)
    can_load: Out(1)
    can_compute: Out(1)
    busy: Out(1)

    def elaborate(self, platform):
        m = Module()
        full = Signal(2)
        m.d.comb += [
            self.can_load.eq(~full.bit_select(self.wsel, 1)),
            self.can_compute.eq(full.bit_select(self.rsel, 1)),
            self.busy.eq(full.any()),
        ]
        with m.If(self.load_done):
            m.d.sync += [full.bit_select(self.wsel, 1).eq(1), self.wsel.eq(~self.wsel)]
        with m.If(self.compute_done):
            m.d.sync += [full.bit_select(self.rsel, 1).eq(0), self.rsel.eq(~self.rsel)]
        return m


def loop_nest(m: Module, step, limits, names):
    """Counters of ``for names[-1] ... for names[0]`` (innermost first) advancing on ``step``.

    ``limits`` are the trip counts (Values, or ints for fixed ones). Returns ``(counters, ends)`` where ``ends[i]``
    is high when this step completes level i (all counters 0..i at their last value).
    """
    counters, ends = [], []
    done = Const(1)
    for limit, name in zip(limits, names):
        limit = Const(limit) if isinstance(limit, int) else limit
        counter = Signal(range(max(2, 1 << len(limit))), name=name)
        done = done & (counter == limit - 1)
        with m.If(step & (ends[-1] if ends else Const(1))):
            m.d.sync += counter.eq(Mux(done, 0, counter + 1))
        counters.append(counter)
        ends.append(done)
    return counters, ends


def tile_cycles(tiles, *, compute_from: int = 0, last_results: int = 1) -> int:
    """Exact cycles of a stall-free run, first input beat to last result beat.

    ``tiles`` lists ``(load_beats, compute_beats)`` per tile. A tile loads one beat per
    cycle into its half once the previous load ended and the half is free (the cycle after
    the tile two back issued its last beat); it computes one beat per cycle once loaded,
    after the previous tile and not before cycle ``compute_from``; the last tile's
    ``last_results`` result beats leave one a cycle from ``RESULT_LATENCY`` cycles after its
    last beat. With no back-pressure this recurrence is exact (asserted against RTL).
    """
    issue_end = [-1, -1]   # last issue cycle of the tile now in each half
    last_issue = compute_from - 1
    load_end = -1
    for i, (loads, beats) in enumerate(tiles):
        half = i % 2
        load_end = max(load_end + 1, issue_end[half] + 1) + loads - 1
        first_issue = max(load_end + 1, last_issue + 1)
        last_issue = issue_end[half] = first_issue + beats - 1
    return last_issue + RESULT_LATENCY + last_results
