"""Host side of the NPU: a program's weight words and configuration, its inputs' beats, the cycle model.

A program (``golden.npu.Program``) is one segment: its configuration word, every weight word of
every bank (one ``w`` beat per address, a word per PE), every input vector, and
``result_beats`` result beats per input. Bank b starts at address b x ``bank_words``; a
network's words follow its steps: per layer, per group of ``pes`` neurons, per step (one per
input, then the bias), PE p holds the weight of neuron group x pes + p (0 past the layer's
neurons). The cycle model needs the networks' shapes and each input's route: ``NpuWork``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparseloom.golden.npu import Mlp, Program
from sparseloom.sim.bits import layout_fields, unpack
from sparseloom.sim.plan import Segment, struct_word, words

from ..unit import GemmShape
from .config import ACTIVATION_CODES, EMIT_CYCLES, LAYER_GAP, ROUTING_CODES, SWAP_CYCLES, NpuConfig


@dataclass(frozen=True)
class NetShape:
    """A network as the sequencer sees it: its layers' (inputs, outputs)."""

    layers: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, mlp: Mlp) -> "NetShape":
        t = mlp.topology
        return cls(tuple(zip(t, t[1:])))

    def steps(self, pes: int) -> int:
        """Steps of one pass: per layer, ceil(outputs / pes) groups of inputs + 1 steps."""
        return sum(-(-o // pes) * (i + 1) for i, o in self.layers)

    def pass_cycles(self, pes: int) -> int:
        """Cycles of one pass: its steps, and the gap after each layer (its last neurons written)."""
        return self.steps(pes) + len(self.layers) * LAYER_GAP

    def macs(self) -> int:
        return sum(i * o for i, o in self.layers)


@dataclass(frozen=True)
class NpuWork:
    """What the cycle model needs of a run: routing, bank 0's network and the approximators',
    the weight, act and result beats, and each input's route (-1: the exact function)."""

    routing: str
    first: NetShape
    approximator: NetShape | None
    weight_beats: int
    act_beats: int
    result_beats: int
    routes: tuple[int, ...]

    def input_cycles(self, route: int, pes: int) -> int:
        """Cycles an input holds the sequencer, first step to emit: the classifier's pass and, if
        it is approximated, the swap (in the classifier's END cycle) and the approximator's pass."""
        cycles = self.first.pass_cycles(pes) + EMIT_CYCLES
        if self.routing == "routed" and route >= 0:
            cycles += SWAP_CYCLES + self.approximator.pass_cycles(pes)
        return cycles


@dataclass(frozen=True)
class NpuRun:
    """The exact stall-free timing of a program's run (what ``Unit.tile_runs`` gives for the NPU)."""

    work: NpuWork
    pes: int

    def cycles(self) -> int:
        """Cycles from the first ``w``/``act`` beat to the last result beat. Weights load from
        cycle 0, one beat a cycle; an input's ``act_beats`` follow the previous input's and wait
        for a free half (freed as the input two back emits); an input's first step waits for the
        weights, its input and the previous input's emit; its emit waits for the previous
        outputs' last beat (they leave one a cycle after their emit)."""
        w = self.work
        r = w.result_beats
        emits = [None, None]          # emit cycles of the two inputs before
        load_end = -1
        for route in w.routes:
            half_free = emits[0] + 1 if emits[0] is not None else 0
            load_end = max(load_end + 1, half_free) + w.act_beats - 1
            start = max(load_end + 1, w.weight_beats, emits[1] + 1 if emits[1] is not None else 0)
            emit = start + w.input_cycles(route, self.pes) - 1
            if emits[1] is not None:
                emit = max(emit, emits[1] + r)
            emits = [emits[1], emit]
        return emits[1] + r + 1


def check_program(config: NpuConfig, program: Program) -> None:
    """Refuse a program this NPU cannot hold, naming the parameter and what it allows."""
    c = config
    if not isinstance(program, Program):
        raise TypeError(f"the NPU runs a golden.npu.Program, got {type(program).__name__}")
    first = program.banks[0]
    if (first.weight, first.act) != (c.weight, c.act):
        raise ValueError(f"the program's formats (weight {first.weight}, act {first.act}) must be {c.name}'s: "
                         f"weight Fixed({c.weight_bits}, {c.weight_frac}), act Fixed({c.act_bits}, {c.act_frac})")
    if len(program.banks) > c.banks:
        raise ValueError(f"the program needs {len(program.banks)} banks ({program.approximators} approximators "
                         f"and the classifier); {c.name} has banks={c.banks} (at most {c.banks - 1} approximators)")
    for b, mlp in enumerate(program.banks):
        name = f"banks[{b}] ({'-'.join(map(str, mlp.topology))})"
        if len(mlp.layers) > c.max_layers:
            raise ValueError(f"{name} has {len(mlp.layers)} layers; {c.name} allows max_layers={c.max_layers}")
        if max(mlp.topology) > c.max_width:
            raise ValueError(f"{name} has a layer of {max(mlp.topology)} neurons; {c.name} allows "
                             f"max_width={c.max_width}")
        need = NetShape.of(mlp).steps(c.pes)
        if need > c.bank_words:
            raise ValueError(f"{name} needs {need} weight words per PE; {c.name} has bank_words={c.bank_words}")


def bank_words(config: NpuConfig, mlp: Mlp) -> np.ndarray:
    """A network's words in step order: (steps, pes) int64."""
    rows = []
    for layer in mlp.layers:
        w, b = np.asarray(layer.weights, np.int64), np.asarray(layer.bias, np.int64)
        outputs, inputs = w.shape
        groups = -(-outputs // config.pes)
        padded = np.zeros((groups * config.pes, inputs + 1), np.int64)
        padded[:outputs, :inputs], padded[:outputs, inputs] = w, b
        # group g, step s, PE p: padded[g * pes + p, s]
        rows.append(padded.reshape(groups, config.pes, inputs + 1).transpose(0, 2, 1).reshape(-1, config.pes))
    return np.concatenate(rows)


def net_fields(config: NpuConfig, prefix: str, mlp: Mlp | None) -> dict:
    fields = {f"{prefix}.layers": len(mlp.layers) if mlp else 0}
    for l in range(config.max_layers):
        layer = mlp.layers[l] if mlp and l < len(mlp.layers) else None
        outputs = layer.weights.shape[0] if layer is not None else 0
        fields.update({f"{prefix}.layer.{l}.outputs": outputs,
                       f"{prefix}.layer.{l}.groups": -(-outputs // config.pes),
                       f"{prefix}.layer.{l}.activation": ACTIVATION_CODES[layer.activation] if layer is not None else 0})
    return fields


@dataclass
class NpuPlan:
    config: NpuConfig
    shape: GemmShape          # m: outputs of an approximation, n: inputs run, k: codes an input
    encoding: NpuWork
    program: Program
    x: np.ndarray             # int64 (N, act_beats * act_lanes): the input codes, zero padded
    weights: dict             # {"address": (beats,), "word": (beats, pes)}
    report: dict

    @property
    def padding(self) -> dict[str, int]:
        return {}

    def segments(self) -> list[Segment]:
        c, w = self.config, self.encoding
        header = {"routing": ROUTING_CODES[w.routing], "inputs": self.shape.k, "act_beats": w.act_beats,
                  "outputs": self.shape.m, "result_beats": w.result_beats, "weight_beats": w.weight_beats,
                  **net_fields(c, "net.0", self.program.banks[0]),
                  **net_fields(c, "net.1", self.program.banks[1] if w.routing == "routed" else None)}
        acts = words(c.act_layout, self.x.reshape(-1, c.act_lanes))
        return [Segment(struct_word(c.cfg_layout, header), {"w": words(c.weight_layout, self.weights), "act": acts},
                        self.shape.n * w.result_beats)]

    def assemble(self, segment_results: list[list[int]]) -> np.ndarray:
        """(N, 1 + outputs) int32: the route (the approximator, -1 for the exact function), then
        the output codes, from the result beats."""
        c, (m, n, _) = self.config, self.shape
        (result,) = segment_results
        r = self.encoding.result_beats
        if len(result) != n * r:
            raise ValueError(f"expected {n * r} result beats, got {len(result)}")
        vals = unpack(layout_fields(c.result_layout), result)
        route = np.where(vals["approximated"] == 1, vals["approximator"], -1).reshape(n, r)
        outputs = np.stack([vals[f"output.{j}"] for j in range(c.out_lanes)], axis=1).reshape(n, r * c.out_lanes)
        if (route != route[:, :1]).any():
            raise ValueError("an input's result beats disagree on its route")
        padding = outputs[:, m:]
        if padding.any():
            raise ValueError(f"result beats carry non-zero codes past the {m} outputs")
        return np.column_stack([route[:, 0], outputs[:, :m]]).astype(np.int32)

    def golden(self, program: Program, x: np.ndarray) -> np.ndarray:
        """What the NPU must return: ``Program.run`` of the golden fixed-point model."""
        route, outputs = program.run(x)
        return np.column_stack([route, outputs]).astype(np.int32)

    def utilization(self, cycles: int) -> float:
        """MACs of the networks run / (pes x cycles)."""
        return self.report["useful_macs"] / (self.config.pes * cycles) if cycles else 0.0

    def cycle_report(self, cycles: int) -> dict:
        return {"cycles_per_input": cycles / self.shape.n}


def plan_npu(config: NpuConfig, setting, program: Program, x, mapping=None) -> NpuPlan:
    """Everything the streams carry to run ``program`` on input codes ``x`` (N x inputs); validates
    first. The NPU has no run-time setting and takes no mapping."""
    c = config
    if setting is not None:
        raise ValueError(f"the npu unit takes no setting, got {setting!r}")
    if mapping is not None:
        raise ValueError(f"the npu unit takes no mapping ({c.name}): its sequencer runs each network's layers "
                         f"in order, a group of {c.pes} neurons at a time")
    check_program(c, program)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != program.inputs or not len(x):
        raise ValueError(f"inputs must be (N, {program.inputs}) codes with N >= 1, got shape {x.shape}")
    route, _ = program.run(x)     # validates the codes against the act format
    act_beats = -(-program.inputs // c.act_lanes)
    result_beats = -(-program.outputs // c.out_lanes)
    per_bank = [bank_words(c, mlp) for mlp in program.banks]
    address = np.concatenate([b * c.bank_words + np.arange(len(words_)) for b, words_ in enumerate(per_bank)])
    work = NpuWork(program.routing, NetShape.of(program.banks[0]),
                   NetShape.of(program.banks[1]) if program.routing == "routed" else None,
                   len(address), act_beats, result_beats, tuple(int(r) for r in route))
    xp = np.zeros((len(x), act_beats * c.act_lanes), np.int64)
    xp[:, :program.inputs] = x
    macs = [work.first.macs() + (work.approximator.macs() if work.routing == "routed" and r >= 0 else 0)
            for r in route]
    report = {"routing": program.routing, "approximators": program.approximators,
              "topologies": ["-".join(map(str, mlp.topology)) for mlp in program.banks],
              "invocation": float((route >= 0).mean()), "weight_beats": work.weight_beats,
              "useful_macs": int(sum(macs)),
              "input_cycles": {"approximated": work.input_cycles(0, c.pes),
                               **({"exact": work.input_cycles(-1, c.pes)} if program.routing == "routed" else {})}}
    return NpuPlan(c, GemmShape(program.outputs, len(x), program.inputs), work, program, xp,
                   {"address": address, "word": np.concatenate(per_bank)}, report)
