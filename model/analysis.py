"""Nest analysis: what a mapping makes every level read, fill and update, the cycles and the energy.

Per level and tensor, with Timeloop's conventions (reproduced on its published examples):

* the **tile** of a level is the tensor's footprint over the loops at and below it, temporal
  and spatial;
* a level's **touches** are the words brought into its tile over the run (per instance): the
  first tile, then at each step of the temporal loops above it what the step changes. A step
  that changes no dimension the tensor depends on brings nothing; a step of the innermost loop
  above shifts the tile, and a sliding window keeps its overlap; any other step that changes
  the tile brings a whole new one;
* an operand's **fills** are its touches; the output's fills are the touches less its first
  touches (a partial sum that does not exist yet is not fetched), and each touch is written
  back to the level above (an **update** there);
* a level's **reads** serve the fills of the next level down that keeps the tensor (or the
  compute, which reads each operand once per compute); children under one instance whose
  tiles are the same (they differ only in dimensions the tensor does not depend on) are served
  by one read (multicast), and their partial sums of the same outputs are added on the way up
  (spatial reduction); children whose tiles merely overlap are served separately;
* a level that **flushes** (``Level.flushes``: an accumulator array that sums one tile and sends it
  up) starts afresh at every step of the loops above it: each step is a whole new tile, partial
  sums are never filled from above (they start from zero) and the level above adds up what it
  is sent, reading its own partial sums to do so;
* **skipping**: with ``skip={tensor: density}``, the compute skips every point where that
  tensor is zero (structured sparsity gives its density exactly); the skipped computes read no
  operands and update no output at the innermost levels (Sparseloop's skipping at the compute).
* **sparse acceleration**: with ``sparsity=Sparsity(...)`` (density models, representation
  formats, gating and skipping actions; ``sparse.py`` states Sparseloop's rules), the dense counts
  become each level's *actual* accesses (``Access.algorithmic`` keeps the dense ones), plus
  *gated* and *skipped* ones and metadata accesses (``Access.metadata``: units per rank;
  ``Access.metadata_bits``: bits), and the computes split into effectual (performed), gated and
  skipped (``Result.compute_actions``; ``Result.computes`` is the effectual ones). Gated
  accesses and computes take bandwidth and cycles as actual ones do (energy: the table's
  ``gated_*`` actions, else none); skipped ones take neither (energy: ``skipped_*``, else
  ``gated_*``, else none; a compute's: ``Compute.gated_energy`` and ``skipped_energy``, which
  Timeloop's tables make a whole compute's unless they name them). Metadata moves in accesses of ``Level.metadata_width`` bits (energies
  ``metadata_read``, ``metadata_write`` (a fill), ``metadata_update``) and takes bandwidth as
  data words of the level's ``word_bits`` do; (de)compressed words cost ``decompression_count``
  and ``compression_count`` each. Cycles are then whole, as Sparseloop counts them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import sparse
from .arch import Architecture
from .mapping import Mapping
from .workload import Tensor, Workload, rank_values

ACTIONS = (("read", "reads"), ("write", "fills"), ("update", "updates"))


@dataclass
class Access:
    """One tensor at one level, per instance. With a ``Sparsity``: ``reads``, ``fills`` and
    ``updates`` are the actual accesses, ``algorithmic`` the dense ones, ``gated`` and
    ``skipped`` (action -> words) those optimised away, ``occupancy`` the expected non-zeros of
    the tile, ``blocks`` the blocks an access of a compressed tile moves per ``words / block``
    (its non-zeros fill whole blocks), ``decompressions``/``compressions`` the words an
    uncompressed tile decodes from (encodes for) a compressed parent, and for a tile with a
    format, ``metadata`` (action -> actual/gated/skipped -> [metadata units, payload units] per
    rank, outermost first) and ``metadata_bits`` (action -> actual/gated/skipped -> bits)."""
    tile: int = 0
    reads: int = 0
    fills: int = 0
    updates: int = 0
    algorithmic: dict = field(default_factory=dict)
    gated: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    occupancy: float | None = None
    blocks: float = 1.0
    format: str = ""
    decompressions: int = 0
    compressions: int = 0
    metadata: dict = field(default_factory=dict)
    metadata_bits: dict = field(default_factory=dict)

    def words(self) -> int:
        return self.reads + self.fills + self.updates


@dataclass
class LevelStats:
    name: str
    instances: int            # utilized instances
    tensors: dict[str, Access] = field(default_factory=dict)
    energy_pj: float = 0.0
    cycles: float = 0.0       # cycles its accesses take at its bandwidth (0: unlimited; sparse: at least the compute's)


@dataclass
class Result:
    workload: str
    architecture: str
    computes: int                 # effectual (not skipped)
    compute_instances: int        # utilized
    compute_instances_total: int  # provisioned
    levels: list[LevelStats]
    compute_energy_pj: float
    cycles: float
    energy_pj: float
    ideal_cycles: float | None = None   # the model's own cycles where ``cycles`` is a unit's exact timing
    compute_actions: dict = field(default_factory=dict)   # algorithmic, effectual, gated, skipped computes
    area_um2: float = 0.0         # the architecture's, from its levels' and compute's areas

    @property
    def edp(self) -> float:
        """Energy-delay product, pJ x cycles."""
        return self.energy_pj * self.cycles

    @property
    def utilization(self) -> float:
        """Computes / (provisioned compute units x cycles)."""
        return self.computes / (self.compute_instances_total * self.cycles) if self.cycles else 0.0

    def level(self, name: str) -> LevelStats:
        return next(lv for lv in self.levels if lv.name == name)

    def to_dict(self) -> dict:
        return {"workload": self.workload, "architecture": self.architecture, "computes": self.computes,
                "cycles": self.cycles,
                "ideal_cycles": self.ideal_cycles if self.ideal_cycles is not None else self.cycles,
                "energy_pj": self.energy_pj, "edp": self.edp, "utilization": self.utilization,
                "compute_energy_pj": self.compute_energy_pj, "compute_actions": dict(self.compute_actions),
                "area_um2": self.area_um2,
                "levels": [{"name": lv.name, "instances": lv.instances, "energy_pj": lv.energy_pj, "cycles": lv.cycles,
                            "actions": {t: vars(a) | {"total_reads": a.reads * lv.instances,
                                                      "total_fills": a.fills * lv.instances,
                                                      "total_updates": a.updates * lv.instances}
                                        for t, a in lv.tensors.items()}}
                           for lv in self.levels]}


def _overlap(tensor: Tensor, extents: dict[str, int], dim: str) -> int:
    """Words a tile shares with itself shifted by its own extent along ``dim``."""
    shared = 1
    for rank in tensor.ranks:
        values = rank_values(rank, extents)
        shift = sum(c * extents[d] for c, d in rank if d == dim)
        if not shift:
            shared *= len(values)
        elif isinstance(values, range):
            shared *= max(0, len(values) - shift)
        else:
            shared *= len(values & {v + shift for v in values})
    return shared


def touches(workload: Workload, tensor: Tensor, extents: dict[str, int], loops_above) -> int:
    """Words brought into one tile over the run; ``loops_above`` innermost first."""
    tile = workload.tile(tensor, extents)
    total, outer, inner, changes = tile, math.prod(f for _, f in loops_above), 1, False
    for j, (d, f) in enumerate(loops_above):
        steps = (f - 1) * (outer // (inner * f))
        changes |= d in tensor.dims   # this step, or an inner loop wrapping around, moves the tile
        if not changes:
            delta = 0
        elif j == 0:
            delta = tile - _overlap(tensor, extents, d)
        else:
            delta = tile
        total += steps * delta
        inner *= f
    return total


def analyse(workload: Workload, arch: Architecture, mapping: Mapping, skip: dict[str, float] | None = None,
            sparsity: sparse.Sparsity | None = None) -> Result:
    """Access counts, cycles and energy of ``workload`` on ``arch`` under ``mapping``; the compute
    skips the zeros of the tensors in ``skip`` (name -> density in [0, 1]), or ``sparsity``
    (Sparseloop's densities, formats, gating and skipping) decides what is accessed."""
    mapping.validate(workload, arch)
    if skip and sparsity is not None:
        raise ValueError("analyse: give skip (a density per tensor whose zeros the compute skips) or sparsity "
                         "(densities, formats and actions), not both")
    effectual = 1.0
    for name, density in (skip or {}).items():
        workload.tensor(name)
        if not 0.0 <= density <= 1.0:
            raise ValueError(f"skip: the density of {name} must be in [0, 1], got {density!r}")
        effectual *= density
    n = len(arch.levels)
    maps = [mapping.at(lv.name) for lv in arch.levels]
    extents = [mapping.extents(workload, arch, i) for i in range(n)] + [{d: 1 for d in workload.dims}]
    loops_above = [[loop for j in range(i - 1, -1, -1) for loop in maps[j].loops(workload.dims)]
                   for i in range(n + 1)]
    spatial_above = [math.prod(f for lm in maps[:i] for f in lm.spatial.values()) for i in range(n + 1)]
    kept = [{t.name for t in mapping.kept(workload, arch, i)} for i in range(n)]
    stats = [LevelStats(lv.name, spatial_above[i]) for i, lv in enumerate(arch.levels)]
    per_compute = workload.computes // spatial_above[n]
    computes = round(workload.computes * effectual)

    for t in workload.tensors:
        keepers = [i for i in range(n) if t.name in kept[i]]
        if not keepers:
            raise ValueError(f"mapping: no level keeps {t.name}; the outermost keeper holds all of it")
        for i in keepers:
            stats[i].tensors[t.name] = Access(tile=workload.tile(t, extents[i]))
        for parent, child in zip(keepers, keepers[1:] + [n]):
            a = stats[parent].tensors[t.name]
            if child == n:   # the compute reads each operand, and updates the output, once per compute
                moved = round(per_compute * effectual)
                first = min(moved, workload.tile(t, _run_extents(workload, extents[n], loops_above[n])))
            else:
                flushes = arch.levels[child].flushes
                moved = (workload.tile(t, extents[child]) * math.prod(f for _, f in loops_above[child]) if flushes
                         else touches(workload, t, extents[child], loops_above[child]))
                first = workload.tile(t, _run_extents(workload, extents[child], loops_above[child]))
                c = stats[child].tensors[t.name]
                c.fills = (0 if flushes else moved - first) if t.output else moved
            # the children under one parent instance with distinct tiles: those the spatial loops
            # between the two levels tell apart over dimensions the tensor depends on
            distinct = math.prod(f for j in range(parent, child) for d, f in maps[j].spatial.items() if d in t.dims)
            if t.output:
                a.updates += moved * distinct
                a.reads += (moved - first) * distinct
            else:
                a.reads += moved * distinct

    if sparsity is not None:
        actions = sparse.apply(workload, arch, mapping, stats, workload.computes, sparsity)
        computes = actions["effectual"]
        compute_cycles = math.ceil((actions["effectual"] + actions["gated"]) / spatial_above[n])
    else:
        actions = {"algorithmic": workload.computes, "effectual": computes, "gated": 0,
                   "skipped": workload.computes - computes}
        compute_cycles = per_compute * effectual
    for i, lv in enumerate(arch.levels):
        s = stats[i]
        s.energy_pj = s.instances * sum(_energy(workload.tensor(name), a, lv) for name, a in s.tensors.items())
        demand = (([_words(a, lv, "reads") for a in s.tensors.values()], lv.read_bandwidth),
                  ([_words(a, lv, "fills") + _words(a, lv, "updates") for a in s.tensors.values()], lv.write_bandwidth))
        if sparsity is None:
            s.cycles = max([sum(words) / bw for words, bw in demand if bw] + [0.0])
        else:   # Sparseloop's whole cycles: the compute's, slowed by each tensor's words per cycle over the bandwidth
            slowdown = min([1.0] + [bw / per_cycle for words, bw in demand
                                    if bw and (per_cycle := sum(w / compute_cycles for w in words)) > bw])
            s.cycles = math.ceil(compute_cycles / slowdown) if compute_cycles else 0
    cycles = float(max([compute_cycles] + [s.cycles for s in stats]))
    for i, lv in enumerate(arch.levels):
        stats[i].energy_pj += lv.energy.get("leak", 0.0) * cycles * lv.instances
    c = arch.compute
    compute_energy = computes * c.energy + actions["gated"] * c.gated_energy + actions["skipped"] * c.skipped_energy
    return Result(workload.name, arch.name, computes, spatial_above[n], arch.compute.instances, stats,
                  compute_energy, cycles, compute_energy + sum(s.energy_pj for s in stats),
                  compute_actions=actions, area_um2=arch.area_um2)


def _words(a: Access, level, action: str) -> int:
    """Words an action takes of the level's bandwidth: actual and gated data, and their metadata
    in words of the level's ``word_bits``."""
    bits = a.metadata_bits.get(action, {})
    return (getattr(a, action) + a.gated.get(action, 0)
            + -(-(bits.get("actual", 0) + bits.get("gated", 0)) // level.word_bits))


def _energy(tensor: Tensor, a: Access, level) -> float:
    """pJ of one instance's accesses of one tensor: each kind of data access in whole blocks
    (Timeloop's vector accesses), scaled by the tensor's element width where the workload gives
    one; metadata in whole accesses of the level's metadata width; (de)compression per word."""
    total = (a.decompressions * level.energy.get("decompression_count", 0.0)
             + a.compressions * level.energy.get("compression_count", 0.0))
    for action, name in ACTIONS:
        for kind, count in (("actual", getattr(a, name)), ("gated", a.gated.get(name, 0)),
                            ("skipped", a.skipped.get(name, 0))):
            total += (-(-count // level.block) * a.blocks * _action_energy(level, kind, action)
                      * _width_scale(tensor, level))
        for kind, bits in a.metadata_bits.get(name, {}).items():
            total += -(-bits // level.metadata_access_bits) * _action_energy(level, kind, action, metadata=True)
    return total


def _action_energy(level, kind: str, action: str, metadata: bool = False) -> float:
    """pJ of one access by Timeloop's energy-table names: a fill is a ``write``, a gated one
    ``gated_fill`` or ``gated_write``, a skipped one costs what a gated one does where the table
    has no ``skipped_*`` entry, and one the table does not name costs nothing."""
    if kind == "actual" and not metadata:
        return level.energy.get(action, 0.0)
    verbs = {"read": ("read",), "write": ("fill", "write"), "update": ("update", "write")}[action]
    prefixes = {"actual": ("",), "gated": ("gated_",), "skipped": ("skipped_", "gated_")}[kind]
    md = "metadata_" if metadata else ""
    return next((level.energy[f"{p}{md}{v}"] for p in prefixes for v in verbs if f"{p}{md}{v}" in level.energy), 0.0)


def _width_scale(tensor: Tensor, level) -> float:
    return tensor.bits / level.word_bits if tensor.bits else 1.0


def _run_extents(workload: Workload, extents: dict[str, int], loops_above) -> dict[str, int]:
    """Extents of everything one instance touches over the run: its tile grown by the loops above."""
    out = dict(extents)
    for d, f in loops_above:
        out[d] *= f
    return out
