"""The map space of a workload on an architecture: every mapping a mapper may choose from.

A mapping is a choice, per storage level, of

* **factors**: each dimension's size split into a temporal factor and a spatial factor at
  every level (each prime factor of the size sits in one of these slots; a spatial slot
  exists only where the level fans out);
* a **permutation** of the level's temporal loops (only the loops with a factor above 1 are
  ordered: the others change nothing);
* with ``bypass=True``, the tensors the level **keeps** (any subset of those it may hold; the
  outermost level keeps every tensor).

``constraints`` fix parts of this per level (``Fixed``: a unit's dataflow, a chosen tile), and
``Mapping.validate`` prunes what the fan-outs and capacities cannot hold. ``size()`` counts the
candidates before that pruning; iterating yields the valid ones (for small spaces);
``sample``, ``neighbour`` (simulated annealing's moves) and ``crossover`` (a genetic
algorithm's, on the genome of GAMMA: per level and dimension the exponents of the size's
prime factors, the loop order, the kept tensors) give valid mappings at random.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from .arch import Architecture
from .mapping import LevelMapping, Mapping
from .workload import Workload

KINDS = ("temporal", "spatial")
REJECTIONS = 50   # random draws a sample takes before it repairs one
SPLITS = 20000   # splits of one dimension that projection tries one by one


@dataclass(frozen=True)
class Fixed:
    """What a level's mapping must be: the factors named (the other dimensions' stay free),
    the loop order (innermost first, as ``LevelMapping.permutation``) and the kept tensors
    (None: free)."""
    temporal: dict[str, int] = field(default_factory=dict)
    spatial: dict[str, int] = field(default_factory=dict)
    permutation: tuple[str, ...] | None = None
    keep: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Genome:
    """A mapping as a genetic algorithm sees it: ``exponents[d][p]`` is the exponent of the
    prime ``p`` of dimension ``d`` in every slot (level, temporal or spatial); ``orders`` each
    level's whole loop order, innermost first; ``keeps`` each level's kept tensors."""
    exponents: dict[str, dict[int, tuple[int, ...]]]
    orders: tuple[tuple[str, ...], ...]
    keeps: tuple[tuple[str, ...] | None, ...]


def prime_factors(n: int) -> dict[int, int]:
    """``12`` -> ``{2: 2, 3: 1}``."""
    factors, p = {}, 2
    while p * p <= n:
        while n % p == 0:
            factors[p] = factors.get(p, 0) + 1
            n //= p
        p += 1
    if n > 1:
        factors[n] = factors.get(n, 0) + 1
    return factors


def compositions(total: int, parts: int):
    """Every tuple of ``parts`` integers >= 0 summing to ``total``."""
    for bars in itertools.combinations(range(total + parts - 1), parts - 1):
        edges = (-1, *bars, total + parts - 1)
        yield tuple(b - a - 1 for a, b in itertools.pairwise(edges))


class MapSpace:
    """The mappings of ``workload`` on ``arch``; ``constraints`` maps level names to ``Fixed``."""

    def __init__(self, workload: Workload, arch: Architecture, constraints: dict[str, Fixed] | None = None,
                 bypass: bool = False, tries: int = 1000):
        if not isinstance(tries, int) or tries < 1:
            raise ValueError(f"map space: tries must be an integer >= 1, got {tries!r}")
        self.workload, self.arch, self.bypass, self.tries = workload, arch, bypass, tries
        names = [lv.name for lv in arch.levels]
        self.fixed = [Fixed()] * len(names)
        for name, fixed in (constraints or {}).items():
            if name not in names:
                raise ValueError(f"map space: constraints name unknown level {name!r}; allowed: {', '.join(names)}")
            for t in fixed.keep or ():
                workload.tensor(t)
            Mapping((LevelMapping(name, fixed.temporal, fixed.permutation or (), fixed.spatial),)).check_names(
                list(workload.dims), names)
            self.fixed[names.index(name)] = fixed
        self.slots = [(i, kind) for i in range(len(names)) for kind in KINDS]
        self.free, self.rest = {}, {}   # per dimension: its free slots, and the size they share
        for d, size in workload.dims.items():
            fixed = math.prod(getattr(self.fixed[i], kind).get(d, 1) for i, kind in self.slots)
            if size % fixed:
                raise ValueError(f"map space: the fixed factors of {d} multiply to {fixed}, which does not divide "
                                 f"{d} = {size}")
            self.free[d] = [s for s, (i, kind) in enumerate(self.slots) if d not in getattr(self.fixed[i], kind)
                            and (kind == "temporal" or arch.fanout(i) > 1)]
            self.rest[d] = prime_factors(size // fixed)
            if self.rest[d] and not self.free[d]:
                raise ValueError(f"map space: {d} = {size} but its fixed factors multiply to {fixed} and no "
                                 f"slot is left free")
        self.keeps = [self._keeps(i) for i in range(len(names))]

    def _keeps(self, i: int) -> list[tuple[str, ...] | None]:
        """The kept-tensor choices of level ``i``."""
        if self.fixed[i].keep is not None:
            return [self.fixed[i].keep]
        if not self.bypass or i == 0:
            return [None]
        allowed = [t.name for t in self.workload.tensors
                   if self.arch.levels[i].keeps is None or t.name in self.arch.levels[i].keeps]
        return [c for r in range(len(allowed) + 1) for c in itertools.combinations(allowed, r)]

    # ----- factors ---------------------------------------------------------------------------
    def _factorisations(self, d: str):
        """Every split of dimension ``d`` over its free slots, as a factor per slot."""
        primes = list(self.rest[d].items())
        for choice in itertools.product(*(compositions(e, len(self.free[d])) for _, e in primes)):
            factors = [1] * len(self.slots)
            for (p, _), exponents in zip(primes, choice):
                for s, e in zip(self.free[d], exponents):
                    factors[s] *= p ** e
            yield factors

    def _factor(self, d: str, slot: int, factors: list[int]) -> int:
        """Dimension ``d``'s factor in ``slot``: the fixed one, else ``factors[slot]``."""
        i, kind = self.slots[slot]
        return getattr(self.fixed[i], kind).get(d, factors[slot])

    def _mapping(self, factors: dict[str, list[int]], orders, keeps) -> Mapping:
        """The mapping of per-dimension slot factors (free slots), whole loop orders and keeps;
        each level's permutation lists only its loops above 1."""
        levels = []
        for i, lv in enumerate(self.arch.levels):
            t, s = ({d: self._factor(d, 2 * i + k, factors[d]) for d in self.workload.dims} for k in (0, 1))
            t, s = ({d: f for d, f in x.items() if f > 1} for x in (t, s))
            levels.append(LevelMapping(lv.name, t, tuple(d for d in orders[i] if d in t), s, keeps[i]))
        return Mapping(tuple(levels))

    def _order(self, i: int, order) -> tuple[str, ...]:
        """Level ``i``'s whole loop order: its fixed permutation first, else ``order``."""
        first = self.fixed[i].permutation or tuple(order)
        return tuple(first) + tuple(d for d in self.workload.dims if d not in first)

    # ----- counting and enumeration ----------------------------------------------------------
    def size(self) -> int:
        """Candidate mappings before the fan-outs and capacities prune them: factor splits times
        the orders of each level's loops above 1 times the kept-tensor choices."""
        levels = len(self.arch.levels)
        counts = {(0,) * levels: 1}   # loops above 1 per level (free orders only) -> splits so far
        for d in self.workload.dims:
            new = {}
            for factors in self._factorisations(d):
                loops = tuple(int(self._factor(d, 2 * i, factors) > 1 and self.fixed[i].permutation is None)
                              for i in range(levels))
                for state, n in counts.items():
                    key = tuple(a + b for a, b in zip(state, loops))
                    new[key] = new.get(key, 0) + n
            counts = new
        orders = sum(n * math.prod(math.factorial(k) for k in state) for state, n in counts.items())
        return orders * math.prod(len(k) for k in self.keeps)

    def __iter__(self):
        """Every valid mapping, once each (exhaustive: for small spaces)."""
        dims = list(self.workload.dims)
        for split in itertools.product(*(self._factorisations(d) for d in dims)):
            factors = dict(zip(dims, split))
            if not self._fans_out(factors):
                continue
            levels = range(len(self.keeps))
            base = self._mapping(factors, [self._order(i, ()) for i in levels], [None for _ in levels])
            orders = [[self._order(i, o) for o in itertools.permutations(lm.permutation)]
                      if self.fixed[i].permutation is None else [self._order(i, ())]
                      for i, lm in enumerate(base.levels)]
            for keeps in itertools.product(*self.keeps):
                if not self._valid(self._mapping(factors, [o[0] for o in orders], keeps)):
                    continue
                for order in itertools.product(*orders):
                    yield self._mapping(factors, order, keeps)

    def _fans_out(self, factors) -> bool:
        """Whether every level's spatial factors fit its fan-out (before building the mapping)."""
        return all(math.prod(self._factor(d, 2 * i + 1, factors[d]) for d in self.workload.dims)
                   <= self.arch.fanout(i) for i in range(len(self.arch.levels)))

    def _valid(self, mapping: Mapping) -> bool:
        try:
            mapping.validate(self.workload, self.arch)
        except ValueError:
            return False
        return True

    # ----- random moves ----------------------------------------------------------------------
    def _first_valid(self, make, what: str) -> Mapping:
        """The first valid mapping ``make()`` gives in ``tries`` attempts."""
        for _ in range(self.tries):
            mapping = make()
            if mapping is not None and self._valid(mapping):
                return mapping
        raise ValueError(f"map space: no valid mapping {what} in {self.tries} tries (tries={self.tries}); the "
                         f"capacities, fan-outs or constraints may leave the space empty")

    def sample(self, rng) -> Mapping:
        """A random valid mapping: each prime factor in a random free slot, random loop orders
        and kept tensors, drawn again until valid (unbiased); after ``REJECTIONS`` draws the
        primes that do not fit are moved outward instead (``_repaired``), for spaces where
        valid mappings are too rare to draw."""
        draws = iter(range(self.tries))

        def make():
            exponents = {d: {p: _spread(rng, e, len(self.free[d])) for p, e in self.rest[d].items()}
                         for d in self.workload.dims}
            dims = list(self.workload.dims)
            orders = tuple(self._order(i, [dims[j] for j in rng.permutation(len(dims))])
                           for i in range(len(self.keeps)))
            keeps = tuple(k[rng.integers(len(k))] for k in self.keeps)
            genome = Genome(exponents, orders, keeps)
            return self.decode(genome) if next(draws) < REJECTIONS else self._repaired(genome)
        return self._first_valid(make, "sampled")

    def neighbour(self, mapping: Mapping, rng) -> Mapping:
        """A valid mapping one move from ``mapping``: a prime factor moved to another slot, two
        loops of a level swapped, or (with bypass) another choice of a level's kept tensors."""
        g = self.encode(mapping)

        def make():
            move = rng.integers(3)
            if move == 0:   # move one prime factor
                movable = [(d, p) for d in g.exponents for p in g.exponents[d] if len(self.free[d]) > 1]
                if not movable:
                    return None
                d, p = movable[rng.integers(len(movable))]
                e = list(g.exponents[d][p])
                src = rng.choice([j for j, x in enumerate(e) if x])
                dst = rng.choice([j for j in range(len(e)) if j != src])
                e[src], e[dst] = e[src] - 1, e[dst] + 1
                return self.decode(Genome({**g.exponents, d: {**g.exponents[d], p: tuple(e)}}, g.orders, g.keeps))
            if move == 1:   # swap two loops above 1 of a level with a free order
                perms = [lm.permutation for lm in self.decode(g).levels]
                levels = [i for i, perm in enumerate(perms) if len(perm) > 1 and self.fixed[i].permutation is None]
                if not levels:
                    return None
                i = levels[rng.integers(len(levels))]
                a, b = (perms[i][j] for j in rng.choice(len(perms[i]), 2, replace=False))
                order = tuple(b if x == a else a if x == b else x for x in g.orders[i])
                return self.decode(Genome(g.exponents, g.orders[:i] + (order,) + g.orders[i + 1:], g.keeps))
            levels = [i for i, k in enumerate(self.keeps) if len(k) > 1]
            if not levels:
                return None
            i = levels[rng.integers(len(levels))]
            keep = [k for k in self.keeps[i] if k != g.keeps[i]]
            return self.decode(Genome(g.exponents, g.orders, g.keeps[:i] + (keep[rng.integers(len(keep))],)
                                      + g.keeps[i + 1:]))
        return self._first_valid(make, "next to the mapping")

    def crossover(self, a: Mapping, b: Mapping, rng) -> Mapping:
        """A valid child of two mappings: each (dimension, prime), each level's loop order and
        kept tensors from one parent or the other (GAMMA's crossover), drawn again until valid."""
        ga, gb = self.encode(a), self.encode(b)

        def make():
            pick = lambda x, y: x if rng.random() < 0.5 else y
            exponents = {d: {p: pick(ga.exponents[d][p], gb.exponents[d][p]) for p in ga.exponents[d]}
                         for d in ga.exponents}
            return self.decode(Genome(exponents, tuple(map(pick, ga.orders, gb.orders)),
                                      tuple(map(pick, ga.keeps, gb.keeps))))
        return self._first_valid(make, "crossing the parents")

    def project(self, factors: dict[str, list[float]], orders=None, keeps=None) -> Mapping:
        """The valid mapping nearest to wanted (real-valued) factors, ``factors[d][slot]`` for
        every slot: each dimension split over its free slots as close to them as can be (least
        squares in logarithms); then, while a fan-out or capacity refuses the
        mapping, the prime in the innermost slot moves to the outermost free temporal slot.
        ``orders`` (a loop order per level, innermost first) and ``keeps`` default to the
        unit's fixed ones, else the workload's order and every tensor. Warm-start carries a
        mapping across shapes this way, and Mind Mappings its gradient steps back to the space."""
        dims = list(self.workload.dims)
        exponents = {d: self._nearest_split(d, factors.get(d)) for d in dims}
        orders = tuple(self._order(i, orders[i] if orders else ()) for i in range(len(self.keeps)))
        keeps = tuple(k if (keeps and (k := keeps[i]) in self.keeps[i]) else self.keeps[i][-1]
                      for i in range(len(self.keeps)))
        mapping = self._repaired(Genome(exponents, orders, keeps))
        if mapping is None:
            raise ValueError("map space: no valid mapping near the wanted factors; the capacities, fan-outs or "
                             "constraints may leave the space empty")
        return mapping

    def _repaired(self, genome: Genome) -> Mapping | None:
        """The mapping of ``genome``, or while a fan-out or capacity refuses it, of the genome
        with its innermost prime moved outward (``_outward``); None when nothing is left to move."""
        while genome is not None:
            mapping = self.decode(genome)
            if self._valid(mapping):
                return mapping
            genome = self._outward(genome)
        return None

    def _nearest_split(self, d: str, wanted) -> dict[int, tuple[int, ...]]:
        """The exponents (per prime, per free slot) of the split of ``d`` nearest to ``wanted``
        (a factor per slot) in squared logarithms; every split is tried up to ``SPLITS`` of
        them, beyond that each prime, largest first, goes where the most is missing."""
        free = self.free[d]
        want = [math.log(max(float(wanted[s]), 1e-9)) if wanted else 0.0 for s in free]
        primes = list(self.rest[d].items())
        if math.prod(math.comb(e + len(free) - 1, e) for _, e in primes) <= SPLITS:
            def error(choice):
                have = [sum(exps[j] * math.log(p) for (p, _), exps in zip(primes, choice)) for j in range(len(free))]
                return sum((h - w) ** 2 for h, w in zip(have, want))
            best = min(itertools.product(*(compositions(e, len(free)) for _, e in primes)), key=error,
                       default=())
            return {p: tuple(c) for (p, _), c in zip(primes, best)}
        have = [0.0] * len(free)
        counts = {p: [0] * len(free) for p, _ in primes}
        for p in sorted((p for p, e in primes for _ in range(e)), reverse=True):
            j = max(range(len(free)), key=lambda j: (want[j] - have[j], -j))
            counts[p][j] += 1
            have[j] += math.log(p)
        return {p: tuple(c) for p, c in counts.items()}

    def nearest(self, mapping: Mapping) -> Mapping:
        """The mapping of this space nearest to ``mapping`` (of another workload on the same
        architecture): its factors, loop orders and kept tensors projected here."""
        return self.project(self.slot_factors(mapping), [lm.permutation for lm in
                            (mapping.at(lv.name) for lv in self.arch.levels)],
                            [mapping.at(lv.name).keep for lv in self.arch.levels])

    def _outward(self, g: Genome) -> Genome | None:
        """``g`` with one prime moved from the innermost slot holding one to the outermost free
        temporal slot of its dimension (None when every prime is there already)."""
        best = None
        for d in self.workload.dims:
            outer = next((j for j, s in enumerate(self.free[d]) if self.slots[s][1] == "temporal"), None)
            if outer is None:
                continue
            for p, e in g.exponents[d].items():
                for j in range(len(e) - 1, outer, -1):
                    if e[j] and (best is None or self.free[d][j] > best[0]):
                        best = (self.free[d][j], d, p, j, outer)
                    if e[j]:
                        break
        if best is None:
            return None
        _, d, p, j, outer = best
        e = list(g.exponents[d][p])
        e[j], e[outer] = e[j] - 1, e[outer] + 1
        return Genome({**g.exponents, d: {**g.exponents[d], p: tuple(e)}}, g.orders, g.keeps)

    def slot_factors(self, mapping: Mapping) -> dict[str, list[int]]:
        """Each dimension's factor in every slot of ``mapping`` (what ``project`` wants)."""
        return {d: [getattr(mapping.at(self.arch.levels[i].name), kind).get(d, 1) for i, kind in self.slots]
                for d in self.workload.dims}

    # ----- the genome ------------------------------------------------------------------------
    def encode(self, mapping: Mapping) -> Genome:
        """The genome of a mapping of this space."""
        exponents = {}
        for d in self.workload.dims:
            values = [getattr(mapping.at(self.arch.levels[i].name), kind).get(d, 1) for i, kind in self.slots]
            exponents[d] = {p: tuple(_multiplicity(values[s], p) for s in self.free[d]) for p in self.rest[d]}
        orders = tuple(self._order(i, mapping.at(lv.name).permutation) for i, lv in enumerate(self.arch.levels))
        return Genome(exponents, orders, tuple(mapping.at(lv.name).keep for lv in self.arch.levels))

    def decode(self, genome: Genome) -> Mapping:
        """The mapping of a genome (not validated)."""
        factors = {}
        for d in self.workload.dims:
            free = [1] * len(self.slots)
            for p, exponents in genome.exponents[d].items():
                for s, e in zip(self.free[d], exponents):
                    free[s] *= p ** e
            factors[d] = free
        return self._mapping(factors, genome.orders, genome.keeps)


def _spread(rng, total: int, parts: int) -> tuple[int, ...]:
    """``total`` units dropped one by one into ``parts`` random bins."""
    counts = [0] * parts
    for j in rng.integers(parts, size=total):
        counts[j] += 1
    return tuple(counts)


def _multiplicity(n: int, p: int) -> int:
    """The exponent of the prime ``p`` in ``n``."""
    e = 0
    while n % p == 0:
        n, e = n // p, e + 1
    return e


class Candidates:
    """A map space given as the list of its mappings (a unit's ``Unit.mappings``, in order):
    a sample is any of them, a neighbour one next to it in the list, a crossover either parent."""

    def __init__(self, mappings):
        self.mappings = list(mappings)
        if not self.mappings:
            raise ValueError("the map space is empty: no mapping satisfies the constraints")

    def size(self) -> int:
        return len(self.mappings)

    def __iter__(self):
        return iter(self.mappings)

    def sample(self, rng) -> Mapping:
        return self.mappings[int(rng.integers(len(self.mappings)))]

    def neighbour(self, mapping: Mapping, rng) -> Mapping:
        if len(self.mappings) == 1:
            return mapping
        i = self.mappings.index(mapping)
        step = 1 if i == 0 else -1 if i == len(self.mappings) - 1 else (1 if rng.random() < 0.5 else -1)
        return self.mappings[i + step]

    def crossover(self, a: Mapping, b: Mapping, rng) -> Mapping:
        return a if rng.random() < 0.5 else b

    def nearest(self, mapping: Mapping) -> Mapping:
        """The listed mapping nearest to ``mapping`` (of another GEMM on the same unit): least
        squared distance of the logarithms of every level's factors; the first on a tie."""
        def factors(m):
            return {(lm.level, kind, d): math.log(f) for lm in m.levels
                    for kind, fs in (("t", lm.temporal), ("s", lm.spatial)) for d, f in fs.items()}
        want = factors(mapping)
        def distance(m):
            have = factors(m)
            return sum((have.get(k, 0.0) - want.get(k, 0.0)) ** 2 for k in set(have) | set(want))
        return min(self.mappings, key=distance)
