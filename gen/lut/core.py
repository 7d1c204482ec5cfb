"""LUT Tensor Core: low-bit weight x INT8 GEMM by table look-up, one weight bit-plane a cycle.

Fused precompute: each activation beat (g rows of K x ``n_tile`` columns) is turned, as
it streams in, into the 2^(g-1) symmetrised table entries of every column (sums of the
g activations under every sign vector whose top sign is -1) and written straight into
one half of a double-buffered table memory; the same adder tree's entry 0 (= -sum x)
accumulates the tile's offset correction.

LUT array: ``m_tile`` x ``n_tile`` units share each column's table (the tile is elongated
along M, so one table serves many weight rows). A weight beat holds one bit-plane of one
group for every row: unit (r, c) uses row r's g plane bits as the table index, folds the
top bit by symmetry (complement the index, negate the entry), shifts by the plane's
significance, negates the two's-complement sign plane, and accumulates. Each group takes
``planes`` cycles, so fewer weight bits take proportionally fewer cycles.

Pipeline: S0 issue (table-memory address), S1 look-up + sign + shift, S2 accumulate; a
row batch's result is ``(acc + corr) >> halve``, exact (see ``golden/lut.py``).
"""
from amaranth import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import memory

from ..tiles import PingPong, TiledCore, loop_nest
from .config import LutConfig


def symmetric_table(xs):
    """The 2^(g-1) stored entries for activations ``xs``: entry idx = sum_i s_i x_i with
    s_i = +1 where bit i of idx is set, -1 otherwise, and s_(g-1) = -1 (built by doubling)."""
    entries = [-xs[-1]]
    for x in xs[:-1]:
        entries = [e - x for e in entries] + [e + x for e in entries]
    return entries


class LutCore(TiledCore):
    """Streams: ``cfg`` (weight format and tile shape, accepted when idle), ``act``
    (groups of activations), ``w`` (weight bit-planes), ``result`` (one beat per row batch)."""

    config_class = LutConfig

    def elaborate(self, platform):
        c = self.config
        m = Module()
        cfg = Signal(c.cfg_layout)

        m.submodules.halves = halves = PingPong()
        m.submodules.tables = tables = memory.Memory(shape=c.table_layout, depth=2 * c.max_groups, init=[])
        wr, rd = tables.write_port(), tables.read_port()
        corr = Array(Signal(signed(c.acc_width), name=f"corr_h{h}_c{col}") for h in range(2) for col in range(c.n_tile))

        stall = self.result.valid & ~self.result.ready
        advance = ~stall
        issue = self.w.valid & self.w.ready

        # ----- fused precompute: one group of activations -> one table word per cycle ----
        load = self.act.valid & self.act.ready
        (wgroup,), (load_done,) = loop_nest(m, load, [cfg.groups], ["wgroup"])
        m.d.comb += [self.act.ready.eq(halves.can_load), halves.load_done.eq(load & load_done),
                     wr.addr.eq(Mux(halves.wsel, c.max_groups, 0) + wgroup), wr.en.eq(load)]
        for col in range(c.n_tile):
            entries = symmetric_table([self.act.payload[i][col] for i in range(c.g)])
            for e, value in enumerate(entries):
                m.d.comb += wr.data[col][e].eq(value)
            tile_corr = corr[halves.wsel * c.n_tile + col]
            with m.If(load):
                m.d.sync += tile_corr.eq(Mux(wgroup == 0, 0, tile_corr) + entries[0])

        # ----- S0: for batch, for group, for plane: issue one weight bit-plane -------------
        (plane, group, batch), (group_end, batch_end, tile_end) = loop_nest(
            m, issue, [cfg.planes, cfg.groups, cfg.batches], ["plane", "group", "batch"])
        m.d.comb += [self.w.ready.eq(halves.can_compute & advance), halves.compute_done.eq(issue & tile_end),
                     rd.addr.eq(Mux(halves.rsel, c.max_groups, 0) + group), rd.en.eq(advance)]
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_w = Signal(c.weight_layout)
        s1_plane = Signal.like(plane)
        s1_init = [Signal(signed(c.acc_width), name=f"s1_init_c{col}") for col in range(c.n_tile)]
        with m.If(advance):
            m.d.sync += [s1_valid.eq(issue), s1_first.eq((plane == 0) & (group == 0)),
                         s1_last.eq(batch_end), s1_w.eq(self.w.payload), s1_plane.eq(plane)]
            for col in range(c.n_tile):
                m.d.sync += s1_init[col].eq(Mux(cfg.corr, corr[halves.rsel * c.n_tile + col], 0))

        # ----- S1: look up, fold the symmetric half, weigh by plane ------------------------
        contrib_shape = signed(c.table_width + c.max_wbits)
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_init = [Signal(signed(c.acc_width), name=f"s2_init_c{col}") for col in range(c.n_tile)]
        s2_contrib = [[Signal(contrib_shape, name=f"contrib_r{r}_c{col}") for col in range(c.n_tile)]
                      for r in range(c.m_tile)]
        sign_plane = cfg.neg_msb & (s1_plane == cfg.planes - 1)
        with m.If(advance):
            m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_last.eq(s1_last)]
            m.d.sync += [s2_init[col].eq(s1_init[col]) for col in range(c.n_tile)]
        for r in range(c.m_tile):
            index = s1_w[r]
            top = index[c.g - 1]
            address = (index[:c.g - 1] ^ top.replicate(c.g - 1)) if c.g > 1 else Const(0)
            negate = top ^ sign_plane
            for col in range(c.n_tile):
                entry = Array(rd.data[col][e] for e in range(c.entries))[address]
                weighed = Signal(contrib_shape, name=f"weighed_r{r}_c{col}")
                m.d.comb += weighed.eq(Mux(cfg.weighted, entry << s1_plane, entry))
                with m.If(advance):
                    m.d.sync += s2_contrib[r][col].eq(Mux(negate, -weighed, weighed))

        # ----- S2: accumulate; a batch's last plane emits (acc + corr) >> halve -------------
        acc = [[Signal(signed(c.acc_width), name=f"acc_r{r}_c{col}") for col in range(c.n_tile)]
               for r in range(c.m_tile)]
        with m.If(advance):
            m.d.sync += self.result.valid.eq(s2_valid & s2_last)
        for r in range(c.m_tile):
            for col in range(c.n_tile):
                total = Signal(signed(c.acc_width), name=f"total_r{r}_c{col}")
                m.d.comb += total.eq(Mux(s2_first, s2_init[col], acc[r][col]) + s2_contrib[r][col])
                with m.If(advance & s2_valid):
                    m.d.sync += acc[r][col].eq(total)
                with m.If(advance):
                    m.d.sync += self.result.payload[r][col].eq(Mux(cfg.halve, total >> 1, total))

        # ----- configuration: accepted only when nothing is in flight --------------------
        in_flight = (halves.busy | (wgroup != 0) | (plane != 0) | (group != 0) | (batch != 0)
                     | s1_valid | s2_valid | self.result.valid)
        m.d.comb += [self.idle.eq(~in_flight), self.cfg.ready.eq(~in_flight)]
        with m.If(self.cfg.valid & self.cfg.ready):
            m.d.sync += cfg.eq(self.cfg.payload)
        return m
