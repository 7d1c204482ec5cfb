"""ZigZag's own temporal-mapping searches (LOMA and SALSA) on the dense array, beside our mappers
on the same map space.

``problem(config, workload_or_shape)`` is the search both sides run: a GEMM padded to whole
array tiles on ``DENSE.architecture(config)``, its spatial mapping the array's (rows x cols PEs
over M x N at the buffer, ``lanes`` multipliers over K in each PE: ``Problem.spatial``) and every
temporal choice free; ``Problem.space()`` is our ``MapSpace`` of it (the spatial factors
``Fixed``, every level's temporal factors and loop order free, no bypass), ``Problem.evaluator()``
our model on it (picklable, for ``pool.DaskPool``).

``search(config, workload_or_shape, engine)`` runs ZigZag on the same problem, translated as
``zigzag.translate_problem`` does (the same memories, ports, energies and spatial mapping as
``zigzag.evaluate`` gets), without a temporal mapping, so its engine finds one:

* ``"loma"``: ZigZag's loop-order-based memory allocation (``LomaEngine``): each temporal loop
  size split into its prime factors, the factors of the largest loop merged pairwise until at
  most ``lpf_limit`` are left (ZigZag's API defaults to 6), and every distinct ordering of them
  allocated bottom-up to the memories (``MemoryAllocator``: each memory takes the innermost loops
  that fit, those that minimise the accesses above where a memory holds several operands) and
  evaluated by its cost model; an ordering that does not fit is skipped. It is what
  ``zigzag.api.get_hardware_performance_zigzag(..., temporal_mapping_search_engine="loma",
  lpf_limit=...)`` runs for a layer whose spatial mapping is given; the best by ``objective``
  is kept, as its ``MinimalEDPStage`` (``opt="EDP"``) keeps it (the API, given these inputs as
  files, finds the same energy and latency on an 8 x 16 x 64 GEMM, with LOMA and with SALSA);
* ``"salsa"``: ZigZag's simulated annealing over the same orderings (``SalsaEngine``, the
  API's ``temporal_mapping_search_engine="salsa"``): every prime factor a loop (SALSA applies no
  lpf limit), a random first ordering, then ``iterations`` swaps of two loops, a worse ordering
  accepted with probability ``exp((current / next - 1) / T)``, ``T = 0.05 x 0.995^i``.
  ZigZag's SALSA minimises energy or latency (``latency_total0``) only; for ``objective="edp"``
  its states score energy x ``latency_total2`` (the same walk, another score). Its random
  choices come from Python's ``random`` and NumPy's global generator, seeded with ``seed`` here
  (and restored after); it runs in this process, not in ZigZag's worker processes.

``ZigZagSearch.evaluations`` is the number of temporal mappings ZigZag's cost model evaluated
(LOMA: the orderings that fitted; SALSA: its iterations plus its three initial states, one
ordering); ``orderings`` is LOMA's count of orderings generated (``LomaEngine.nb_permutations``,
fitting or not) and SALSA's iterations. ``seconds`` is the search's wall time, its inputs parsed
beforehand. ``mapping`` is ZigZag's best temporal mapping as our ``Mapping`` where our levels
can hold it (``to_mapping``), for ``analyse`` to re-evaluate.

What ZigZag cannot express here, or expresses differently:

* a workload other than a two-operand GEMM: its layers multiply two operands (W and I), so an
  MTTKRP (three operands) has no translation; a convolution runs as the GEMM the array runs
  (im2col, ``networks.gemm_shape``: M = output channels, K = C x R x S, N = pixels), where
  ZigZag's sliding windows would not be our array's; a depthwise convolution (no GEMM on the
  array) and attention's batched matmuls (two activations; our dense unit's Buffer keeps
  ``Inputs`` only) are refused;
* its memories are per operand: a loop can sit in the accumulators for the outputs while the
  inputs' buffer is refilled around it, which our strict hierarchy (the accumulators below the
  buffer) cannot say; such a best mapping has no ``mapping`` (``to_mapping`` says why), and
  likewise a level whose loops split one dimension around another (our levels have one loop per
  dimension);
* the buffer is one memory of both halves: the allocator doubles a tile that is refilled
  (``force_double_buffering``), so such a tile takes at most a half, our capacity; but a tile
  held for the whole run (no loop above it for the inputs) may fill both halves, where ours (and
  the RTL's) never exceeds one: such a best mapping has no ``mapping`` either;
* its mappings are loop orderings, each allocated greedily: a memory always takes as many of
  the innermost loops as fit, so of our map space it searches only the greedy splits; LOMA's
  lpf limit further merges the smallest prime factors of the largest loop;
* energy, on one loop nest (``from_mapping`` and ``evaluate_loops`` against ``analyse``; 60 random
  mappings of an 8 x 16 x 64 GEMM on dense_small measured ZigZag -81% .. +6% of ours, median
  -5%; on the searched optimum the two agree within 0.003%, the residue of ZigZag's counting in
  port words, as for ``zigzag.evaluate``):

  - our accumulators flush (``Level.flushes``, as the RTL's: each step of a loop above them starts
    a new sum, which is sent to the host, and the host adds it to what it holds), so a K loop put
    at the buffer level costs a host update (and a host read) per step; ZigZag makes an operand
    stationary below any loop irrelevant to it at the bottom of a level
    (``TemporalMapping.mapping_dic_stationary``), so the sums stay in the accumulators across it
    and it costs nothing (ZigZag up to 81% below ours);
  - with K tiles above the accumulators (a loop at the host), ours reads the host's partial sums
    back for every tile but the first (a first sum starts from zero, as Timeloop counts it), ZigZag
    reads them down for every tile (up to 6% above ours there);
* latency: ours is compute-bound (the architecture has no port limits: every mapping takes
  MACs / multipliers cycles, so our EDP ranks as our energy), ZigZag's adds port stalls, the
  first load and the last write-back (``latency_total2``), so its EDP also rewards mappings
  that load less before the first MAC.
"""
from __future__ import annotations

import contextlib
import functools
import math
import random
import time
from dataclasses import dataclass, field

import numpy as np

from sparseloom.gen.highlight.config import DenseConfig
from sparseloom.gen.highlight.unit import DENSE
from sparseloom.gen.tiles import ACCUMULATORS, BUFFER, HOST
from sparseloom.gen.unit import GemmShape
from sparseloom.model.analysis import analyse
from sparseloom.model.arch import Architecture
from sparseloom.model.mapping import LevelMapping, Mapping
from sparseloom.model.mapspace import Fixed, MapSpace
from sparseloom.model.workload import Workload

from . import PeerMissing
from .zigzag import OPERANDS, _keepers, parsed, translate_problem

ENGINES = ("loma", "salsa")
OBJECTIVES = ("edp", "energy", "latency")


@dataclass(frozen=True)
class Problem:
    """A GEMM on the dense array as both searches see it: the padded ``workload`` (element widths
    the array's), ``arch`` = ``DENSE.architecture(config)`` and per level the ``spatial``
    factors the array fixes."""
    config: DenseConfig
    workload: Workload
    arch: Architecture
    spatial: dict[str, dict[str, int]]

    @property
    def constraints(self) -> dict[str, Fixed]:
        """The spatial factors of every level fixed (those not named: 1), the rest free."""
        return {lv.name: Fixed(spatial={d: self.spatial.get(lv.name, {}).get(d, 1) for d in self.workload.dims})
                for i, lv in enumerate(self.arch.levels) if self.arch.fanout(i) > 1}

    def space(self, **kwargs) -> MapSpace:
        """Our map space of the problem: the array's spatial mapping, every temporal choice free."""
        return MapSpace(self.workload, self.arch, self.constraints, **kwargs)

    def evaluator(self):
        """Our model on a mapping of the problem (picklable)."""
        return functools.partial(analyse, self.workload, self.arch)


@dataclass(frozen=True)
class ZigZagSearch:
    """The best temporal mapping one of ZigZag's engines found, by ``objective``: its EDP
    (``energy_pj`` x ``cycles``, ZigZag's ``latency_total2``), and what the search took."""
    engine: str
    objective: str
    macs: int
    edp: float
    energy_pj: float
    cycles: float
    ideal_cycles: float
    evaluations: int          # temporal mappings the cost model evaluated
    orderings: int            # LOMA: orderings generated (fitting or not); SALSA: iterations
    lpfs: tuple               # the loop prime factors ordered, as (dimension, factor)
    seconds: float            # wall time of the search, inputs parsed before
    loops: dict               # ZigZag operand -> its memories innermost first -> loops innermost first
    mapping: Mapping | None   # the same as our mapping, where our levels can hold it
    mapping_note: str = ""  # why not; or what ``merge`` changed
    convergence: tuple = field(default=(), repr=False)   # (evaluations, best objective so far)


def problem(config: DenseConfig, workload_or_shape) -> Problem:
    """The problem of a GEMM (``GemmShape``, an (M, N, K) tuple or a GEMM ``Workload`` with dims
    M, N, K) or of a convolution (``Workload.conv2d``, as its im2col GEMM) on ``config``: M, N
    and K padded to whole rows, columns and lanes."""
    if not isinstance(config, DenseConfig):
        raise TypeError(f"ZigZag runs the dense unit only: a DenseConfig, got {type(config).__name__}")
    m, n, k = _gemm(workload_or_shape)
    up = lambda x, step: -(-x // step) * step   # noqa: E731
    m, n, k = up(m, config.rows), up(n, config.cols), up(k, config.lanes)
    workload = Workload.gemm(m, n, k, name=getattr(workload_or_shape, "name", "gemm")).with_bits(
        Weights=config.data_width, Inputs=config.data_width, Outputs=config.acc_width)
    spatial = {HOST: {}, BUFFER: {"M": config.rows, "N": config.cols}, ACCUMULATORS: {"K": config.lanes}}
    return Problem(config, workload, DENSE.architecture(config), spatial)


def _gemm(w) -> tuple[int, int, int]:
    """(M, N, K) of what the dense array runs for ``w``."""
    if isinstance(w, GemmShape):
        return w.m, w.n, w.k
    if isinstance(w, tuple | list) and len(w) == 3:
        return tuple(int(x) for x in w)
    if isinstance(w, Workload):
        names = {t.name for t in w.tensors}
        d = w.dims
        if set(d) == {"M", "N", "K"} and names == {"Weights", "Inputs", "Outputs"}:
            return d["M"], d["N"], d["K"]
        if set(d) == {"N", "K", "C", "P", "Q", "R", "S"}:   # a convolution, as its im2col GEMM
            return d["K"], d["N"] * d["P"] * d["Q"], d["C"] * d["R"] * d["S"]
        inputs = [t.name for t in w.tensors if not t.output]
        if len(inputs) != 2:
            raise ValueError(f"ZigZag's layers multiply two operands: {w.name} multiplies {len(inputs)} "
                             f"({', '.join(inputs)})")
        if set(d) == {"N", "C", "P", "Q", "R", "S"}:
            raise ValueError(f"{w.name} is a depthwise convolution: no GEMM of the dense array (one row per "
                             f"channel); ZigZag has depthwise layers, this translation only the array's GEMMs")
        raise ValueError(f"{w.name} (dims {', '.join(d)}; tensors {', '.join(sorted(names))}) is no GEMM of weights "
                         f"and activations, which the dense array runs (a batched matmul multiplies two activations)")
    raise TypeError(f"a GEMM shape (M, N, K) or a workload, got {type(w).__name__}")


def inputs(config: DenseConfig, workload_or_shape) -> dict:
    """ZigZag's inputs of the problem (no temporal ordering: the engine chooses it)."""
    p = problem(config, workload_or_shape)
    return translate_problem(config, p.workload, p.spatial)


def search(config: DenseConfig, workload_or_shape, engine: str = "loma", *, objective: str = "edp",
           lpf_limit: int = 6, iterations: int = 1000, start_temperature: float = 0.05,
           seed: int = 0, merge: bool = True) -> ZigZagSearch:
    """ZigZag's ``engine`` (``"loma"`` with ``lpf_limit``, or ``"salsa"`` with ``iterations`` and
    ``start_temperature``, seeded by ``seed``) on the problem of ``workload_or_shape``, its best
    temporal mapping by ``objective`` (edp, energy or latency: ZigZag's ``latency_total2``);
    ``merge`` as ``to_mapping``'s, for ``ZigZagSearch.mapping``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if not isinstance(lpf_limit, int) or lpf_limit < 1:
        raise ValueError(f"lpf_limit must be an integer >= 1, got {lpf_limit!r}")
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be an integer >= 1, got {iterations!r}")
    p = problem(config, workload_or_shape)
    run = _loma if engine == "loma" else _salsa
    with _quiet():
        accelerator, layer, spatial, spatial_int = parsed(translate_problem(config, p.workload, p.spatial))
        cme, evaluations, orderings, lpfs, seconds, convergence = run(
            accelerator, layer, spatial, spatial_int, objective, lpf_limit=lpf_limit, iterations=iterations,
            start_temperature=start_temperature, seed=seed)
    loops = {str(op): [[(str(d), int(f)) for d, f in level] for level in levels]
             for op, levels in cme.mapping.temporal_mapping.mapping_dic_origin.items()}
    mapping, why = to_mapping(p, loops, merge=merge)
    return ZigZagSearch(engine, objective, layer.total_mac_count, cme.energy_total * cme.latency_total2,
                        cme.energy_total, cme.latency_total2, cme.ideal_temporal_cycle, evaluations, orderings,
                        tuple((str(d), int(f)) for d, f in lpfs), seconds, loops, mapping, why, tuple(convergence))


def _score(cme, objective: str) -> float:
    return {"edp": cme.energy_total * cme.latency_total2, "energy": cme.energy_total,
            "latency": cme.latency_total2}[objective]


def _loma(accelerator, layer, spatial, spatial_int, objective, *, lpf_limit, **_):
    """LOMA as ZigZag's TemporalMappingGeneratorStage and CostModelStage run it, the best kept."""
    from zigzag.cost_model.cost_model import CostModelEvaluation
    from zigzag.mapping.temporal_mapping import TemporalMappingType
    from zigzag.opt.loma.engine import LomaEngine

    start = time.perf_counter()
    engine = LomaEngine(accelerator=accelerator, layer=layer, spatial_mapping=spatial,
                        mapping_type=TemporalMappingType.UNEVEN, loma_lpf_limit=lpf_limit)
    best, best_value, evaluations, convergence = None, math.inf, 0, []
    for temporal in engine.run():
        cme = CostModelEvaluation(accelerator=accelerator, layer=layer, spatial_mapping=spatial,
                                  spatial_mapping_int=spatial_int, temporal_mapping=temporal)
        evaluations += 1
        if (value := _score(cme, objective)) < best_value:
            best, best_value = cme, value
        convergence.append((evaluations, best_value))
    return best, evaluations, engine.nb_permutations, engine.lpfs, time.perf_counter() - start, convergence


def _salsa(accelerator, layer, spatial, spatial_int, objective, *, iterations, start_temperature, seed, **_):
    """SALSA's walk (``SalsaEngine.run``) in this process, its states scored by ``objective``."""
    import zigzag.opt.salsa.engine as salsa
    from zigzag.mapping.temporal_mapping import TemporalMappingType
    from zigzag.opt.loma.memory_allocator import MemoryHierarchyTooSmallException, MemoryTooSmallException
    from zigzag.opt.salsa.state import SalsaState

    log = []   # each state's score, in the order evaluated

    class State(SalsaState):
        """SALSA's state, scored by ``objective``; an ordering that does not fit scores infinity."""

        def __init__(self, accelerator, layer, spatial_mapping, ordering, opt_criterion_name, mapping_type):
            try:
                super().__init__(accelerator, layer, spatial_mapping, ordering,
                                 "latency" if objective == "latency" else "energy", mapping_type)
                self.opt_criterion = _score(self.cme, objective)
            except (MemoryTooSmallException, MemoryHierarchyTooSmallException):
                self.ordering, self.cme, self.opt_criterion = ordering, None, math.inf
            log.append(self.opt_criterion)

        def swap(self, i, j):
            ordering = list(self.ordering)
            ordering[i], ordering[j] = ordering[j], ordering[i]
            return State(self.accelerator, layer, spatial, ordering, objective, self.mapping_type)

    class Queue(list):
        put = list.append

    states = random.getstate(), np.random.get_state()
    original = salsa.SalsaState
    start = time.perf_counter()
    try:
        random.seed(seed)
        np.random.seed(seed)
        salsa.SalsaState = State
        engine = salsa.SalsaEngine(accelerator=accelerator, layer=layer, spatial_mapping=spatial,
                                   mapping_type=TemporalMappingType.UNEVEN, salsa_iteration_number=iterations,
                                   salsa_start_temperature=start_temperature,
                                   salsa_opt_criterion="latency" if objective == "latency" else "energy")
        queue = Queue()
        engine.run(queue)
    finally:
        salsa.SalsaState = original
        random.setstate(states[0])
        np.random.set_state(states[1])
    seconds = time.perf_counter() - start
    if queue[0] is None:
        raise ValueError("SALSA found no ordering that fits the memories")
    convergence = list(zip(range(1, len(log) + 1), np.minimum.accumulate(log).tolist()))
    return queue[0], len(log), iterations, engine.temporal_mapping_lpf, seconds, convergence


@contextlib.contextmanager
def _quiet():
    """ZigZag's info and warning logs off for the search."""
    import logging

    logger = logging.getLogger("zigzag")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def to_mapping(p: Problem, loops: dict, merge: bool = False) -> tuple[Mapping | None, str]:
    """ZigZag's temporal mapping (``ZigZagSearch.loops``) as our mapping of ``p``, and "" — or
    None and why our levels cannot hold it. Each of ZigZag's loops sits, per operand, in one of
    that operand's memories; ours sits at one level, which serves each tensor from its nearest
    keeper at or above it: the loop goes to the innermost level whose keepers are the memories
    ZigZag put it in. A level of ours has one loop per dimension: where ZigZag splits one around
    another there, ``merge`` makes them one loop where the dimension first runs (another loop
    nest: the note says so), else there is no mapping."""
    notes = []
    arch, workload = p.arch, p.workload
    keepers = _keepers(workload, arch)
    by_op = {OPERANDS[t.name][0]: t.name for t in workload.tensors}
    orders = {op: [loop for level in levels for loop in level] for op, levels in loops.items()}
    order = next(iter(orders.values()))
    if any(o != order for o in orders.values()):
        return None, "its operands order the temporal loops differently"
    # the memory (as our keeper level) each operand takes each loop from
    holder = {}
    for op, levels in loops.items():
        chain = keepers[by_op[op]][::-1]   # innermost first, as ZigZag's memories
        holder[op] = [chain[j] for j, level in enumerate(levels) for _ in level]
    placed = []
    n = len(arch.levels)
    for pos, (d, f) in enumerate(order):
        fits = [i for i in range(n) if all(max(k for k in keepers[by_op[op]] if k <= i) == holder[op][pos]
                                           for op in loops)]
        if not fits:
            where = ", ".join(f"{op} in {arch.levels[holder[op][pos]].name}" for op in loops)
            return None, f"loop {d}{f} (innermost {pos + 1}) has {where}: no level of ours serves all of that"
        level = max(fits)
        if placed and level > placed[-1][0]:
            return None, (f"loop {d}{f} sits inside the loops before it in ZigZag's order, at "
                          f"{arch.levels[level].name} below {arch.levels[placed[-1][0]].name}")
        placed.append((level, d, f))
    levels = []
    for i, lv in enumerate(arch.levels):
        mine = [(d, f) for level, d, f in placed if level == i]
        merged = []   # adjacent loops of one dimension are one loop
        for d, f in mine:
            if merged and merged[-1][0] == d:
                merged[-1] = (d, merged[-1][1] * f)
            else:
                merged.append((d, f))
        dims = [d for d, _ in merged]
        if len(set(dims)) < len(dims):
            split = f"{lv.name} splits one dimension around another ({' '.join(f'{d}{f}' for d, f in merged)})"
            if not merge:
                return None, split
            notes.append(f"{split}: merged, each dimension where it first runs")
        temporal = {}
        for d, f in merged:
            temporal[d] = temporal.get(d, 1) * f
        levels.append(LevelMapping(lv.name, temporal, tuple(temporal), dict(p.spatial.get(lv.name, {}))))
    mapping = Mapping(tuple(levels))
    try:
        mapping.validate(workload, arch)
    except ValueError as e:
        return None, f"our capacities refuse it: {e}"
    return mapping, "; ".join(notes)


def from_mapping(p: Problem, mapping: Mapping) -> dict:
    """Our mapping of ``p`` as ZigZag's per-operand loops (``ZigZagSearch.loops``' form): for
    ``zigzag``'s cost model to evaluate one of our mappers' choices."""
    arch, workload = p.arch, p.workload
    keepers = _keepers(workload, arch)
    n = len(arch.levels)
    nest = [(i, d, f) for i in reversed(range(n)) for d, f in mapping.at(arch.levels[i].name).loops(workload.dims)]
    out = {}
    for t in workload.tensors:
        chain = keepers[t.name][::-1]
        out[OPERANDS[t.name][0]] = [[(d, f) for i, d, f in nest if max(k for k in keepers[t.name] if k <= i) == j]
                                    for j in chain]
    return out


def evaluate_loops(config: DenseConfig, workload_or_shape, loops: dict):
    """ZigZag's cost model on the problem with the temporal mapping ``loops`` (per operand, per
    memory innermost first, loops innermost first): its ``CostModelEvaluation``."""
    try:
        from zigzag.cost_model.cost_model import CostModelEvaluation
        from zigzag.datatypes import LayerDim, LayerOperand
        from zigzag.mapping.temporal_mapping import TemporalMapping, TemporalMappingType
    except ImportError as e:
        raise PeerMissing(f"ZigZag needs the peers extra: pip install '.[peers]' ({e})") from None
    p = problem(config, workload_or_shape)
    with _quiet():
        accelerator, layer, spatial, spatial_int = parsed(translate_problem(config, p.workload, p.spatial))
    temporal = TemporalMapping({LayerOperand(op): [[(LayerDim(d), f) for d, f in level] for level in levels]
                                for op, levels in loops.items()}, layer, TemporalMappingType.UNEVEN)
    return CostModelEvaluation(accelerator=accelerator, layer=layer, spatial_mapping=spatial,
                               spatial_mapping_int=spatial_int, temporal_mapping=temporal)
