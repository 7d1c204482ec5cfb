"""HighLight PE array: hierarchical structured sparsity (HSS) exploited in two ranks.

Rank 0 (G0:H0) is taken by the PE datapath: each lane's activation mux is steered by
the weight's offset inside its block. Rank 1 (G1:H1) is taken by the sequencer: weight
beats carry only kept blocks, so empty blocks cost no cycle; a beat holds
``lanes // g0`` kept blocks per row, so sparser rank-0 patterns also pack tighter.

Dataflow: activation-stationary per tile. A tile (``groups`` groups of ``h1`` blocks
along K, ``cols`` columns of X) is written ``banks`` blocks a beat (one per bank) into one
half of a banked, double-buffered activation memory while the other half computes. Every weight beat
reads a whole group window (``h1`` <= ``banks`` consecutive blocks lie in distinct
banks), PE (r, c) multiplies ``lanes`` weights of row r with the selected activations
of column c and accumulates; after the last beat of a row batch the ``rows`` x ``cols``
sums leave on the result stream.

GEMMs run back to back (``gen.core``, ``overlapped``): the next configuration and its first
tile load while the last tiles of this one compute; S0 and S1 read the pattern of their tile.

Pipeline (``gen.core``; one weight beat per cycle, stalls only on result back-pressure):
  S0 issue: accept a weight beat, present the group window's bank addresses, work out the
     bank each lane reads;
  S1 select: banks' data arrive, lane muxes pick activations, products are registered;
  S2 reduce: lane products are summed into the accumulators; a batch's last beat
     loads the result register.
"""
from amaranth import Mux, Signal, signed, unsigned
from amaranth.lib import data, memory

from sparseloom.golden.hss import HSSPattern, beats_per_group

from ..core import TiledCore
from .config import HighLightConfig


def mux_tree(items, index):
    """``items[index]`` as a balanced tree of 2:1 muxes, one level per bit of ``index`` (LSB
    first); an index past the end picks the last item (a planner never sends one)."""
    items = list(items)
    for bit in index:
        if len(items) == 1:
            break
        items += items[-1:] * (len(items) % 2)
        items = [Mux(bit, items[i + 1], items[i]) for i in range(0, len(items), 2)]
    return items[0]


def lane_products(c):
    """A signal of every PE's lane products, element [r][lane][col]."""
    return Signal(data.ArrayLayout(data.ArrayLayout(
        data.ArrayLayout(signed(2 * c.data_width), c.cols), c.lanes), c.rows), name="products")


def lane_sums(products, lanes: int):
    """The S2 term of a lane array: PE (r, col) adds the sum of its lane products."""
    return lambda r, col: sum(products[r][lane][col] for lane in range(lanes))


class HighLightArray(TiledCore):
    """Streams: ``cfg`` (pattern and tile shape, accepted only when idle), ``act``
    (activation blocks), ``w`` (weight beats), ``result`` (one beat per row batch)."""

    config_class = HighLightConfig
    overlapped = True

    def datapath(self, m, pipe):
        c, cfg = self.config, pipe.cfg
        group_beats, tile_beats = self._pattern(m, pipe)
        banks = self._activation_banks(m, pipe, tile_beats)
        # S0: for batch, for group, for beat: issue a weight beat, address the group's window
        issue, (beat, group, _), (group_end, batch_end, _) = pipe.sequencer(
            [group_beats, cfg.groups, cfg.batches], ["beat", "group", "batch"])
        first_bank = self._group_window(m, pipe, banks, issue, group_end, batch_end)
        s1 = pipe.stage(issue, (beat == 0) & (group == 0), batch_end, w=self.w.payload,
                        **self._select(m, pipe, first_bank))
        # S1: lane muxes and multipliers; S2: reduce lanes, accumulate, emit a row batch
        s2 = pipe.stage(s1.valid, s1.first, s1.last, products=self._lane_products(m, pipe, s1, banks))
        pipe.accumulate(s2, lane_sums(s2.products, c.lanes))

    def _pattern(self, m, pipe):
        """The loader's activation beats per tile (latched with each configuration) and the compute
        side's weight beats per group (from the pattern of the tile it reads)."""
        c, p = self.config, self.cfg.payload
        tile_beats = Signal(range(c.bank_rows + 2))
        with m.If(pipe.configure):
            m.d.sync += tile_beats.eq((p.groups * p.h1 + c.banks - 1) >> c.lg_banks)
        group_beats = Signal(range(c.g1_max + 1))
        with m.Switch(pipe.cfg.g0):
            for g0 in range(1, c.g0_max + 1):
                with m.Case(g0):
                    with m.Switch(pipe.cfg.g1):
                        for g1 in range(1, c.g1_max + 1):
                            with m.Case(g1):
                                pattern = HSSPattern(g1, c.h1_max, g0, c.h0)
                                m.d.comb += group_beats.eq(beats_per_group(pattern, c.lanes))
        return group_beats, tile_beats

    def _activation_banks(self, m, pipe, tile_beats):
        """The banked, double-buffered activation memory, loaded one row of every bank per cycle
        into the free half: block b of a tile sits in bank b mod banks, row b // banks, so beat j
        brings blocks j*banks .. j*banks + banks - 1. Returns the (write, read) port pairs."""
        c = self.config
        banks = []
        for k in range(c.banks):
            mem = memory.Memory(shape=c.block_layout, depth=2 * c.bank_rows, init=[])
            m.submodules[f"bank{k}"] = mem
            banks.append((mem.write_port(), mem.read_port()))
        row, load = pipe.loader(tile_beats, "wrow")
        block_bits = c.block_layout.size
        for k, (wr, _) in enumerate(banks):
            m.d.comb += [
                wr.addr.eq(Mux(pipe.halves.wsel, c.bank_rows, 0) + row),
                wr.data.eq(self.act.payload.as_value()[k * block_bits:(k + 1) * block_bits]),
                wr.en.eq(load),
            ]
        return banks

    def _group_window(self, m, pipe, banks, issue, group_end, batch_end):
        """Read the group's h1 consecutive blocks, one from each bank, in the issue cycle; returns
        the bank of the group's first block."""
        c = self.config
        base = Signal(range(c.max_blocks + c.h1_max + 1))  # first block of the group
        with m.If(issue & batch_end):
            m.d.sync += base.eq(0)
        with m.Elif(issue & group_end):
            m.d.sync += base.eq(base + pipe.cfg.h1)
        first_bank = base[:c.lg_banks]
        for k, (_, rd) in enumerate(banks):
            # Bank k holds the window block base + ((k - base) mod banks): one row further
            # on when k lies below the window's first bank (never for the last bank).
            row = base >> c.lg_banks
            if k < c.banks - 1:
                row = row + (first_bank > k)
            m.d.comb += [rd.addr.eq(Mux(pipe.halves.rsel, c.bank_rows, 0) + row), rd.en.eq(pipe.advance)]
        return first_bank

    def _select(self, m, pipe, first_bank) -> dict:
        """S0, for S1's registers: the bank each lane reads, its slot's rank-1 index (slot
        ``lane // g0``, of the weight beat being issued) past the group's first bank, so S1 starts
        from registered mux selects."""
        c, w = self.config, self.w.payload
        lane_bank = Signal(data.ArrayLayout(data.ArrayLayout(unsigned(c.lg_banks), c.lanes), c.rows), name="lane_bank")
        for r in range(c.rows):
            for lane in range(c.lanes):
                with m.Switch(pipe.cfg.g0):
                    for g0 in range(1, c.g0_max + 1):
                        with m.Case(g0):
                            m.d.comb += lane_bank[r][lane].eq(first_bank + w[r].slot[lane // g0])
        return {"bank": lane_bank}

    def _lane_products(self, m, pipe, s1, banks):
        """S1: each lane picks its activation (block by the bank S0 chose, element by its rank-0
        offset) from the window and multiplies it by its weight. The pick is a balanced 2:1 mux
        tree on the index bits (element first, then bank), which synthesis maps onto wide-mux
        primitives; a case statement on the whole index would become a decoder."""
        c = self.config
        products = lane_products(c)
        window = [rd.data for _, rd in banks]
        for r in range(c.rows):
            wrow = s1.w[r]
            for lane in range(c.lanes):
                for col in range(c.cols):
                    per_bank = [mux_tree([block[o][col] for o in range(c.h0)], wrow.offset[lane]) for block in window]
                    m.d.comb += products[r][lane][col].eq(wrow.value[lane] * mux_tree(per_bank, s1.bank[r][lane]))
        return products
