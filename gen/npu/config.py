"""Typed configuration of the NPU: a fixed-point MLP engine for the small networks of neural
approximate computing, its approximators and their classifier held in weight banks.

``pes`` PEs each compute one neuron at a time (a multiply-accumulate a cycle, the layer's input
broadcast to all of them); a layer of O neurons runs in ceil(O / pes) groups, a group taking one
step per input plus one for the bias. Each PE has a weight buffer of ``banks`` banks of
``bank_words`` words; a bank holds one network (the classifier, an approximator, or AXNet's fused
network). Activations live in two layer buffers of ``max_width`` codes, the input vector in a
double-buffered input buffer of as many. The arithmetic is ``golden.npu``'s, in the ``weight``
and ``act`` fixed-point formats.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from sparseloom.golden.npu import Fixed
from sparseloom.golden.reference import signed_width

from ..config_base import Config, check_name, field_bits, int_in

#: Activation functions and their codes in the configuration register.
ACTIVATION_CODES = {"linear": 0, "relu": 1, "sigmoid": 2}
#: Routings and their codes in the configuration register (``golden.npu.Program``).
ROUTING_CODES = {"routed": 0, "fused": 1}
#: The networks a configuration describes: net 0 in bank 0 (classifier or fused network), net 1
#: in banks 1..K (the approximators, one topology).
NETS = 2
#: Cycles between a layer's last step and the next layer's first: its last products are added,
#: rounded and saturated, then its last neurons written (the next layer reads them).
LAYER_GAP = 3
#: The one-cycle swap: the cycle after the classifier's last layer is written, in which its
#: argmax loads the bank register; the chosen approximator's first step follows it.
SWAP_CYCLES = 1
#: The cycle after a network's last layer is written in which the outputs go to the output
#: register (or the classifier's argmax sends the input to the exact function).
EMIT_CYCLES = 1


@dataclass(frozen=True)
class NpuConfig(Config):
    """PEs, widest layer, layers per network, weight banks and their depth, the two fixed-point
    formats, and the inputs an ``act`` beat and the outputs a ``result`` beat carry."""

    name: str
    pes: int
    max_width: int
    max_layers: int
    banks: int
    bank_words: int
    weight_bits: int = 16
    weight_frac: int = 10
    act_bits: int = 16
    act_frac: int = 10
    act_lanes: int = 8
    out_lanes: int = 8

    def __post_init__(self):
        check_name(self.name)
        int_in("pes", self.pes, 1, 64)
        int_in("max_width", self.max_width, 2, 256)
        int_in("max_layers", self.max_layers, 1, 8)
        int_in("banks", self.banks, 2, 16)
        int_in("bank_words", self.bank_words, 2, 4096)
        int_in("weight_bits", self.weight_bits, 2, 24)
        int_in("weight_frac", self.weight_frac, 1, self.weight_bits - 1)
        int_in("act_bits", self.act_bits, 2, 24)
        int_in("act_frac", self.act_frac, 0, self.act_bits - 1)
        int_in("act_lanes", self.act_lanes, 1, self.max_width)
        int_in("out_lanes", self.out_lanes, 1, self.max_width)
        if self.banks > self.max_width:
            raise ValueError(f"banks={self.banks} needs a classifier of as many outputs: banks must be in "
                             f"2..max_width={self.max_width}")

    @property
    def weight(self) -> Fixed:
        return Fixed(self.weight_bits, self.weight_frac)

    @property
    def act(self) -> Fixed:
        return Fixed(self.act_bits, self.act_frac)

    @property
    def sigmoid(self) -> bool:
        """Whether the activation unit has PLAN's sigmoid (it needs act_frac >= 5 and 1.0 representable)."""
        return self.act_frac >= 5 and self.act.hi >= 1 << self.act_frac

    @property
    def acc_width(self) -> int:
        """Signed width of a PE's accumulator: ``max_width`` products of the largest magnitudes and
        the bias (a weight code times 2^act_frac) never overflow it."""
        product = (1 << (self.weight_bits - 1)) * (1 << (self.act_bits - 1))
        return signed_width(self.max_width * product + (1 << (self.weight_bits - 1)) * (1 << self.act_frac))

    @property
    def max_groups(self) -> int:
        return -(-self.max_width // self.pes)

    @property
    def words(self) -> int:
        """Weight words of a PE's buffer: every bank."""
        return self.banks * self.bank_words

    # ----- layouts --------------------------------------------------------------------
    @property
    def layer_layout(self) -> data.StructLayout:
        """One layer of a network: its neurons, its groups (ceil(outputs / pes)) and activation."""
        return data.StructLayout({"outputs": unsigned(field_bits(self.max_width)),
                                  "groups": unsigned(field_bits(self.max_groups)),
                                  "activation": unsigned(2)})

    @property
    def cfg_layout(self) -> data.StructLayout:
        """Per program: the routing, the inputs of every network and the act beats that carry them,
        the approximated outputs and the result beats that carry them, the weight beats to load, and
        per network (0: bank 0's, 1: the approximators') its layers."""
        return data.StructLayout({
            "routing": unsigned(1),
            "inputs": unsigned(field_bits(self.max_width)),
            "act_beats": unsigned(field_bits(-(-self.max_width // self.act_lanes))),
            "outputs": unsigned(field_bits(self.max_width)),
            "result_beats": unsigned(field_bits(-(-self.max_width // self.out_lanes))),
            "weight_beats": unsigned(field_bits(self.words)),
            "net": data.ArrayLayout(data.StructLayout({
                "layers": unsigned(field_bits(self.max_layers)),
                "layer": data.ArrayLayout(self.layer_layout, self.max_layers),
            }), NETS),
        })

    @property
    def weight_layout(self) -> data.StructLayout:
        """One ``w`` beat: a word address of every PE's buffer and the word [p] of each PE."""
        return data.StructLayout({"address": unsigned(field_bits(self.words - 1)),
                                  "word": data.ArrayLayout(signed(self.weight_bits), self.pes)})

    @property
    def act_layout(self) -> data.ArrayLayout:
        """Element [i] = input code x[beat * act_lanes + i] of the current input vector."""
        return data.ArrayLayout(signed(self.act_bits), self.act_lanes)

    @property
    def result_layout(self) -> data.StructLayout:
        """One beat of an input's result: whether it was approximated and by which approximator,
        and output codes [j] = y[beat * out_lanes + j] (0 where not approximated or past the outputs)."""
        return data.StructLayout({"approximated": unsigned(1),
                                  "approximator": unsigned(field_bits(self.banks - 2)),
                                  "output": data.ArrayLayout(signed(self.act_bits), self.out_lanes)})

    def derived(self) -> dict:
        return {
            "weight_format": {"bits": self.weight_bits, "frac": self.weight_frac},
            "act_format": {"bits": self.act_bits, "frac": self.act_frac},
            "approximators_max": self.banks - 1,
            "weight_words_per_pe": self.words,
            "weight_bits_total": self.words * self.pes * self.weight_bits,
            "activations": [a for a in ACTIVATION_CODES if a != "sigmoid" or self.sigmoid],
            "accumulator": {"width": self.acc_width,
                            "rounding": "one per layer: acc >> weight_frac, half up (arithmetic shift of "
                                        "acc + 2^(weight_frac-1)); then saturation to the act format",
                            "sigmoid": "PLAN, shifts truncating (golden.npu.plan_sigmoid)"},
            "timing": {"layer_gap": LAYER_GAP, "swap_cycles": SWAP_CYCLES, "emit_cycles": EMIT_CYCLES},
        }


PRESETS = {c.name: c for c in [
    # Narrow formats that saturate, 3 input lanes a beat, one output a result beat (so many
    # outputs outlast a short network and the output register stalls it).
    NpuConfig("npu_small", pes=4, max_width=12, max_layers=3, banks=3, bank_words=64,
              weight_bits=8, weight_frac=4, act_bits=9, act_frac=5, act_lanes=3, out_lanes=1),
    # AxBench's networks (up to 64 wide, 3 layers), K <= 8 approximators, Q5.10 throughout.
    NpuConfig("npu_default", pes=8, max_width=64, max_layers=3, banks=9, bank_words=512),
]}
