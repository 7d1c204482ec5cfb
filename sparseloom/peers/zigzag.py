"""ZigZag (``zigzag-dse``, KU Leuven's analytical DSE framework) on the dense baseline array.

``inputs(config, shape)`` translates one GEMM on a ``dense`` configuration into ZigZag's three
inputs, as the data of its YAML files: the workload (one Gemm layer: the padded GEMM the array
runs), the accelerator and the mapping. Every number comes from what our analytical model sees:
``DENSE.model`` (the workload and the planner's mapping), ``DENSE.architecture`` (levels,
capacities, word widths, energies) and ``DENSE.traffic`` (the host's streams):

* the operational array is the mapping's spatial factors, outermost first: D1 = M (PE rows),
  D2 = N (PE columns), D3 = K (the lanes of a PE); the multiply-add energy is our compute's;
* each level is a memory serving the array dimensions unrolled at and below it. The host, one
  unbounded level in our model, is one memory per stream (act, w, result), its ports one beat a
  cycle wide as the RTL's streams are; other ports move one compute step's words a cycle. Each
  memory's access energy is our energy per bit times its port width;
* the buffer is both halves of the double buffer: ZigZag lets a memory refill while computing
  only where a tile fills at most half of it (and it is marked ``force_double_buffering``, so
  that ZigZag's own mappers, ``sparseloom.peers.zigzag_search``, give a refilled tile one half);
* the temporal loops are our mapping's, innermost first, and each loop is pinned, per operand,
  to the memory of the level our mapping puts it at (or the nearest one above that keeps the
  operand).

``evaluate`` runs ZigZag's cost model (``CostModelEvaluation``) on them and times that alone.

What ZigZag cannot express, and so where its cycles differ from the RTL's:

* its mapping files give only the loop order, and its memory allocator then fills each memory
  greedily by bits: it would keep all of X in the buffer wherever X fits in bits (MiniLM q/k/v/o:
  384 x 32 words against 1680 x 8 a half), a shape the buffer (``k_max`` deep, ``cols`` wide)
  cannot hold, and load all of it before the first MAC. So the cost model gets the temporal
  mapping our mapping pins instead;
* its latency is compute cycles, plus port stalls, plus the first load and the last write-back,
  from bandwidths alone. With the loads double-buffered it has the unoverlapped first load (one
  activation beat a cycle) and the stall-free compute right, but it has no pipeline: the RTL's
  last result leaves ``RESULT_LATENCY`` cycles after the last step, ZigZag's one cycle after
  (its write-back), so it is ``RESULT_LATENCY - 1`` cycles short of the RTL;
* accumulators that flush (each tile's sums start from zero and the host adds the K tiles) are
  beyond it: with more than one K tile it reads the partial sums back down into them (the result
  memory has a port for that), which costs energy but, at one result beat a cycle, no cycles;
  with one K tile, as in every layer of ``bench/peers.py``, nothing is read back;
* no sparsity or skipping: this is the dense unit only.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sparseloom.gen.highlight.config import DenseConfig
from sparseloom.gen.highlight.unit import DENSE
from sparseloom.gen.tiles import BUFFER
from sparseloom.gen.unit import GemmShape
from sparseloom.model.mapping import LevelMapping, Mapping

from . import PeerMissing

#: our tensors -> (ZigZag's layer operand, the memory operand it is stored as)
OPERANDS = {"Weights": ("W", "I2"), "Inputs": ("I", "I1"), "Outputs": ("O", "O")}


@dataclass(frozen=True)
class ZigZagResult:
    """ZigZag's estimate of one GEMM: ``cycles`` = ``ideal_cycles`` + ``stall_cycles`` +
    ``onload_cycles`` + ``offload_cycles`` (its ``latency_total2``)."""

    macs: int
    cycles: float
    ideal_cycles: float       # MACs over the spatially unrolled MACs
    stall_cycles: float       # ports too slow for the compute (negative: slack)
    onload_cycles: float      # the first tiles loaded before the first MAC
    offload_cycles: float     # the last outputs written back after the last MAC
    energy_pj: float
    seconds: float            # wall time of the cost-model evaluation alone (inputs parsed before)


def inputs(config: DenseConfig, shape: GemmShape) -> dict:
    """ZigZag's ``workload``, ``accelerator`` and ``mapping`` for ``shape`` on ``config``, as the
    data of its YAML files."""
    return _translate(config, shape)[0]


def evaluate(config: DenseConfig, shape: GemmShape) -> ZigZagResult:
    """ZigZag's cost model on ``shape`` (M, N, K) on the dense array ``config``, with our mapping."""
    data, pinned = _translate(config, shape)
    zz = _zigzag()
    accelerator, layer, spatial, spatial_int = parsed(data)
    temporal = zz.TemporalMapping({zz.LayerOperand(op): [[(zz.LayerDim(d), f) for d, f in loops] for loops in levels]
                                   for op, levels in pinned.items()}, layer, zz.TemporalMappingType.UNEVEN)
    start = time.perf_counter()
    cme = zz.CostModelEvaluation(accelerator=accelerator, layer=layer, spatial_mapping=spatial,
                                 spatial_mapping_int=spatial_int, temporal_mapping=temporal)
    seconds = time.perf_counter() - start
    return ZigZagResult(layer.total_mac_count, cme.latency_total2, cme.ideal_temporal_cycle, cme.stall_slack_comb,
                        cme.data_onloading_cycle, cme.data_offloading_cycle, cme.energy_total, seconds)


def _zigzag():
    """ZigZag's classes this module uses, as attributes of one namespace (PeerMissing without it)."""
    try:
        from types import SimpleNamespace

        from zigzag.cost_model.cost_model import CostModelEvaluation
        from zigzag.datatypes import LayerDim, LayerOperand
        from zigzag.mapping.temporal_mapping import TemporalMapping, TemporalMappingType
        from zigzag.parser.accelerator_factory import AcceleratorFactory
        from zigzag.parser.accelerator_validator import AcceleratorValidator
        from zigzag.parser.mapping_validator import MappingValidator
        from zigzag.parser.workload_factory import WorkloadFactory
        from zigzag.parser.workload_validator import WorkloadValidator
        from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage
        from zigzag.stages.mapping.spatial_mapping_conversion import SpatialMappingConversionStage
    except ImportError as e:
        raise PeerMissing(f"ZigZag needs the peers extra: pip install '.[peers]' ({e})") from None
    return SimpleNamespace(**{c.__name__: c for c in (
        CostModelEvaluation, LayerDim, LayerOperand, TemporalMapping, TemporalMappingType, AcceleratorFactory,
        AcceleratorValidator, MappingValidator, WorkloadFactory, WorkloadValidator, CostModelStage,
        SpatialMappingConversionStage)})


def parsed(data: dict):
    """ZigZag's ``(accelerator, layer, spatial mapping, its integer version)`` of the inputs' data,
    as its pipeline has them before its temporal mappers run."""
    zz = _zigzag()
    accelerator = zz.AcceleratorFactory(
        _validated(zz.AcceleratorValidator, data["accelerator"], "accelerator")).create()
    workload = zz.WorkloadFactory(_validated(zz.WorkloadValidator, data["workload"], "workload"),
                                  _validated(zz.MappingValidator, data["mapping"], "mapping")).create()
    layer = next(iter(workload.topological_sort()))
    layer.spatial_mapping.initialize_oa_dims(accelerator.operational_array.dimension_sizes)
    # the conversion ZigZag's pipeline makes before its mappers (its next stage is never run here)
    spatial, spatial_int = zz.SpatialMappingConversionStage(
        [zz.CostModelStage], accelerator=accelerator, layer=layer).convert_user_spatial_mapping(layer.spatial_mapping)
    return accelerator, layer, spatial, spatial_int


def _translate(config: DenseConfig, shape: GemmShape) -> tuple[dict, dict]:
    """ZigZag's inputs, and per layer operand the temporal loops of each of its memories
    (innermost memory first, each memory's loops innermost first)."""
    if not isinstance(config, DenseConfig):
        raise TypeError(f"ZigZag runs the dense unit only: a DenseConfig, got {type(config).__name__}")
    workload, mapping, _ = DENSE.model(config, GemmShape(*shape), None)
    arch = DENSE.architecture(config)
    n = len(arch.levels)
    data = translate_problem(config, workload, {lv.name: mapping.at(lv.name).spatial for lv in arch.levels})
    keepers = _keepers(workload, arch)
    loops = [(i, d, f) for i in reversed(range(n)) for d, f in mapping.at(arch.levels[i].name).loops(workload.dims)]
    pinned = {}
    for t in workload.tensors:
        chain = keepers[t.name][::-1]   # innermost first
        pinned[OPERANDS[t.name][0]] = [[(d, f) for i, d, f in loops if _holder(keepers[t.name], i) == j] for j in chain]
    data["mapping"][0]["temporal_ordering"] = [[d, f] for _, d, f in loops]
    return data, pinned


def translate_problem(config: DenseConfig, workload, spatial: dict[str, dict[str, int]]) -> dict:
    """ZigZag's ``workload``, ``accelerator`` and (spatial only) ``mapping`` data for a GEMM
    ``workload`` (our einsum, already padded to what the array runs) on ``config``'s array, each
    level of ``DENSE.architecture(config)`` unrolling ``spatial[level]`` below it."""
    if not isinstance(config, DenseConfig):
        raise TypeError(f"ZigZag runs the dense unit only: a DenseConfig, got {type(config).__name__}")
    arch = DENSE.architecture(config)
    n = len(arch.levels)
    spatial_at = [list(spatial.get(lv.name, {}).items()) for lv in arch.levels]
    flat = [loop for loops in spatial_at for loop in loops]   # outermost first
    oa_dims = [f"D{i + 1}" for i in range(len(flat))]
    # the array dimensions unrolled at and below each level
    first_dim = [sum(len(loops) for loops in spatial_at[:i]) for i in range(n)]
    streams = {(level, tensor): (stream, words) for stream, (level, tensor, _, words) in DENSE.traffic(config).items()}
    kept = _kept(workload, arch)
    keepers = _keepers(workload, arch)

    memories = {}   # innermost first, as ZigZag stacks them
    for i, lv in reversed(list(enumerate(arch.levels))):
        on_streams = [t for t in kept[i] if (lv.name, t) in streams]
        if len(kept[i]) - len(on_streams) > 1:
            raise ValueError(f"{lv.name} keeps {kept[i]} off separate streams: one ZigZag memory would share its "
                             f"ports between them")
        for name in kept[i]:
            t = workload.tensor(name)
            _, mem_op = OPERANDS[name]
            if name in on_streams:
                stream, words = streams[lv.name, name]
                memory = f"{lv.name}_{stream}"
            else:
                memory, words = lv.name, math.prod(f for d, f in flat[first_dim[i]:] if d in t.dims)
            bits = words * t.bits
            # a level filled from a stream above takes one beat of it a cycle (the loader's write port)
            fill = [w for (level, tensor), (_, w) in streams.items() if tensor == name and level != lv.name]
            fill_bits = fill[0] * t.bits if fill else bits
            size = (workload.tile(t, workload.dims) * t.bits if lv.capacity is None
                    else lv.capacity * lv.word_bits * (2 if lv.name == BUFFER else 1))
            memories[memory] = {
                "size": size, "latency": 1, "area": 0.0, "operands": [mem_op],
                "r_cost": lv.energy.get("read", 0.0) / lv.word_bits * bits,
                "w_cost": lv.energy.get("update" if t.output else "write", 0.0) / lv.word_bits
                * (bits if t.output else fill_bits),   # an input's writes all come from above
                "ports": _ports(mem_op, t.output, top=keepers[name][0] == i, bits=bits, fill_bits=fill_bits),
                "served_dimensions": oa_dims[first_dim[i]:],
                # a search's memory allocator then gives a tile at most one half (our capacity), as the
                # cost model double-buffers only a tile that fills at most half of it
                **({"force_double_buffering": True} if lv.name == BUFFER else {})}
    precision = {OPERANDS[t.name][0]: t.bits for t in workload.tensors}
    return {
        "workload": [{"id": 0, "name": workload.name, "operator_type": "Gemm", "equation": _equation(workload),
                      "loop_dims": list(workload.dims), "loop_sizes": list(workload.dims.values()),
                      "operand_precision": {**precision, "O_final": precision["O"]}}],
        "accelerator": {"name": arch.name, "memories": memories, "operational_array": {
            "input_precision": [precision["I"], precision["W"]], "unit_energy": arch.compute.energy,
            "unit_area": 1.0, "dimensions": oa_dims, "sizes": [f for _, f in flat]}},
        "mapping": [{"name": "default", "spatial_mapping": {a: [f"{d}, {f}"] for a, (d, f) in zip(oa_dims, flat)},
                     "memory_operand_links": {op: mem_op for op, mem_op in OPERANDS.values()}}],
    }


def _kept(workload, arch) -> list[list[str]]:
    """The tensors each level keeps (every tensor it may hold: no bypass), outermost level first."""
    everything = Mapping(tuple(LevelMapping(lv.name) for lv in arch.levels))
    return [[t.name for t in everything.kept(workload, arch, i)] for i in range(len(arch.levels))]


def _keepers(workload, arch) -> dict[str, list[int]]:
    """Per tensor, the levels that keep it, outermost first."""
    kept = _kept(workload, arch)
    return {t.name: [i for i in range(len(arch.levels)) if t.name in kept[i]] for t in workload.tensors}


def _holder(keepers: list[int], level: int) -> int:
    """The level whose memory runs a loop of ``level`` for a tensor: the nearest keeper at or above it."""
    return max(k for k in keepers if k <= level)


def _ports(mem_op: str, output: bool, top: bool, bits: int, fill_bits: int) -> list[dict]:
    """One port per direction (ZigZag's tl/th: read to the level below/above, fl/fh: written from
    below/above), each ``bits`` a cycle, the fill from above ``fill_bits``: our levels have no port
    limits beyond their widths."""
    directions = ["tl"] + ([] if top else ["fh"]) + ((["fl"] + ([] if top else ["th"])) if output else [])
    return [{"name": f"{'r' if d[0] == 't' else 'w'}_port_{k + 1}", "type": "read" if d[0] == "t" else "write",
             "bandwidth_min": fill_bits if d == "fh" else bits, "bandwidth_max": fill_bits if d == "fh" else bits,
             "allocation": [f"{mem_op}, {d}"]}
            for k, d in enumerate(directions)]


def _equation(workload) -> str:
    """``O[m][n]+=W[m][k]*I[k][n]`` from the tensors' ranks (one dimension each, as a GEMM's)."""
    def indices(t):
        if any(len(rank) != 1 or rank[0][0] != 1 for rank in t.ranks):
            raise ValueError(f"ZigZag's Gemm indexes each rank by one dimension; {t.name} has ranks {t.ranks}")
        return "".join(f"[{rank[0][1].lower()}]" for rank in t.ranks)
    by = {OPERANDS[t.name][0]: indices(t) for t in workload.tensors}
    return f"O{by['O']}+=W{by['W']}*I{by['I']}"


def _validated(validator_class, data, what: str):
    """ZigZag's normalised ``data``, or a ValueError with its validator's complaints."""
    validator = validator_class(data)
    normalized = validator.normalized_data
    if not validator.validate():
        raise ValueError(f"ZigZag refused the translated {what}: {validator.validator.errors}")
    return normalized

