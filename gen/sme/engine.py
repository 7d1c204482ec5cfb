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

Streams: ``cfg`` (per programming; accepted only when idle), ``w`` (``rows_per_beat`` crossbar
rows a beat, crossbar-major, accepted after ``cfg`` until every programmed row is loaded), ``act``
(input vectors, ``act_lanes`` per beat, double-buffered), ``result`` (``banks`` beats
per vector). Pipeline (``gen.core``): S0 issue (route one input bit to every row), S1 AND +
column sum + ADC, S2 splice + accumulate; the output stage then emits the bank sums.
"""
from amaranth import Cat, Mux, Signal, signed, unsigned
from amaranth.lib import data

from ..core import TiledCore
from ..tiles import loop_nest
from .config import STEPS, SmeConfig


def tree_sum(values):
    """Balanced adder tree (depth log2 n instead of a chain of n adders)."""
    values = list(values)
    while len(values) > 1:
        values = [a + b for a, b in zip(values[::2], values[1::2])] + values[len(values) & ~1:]
    return values[0]


class SmeEngine(TiledCore):
    """Streams: ``cfg`` (programming header), ``w`` (crossbar rows, ``rows_per_beat`` a beat),
    ``act`` (input vectors), ``result`` (bank sums per vector)."""

    config_class = SmeConfig

    def datapath(self, m, pipe):
        rows, programmed = self._programming(m, pipe)
        vector = self._input_vector(m, pipe)
        # S0: route input bit (7 - step) of the vector to every crossbar row
        issue = Signal()
        m.d.comb += issue.eq(pipe.halves.can_compute & programmed & pipe.advance)
        _, (step,), (vector_end,) = pipe.sequencer([STEPS], ["step"], issue=issue)
        s1 = pipe.stage(issue, step == 0, vector_end, bits=self._routed_bits(m, pipe, rows, vector, step))
        # S1: the crossbars and their ADCs; S2: splice and accumulate; then the output banks
        s2 = pipe.stage(s1.valid, s1.first, s1.last, codes=self._column_codes(m, rows, s1))
        columns, finish = self._splice(m, pipe, s2)
        self._output_banks(m, pipe, s2, columns, finish)

    def _programming(self, m, pipe):
        """``rows_per_beat`` crossbar rows per ``w`` beat, crossbar-major (element [j] of beat b of
        crossbar p is its row b * rows_per_beat + j), from a new configuration until all its
        crossbars are loaded. Returns the row registers and whether loading is complete."""
        c, cfg = self.config, pipe.cfg
        per_beat, beats = c.rows_per_beat, c.beats_per_crossbar
        rows = [[Signal(c.row_layout, name=f"row_x{p}_r{r}") for r in range(c.xbar_rows)]
                for p in range(c.crossbars)]
        loaded = Signal(range(c.crossbars * beats + 1))   # beats taken
        programmed = Signal()
        write = Signal()
        m.d.comb += [programmed.eq(loaded == cfg.crossbars * beats), self.w.ready.eq(~programmed),
                     write.eq(self.w.valid & self.w.ready)]
        with m.If(pipe.configure):
            m.d.sync += loaded.eq(0)
        with m.Elif(write):
            m.d.sync += loaded.eq(loaded + 1)
        for p in range(c.crossbars):
            for b in range(beats):
                with m.If(write & (loaded == p * beats + b)):
                    m.d.sync += [rows[p][b * per_beat + j].eq(self.w.payload[j] if per_beat > 1 else self.w.payload)
                                 for j in range(per_beat)]
        pipe.busy(~programmed)
        return rows, programmed

    def _input_vector(self, m, pipe):
        """The double-buffered input vector, ``act_lanes`` activations per beat; [half][k]."""
        c = self.config
        vector = [[Signal(signed(STEPS), name=f"x_h{h}_k{k}") for k in range(c.k_max)] for h in range(2)]
        beat, load = pipe.loader(pipe.cfg.act_beats, "act_beat")
        for h in range(2):
            for b in range(c.k_max // c.act_lanes):
                with m.If(load & (pipe.halves.wsel == h) & (beat == b)):
                    m.d.sync += [vector[h][b * c.act_lanes + i].eq(self.act.payload[i]) for i in range(c.act_lanes)]
        return vector

    def _routed_bits(self, m, pipe, rows, vector, step):
        """The input router: row r of crossbar p reads bit (7 - step) of the input its index map
        names (0 for an unused row)."""
        c = self.config
        bit = Signal(range(STEPS), name="input_bit")  # 7 - step: the sign bit first
        m.d.comb += bit.eq(STEPS - 1 - step)
        plane = Signal(c.k_max, name="input_plane")
        m.d.comb += plane.eq(Mux(pipe.halves.rsel, *[Cat(x.as_unsigned().bit_select(bit, 1) for x in vector[h])
                                                     for h in (1, 0)]))
        routed = Signal(data.ArrayLayout(data.ArrayLayout(1, c.xbar_rows), c.crossbars), name="routed")
        for p, xbar in enumerate(rows):
            for r, row in enumerate(xbar):
                m.d.comb += routed[p][r].eq(plane.bit_select(row.input, 1) & row.used)
        return routed

    def _column_codes(self, m, rows, s1):
        """S1: AND the routed bits with the cells, sum each column, saturate (the ADC)."""
        c = self.config
        adc_max = c.crossbar.adc_max
        codes = Signal(data.ArrayLayout(data.ArrayLayout(unsigned(adc_max.bit_length()), c.xbar_cols), c.crossbars),
                       name="codes")
        for p, xbar in enumerate(rows):
            for q in range(c.xbar_cols):
                total = Signal(range(c.xbar_rows * ((1 << c.cell_bits) - 1) + 1), name=f"sum_x{p}_c{q}")
                m.d.comb += [total.eq(tree_sum(Mux(s1.bits[p][r], row.cells[q], 0) for r, row in enumerate(xbar))),
                             codes[p][q].eq(Mux(total > adc_max, adc_max, total))]
        return codes

    def _splice(self, m, pipe, s2):
        """S2: shift each code by its crossbar's slice, negate it for polarity Q and for the sign
        bit, accumulate Horner-style; after the last step the column sums are held for output.
        Returns the held sums [p][q] and the cycle a vector finishes."""
        c = self.config
        acc = [[Signal(signed(c.acc_width), name=f"acc_x{p}_c{q}") for q in range(c.xbar_cols)]
               for p in range(c.crossbars)]
        done = [[Signal(signed(c.acc_width), name=f"out_x{p}_c{q}") for q in range(c.xbar_cols)]
                for p in range(c.crossbars)]
        finish = Signal()
        m.d.comb += finish.eq(pipe.advance & s2.valid & s2.last)
        for p in range(c.crossbars):
            xb = pipe.cfg.xbar[p]
            for q in range(c.xbar_cols):
                code = s2.codes[p][q]
                shifted = Signal(signed(c.acc_width), name=f"spliced_x{p}_c{q}")
                nxt = Signal(signed(c.acc_width), name=f"next_x{p}_c{q}")
                m.d.comb += [
                    shifted.eq(Mux(xb.negate ^ s2.first, -(code << xb.shift), code << xb.shift)),
                    nxt.eq(Mux(s2.first, 0, acc[p][q] << 1) + shifted),
                ]
                with m.If(pipe.advance & s2.valid):
                    m.d.sync += acc[p][q].eq(nxt)
                with m.If(finish):
                    m.d.sync += done[p][q].eq(nxt)
        return done, finish

    def _output_banks(self, m, pipe, s2, columns, finish):
        """One result beat per bank, the sum of its crossbars' columns; the last step of the next
        vector waits (the only stall) until the previous vector's banks have all left."""
        c, cfg = self.config, pipe.cfg
        full = Signal()
        send = Signal()
        m.d.comb += send.eq(self.result.valid & self.result.ready)
        (bank,), (last_bank,) = loop_nest(m, send, [cfg.banks], ["bank"])
        m.d.comb += self.result.valid.eq(full)
        for q in range(c.xbar_cols):
            m.d.comb += self.result.payload[q].eq(tree_sum(
                Mux((p < cfg.crossbars) & (cfg.xbar[p].bank == bank), columns[p][q], 0) for p in range(c.crossbars)))
        freed = send & last_bank
        m.d.comb += pipe.stall.eq(s2.valid & s2.last & full & ~freed)
        with m.If(freed):
            m.d.sync += full.eq(0)
        with m.If(finish):
            m.d.sync += full.eq(1)
        pipe.busy(full)
