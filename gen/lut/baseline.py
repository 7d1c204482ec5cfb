"""Baseline for the LUT Tensor Core: dequantise each low-bit weight, then INT8 multiply.

``m_tile`` x ``n_tile`` MACs consume one column k of W per cycle whatever the weight
width: each weight's plane bits index a small dequantisation table (filled from the
weight-format register: w = (sum_j c_j s_j - corr) >> halve for every code), and the
int8 result multiplies the activation X[k, n0 + c]. Same streams, double-buffered
activation memory and three-stage pipeline as ``LutCore``, so results and cycle
counts are checked by the same benches.
"""
from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import memory

from ..tiles import PingPong, TiledCore, loop_nest
from .config import MacConfig


def dequantised(code: int, fmt, max_wbits: int):
    """Twice the weight (before ``halve``) that plane bits ``code`` encode under run-time ``fmt``."""
    terms = []
    for j in range(max_wbits):
        s = 1 if (code >> j) & 1 else -1
        factor = Mux(fmt.weighted, 1 << j, 1)
        signed_factor = Mux(fmt.neg_msb & (fmt.planes == j + 1), -factor, factor)
        terms.append(Mux(fmt.planes > j, s * signed_factor, 0))
    return sum(terms) - fmt.corr


class MacArray(TiledCore):
    """Streams as ``LutCore``: ``cfg``, ``act``, ``w`` (one column of W per beat), ``result``."""

    config_class = MacConfig

    def elaborate(self, platform):
        c = self.config
        m = Module()
        cfg = Signal(c.cfg_layout)
        deq_width = c.max_wbits + 1
        deq = Array(Signal(signed(deq_width), name=f"deq_{code}") for code in range(1 << c.max_wbits))

        m.submodules.halves = halves = PingPong()
        m.submodules.acts = acts = memory.Memory(shape=c.act_layout, depth=2 * c.max_groups, init=[])
        wr, rd = acts.write_port(), acts.read_port()

        stall = self.result.valid & ~self.result.ready
        advance = ~stall
        issue = self.w.valid & self.w.ready

        # ----- loader: one group of activations per cycle into the free half -------------
        load = self.act.valid & self.act.ready
        (wgroup,), (load_done,) = loop_nest(m, load, [cfg.groups], ["wgroup"])
        m.d.comb += [self.act.ready.eq(halves.can_load), halves.load_done.eq(load & load_done),
                     wr.addr.eq(Mux(halves.wsel, c.max_groups, 0) + wgroup), wr.en.eq(load),
                     wr.data.eq(self.act.payload)]

        # ----- S0: for batch, for group, for row of the group: one column of W ------------
        (row, group, batch), (_, batch_end, tile_end) = loop_nest(
            m, issue, [c.g, cfg.groups, cfg.batches], ["row", "group", "batch"])
        m.d.comb += [self.w.ready.eq(halves.can_compute & advance), halves.compute_done.eq(issue & tile_end),
                     rd.addr.eq(Mux(halves.rsel, c.max_groups, 0) + group), rd.en.eq(advance)]
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_w = Signal(c.weight_layout)
        s1_row = Signal.like(row)
        with m.If(advance):
            m.d.sync += [s1_valid.eq(issue), s1_first.eq((row == 0) & (group == 0)),
                         s1_last.eq(batch_end), s1_w.eq(self.w.payload), s1_row.eq(row)]

        # ----- S1: dequantise, select the activation row, multiply ----------------------
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        product_shape = signed(deq_width + c.act_width)
        s2_prod = [[Signal(product_shape, name=f"prod_r{r}_c{col}") for col in range(c.n_tile)]
                   for r in range(c.m_tile)]
        with m.If(advance):
            m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_last.eq(s1_last)]
        for col in range(c.n_tile):
            x = Signal(signed(c.act_width), name=f"x_c{col}")
            m.d.comb += x.eq(Array(rd.data[i][col] for i in range(c.g))[s1_row])
            for r in range(c.m_tile):
                with m.If(advance):
                    m.d.sync += s2_prod[r][col].eq(deq[s1_w[r]] * x)

        # ----- S2: accumulate; a batch's last column emits ------------------------------
        acc = [[Signal(signed(c.acc_width), name=f"acc_r{r}_c{col}") for col in range(c.n_tile)]
               for r in range(c.m_tile)]
        with m.If(advance):
            m.d.sync += self.result.valid.eq(s2_valid & s2_last)
        for r in range(c.m_tile):
            for col in range(c.n_tile):
                total = Signal(signed(c.acc_width), name=f"total_r{r}_c{col}")
                m.d.comb += total.eq(Mux(s2_first, 0, acc[r][col]) + s2_prod[r][col])
                with m.If(advance & s2_valid):
                    m.d.sync += acc[r][col].eq(total)
                with m.If(advance):
                    m.d.sync += self.result.payload[r][col].eq(total)

        # ----- configuration: fills the dequantisation table; accepted when idle ----------
        in_flight = (halves.busy | (wgroup != 0) | (row != 0) | (group != 0) | (batch != 0)
                     | s1_valid | s2_valid | self.result.valid)
        m.d.comb += [self.idle.eq(~in_flight), self.cfg.ready.eq(~in_flight)]
        with m.If(self.cfg.valid & self.cfg.ready):
            m.d.sync += cfg.eq(self.cfg.payload)
            for code in range(1 << c.max_wbits):
                total = Signal(signed(deq_width + 2), name=f"deq_sum_{code}")
                m.d.comb += total.eq(dequantised(code, self.cfg.payload, c.max_wbits))
                m.d.sync += deq[code].eq(Mux(self.cfg.payload.halve, total >> 1, total))
        return m
