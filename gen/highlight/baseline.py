"""Baseline for the HighLight array: a dense PE array with the same multipliers.

Each PE (r, c) has ``lanes`` multipliers hard-wired to one block of ``lanes``
consecutive K: lane o multiplies W[r, block*lanes + o] by X[block*lanes + o, c]. No
offset muxes, no activation banks, no pattern register: every weight is a beat slot,
zero or not. An activation beat brings ``load_blocks`` blocks (one buffer row), and one
``load_blocks:1`` block mux, shared by every PE row, picks the block a weight beat needs. Same streams, ping-pong activation buffer, three-stage pipeline and back-to-back GEMMs as
``HighLightArray``, so the same benches apply.
"""
from amaranth import Mux, Signal
from amaranth.lib import memory

from ..core import TiledCore
from .array import lane_products, lane_sums, mux_tree
from .config import DenseConfig


class DenseArray(TiledCore):
    """Streams: ``cfg`` (tile shape), ``act`` (blocks of ``lanes`` rows of X), ``w`` (one block
    of ``lanes`` weights per PE row), ``result`` (one beat per row batch)."""

    config_class = DenseConfig
    overlapped = True

    def datapath(self, m, pipe):
        c, cfg, halves = self.config, pipe.cfg, pipe.halves

        # ----- loader: load_blocks blocks of activations per cycle into the free half --------
        m.submodules.acts = acts = memory.Memory(shape=c.act_layout, depth=2 * c.buffer_rows, init=[])
        wr, rd = acts.write_port(), acts.read_port()
        tile_beats = Signal(range(c.buffer_rows + 2))
        m.d.comb += tile_beats.eq((pipe.load_cfg.groups + c.load_blocks - 1) >> c.lg_load_blocks)
        row, load = pipe.loader(tile_beats, "wrow")
        m.d.comb += [wr.addr.eq(Mux(halves.wsel, c.buffer_rows, 0) + row), wr.en.eq(load),
                     wr.data.eq(self.act.payload)]

        # ----- S0: for batch, for block: one weight beat, read the row holding that block --------
        issue, (block, _), (batch_end, _) = pipe.sequencer([cfg.groups, cfg.batches], ["block", "batch"])
        m.d.comb += [rd.addr.eq(Mux(halves.rsel, c.buffer_rows, 0) + (block >> c.lg_load_blocks)),
                     rd.en.eq(pipe.advance)]
        s1 = pipe.stage(issue, block == 0, batch_end, w=self.w.payload, sel=block[:c.lg_load_blocks])

        # ----- S1: pick the block out of the row, multiply lane o by its element o --------------
        products = lane_products(c)
        for r in range(c.rows):
            for lane in range(c.lanes):
                for col in range(c.cols):
                    pick = mux_tree([rd.data[b * c.lanes + lane][col] for b in range(c.load_blocks)], s1.sel)
                    m.d.comb += products[r][lane][col].eq(s1.w[r][lane] * pick)
        s2 = pipe.stage(s1.valid, s1.first, s1.last, products=products)

        # ----- S2: reduce lanes, accumulate, emit a row batch ---------------------------
        pipe.accumulate(s2, lane_sums(s2.products, c.lanes))
