"""HighLight PE array: hierarchical structured sparsity (HSS) exploited in two ranks.

Rank 0 (G0:H0) is taken by the PE datapath: each lane's activation mux is steered by
the weight's offset inside its block. Rank 1 (G1:H1) is taken by the sequencer: weight
beats carry only kept blocks, so empty blocks cost no cycle; a beat holds
``lanes // g0`` kept blocks per row, so sparser rank-0 patterns also pack tighter.

Dataflow: activation-stationary per tile. A tile (``groups`` groups of ``h1`` blocks
along K, ``cols`` columns of X) is written block by block into one half of a banked,
double-buffered activation memory while the other half computes. Every weight beat
reads a whole group window (``h1`` <= ``banks`` consecutive blocks lie in distinct
banks), PE (r, c) multiplies ``lanes`` weights of row r with the selected activations
of column c and accumulates; after the last beat of a row batch the ``rows`` x ``cols``
sums leave on the result stream.

Pipeline (one weight beat per cycle, stalls only on result back-pressure):
  S0 issue: accept a weight beat, present the group window's bank addresses;
  S1 select: banks' data arrive, lane muxes pick activations, products are registered;
  S2 reduce: lane products are summed into the accumulators; a batch's last beat
     loads the result register.
"""
from amaranth import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory

from ..tiles import PingPong, TiledCore, loop_nest
from .config import HighLightConfig


def reduce_lanes(m: Module, core, s2_prod, s2_valid, s2_first, s2_last, advance) -> None:
    """Stage S2 of the lane arrays (HighLight and its dense baseline): sum each PE's lane
    products into its accumulator (restarting on a batch's first beat) and load the result
    register with the sums after a batch's last beat."""
    c = core.config
    acc = Signal(c.result_layout)
    new_acc = Signal(c.result_layout)
    for r in range(c.rows):
        for col in range(c.cols):
            lane_sum = sum(s2_prod[r][lane][col] for lane in range(c.lanes))
            m.d.comb += new_acc[r][col].eq(Mux(s2_first, 0, acc[r][col]) + lane_sum)
    with m.If(advance):
        with m.If(s2_valid):
            m.d.sync += acc.eq(new_acc)
        m.d.sync += [
            core.result.valid.eq(s2_valid & s2_last),
            core.result.payload.eq(new_acc),
        ]


class HighLightArray(TiledCore):
    """Streams: ``cfg`` (pattern and tile shape, accepted only when idle), ``act``
    (activation blocks), ``w`` (weight beats), ``result`` (one beat per row batch)."""

    config_class = HighLightConfig

    def elaborate(self, platform):
        c = self.config
        m = Module()

        # ----- run-time configuration register --------------------------------------
        cfg = Signal(c.cfg_layout)
        beats_per_group = Signal(range(c.g1_max + 1))
        tile_blocks = Signal(range(c.max_blocks + 2))

        # ----- banked, double-buffered activation memory ----------------------------
        m.submodules.halves = halves = PingPong()
        banks = []
        for k in range(c.banks):
            mem = memory.Memory(shape=c.act_layout, depth=2 * c.bank_rows, init=[])
            m.submodules[f"bank{k}"] = mem
            banks.append((mem.write_port(), mem.read_port()))
        lg_banks = (c.banks - 1).bit_length()

        stall = self.result.valid & ~self.result.ready
        advance = ~stall
        issue = self.w.valid & self.w.ready

        # ----- S0 sequencer: for batch, for group, for beat -----------------------------
        (beat, group, batch), (group_end, batch_end, tile_end) = loop_nest(
            m, issue, [beats_per_group, cfg.groups, cfg.batches], ["beat", "group", "batch"])
        base = Signal(range(c.max_blocks + c.h1_max + 1))  # first block of the group
        with m.If(issue & batch_end):
            m.d.sync += base.eq(0)
        with m.Elif(issue & group_end):
            m.d.sync += base.eq(base + cfg.h1)

        # ----- loader: one activation block per cycle into the free half --------------
        wblk = Signal(range(c.max_blocks + 1))  # next block address to load
        load = self.act.valid & self.act.ready
        load_done = wblk == tile_blocks - 1
        m.d.comb += [self.act.ready.eq(halves.can_load), halves.load_done.eq(load & load_done)]
        with m.If(load):
            m.d.sync += wblk.eq(Mux(load_done, 0, wblk + 1))
        bank_of_blk = wblk[:lg_banks] if lg_banks else Const(0)
        for k, (wr, _) in enumerate(banks):
            m.d.comb += [
                wr.addr.eq(Mux(halves.wsel, c.bank_rows, 0) + (wblk >> lg_banks)),
                wr.data.eq(self.act.payload),
                wr.en.eq(load & (bank_of_blk == k)),
            ]

        # ----- S0: issue one weight beat, address the group window ---------------------
        m.d.comb += [self.w.ready.eq(halves.can_compute & advance), halves.compute_done.eq(issue & tile_end)]
        base_bank = base[:lg_banks] if lg_banks else Const(0)
        for k, (_, rd) in enumerate(banks):
            # Bank k holds the window block base + ((k - base) mod banks): one row further
            # on when k lies below the window's first bank (never for the last bank).
            row = base >> lg_banks
            if k < c.banks - 1:
                row = row + (base_bank > k)
            m.d.comb += [rd.addr.eq(Mux(halves.rsel, c.bank_rows, 0) + row), rd.en.eq(advance)]

        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_w = Signal(c.weight_layout)
        s1_base = Signal(range(c.banks))
        with m.If(advance):
            m.d.sync += [
                s1_valid.eq(issue),
                s1_first.eq((beat == 0) & (group == 0)),
                s1_last.eq(batch_end),
                s1_w.eq(self.w.payload),
                s1_base.eq(base_bank),
            ]

        # ----- S1: lane muxes (block by rank-1 slot, element by rank-0 offset), multiply --
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_prod = Signal(data.ArrayLayout(data.ArrayLayout(
            data.ArrayLayout(signed(2 * c.data_width), c.cols), c.lanes), c.rows))
        with m.If(advance):
            m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_last.eq(s1_last)]
        for r in range(c.rows):
            wrow = s1_w[r]
            for lane in range(c.lanes):
                slot = Signal(unsigned(c.slot_width), name=f"slot_r{r}_l{lane}")
                with m.Switch(cfg.g0):
                    for g0 in range(1, c.g0_max + 1):
                        with m.Case(g0):
                            m.d.comb += slot.eq(wrow.slot[lane // g0])
                bank = (s1_base + slot)[:lg_banks] if lg_banks else Const(0)
                index = bank * c.h0 + wrow.offset[lane]
                for col in range(c.cols):
                    window = Array(rd.data[o][col] for _, rd in banks for o in range(c.h0))
                    with m.If(advance):
                        m.d.sync += s2_prod[r][lane][col].eq(wrow.value[lane] * window[index])

        # ----- S2: reduce lanes, accumulate, emit a row batch ---------------------------
        reduce_lanes(m, self, s2_prod, s2_valid, s2_first, s2_last, advance)

        # ----- configuration: accepted only when nothing is in flight ------------------
        in_flight = (halves.busy | (wblk != 0) | (beat != 0) | (group != 0) | (batch != 0)
                     | s1_valid | s2_valid | self.result.valid)
        m.d.comb += [self.idle.eq(~in_flight), self.cfg.ready.eq(~in_flight)]
        with m.If(self.cfg.valid & self.cfg.ready):
            p = self.cfg.payload
            m.d.sync += [cfg.eq(p), tile_blocks.eq(p.groups * p.h1)]
            with m.Switch(p.g0):
                for g0 in range(1, c.g0_max + 1):
                    with m.Case(g0):
                        with m.Switch(p.g1):
                            for g1 in range(1, c.g1_max + 1):
                                with m.Case(g1):
                                    m.d.sync += beats_per_group.eq(c.beats_per_group(g1, g0))
        return m
