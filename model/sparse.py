"""Sparse acceleration: Sparseloop's rules, applied to the dense counts of the nest analysis.

A ``Sparsity`` gives each tensor a density model (``density.py``; dense where none), some
(level, tensor) pairs a representation format (``formats.py``; a format a level is given for a
tensor it does not keep under the mapping is ignored), and ``Action`` s: at a storage level,
*gate* or *skip* the accesses of a target tensor when the tiles of the tensors it is conditioned
on are empty; at the compute, gate or skip computes whose condition operands are zero. Gated
accesses and computes still take their cycle (and a gated access's energy where the table has
one); skipped ones take neither. The rules (Sparseloop's, ``timeloop/src/sparse-analysis``):

* **occupancy**: a tile of ``S`` elements holds ``k`` non-zeros with the density model's
  probability; where the tensor's next level up keeps metadata, empty tiles are never sent, so
  the distribution is conditioned on ``k > 0``. The tile's expected density is E[k] / S.
* **fiber tree**: a level's tile of a formatted tensor is a fiber tree. Its ranks, outermost
  first, take the level's loops over the tensor's dimensions (and those of the levels below it
  that bypass the tensor), outermost loop first, one loop a rank (a flattened rank a run of
  loops); ranks left over at the bottom hold fibers of one coordinate (no metadata). The
  innermost loop of each dimension also covers the dimension's extent in the child level's tile.
  A compressed format over a child level that keeps a tile of more than one element instead
  *pre-tiles*: its lowest ranks are the child's ranks (the same formats; one flattened rank for
  a child without metadata), so a child tile moves without re-encoding, and the level's own loops
  take the ranks above. A rank's fibers are the non-empty coordinates of the rank above; a
  coordinate is non-empty as the sub-tile it covers is, given that the whole tile holds ``k``
  (``Density.given``); ``formats.py`` turns fibers and coordinates into metadata units.
* **metadata accesses**: each read, fill or update of the tile's data moves the tile's metadata
  in the same proportion: units x (dense accesses / tile size), rounded up, per rank.
* **representation**: a formatted tile's accesses touch only its non-zeros: dense accesses
  less ``floor(dense x (1 - expected density))``; a compressed tile's non-zeros fill whole
  blocks, E[ceil(k / block)] of them where k / block would be the dense share. An uncompressed
  tile under a compressed parent decompresses what it is filled with (and compresses what it
  sends back).
* **gating and skipping at a storage level**: the action is applied to the target at the named
  level, or at the nearest level above that keeps it. An access there that feeds the compute
  serves one compute (under an innermost spatial fan-out, the computes it is multicast to); one
  that fills a child level serves the child's tile for the loops above it up to the first loop
  that changes the target (and the spatial fan-out above that). It is optimised away when some
  condition tensor's tile over that operation space is empty: ``p = 1 - prod(1 - P(empty))``, a
  block of ``b`` words widening the space to ``b`` elements of the target. Of the target's reads
  ``floor(reads x p)`` (the output's: ``ceil``), and of its updates and of the metadata it sends
  ``floor(x p)``, are gated or skipped; the levels below lose the same share of their fills,
  reads, updates and metadata (those subtrees never exist there), and a further action below
  applies to what is left (``1 - (1 - p_below) / (1 - p)``). The innermost action on an operand
  removes ``floor(computes x p)`` computes. Of several actions on one tile the likelier wins.
* **compute**: each operand of a surviving compute is non-zero with its density given that the
  conditions of the actions on the other operands held; a zero operand *exists* (a stored zero)
  unless its innermost level keeps metadata (then it is absent). A compute all of whose operands
  are absent never happens; one with an absent operand that a compute ``skipping`` action is
  conditioned on is skipped; else one with a zero operand that a compute ``gating`` action is
  conditioned on is gated; the rest are performed ("effectual"); gated and skipped counts are
  rounded down.
* **cycles**: whole cycles, Sparseloop's: ceil((effectual + gated computes) / compute units),
  and at a level, that divided by its bandwidth slowdown (each tensor's actual and gated words,
  metadata in words of the level's ``word_bits``, per cycle, over the bandwidth), rounded up.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from .density import Dense, Density
from .density import from_timeloop as density_from_timeloop
from .formats import HSSFormat, RankFormat, TensorFormat
from .workload import Tensor, Workload, rank_extent

KINDS = ("gating", "skipping")
ACTIONS = ("reads", "fills", "updates")


@dataclass(frozen=True)
class Action:
    level: str                      # a storage level, or the compute
    kind: str                       # gating or skipping
    condition_on: tuple[str, ...]   # the tensors whose zeros trigger it
    target: str | None = None       # the tensor whose accesses it saves (None at the compute)


@dataclass(frozen=True)
class Sparsity:
    densities: dict = field(default_factory=dict)    # tensor -> Density
    formats: dict = field(default_factory=dict)      # (level, tensor) -> TensorFormat | HSSFormat
    actions: tuple[Action, ...] = ()

    def validate(self, workload: Workload, arch) -> None:
        names = [t.name for t in workload.tensors]
        levels = [lv.name for lv in arch.levels]
        for t, model in self.densities.items():
            workload.tensor(t)
            if not isinstance(model, Density):
                raise ValueError(f"densities: {t} must be a density model (Dense, Uniform, FixedStructured, HSS, "
                                 f"ActualData), got {model!r}")
        for key, fmt in self.formats.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ValueError(f"formats: keys are (level, tensor), got {key!r}")
            arch.level(key[0])
            workload.tensor(key[1])
            if not isinstance(fmt, (TensorFormat, HSSFormat)):
                raise ValueError(f"formats: {key} must be a TensorFormat or HSSFormat, got {fmt!r}")
        for a in self.actions:
            if a.level not in levels + [arch.compute.name]:
                raise ValueError(f"action: unknown level {a.level!r}; allowed: {', '.join(levels)}, "
                                 f"{arch.compute.name} (the compute)")
            if a.kind not in KINDS:
                raise ValueError(f"action at {a.level}: kind must be one of {', '.join(KINDS)}, got {a.kind!r}")
            if a.level != arch.compute.name:
                if a.target is None:
                    raise ValueError(f"action at {a.level}: a storage level's action needs a target tensor; "
                                     f"allowed: {', '.join(names)}")
                workload.tensor(a.target)
            elif a.target is not None:
                raise ValueError(f"action at the compute {a.level}: no target tensor (it saves computes), "
                                 f"got {a.target!r}")
            if not a.condition_on:
                raise ValueError(f"action at {a.level}: condition_on needs at least one of {', '.join(names)}")
            for t in a.condition_on:
                workload.tensor(t)

    @classmethod
    def from_timeloop(cls, arch: dict, problem: dict, workload: Workload) -> Sparsity:
        """Sparseloop's specs: the problem instance's ``densities`` and the architecture's
        ``sparse_optimizations`` (on its v0.4 nodes, or as ``sparse_optimizations: {targets}``)."""
        instance = problem.get("problem", problem)["instance"]
        models = {t: density_from_timeloop(spec, workload.size(workload.tensor(t)))
                  for t, spec in (instance.get("densities") or {}).items()}
        targets = [{"name": node["name"], **node["sparse_optimizations"]}
                   for node in _nodes(arch.get("architecture", arch)) if node.get("sparse_optimizations")]
        targets += (arch.get("sparse_optimizations") or {}).get("targets", [])
        operands = tuple(t.name for t in workload.tensors if not t.output)
        formats, actions = {}, []
        for target in targets:
            level = target["name"]
            for ds in (target.get("representation_format") or {}).get("data_spaces", []):
                formats[(level, ds["name"])] = TensorFormat.parse(ds["ranks"])
            for opt in target.get("action_optimization") or []:
                options = opt.get("options", [opt])
                if len(options) != 1:
                    raise ValueError(f"{level}: action_optimization options: exactly one option per entry is "
                                     f"supported, got {len(options)}")
                actions.append(Action(level, opt.get("type"), tuple(options[0]["condition_on"]),
                                      options[0]["target"]))
            for opt in target.get("compute_optimization") or []:
                kind = {"gate_on_zero_operand": "gating", "skip_on_not_aligned_operands": "skipping"}.get(
                    opt.get("type"), opt.get("type"))
                actions.append(Action(level, kind, operands))
        return cls(models, formats, tuple(actions))


def _nodes(tree: dict):
    """The components of a v0.4 architecture, nested containers and parallel groups included."""
    for node in tree.get("nodes", []):
        yield node
        yield from _nodes(node)


@dataclass
class _Rank:
    fmt: RankFormat
    shape: int                 # coordinates in a fiber
    coordinate: dict           # extents of the sub-tile one coordinate covers


@dataclass
class _Tile:
    """One tensor at one level: its format, fiber tree and the counts the rules change."""
    level: int
    name: str                      # the level's name
    tensor: Tensor
    access: object                 # the level's Access for the tensor
    fmt: object = None             # TensorFormat | HSSFormat | None
    child: _Tile | None = None     # the next level down that keeps the tensor
    ranks: list = field(default_factory=list)
    widths: list = field(default_factory=list)    # [metadata bits, payload bits] per rank
    units: dict = field(default_factory=dict)     # action -> [[metadata, payload] per rank]
    saved: dict = field(default_factory=dict)     # kind -> action -> words
    saved_units: dict = field(default_factory=dict)   # kind -> action -> [[metadata, payload] per rank]

    @property
    def has_metadata(self) -> bool:
        return self.fmt is not None and self.fmt.has_metadata


def apply(workload: Workload, arch, mapping, stats, computes: int, sparsity: Sparsity) -> dict:
    """Rewrite the dense per-level counts in ``stats`` (a LevelStats list) into actual, gated
    and skipped data and metadata accesses; return the computes (of ``computes`` algorithmic
    ones): algorithmic, effectual, gated and skipped."""
    sparsity.validate(workload, arch)
    n = len(arch.levels)
    models = {t.name: sparsity.densities.get(t.name, Dense()) for t in workload.tensors}
    extents = [mapping.extents(workload, arch, i) for i in range(n)]
    nest = _nest(workload, arch, mapping)
    tiles: dict[tuple[int, str], _Tile] = {}
    chains = []
    for t in workload.tensors:
        keepers = [i for i in range(n) if t.name in stats[i].tensors]
        chain = [_Tile(i, arch.levels[i].name, t, stats[i].tensors[t.name],
                       sparsity.formats.get((arch.levels[i].name, t.name))) for i in keepers]
        for tile, child in zip(chain, chain[1:] + [None]):
            tile.child = child
            tiles[(tile.level, t.name)] = tile
        chains.append(chain)
        for tile in reversed(chain):   # inner first: a pre-tiling parent takes its child's ranks
            _fiber_tree(workload, tile, extents, nest)
        for parent, tile in zip([None] + chain, chain):
            _occupancy(workload, arch, tile, models[t.name], extents[tile.level],
                       parent is not None and parent.has_metadata)
    safs = _storage_actions(workload, arch, sparsity, tiles, models, extents, nest)
    remaining, reached = computes, {}
    for t in workload.tensors:
        levels = sorted(i for (i, name) in safs if name == t.name)
        p_above = 0.0
        for j, below in zip(levels, levels[1:] + [n - 1]):
            p, kind, _ = safs[(j, t.name)]
            _save(tiles[(j, t.name)], max(0.0, 1 - (1 - p) / (1 - p_above)) if p_above < 1 else 0.0, kind)
            for k in range(j + 1, below + 1):   # the subtrees it saves never reach the levels below
                if (k, t.name) in tiles:
                    _eliminate(tiles[(k, t.name)], p)
            p_above = p
        if levels and not t.output:
            p, _, condition = safs[(levels[-1], t.name)]
            remaining -= math.floor(remaining * p)
            reached[t.name] = (p, condition)
    for chain in chains:
        for parent, tile in zip([None] + chain, chain):
            _finish(tile)
            if parent is not None and _compressed(parent) and not _compressed(tile):   # decoded here, encoded back
                tile.access.decompressions = tile.access.fills
                tile.access.compressions = parent.access.updates if tile.tensor.output else 0
    return _computes(workload, arch, sparsity, tiles, models, computes, remaining, reached)


def _compressed(tile: _Tile) -> bool:
    return tile.fmt is not None and tile.fmt.compressed


def _nest(workload, arch, mapping) -> list[tuple[int, str, int, bool]]:
    """Every loop of more than one step, innermost first: (level, dimension, factor, spatial);
    a level's spatial fan-out sits inside its temporal loops."""
    out = []
    for i in range(len(arch.levels) - 1, -1, -1):
        lm = mapping.at(arch.levels[i].name)
        out += [(i, d, f, True) for d, f in lm.spatial.items() if f > 1]
        out += [(i, d, f, False) for d, f in lm.loops(workload.dims)]
    return out


def _through(nest, position: int) -> dict[str, int]:
    """Extents of the operation space of the loops at and inside ``nest[position]``."""
    out: dict[str, int] = {}
    for _, d, f, _ in nest[:position + 1]:
        out[d] = out.get(d, 1) * f
    return out


def _shape(tensor: Tensor, extents: dict) -> tuple[int, ...]:
    return tuple(rank_extent(rank, extents) for rank in tensor.ranks)


def _fiber_tree(workload, tile: _Tile, extents, nest) -> None:
    """The tile's ranks, outermost first: the coordinates of a fiber, and the sub-tile one covers."""
    t, i, fmt, child = tile.tensor, tile.level, tile.fmt, tile.child
    if not isinstance(fmt, TensorFormat) or not fmt.has_metadata:   # one fiber of every element
        tile.ranks = [_Rank(RankFormat("U"), workload.tile(t, extents[i]), {})]
        return
    stop = child.level if child else len(extents)
    own = [(pos, d, f) for pos, (lv, d, f, _) in enumerate(nest) if i <= lv < stop and d in t.dims]
    pretile = fmt.compressed and child is not None and workload.tile(t, extents[child.level]) > 1
    inner = child.ranks if pretile else []
    free = len(fmt.ranks) - len(inner)
    if pretile and isinstance(child.fmt, TensorFormat) and child.fmt.compressed and \
            [r.name for r in child.fmt.ranks] != [r.name for r in fmt.ranks[max(free, 0):]]:
        raise ValueError(f"formats: {t.name} at {tile.name} ({fmt}) pre-tiles its child's tiles, so its lowest "
                         f"ranks must be the child's formats ({child.fmt})")
    base = dict(extents[child.level]) if pretile else {}
    if child is not None and not pretile:   # each dimension's innermost loop covers the child's extent
        for d in sorted(t.dims, key=list(workload.dims).index):
            e = extents[child.level].get(d, 1)
            at = next((k for k, (_, dd, _) in enumerate(own) if dd == d), None)
            if e > 1 and at is None:
                own.insert(0, (None, d, e))
            elif e > 1:
                own[at] = (own[at][0], d, own[at][2] * e)
    taken, outer_first = [], own[::-1]
    for r in fmt.ranks[:max(free, 0)]:   # outermost loop to the outermost rank, a flattened rank takes a run
        group = next((g for g in r.flatten if outer_first and outer_first[0][1] in g), None)
        if not outer_first or (r.flatten and group is None):
            taken.append([])
            continue
        run = [outer_first.pop(0)]
        while group and outer_first and outer_first[0][1] in group:
            run.append(outer_first.pop(0))
        taken.append(run)
    if outer_first or free < 0:
        raise ValueError(f"formats: {t.name} at {tile.name} has {len(fmt.ranks)} ranks ({fmt}) but its tile needs "
                         f"more: one per loop over its dimensions (or per flattened run), plus its child's ranks")
    ranks, coordinate = [], base
    for r, run in zip(reversed(fmt.ranks[:free]), reversed(taken)):   # inner first: a coordinate is a fiber below
        extents_of_run: dict[str, int] = {}
        for _, d, f in run:
            extents_of_run[d] = extents_of_run.get(d, 1) * f
        ranks.append(_Rank(r, workload.tile(t, extents_of_run), dict(coordinate)))
        if run:
            pos = run[0][0]
            coordinate = _through(nest, pos) if pos is not None else dict(extents[child.level])
    tile.ranks = ranks[::-1] + [_Rank(r, c.shape, c.coordinate) for r, c in zip(fmt.ranks[free:], inner)]


def _units(workload, tile: _Tile, model: Density, shape: tuple, nnz: int) -> list[list[float]]:
    """[metadata, payload] units per rank of the tile when it holds ``nnz`` (``model``: given that)."""
    if isinstance(tile.fmt, HSSFormat):
        return [list(u) for u in tile.fmt.occupancy(model, shape, nnz)]
    t, out, fibers = tile.tensor, [], 1.0
    for r, rank in enumerate(tile.ranks):
        if rank.shape == 1 and r > 0:
            out.append([0.0, 0.0])
        else:
            fiber = shape if r == 0 else _shape(t, tile.ranks[r - 1].coordinate)
            nonempty = 1 - model.prob_empty(_shape(t, rank.coordinate))
            out.append(list(rank.fmt.units(fibers * (1 - model.prob_empty(fiber)), rank.shape, nonempty)))
        fibers *= rank.shape
    lowest = next((u for u in reversed(out) if u != [0.0, 0.0]), None)
    if lowest is not None:
        lowest[1] = 0.0   # the lowest rank's payloads are the values
    return out


def _occupancy(workload, arch, tile: _Tile, model: Density, extents, parent_md: bool) -> None:
    """The tile's expected non-zeros and metadata units; its metadata accesses, and its data
    accesses cut to its non-zeros where it keeps metadata."""
    t, a = tile.tensor, tile.access
    shape = _shape(t, extents)
    size = math.prod(shape)
    dist = dict(model.distribution(shape))
    if parent_md and 0 < dist.get(0, 0.0) < 1:   # the parent never sends an empty tile
        empty = dist.pop(0)
        dist = {k: p / (1 - empty) for k, p in dist.items()}
    a.occupancy = sum(k * p for k, p in dist.items())
    a.algorithmic = {x: getattr(a, x) for x in ACTIONS}
    tile.saved = {kind: {x: 0 for x in ACTIONS} for kind in KINDS}
    if not tile.has_metadata:
        return
    a.format = str(tile.fmt)
    block = arch.levels[tile.level].block
    if tile.fmt.compressed and block > 1 and 0 < a.occupancy < size:   # non-zeros fill whole blocks
        a.blocks = sum(p * math.ceil(k / block) for k, p in dist.items()) / (a.occupancy / block)
    units = None
    for k, p in dist.items():
        if p > 1e-12:
            per_rank = _units(workload, tile, model.given(shape, k), shape, k)
            units = [[p * md, p * pl] for md, pl in per_rank] if units is None else \
                [[u[0] + p * md, u[1] + p * pl] for u, (md, pl) in zip(units, per_rank)]
    word = arch.levels[tile.level].metadata_word_bits
    tile.widths = tile.fmt.widths() if isinstance(tile.fmt, HSSFormat) else \
        [list(r.fmt.widths(r.shape, size, word)) for r in tile.ranks]
    for x in ACTIONS:
        ratio = getattr(a, x) / size if size else 0.0
        tile.units[x] = [[math.ceil(md * ratio), math.ceil(pl * ratio)] for md, pl in units]
    tile.saved_units = {kind: {x: [[0, 0] for _ in units] for x in ACTIONS} for kind in KINDS}
    sparsity = 1 - a.occupancy / size if size else 0.0
    for x in ACTIONS:
        if x != "updates" or t.output:
            setattr(a, x, getattr(a, x) - math.floor(getattr(a, x) * sparsity))


def _condition_extents(workload, arch, t: Tensor, condition, j: int, child: _Tile | None, extents, nest) -> dict:
    """The operation space over which the condition tensors must be empty for one access of the
    target ``t`` at level ``j`` to be optimised away."""
    if child is None:   # one element per compute, or per multicast group of an innermost spatial fan-out
        spatial = list(itertools.takewhile(lambda loop: loop[3], nest))
        cond = {d: f for _, d, f, _ in spatial if d not in t.dims}
        target, g_extents = (nest[0][1] if nest else None), {}
    else:
        between = [(pos, loop) for pos, loop in enumerate(nest) if j <= loop[0] < child.level]
        first = next(((pos, loop) for pos, loop in between if loop[1] in t.dims), None)
        if first is None:
            cond, target, g_extents = dict(extents[j]), None, dict(extents[j])
        else:
            pos, (_, target, factor, _) = first
            cond = _through(nest, pos - 1)
            for above, (_, d, f, spatial) in between:   # the fan-out above shares the access
                if above > pos and spatial and d not in t.dims:
                    cond[d] = cond.get(d, 1) * f
            shared = any(target in workload.tensor(c).dims for c in condition)
            g_extents = dict(cond, **{target: cond.get(target, 1) * (1 if shared else factor)})
    block = arch.levels[j].block
    scale = math.ceil(block / max(1, workload.tile(t, g_extents)))
    if scale > 1 and target is not None:
        cond[target] = min(cond.get(target, 1) * scale, workload.dims[target])
    return cond


def _storage_actions(workload, arch, sparsity, tiles, models, extents, nest) -> dict:
    """(level, tensor) -> (probability an access is optimised away, kind, condition tensors)."""
    out: dict[tuple[int, str], tuple] = {}
    names = [lv.name for lv in arch.levels]
    for a in sparsity.actions:
        if a.level == arch.compute.name:
            continue
        t = workload.tensor(a.target)
        j = next((i for i in range(names.index(a.level), -1, -1) if (i, t.name) in tiles), None)
        if j is None:
            raise ValueError(f"action at {a.level}: no level at or above {a.level} keeps {t.name}, so {a.kind} "
                             f"has no accesses of it to save")
        cond = _condition_extents(workload, arch, t, a.condition_on, j, tiles[(j, t.name)].child, extents, nest)
        p = 1 - math.prod(1 - models[c].prob_empty(_shape(workload.tensor(c), cond)) for c in a.condition_on)
        if (j, t.name) not in out or out[(j, t.name)][0] < p:
            out[(j, t.name)] = (p, a.kind, a.condition_on)
    return out


def _save(tile: _Tile, p: float, kind: str) -> None:
    """Gate or skip a share ``p`` of the tile's reads and updates (and of the metadata it sends)."""
    a, saved = tile.access, tile.saved[kind]
    for x in ("reads", "updates"):
        delta = math.ceil(a.reads * p) if x == "reads" and tile.tensor.output else math.floor(getattr(a, x) * p)
        setattr(a, x, getattr(a, x) - delta)
        saved[x] += delta
        if tile.has_metadata:
            sent = len(tile.units[x]) if tile.child is None else \
                (len(tile.child.units[x]) if tile.child.has_metadata else 0)
            for r in range(len(tile.units[x]) - sent, len(tile.units[x])):
                for c in (0, 1):
                    delta = math.floor(tile.units[x][r][c] * p)
                    tile.units[x][r][c] -= delta
                    tile.saved_units[kind][x][r][c] += delta


def _eliminate(tile: _Tile, p: float) -> None:
    """A share ``p`` of the tile's traffic never exists (the level above optimised it away)."""
    a = tile.access
    for x in ACTIONS:
        setattr(a, x, getattr(a, x) - math.floor(getattr(a, x) * p))
        for u in tile.units.get(x, []):
            u[0] -= math.floor(u[0] * p)
            u[1] -= math.floor(u[1] * p)


def _finish(tile: _Tile) -> None:
    """Write the gated, skipped and metadata counts into the tile's Access."""
    a = tile.access
    a.gated, a.skipped = dict(tile.saved["gating"]), dict(tile.saved["skipping"])
    if not tile.has_metadata:
        return
    kinds = {"actual": tile.units, "gated": tile.saved_units["gating"], "skipped": tile.saved_units["skipping"]}
    a.metadata = {x: {k: [list(u) for u in units[x]] for k, units in kinds.items()} for x in ACTIONS}
    a.metadata_bits = {x: {k: sum(md * mb + pl * pb for (md, pl), (mb, pb) in zip(units[x], tile.widths))
                           for k, units in kinds.items()} for x in ACTIONS}


def _computes(workload, arch, sparsity, tiles, models, computes, remaining, reached) -> dict:
    """Classify the computes left after the storage actions: effectual, gated, skipped."""
    gate = {c for a in sparsity.actions if a.level == arch.compute.name and a.kind == "gating" for c in a.condition_on}
    skip = {c for a in sparsity.actions if a.level == arch.compute.name and a.kind == "skipping"
            for c in a.condition_on}
    operands = []
    for t in (t for t in workload.tensors if not t.output):
        innermost = max(i for (i, name) in tiles if name == t.name)
        nonzero = 1 - models[t.name].prob_empty((1,) * len(t.ranks))
        for name, (p, condition) in reached.items():   # a surviving compute passed the other operands' tests
            if name != t.name and t.name in condition and p < 1:
                nonzero /= 1 - p
        operands.append((t.name, min(1.0, nonzero), tiles[(innermost, t.name)].has_metadata))
    shares = {"effectual": 0.0, "gated": 0.0, "skipped": 0.0, "never": 0.0}
    for zero in itertools.product((False, True), repeat=len(operands)):
        p = math.prod(1 - d if z else d for (_, d, _), z in zip(operands, zero))
        zeros = [(name, absent) for (name, _, absent), z in zip(operands, zero) if z]
        if not zeros:
            shares["effectual"] += p
        elif len(zeros) == len(operands) and all(absent for _, absent in zeros):
            shares["never"] += p
        elif any(absent and name in skip for name, absent in zeros):
            shares["skipped"] += p
        elif any(name in gate for name, _ in zeros):
            shares["gated"] += p
        else:
            shares["effectual"] += p
    counts = {k: math.floor(remaining * shares[k]) for k in ("gated", "skipped", "never")}
    return {"algorithmic": computes, "effectual": remaining - sum(counts.values()),
            "gated": counts["gated"], "skipped": counts["skipped"]}
