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
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .config import HighLightConfig


class HighLightArray(wiring.Component):
    """Streams: ``cfg`` (pattern and tile shape, accepted only when idle), ``act``
    (activation blocks), ``w`` (weight beats), ``result`` (one beat per row batch)."""

    def __init__(self, config: HighLightConfig):
        if not isinstance(config, HighLightConfig):
            raise TypeError(f"config must be a HighLightConfig, got {type(config).__name__}")
        self.config = config
        super().__init__({
            "cfg": In(stream.Signature(config.cfg_layout)),
            "act": In(stream.Signature(config.act_layout)),
            "w": In(stream.Signature(config.weight_layout)),
            "result": Out(stream.Signature(config.result_layout)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        c = self.config
        m = Module()

        # ----- run-time configuration register --------------------------------------
        cfg = Signal(c.cfg_layout)
        beats_per_group = Signal(range(c.g1_max + 1))
        tile_blocks = Signal(range(c.max_blocks + 2))

        # ----- banked, double-buffered activation memory ----------------------------
        depth = 2 * c.bank_rows
        banks = []
        for k in range(c.banks):
            mem = memory.Memory(shape=c.act_layout, depth=depth, init=[])
            m.submodules[f"bank{k}"] = mem
            banks.append((mem.write_port(), mem.read_port()))

        full = Signal(2)                        # a half holds a complete tile
        wsel = Signal()                         # half being loaded
        rsel = Signal()                         # half being computed
        wblk = Signal(range(c.max_blocks + 1))  # next block address to load
        lg_banks = (c.banks - 1).bit_length()

        # ----- S0 sequencer state -----------------------------------------------------
        beat = Signal(range(c.g1_max))
        group = Signal(range(c.max_blocks + 1))
        batch = Signal(unsigned(cfg.batches.shape().width))
        base = Signal(range(c.max_blocks + c.h1_max + 1))  # first block of the group

        # ----- pipeline registers ---------------------------------------------------------
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_w = Signal(c.weight_layout)
        s1_base = Signal(range(c.banks))
        prod_shape = data.ArrayLayout(data.ArrayLayout(
            data.ArrayLayout(signed(2 * c.data_width), c.cols), c.lanes), c.rows)
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_prod = Signal(prod_shape)
        acc = Signal(c.result_layout)

        stall = self.result.valid & ~self.result.ready
        advance = ~stall
        busy = full.any() | (wblk != 0) | (beat != 0) | (group != 0) | (batch != 0) | s1_valid | s2_valid
        m.d.comb += self.idle.eq(~busy & ~self.result.valid)

        # ----- configuration: accepted only when nothing is in flight ------------------
        m.d.comb += self.cfg.ready.eq(self.idle)
        with m.If(self.cfg.valid & self.cfg.ready):
            p = self.cfg.payload
            m.d.sync += [
                cfg.eq(p),
                tile_blocks.eq(p.groups * p.h1),
            ]
            with m.Switch(p.g0):
                for g0 in range(1, c.g0_max + 1):
                    with m.Case(g0):
                        with m.Switch(p.g1):
                            for g1 in range(1, c.g1_max + 1):
                                with m.Case(g1):
                                    m.d.sync += beats_per_group.eq(c.beats_per_group(g1, g0))

        # ----- loader: one activation block per cycle into the free half --------------
        m.d.comb += self.act.ready.eq(~full.bit_select(wsel, 1))
        bank_of_blk = wblk[:lg_banks] if lg_banks else Const(0)
        row_of_blk = wblk >> lg_banks
        for k, (wr, _) in enumerate(banks):
            m.d.comb += [
                wr.addr.eq(Mux(wsel, c.bank_rows, 0) + row_of_blk),
                wr.data.eq(self.act.payload),
                wr.en.eq(self.act.valid & self.act.ready & (bank_of_blk == k)),
            ]
        with m.If(self.act.valid & self.act.ready):
            with m.If(wblk == tile_blocks - 1):
                m.d.sync += [wblk.eq(0), full.bit_select(wsel, 1).eq(1), wsel.eq(~wsel)]
            with m.Else():
                m.d.sync += wblk.eq(wblk + 1)

        # ----- S0: issue one weight beat, address the group window ---------------------
        m.d.comb += self.w.ready.eq(full.bit_select(rsel, 1) & advance)
        issue = self.w.valid & self.w.ready
        base_bank = base[:lg_banks] if lg_banks else Const(0)
        for k, (_, rd) in enumerate(banks):
            # Bank k holds the window block base + ((k - base) mod banks): one row further
            # on when k lies below the window's first bank (never for the last bank).
            row = base >> lg_banks
            if k < c.banks - 1:
                row = row + (base_bank > k)
            m.d.comb += [rd.addr.eq(Mux(rsel, c.bank_rows, 0) + row), rd.en.eq(advance)]

        last_beat = beat == beats_per_group - 1
        last_group = group == cfg.groups - 1
        last_batch = batch == cfg.batches - 1
        with m.If(advance):
            m.d.sync += [
                s1_valid.eq(issue),
                s1_first.eq((beat == 0) & (group == 0)),
                s1_last.eq(last_beat & last_group),
                s1_w.eq(self.w.payload),
                s1_base.eq(base_bank),
            ]
        with m.If(issue):
            m.d.sync += beat.eq(beat + 1)
            with m.If(last_beat):
                m.d.sync += [beat.eq(0), group.eq(group + 1), base.eq(base + cfg.h1)]
                with m.If(last_group):
                    m.d.sync += [group.eq(0), base.eq(0), batch.eq(batch + 1)]
                    with m.If(last_batch):
                        m.d.sync += [batch.eq(0), full.bit_select(rsel, 1).eq(0), rsel.eq(~rsel)]

        # ----- S1: lane muxes (block by rank-1 slot, element by rank-0 offset), multiply --
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
        new_acc = Signal(c.result_layout)
        for r in range(c.rows):
            for col in range(c.cols):
                lane_sum = sum(s2_prod[r][lane][col] for lane in range(c.lanes))
                m.d.comb += new_acc[r][col].eq(Mux(s2_first, 0, acc[r][col]) + lane_sum)
        with m.If(advance):
            with m.If(s2_valid):
                m.d.sync += acc.eq(new_acc)
            m.d.sync += [
                self.result.valid.eq(s2_valid & s2_last),
                self.result.payload.eq(new_acc),
            ]
        return m
