"""SME engine: bit-sliced weights in digital crossbars, bit-serial inputs, shift-and-add splicing.

Each physical crossbar holds one squeezed crossbar of the golden mapping: row r reads the
input named by the squeeze-out index map (the input router), its cells hold one bit
slice of one polarity of the weights of up to ``xbar_cols`` outputs. Per input bit the
crossbar ANDs the routed input bits with its cells and sums each column (the ideal
ADC, saturating at ``adc_max``); the periphery shifts the code by the slice significance,
negates it for the negative polarity and for the activation's sign bit, and accumulates
Horner-style (acc = 2 acc + code), most significant input bit first. After the eighth
bit the columns of all crossbars feeding one output bank are added and leave as one
result beat per bank.

Streams: ``cfg`` (per programming; accepted only when idle), ``w`` (crossbar rows,
crossbar-major, accepted after ``cfg`` until every programmed row is loaded), ``act``
(input vectors, ``act_lanes`` per beat, double-buffered), ``result`` (``banks`` beats
per vector). Pipeline: S0 issue (route one input bit to every row), S1 AND + column
sum + ADC, S2 splice + accumulate; the output stage then emits the bank sums.
"""
from amaranth import Cat, Module, Mux, Signal, signed, unsigned

from ..tiles import PingPong, TiledCore, loop_nest
from .config import STEPS, SmeConfig


def tree_sum(values):
    """Balanced adder tree (depth log2 n instead of a chain of n adders)."""
    values = list(values)
    while len(values) > 1:
        values = [a + b for a, b in zip(values[::2], values[1::2])] + values[len(values) & ~1:]
    return values[0]


class SmeEngine(TiledCore):
    """Streams: ``cfg`` (programming header), ``w`` (crossbar rows), ``act`` (input vectors),
    ``result`` (bank sums per vector)."""

    config_class = SmeConfig

    def elaborate(self, platform):
        c = self.config
        m = Module()
        cfg = Signal(c.cfg_layout)
        xbars, rows, cols = range(c.crossbars), range(c.xbar_rows), range(c.xbar_cols)

        # Shared conditions are Signals: an expression would be re-emitted at every use.
        stall, advance = Signal(), Signal()
        m.d.comb += advance.eq(~stall)

        # ----- programming: one crossbar row per w beat --------------------------------
        row_regs = [[Signal(c.weight_layout, name=f"row_x{p}_r{r}") for r in rows] for p in xbars]
        loaded = Signal(range(c.crossbars * c.xbar_rows + 1))
        programmed = loaded == cfg.crossbars * c.xbar_rows
        write = Signal()
        m.d.comb += write.eq(self.w.valid & self.w.ready)
        m.d.comb += self.w.ready.eq(~programmed)
        with m.If(write):
            m.d.sync += loaded.eq(loaded + 1)
        for p in xbars:
            for r in rows:
                with m.If(write & (loaded == p * c.xbar_rows + r)):
                    m.d.sync += row_regs[p][r].eq(self.w.payload)

        # ----- double-buffered input vector -----------------------------------------------
        m.submodules.halves = halves = PingPong()
        vector = [[Signal(signed(STEPS), name=f"x_h{h}_k{k}") for k in range(c.k_max)] for h in range(2)]
        load = Signal()
        m.d.comb += load.eq(self.act.valid & self.act.ready)
        (beat,), (load_done,) = loop_nest(m, load, [cfg.act_beats], ["act_beat"])
        m.d.comb += [self.act.ready.eq(halves.can_load), halves.load_done.eq(load & load_done)]
        for h in range(2):
            for b in range(c.k_max // c.act_lanes):
                with m.If(load & (halves.wsel == h) & (beat == b)):
                    m.d.sync += [vector[h][b * c.act_lanes + i].eq(self.act.payload[i])
                                 for i in range(c.act_lanes)]

        # ----- S0: route input bit (7 - step) of the vector to every crossbar row ---------
        issue = Signal()
        m.d.comb += issue.eq(halves.can_compute & programmed & advance)
        (step,), (vector_end,) = loop_nest(m, issue, [STEPS], ["step"])
        m.d.comb += halves.compute_done.eq(issue & vector_end)
        bit = Signal(range(STEPS), name="input_bit")  # 7 - step: the sign bit first
        m.d.comb += bit.eq(STEPS - 1 - step)
        plane = Signal(c.k_max, name="input_plane")
        m.d.comb += plane.eq(Mux(halves.rsel, *[Cat(x.as_unsigned().bit_select(bit, 1) for x in vector[h])
                                                for h in (1, 0)]))
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_bits = [[Signal(name=f"in_x{p}_r{r}") for r in rows] for p in xbars]
        with m.If(advance):
            m.d.sync += [s1_valid.eq(issue), s1_first.eq(step == 0), s1_last.eq(vector_end)]
            for p in xbars:
                for r in rows:
                    row = row_regs[p][r]
                    m.d.sync += s1_bits[p][r].eq(plane.bit_select(row.input, 1) & row.used)

        # ----- S1: AND with the cells, sum each column, saturate (the ADC) ---------------
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        code_shape = unsigned(c.crossbar.adc_max.bit_length())
        s2_code = [[Signal(code_shape, name=f"adc_x{p}_c{q}") for q in cols] for p in xbars]
        with m.If(advance):
            m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_last.eq(s1_last)]
        for p in xbars:
            for q in cols:
                total = Signal(range(c.xbar_rows * ((1 << c.cell_bits) - 1) + 1), name=f"sum_x{p}_c{q}")
                m.d.comb += total.eq(tree_sum(Mux(s1_bits[p][r], row_regs[p][r].cells[q], 0) for r in rows))
                with m.If(advance):
                    m.d.sync += s2_code[p][q].eq(Mux(total > c.crossbar.adc_max, c.crossbar.adc_max, total))

        # ----- S2: splice (shift by slice, sign by polarity and input bit), accumulate ----
        acc = [[Signal(signed(c.acc_width), name=f"acc_x{p}_c{q}") for q in cols] for p in xbars]
        done = [[Signal(signed(c.acc_width), name=f"out_x{p}_c{q}") for q in cols] for p in xbars]
        finish = Signal()
        m.d.comb += finish.eq(advance & s2_valid & s2_last)
        for p in xbars:
            xb = cfg.xbar[p]
            for q in cols:
                shifted = Signal(signed(c.acc_width), name=f"spliced_x{p}_c{q}")
                nxt = Signal(signed(c.acc_width), name=f"next_x{p}_c{q}")
                m.d.comb += [
                    shifted.eq(Mux(xb.negate ^ s2_first, -(s2_code[p][q] << xb.shift), s2_code[p][q] << xb.shift)),
                    nxt.eq(Mux(s2_first, 0, acc[p][q] << 1) + shifted),
                ]
                with m.If(advance & s2_valid):
                    m.d.sync += acc[p][q].eq(nxt)
                with m.If(finish):
                    m.d.sync += done[p][q].eq(nxt)

        # ----- output stage: one beat per bank, the sum of its crossbars' columns ---------
        full = Signal()
        send = Signal()
        m.d.comb += send.eq(self.result.valid & self.result.ready)
        (bank,), (last_bank,) = loop_nest(m, send, [cfg.banks], ["bank"])
        m.d.comb += self.result.valid.eq(full)
        for q in cols:
            m.d.comb += self.result.payload[q].eq(tree_sum(
                Mux((p < cfg.crossbars) & (cfg.xbar[p].bank == bank), done[p][q], 0) for p in xbars))
        freed = send & last_bank
        m.d.comb += stall.eq(s2_valid & s2_last & full & ~freed)
        with m.If(freed):
            m.d.sync += full.eq(0)
        with m.If(finish):
            m.d.sync += full.eq(1)

        # ----- configuration: accepted only when nothing is in flight --------------------
        in_flight = (~programmed | halves.busy | (beat != 0) | (step != 0) | s1_valid | s2_valid | full)
        m.d.comb += [self.idle.eq(~in_flight), self.cfg.ready.eq(~in_flight)]
        with m.If(self.cfg.valid & self.cfg.ready):
            m.d.sync += [cfg.eq(self.cfg.payload), loaded.eq(0)]
        return m
