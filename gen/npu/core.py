"""NPU core: PEs that multiply-accumulate one neuron each, an activation unit, banked weight buffers.

An input vector runs through a network layer by layer. A layer of O neurons runs in groups of
``pes`` neurons: in each step one code of the layer's input (or, in the group's last step, the
constant 2^act_frac that multiplies the bias) is broadcast to every PE, which multiplies it by
the word its weight buffer reads at the step's address and accumulates. Two cycles after a
group's last step its sums are rounded and saturated, in the next the activation function (ReLU
or PLAN's sigmoid: ``golden.npu``) writes its neurons into the layer's buffer; the next layer starts ``LAYER_GAP`` cycles after the
last step, once they are written. Weights are laid out per bank in step order (layer, group,
step), so a network's steps read consecutive addresses from the base of its bank.

Routing. In a routed program the classifier (bank 0) runs first; in the cycle after its last
layer is written the argmax of its outputs either sends the input to the exact function (its
result beats leave with ``approximated`` 0) or loads the bank register with the chosen
approximator's bank, the one-cycle swap: the approximator's first step issues in the next cycle,
reading the new bank. A fused program runs bank 0 alone and takes its last output as the safe
logit. The outputs are copied into the output register, whose ``result_beats`` beats leave while
the next input computes; a network that ends while they are still leaving waits (the only stall).

Streams: ``cfg`` (per program; accepted only when idle), ``w`` (weight words, one per PE at one
address a beat, taken after ``cfg`` until ``weight_beats`` are in), ``act`` (input vectors,
``act_lanes`` codes a beat, double-buffered: the next one loads while one computes), ``result``
(``result_beats`` beats per input, in input order).
"""
from amaranth import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..tiles import PingPong, loop_nest
from .config import ACTIVATION_CODES, LAYER_GAP, ROUTING_CODES, NpuConfig


def last_layer_buffer(netcfg, layers) -> Array:
    """The buffer a network's last layer writes: layer l writes buffer l % 2."""
    return Array(Mux(netcfg.layers[0], a, b) for a, b in zip(*layers))


class NpuCore(wiring.Component):
    """The NPU; see the module docstring. Members:

    * ``cfg`` (in): the program's configuration (``NpuConfig.cfg_layout``), taken when ``idle``;
      ``w`` then takes the program's weight words before any input computes.
    * ``act`` (in): input codes, ``act_beats`` beats an input; ready while an input half is free.
    * ``w`` (in): {address, word[p]}: word p written to PE p's buffer at address; ready from
      ``cfg`` until ``weight_beats`` beats are taken.
    * ``result`` (out): ``result_beats`` beats an input, from the cycle after its outputs are ready.
    * ``idle`` (out): nothing loaded, computing or waiting to leave; the weights are all in.
    """

    def __init__(self, config: NpuConfig):
        if not isinstance(config, NpuConfig):
            raise TypeError(f"config must be a NpuConfig, got {type(config).__name__}")
        self.config = config
        super().__init__({
            "cfg": In(stream.Signature(config.cfg_layout)),
            "act": In(stream.Signature(config.act_layout)),
            "w": In(stream.Signature(config.weight_layout)),
            "result": Out(stream.Signature(config.result_layout)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        cfg = Signal(c.cfg_layout)
        configure = Signal()
        m.d.comb += configure.eq(self.cfg.valid & self.cfg.ready)
        with m.If(configure):
            m.d.sync += cfg.eq(self.cfg.payload)

        programmed, reads = self._weight_buffers(m, cfg, configure)
        m.submodules.halves = halves = PingPong()
        inputs, loading = self._input_buffer(m, cfg, halves)
        layers = [[Signal(signed(c.act_bits), name=f"layer{b}_n{e}") for e in range(c.max_width)] for b in range(2)]

        # The sequencer: which network and layer, the group and step of it, the word address.
        net, layer, group, step = Signal(1), Signal(range(c.max_layers)), Signal(range(c.max_groups)), \
            Signal(range(c.max_width + 1))
        address = Signal(range(c.bank_words))
        bank = Signal(range(c.banks))
        base = Signal(range(c.words))
        issue = Signal()
        netcfg = cfg.net[net]
        this = netcfg.layer[layer]
        previous, layer_inputs = Signal.like(layer), Signal.like(cfg.inputs)
        m.d.comb += [previous.eq(layer - 1),
                     layer_inputs.eq(Mux(layer == 0, cfg.inputs, netcfg.layer[previous].outputs))]
        last_step, last_group = step == layer_inputs, group == this.groups - 1
        m.d.comb += [read.addr.eq(base + address) for read in reads]

        # S1: the broadcast code (layer 0 reads the input half, layer l the buffer of layer l - 1;
        # the bias step the constant 2^act_frac), and what the write stage needs.
        source = [Mux(layer == 0, Mux(halves.rsel, inputs[1][e], inputs[0][e]),
                      Mux(layer[0], layers[0][e], layers[1][e])) for e in range(c.max_width)]
        x = Signal(signed(c.act_bits + 1))
        s1 = {"valid": Signal(), "first": Signal(), "last": Signal(), "group": Signal.like(group),
              "buffer": Signal(), "outputs": Signal.like(this.outputs), "activation": Signal(2)}
        m.d.sync += [x.eq(Mux(last_step, 1 << c.act_frac, Array(source)[step])),
                     s1["valid"].eq(issue), s1["first"].eq(step == 0), s1["last"].eq(last_step),
                     s1["group"].eq(group), s1["buffer"].eq(layer[0]), s1["outputs"].eq(this.outputs),
                     s1["activation"].eq(this.activation)]
        # S2: each PE's multiply-accumulate, restarting on a group's first step.
        acc = [Signal(signed(c.acc_width), name=f"acc{p}") for p in range(c.pes)]
        for p, read in enumerate(reads):
            with m.If(s1["valid"]):
                m.d.sync += acc[p].eq(Mux(s1["first"], 0, acc[p]) + read.data * x)
        s2 = {key: Signal.like(value, name=f"s2_{key}") for key, value in s1.items()}
        m.d.sync += [s2[key].eq(value) for key, value in s1.items()]
        # S3: each PE's sum rounded and saturated; S4: the activation function, and the group's
        # neurons (those the layer has) written into the layer's buffer.
        codes = [Signal(signed(c.act_bits), name=f"code{p}") for p in range(c.pes)]
        m.d.sync += [code.eq(self._requantise(m, a, p)) for p, (code, a) in enumerate(zip(codes, acc))]
        s3 = {key: Signal.like(value, name=f"s3_{key}") for key, value in s2.items()}
        m.d.sync += [s3[key].eq(value) for key, value in s2.items()]
        neuron = [self._activation(m, code, s3["activation"], p) for p, code in enumerate(codes)]
        for e in range(c.max_width):
            with m.If(s3["valid"] & s3["last"] & (s3["group"] == e // c.pes) & (e < s3["outputs"])):
                with m.If(s3["buffer"]):
                    m.d.sync += layers[1][e].eq(neuron[e % c.pes])
                with m.Else():
                    m.d.sync += layers[0][e].eq(neuron[e % c.pes])

        full_blocks = Signal()   # the output register cannot take this input's outputs yet
        emit, approximated, approximator = self._sequencer(
            m, cfg, programmed, halves, layers, issue, (net, layer, group, step, address, bank, base),
            last_step, last_group, full_blocks)
        full = self._output(m, cfg, layers, net, emit, approximated, approximator, full_blocks)
        m.d.comb += halves.compute_done.eq(emit)

        in_flight = Signal()
        m.d.comb += [in_flight.eq(~programmed | halves.busy | loading | issue | s1["valid"] | s2["valid"] | s3["valid"]
                                   | full),
                     self.idle.eq(~in_flight), self.cfg.ready.eq(~in_flight)]
        return m

    def _weight_buffers(self, m, cfg, configure):
        """Each PE's buffer of every bank, written by ``w`` beats from a configuration until
        ``weight_beats`` are in. Returns whether they are, and each PE's read port (synchronous:
        the word of the address set in one cycle is there in the next)."""
        c = self.config
        loaded = Signal(range(c.words + 1))
        programmed, write = Signal(), Signal()
        m.d.comb += [programmed.eq(loaded == cfg.weight_beats), self.w.ready.eq(~programmed),
                     write.eq(self.w.valid & self.w.ready)]
        with m.If(configure):
            m.d.sync += loaded.eq(0)
        with m.Elif(write):
            m.d.sync += loaded.eq(loaded + 1)
        reads = []
        for p in range(c.pes):
            buffer = Memory(shape=signed(c.weight_bits), depth=c.words, init=[])
            m.submodules[f"weights{p}"] = buffer
            port = buffer.write_port()
            m.d.comb += [port.addr.eq(self.w.payload.address), port.data.eq(self.w.payload.word[p]),
                         port.en.eq(write)]
            reads.append(buffer.read_port())
        return programmed, reads

    def _input_buffer(self, m, cfg, halves):
        """The double-buffered input vector, ``act_lanes`` codes a beat: [half][i]. Returns it and
        whether an input is part loaded."""
        c = self.config
        inputs = [[Signal(signed(c.act_bits), name=f"x_h{h}_i{i}") for i in range(c.max_width)] for h in range(2)]
        load = Signal()
        m.d.comb += [self.act.ready.eq(halves.can_load), load.eq(self.act.valid & self.act.ready)]
        (beat,), (done,) = loop_nest(m, load, [cfg.act_beats], ["act_beat"])
        m.d.comb += halves.load_done.eq(load & done)
        for h in range(2):
            for i in range(c.max_width):
                with m.If(load & (halves.wsel == h) & (beat == i // c.act_lanes)):
                    m.d.sync += inputs[h][i].eq(self.act.payload[i % c.act_lanes])
        return inputs, beat != 0

    def _requantise(self, m, acc, p):
        """PE ``p``'s sum >> weight_frac rounding half up, saturated to the act format (``golden.npu``)."""
        c = self.config
        lo, hi = c.act.lo, c.act.hi
        rounded = Signal(signed(c.acc_width + 1), name=f"rounded{p}")
        m.d.comb += rounded.eq((acc + (1 << (c.weight_frac - 1))) >> c.weight_frac)
        return Mux(rounded > hi, hi, Mux(rounded < lo, lo, rounded))

    def _activation(self, m, code, activation, p):
        """The activation function of PE ``p`` on its code: nothing, ReLU or PLAN's sigmoid (shifts
        truncating), as ``golden.npu``."""
        c = self.config
        f = c.act_frac
        out = Signal(signed(c.act_bits), name=f"neuron{p}")
        choices = {ACTIVATION_CODES["linear"]: code, ACTIVATION_CODES["relu"]: Mux(code < 0, 0, code)}
        if c.sigmoid:
            mag = Signal(c.act_bits, name=f"magnitude{p}")
            y = Signal(c.act_bits, name=f"plan{p}")
            one = 1 << f
            m.d.comb += [
                mag.eq(Mux(code < 0, -code, code)),
                y.eq(Mux(mag >= 40 << (f - 3), one,
                         Mux(mag >= 19 << (f - 3), (mag >> 5) + (27 << (f - 5)),
                             Mux(mag >= one, (mag >> 3) + (5 << (f - 3)), (mag >> 2) + (1 << (f - 1)))))),
            ]
            choices[ACTIVATION_CODES["sigmoid"]] = Mux(code < 0, one - y, y)
        with m.Switch(activation):
            for value, result in choices.items():
                with m.Case(value):
                    m.d.comb += out.eq(result)
        return out

    def _sequencer(self, m, cfg, programmed, halves, layers, issue, counters, last_step, last_group,
                   full_blocks):
        """IDLE (issue an input's first step once it is loaded and the weights are in), ISSUE (one
        step a cycle), GAP (``LAYER_GAP`` cycles after a layer), END (the route decided or the
        outputs emitted). Returns the emit strobe, whether the input is approximated and by which
        approximator."""
        c = self.config
        net, layer, group, step, address, bank, base = counters
        netcfg = cfg.net[net]
        last_layer = layer == netcfg.layers - 1
        gap = Signal(range(LAYER_GAP))
        emit = Signal()
        routed = cfg.routing == ROUTING_CODES["routed"]
        last = last_layer_buffer(netcfg, layers)
        classifier_last = Signal(range(c.max_layers))
        m.d.comb += classifier_last.eq(cfg.net[0].layers - 1)
        classes = cfg.net[0].layer[classifier_last].outputs
        # the classifier's argmax: the first of equal codes wins
        best, best_code = Const(0, range(c.banks)), last[0]
        for e in range(1, c.banks):
            take = (e < classes) & (last[e] > best_code)
            best, best_code = Mux(take, e, best), Mux(take, last[e], best_code)
        choice = Signal(range(c.banks))
        m.d.comb += choice.eq(best)
        approximated = Signal()
        approximator = Signal(range(max(2, c.banks - 1)))
        m.d.comb += [approximated.eq(Mux(routed, net == 1, last[cfg.outputs] > 0)),
                     approximator.eq(Mux(routed, bank - 1, 0))]

        def advance():
            m.d.sync += address.eq(address + 1)
            with m.If(last_step):
                m.d.sync += step.eq(0)
                with m.If(last_group):
                    m.d.sync += group.eq(0)
                    m.next = "GAP"
                with m.Else():
                    m.d.sync += group.eq(group + 1)
            with m.Else():
                m.d.sync += step.eq(step + 1)

        def restart(to_bank):
            m.d.sync += [layer.eq(0), address.eq(0), bank.eq(to_bank), base.eq(Array(
                Const(b * c.bank_words, range(c.words)) for b in range(c.banks))[to_bank])]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += issue.eq(programmed & halves.can_compute)
                with m.If(issue):
                    m.next = "ISSUE"
                    advance()
            with m.State("ISSUE"):
                m.d.comb += issue.eq(1)
                advance()
            with m.State("GAP"):
                m.d.sync += gap.eq(gap + 1)
                with m.If(gap == LAYER_GAP - 1):
                    m.d.sync += gap.eq(0)
                    with m.If(last_layer):
                        m.next = "END"
                    with m.Else():
                        m.d.sync += layer.eq(layer + 1)
                        m.next = "ISSUE"
            with m.State("END"):
                with m.If(routed & (net == 0) & (choice != classes - 1)):   # the swap
                    m.d.sync += net.eq(1)
                    restart(choice + 1)
                    m.next = "ISSUE"
                with m.Elif(~full_blocks):
                    m.d.comb += emit.eq(1)
                    m.d.sync += net.eq(0)
                    restart(0)
                    m.next = "IDLE"
        return emit, approximated, approximator

    def _output(self, m, cfg, layers, net, emit, approximated, approximator, full_blocks):
        """The output register: on ``emit`` the outputs (0 where not approximated or past the
        approximated outputs), sent ``out_lanes`` a beat; drives ``full_blocks`` (full, its last beat not
        leaving this cycle). Returns whether it is full."""
        c = self.config
        beats = -(-c.max_width // c.out_lanes)
        held = [Signal(signed(c.act_bits), name=f"out{e}") for e in range(beats * c.out_lanes)]
        flags = Signal(1 + len(self.result.payload.approximator))
        last = last_layer_buffer(cfg.net[net], layers)
        full, send = Signal(), Signal()
        m.d.comb += send.eq(self.result.valid & self.result.ready)
        (beat,), (last_beat,) = loop_nest(m, send, [cfg.result_beats], ["result_beat"])
        freed = send & last_beat
        m.d.comb += [full_blocks.eq(full & ~freed), self.result.valid.eq(full),
                     self.result.payload.approximated.eq(flags[0]),
                     self.result.payload.approximator.eq(flags[1:])]
        for j in range(c.out_lanes):
            m.d.comb += self.result.payload.output[j].eq(Array(held[b * c.out_lanes + j] for b in range(beats))[beat])
        with m.If(freed):
            m.d.sync += full.eq(0)
        with m.If(emit):
            m.d.sync += [full.eq(1), flags.eq(Cat(approximated, approximator))]
            m.d.sync += [held[e].eq(Mux(approximated & (e < cfg.outputs), last[e] if e < c.max_width else 0, 0))
                         for e in range(len(held))]
        return full
