"""Unit record of the NPU (neural approximate computing: a classifier routing inputs to approximators)."""
from __future__ import annotations

from ..unit import Bench, GemmShape, Operands, Unit, Workload
from .config import PRESETS, NpuConfig
from .core import NpuCore
from . import program_file
from .plan import NetShape, NpuRun, NpuWork, plan_npu

#: The reference run of the FPGA table: 64 inputs, 3 in 4 approximated, by approximators in turn.
REFERENCE_INPUTS = 64


def npu_runs(config: NpuConfig, shape: GemmShape, encoding: NpuWork, mapping=None) -> list[NpuRun]:
    """The run's exact stall-free timing (``NpuRun``), from the networks' shapes and the routes alone."""
    if mapping is not None:
        raise ValueError("the npu unit takes no mapping")
    if not isinstance(encoding, NpuWork):
        raise TypeError(f"the npu unit's cycle model takes an NpuWork (a plan's encoding), got "
                        f"{type(encoding).__name__}")
    return [NpuRun(encoding, config.pes)]


def reference_work(config: NpuConfig) -> tuple[GemmShape, NpuWork, int]:
    """A routed program of the widest AxBench-like networks the preset holds (jmeint's 18-32-8-2 on
    npu_default, sobel's 9-8-1 on a narrow one) with two approximators; its shape, work and MACs."""
    topology = (18, 32, 8, 2) if config.max_width >= 32 and config.max_layers >= 3 else (9, 8, 1)
    approximators = min(2, config.banks - 1)
    classifier = NetShape(tuple(zip(topology, (*topology[1:-1], approximators + 1))))
    approximator = NetShape(tuple(zip(topology, topology[1:])))
    routes = tuple(-1 if i % 4 == 3 else i % approximators for i in range(REFERENCE_INPUTS))
    words = (classifier.steps(config.pes) + approximators * approximator.steps(config.pes))
    work = NpuWork("routed", classifier, approximator, words, -(-topology[0] // config.act_lanes),
                   -(-topology[-1] // config.out_lanes), routes)
    macs = sum(classifier.macs() + (approximator.macs() if r >= 0 else 0) for r in routes)
    return GemmShape(topology[-1], REFERENCE_INPUTS, topology[0]), work, macs


def npu_workloads(config: NpuConfig) -> list[Workload]:
    shape, work, macs = reference_work(config)
    return [Workload("routed", shape, work, f"{shape.k}-input networks, 2 approximators, 3 in 4 inputs "
                                            f"approximated", macs=macs)]


NPU = Unit(
    name="npu", summary="neural-approximation NPU: fixed-point MLPs, K approximators in banks, one-cycle swap",
    config_class=NpuConfig, presets=PRESETS, default_preset="npu_default",
    component=NpuCore, plan=plan_npu, tile_runs=npu_runs,
    peak_macs_per_cycle=lambda c, _: c.pes,
    workloads=npu_workloads,
    bench=Bench("sparseloom.testbenches.npu_tb", configs=tuple(PRESETS.values())),
    ice40_presets=("npu_small",),
    operands=Operands("--program", "the program: .npz of its banks' networks and routing (gen/npu/program_file.py)",
                      program_file.load, "input codes of the act format: integer .npy, N x inputs",
                      "int32 .npy, N x (1 + outputs): the route (the approximator, -1 for the exact function), "
                      "then the output codes"),
)
