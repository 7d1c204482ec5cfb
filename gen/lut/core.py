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

Pipeline (``gen.core``): S0 issue (table-memory address), S1 look-up + sign + shift, S2
accumulate; a row batch's result is ``(acc + corr) >> halve``, exact (see ``golden/lut.py``).
"""
from amaranth import Array, Const, Mux, Signal, signed
from amaranth.lib import data, memory

from ..core import TiledCore
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

    def datapath(self, m, pipe):
        c, cfg, halves = self.config, pipe.cfg, pipe.halves
        column = data.ArrayLayout(signed(c.acc_width), c.n_tile)

        # ----- fused precompute: one group of activations -> one table word per cycle ----
        m.submodules.tables = tables = memory.Memory(shape=c.table_layout, depth=2 * c.max_groups, init=[])
        wr, rd = tables.write_port(), tables.read_port()
        corr = [Signal(column, name=f"corr_h{h}") for h in range(2)]  # -sum x of each half's tile
        wgroup, load = pipe.loader(cfg.groups, "wgroup")
        m.d.comb += [wr.addr.eq(Mux(halves.wsel, c.max_groups, 0) + wgroup), wr.en.eq(load)]
        for col in range(c.n_tile):
            entries = symmetric_table([self.act.payload[i][col] for i in range(c.g)])
            for e, value in enumerate(entries):
                m.d.comb += wr.data[col][e].eq(value)
            for h in range(2):
                with m.If(load & (halves.wsel == h)):
                    m.d.sync += corr[h][col].eq(Mux(wgroup == 0, 0, corr[h][col]) + entries[0])

        # ----- S0: for batch, for group, for plane: issue one weight bit-plane -------------
        issue, (plane, group, _), (_, batch_end, _) = pipe.sequencer(
            [cfg.planes, cfg.groups, cfg.batches], ["plane", "group", "batch"])
        m.d.comb += [rd.addr.eq(Mux(halves.rsel, c.max_groups, 0) + group), rd.en.eq(pipe.advance)]
        start = Signal(column, name="start")
        m.d.comb += start.eq(Mux(cfg.corr, Mux(halves.rsel, corr[1], corr[0]), 0))
        s1 = pipe.stage(issue, (plane == 0) & (group == 0), batch_end, w=self.w.payload, plane=plane, start=start)

        # ----- S1: look up, fold the symmetric half, weigh by plane ------------------------
        contributions = Signal(data.ArrayLayout(data.ArrayLayout(signed(c.table_width + c.max_wbits), c.n_tile),
                                                c.m_tile), name="contributions")
        sign_plane = cfg.neg_msb & (s1.plane == cfg.planes - 1)
        for r in range(c.m_tile):
            index = s1.w[r]
            top = index[c.g - 1]
            address = (index[:c.g - 1] ^ top.replicate(c.g - 1)) if c.g > 1 else Const(0)
            negate = top ^ sign_plane
            for col in range(c.n_tile):
                entry = Array(rd.data[col][e] for e in range(c.entries))[address]
                weighed = Mux(cfg.weighted, entry << s1.plane, entry)
                m.d.comb += contributions[r][col].eq(Mux(negate, -weighed, weighed))
        s2 = pipe.stage(s1.valid, s1.first, s1.last, start=s1.start, contributions=contributions)

        # ----- S2: accumulate from the correction; a batch's last plane emits >> halve ----
        pipe.accumulate(s2, lambda r, col: s2.contributions[r][col], start=lambda col: s2.start[col],
                        finish=lambda total: Mux(cfg.halve, total >> 1, total))
