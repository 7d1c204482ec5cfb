"""Baseline for the LUT Tensor Core: dequantise each low-bit weight, then INT8 multiply.

``m_tile`` x ``n_tile`` MACs consume one column k of W per cycle whatever the weight
width: each weight's plane bits index a small dequantisation table (filled from the
weight-format register: w = (sum_j c_j s_j - corr) >> halve for every code), and the
int8 result multiplies the activation X[k, n0 + c]. Same streams, double-buffered
activation memory and three-stage pipeline as ``LutCore``, so results and cycle
counts are checked by the same benches.
"""
from amaranth import Array, Mux, Signal, signed
from amaranth.lib import data, memory

from ..core import TiledCore
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

    def datapath(self, m, pipe):
        c, cfg, halves = self.config, pipe.cfg, pipe.halves

        # ----- dequantisation table: filled from the weight format with cfg ---------------
        deq_width = c.max_wbits + 1
        deq = Array(Signal(signed(deq_width), name=f"deq_{code}") for code in range(1 << c.max_wbits))
        with m.If(pipe.configure):
            for code in range(1 << c.max_wbits):
                total = Signal(signed(deq_width + 2), name=f"deq_sum_{code}")
                m.d.comb += total.eq(dequantised(code, self.cfg.payload, c.max_wbits))
                m.d.sync += deq[code].eq(Mux(self.cfg.payload.halve, total >> 1, total))

        # ----- loader: one group of activations per cycle into the free half -------------
        m.submodules.acts = acts = memory.Memory(shape=c.act_layout, depth=2 * c.max_groups, init=[])
        wr, rd = acts.write_port(), acts.read_port()
        wgroup, load = pipe.loader(cfg.groups, "wgroup")
        m.d.comb += [wr.addr.eq(Mux(halves.wsel, c.max_groups, 0) + wgroup), wr.en.eq(load),
                     wr.data.eq(self.act.payload)]

        # ----- S0: for batch, for group, for row of the group: one column of W ------------
        issue, (row, group, _), (_, batch_end, _) = pipe.sequencer(
            [c.g, cfg.groups, cfg.batches], ["row", "group", "batch"])
        m.d.comb += [rd.addr.eq(Mux(halves.rsel, c.max_groups, 0) + group), rd.en.eq(pipe.advance)]
        s1 = pipe.stage(issue, (row == 0) & (group == 0), batch_end, w=self.w.payload, row=row)

        # ----- S1: dequantise, select the activation row, multiply ----------------------
        products = Signal(data.ArrayLayout(data.ArrayLayout(signed(deq_width + c.act_width), c.n_tile), c.m_tile),
                          name="products")
        for col in range(c.n_tile):
            x = Signal(signed(c.act_width), name=f"x_c{col}")
            m.d.comb += x.eq(Array(rd.data[i][col] for i in range(c.g))[s1.row])
            for r in range(c.m_tile):
                m.d.comb += products[r][col].eq(deq[s1.w[r]] * x)
        s2 = pipe.stage(s1.valid, s1.first, s1.last, products=products)

        # ----- S2: accumulate; a batch's last column emits ------------------------------
        pipe.accumulate(s2, lambda r, col: s2.products[r][col])
