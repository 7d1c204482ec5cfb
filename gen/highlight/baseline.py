"""Baseline for the HighLight array: a dense PE array with the same multipliers.

Each PE (r, c) has ``lanes`` multipliers hard-wired to one block of ``lanes``
consecutive K: lane o multiplies W[r, block*lanes + o] by X[block*lanes + o, c]. No
offset muxes, no activation banks, no pattern register: every weight is a beat slot,
zero or not. Same streams, ping-pong activation buffer and three-stage pipeline as
``HighLightArray``, so the same cycle model and benches apply.
"""
from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, memory

from ..tiles import PingPong, TiledCore, loop_nest
from .array import reduce_lanes
from .config import DenseConfig


class DenseArray(TiledCore):
    """Streams: ``cfg`` (tile shape), ``act`` (blocks of ``lanes`` rows of X), ``w`` (one block
    of ``lanes`` weights per PE row), ``result`` (one beat per row batch)."""

    config_class = DenseConfig

    def elaborate(self, platform):
        c = self.config
        m = Module()
        cfg = Signal(c.cfg_layout)

        m.submodules.halves = halves = PingPong()
        m.submodules.acts = acts = memory.Memory(shape=c.act_layout, depth=2 * c.max_blocks, init=[])
        wr, rd = acts.write_port(), acts.read_port()

        stall = self.result.valid & ~self.result.ready
        advance = ~stall
        issue = self.w.valid & self.w.ready

        # ----- loader: one block of activations per cycle into the free half -------------
        load = self.act.valid & self.act.ready
        (wblock,), (load_done,) = loop_nest(m, load, [cfg.groups], ["wblock"])
        m.d.comb += [self.act.ready.eq(halves.can_load), halves.load_done.eq(load & load_done),
                     wr.addr.eq(Mux(halves.wsel, c.max_blocks, 0) + wblock), wr.en.eq(load),
                     wr.data.eq(self.act.payload)]

        # ----- S0: for batch, for block: one weight beat, read that block ----------------
        (block, batch), (batch_end, tile_end) = loop_nest(m, issue, [cfg.groups, cfg.batches], ["block", "batch"])
        m.d.comb += [self.w.ready.eq(halves.can_compute & advance), halves.compute_done.eq(issue & tile_end),
                     rd.addr.eq(Mux(halves.rsel, c.max_blocks, 0) + block), rd.en.eq(advance)]
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_w = Signal(c.weight_layout)
        with m.If(advance):
            m.d.sync += [s1_valid.eq(issue), s1_first.eq(block == 0), s1_last.eq(batch_end),
                         s1_w.eq(self.w.payload)]

        # ----- S1: multiply, lane o by element o of the block ----------------------------
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_prod = Signal(data.ArrayLayout(data.ArrayLayout(
            data.ArrayLayout(signed(2 * c.data_width), c.cols), c.lanes), c.rows))
        with m.If(advance):
            m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_last.eq(s1_last)]
            for r in range(c.rows):
                for lane in range(c.lanes):
                    for col in range(c.cols):
                        m.d.sync += s2_prod[r][lane][col].eq(s1_w[r][lane] * rd.data[lane][col])

        # ----- S2: reduce lanes, accumulate, emit a row batch ---------------------------
        reduce_lanes(m, self, s2_prod, s2_valid, s2_first, s2_last, advance)

        # ----- configuration: accepted only when nothing is in flight ------------------
        in_flight = (halves.busy | (wblock != 0) | (block != 0) | (batch != 0)
                     | s1_valid | s2_valid | self.result.valid)
        m.d.comb += [self.idle.eq(~in_flight), self.cfg.ready.eq(~in_flight)]
        with m.If(self.cfg.valid & self.cfg.ready):
            m.d.sync += cfg.eq(self.cfg.payload)
        return m
