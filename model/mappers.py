"""Mappers: searches of a map space (``mapspace.MapSpace``) for the mapping that minimises an
objective of the model's result, within a budget of evaluations.

* ``exhaustive``: every valid mapping in turn (the ground truth on small spaces);
* ``random_search``: independent samples of the space;
* ``simulated_annealing``: ``restarts`` walks side by side, each from a fresh random mapping
  to neighbouring ones, taking a worse one with a probability that falls as the temperature
  cools geometrically over the walk (several walks, so that one stuck walk does not waste the
  budget, and a step of every walk is one batch for the pool);
* ``genetic``: a population bred by tournament selection, crossover and mutation (GAMMA's
  operators on the genome of ``MapSpace``), the best one always kept;
* ``tpe``: Bayesian optimisation with optuna's tree-structured Parzen estimator over a
  parametrisation of the space (``_Parameters``), each trial projected to the nearest valid
  mapping (needs optuna).

Each takes ``(space, evaluate, budget, seed, objective)``: ``evaluate(mapping)`` returns the
model's ``Result``, ``budget`` is the number of calls to it (a mapping seen twice costs twice),
and every random choice comes from ``numpy.random.default_rng(seed)``. Candidates are drawn a
batch at a time before any of the batch is evaluated, and ``pool`` (``pool.SerialPool`` or
``pool.DaskPool``) returns the batch's results in order: one seed, one result, on one worker or
many. ``start`` (warm-start) lists mappings to begin from: the first samples, the walks' first
mappings, the first members of the population. ``progress`` shows a bar of evaluations done
and the best so far.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice, permutations

import numpy as np

from .mapping import Mapping
from .mapspace import Candidates, compositions
from .pool import SerialPool

OBJECTIVES = {"edp": lambda r: r.edp, "energy": lambda r: r.energy_pj, "cycles": lambda r: r.cycles}
BATCH = 64   # candidates a random or exhaustive search draws before evaluating them
CHOICES = 5040   # the most splits of a prime, or orders of a level's loops, one TPE categorical holds


@dataclass
class SearchResult:
    """The best mapping found, its objective and result, ``convergence``: (evaluations so far,
    best objective so far) after each evaluation, and ``improvements``: (evaluations so far,
    mapping) each time the best changed."""
    best_mapping: Mapping | None = None
    best_value: float = math.inf
    best_result: object = None
    convergence: list[tuple[int, float]] = field(default_factory=list)
    improvements: list[tuple[int, Mapping]] = field(default_factory=list)


class Search:
    """Evaluations counted against the budget, a batch at a time through the pool, the best so
    far kept."""

    def __init__(self, evaluate: Callable, budget: int, objective: str, pool=None, progress: bool = False):
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise ValueError(f"budget must be an integer >= 1 (evaluations), got {budget!r}")
        if not callable(objective) and objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        self.evaluate, self.budget = evaluate, budget
        self.value_of = objective if callable(objective) else OBJECTIVES[objective]
        self.pool = pool or SerialPool()
        self.result = SearchResult()
        self.bar = None
        if progress:
            from tqdm import tqdm
            self.bar = tqdm(total=budget, unit="eval", desc="search", leave=False, disable=None)

    @property
    def left(self) -> int:
        return self.budget - len(self.result.convergence)

    def batch(self, mappings: Sequence[Mapping]) -> list[float]:
        """The objective of each mapping (no more than the budget left)."""
        mappings = list(mappings)[:self.left]
        values = []
        for mapping, result in zip(mappings, self.pool.map(self.evaluate, mappings)):
            value = self.value_of(result)
            if value < self.result.best_value:
                self.result.best_mapping, self.result.best_value, self.result.best_result = mapping, value, result
                self.result.improvements.append((len(self.result.convergence) + 1, mapping))
            self.result.convergence.append((len(self.result.convergence) + 1, self.result.best_value))
            values.append(value)
        if self.bar is not None:
            self.bar.update(len(mappings))
            self.bar.set_postfix(best=f"{self.result.best_value:.4g}")
            if not self.left:
                self.bar.close()
        return values

    def done(self) -> SearchResult:
        if self.bar is not None:
            self.bar.close()
        return self.result


def exhaustive(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp", *, pool=None,
               start: Sequence[Mapping] = (), progress: bool = False) -> SearchResult:
    """Every valid mapping of the space in turn, up to ``budget`` of them (``seed`` and
    ``start`` unused)."""
    search = Search(evaluate, budget, objective, pool, progress)
    mappings = iter(space)
    while search.left:
        chunk = list(islice(mappings, min(BATCH, search.left)))
        if not chunk:
            break
        search.batch(chunk)
    return search.done()


def random_search(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp", *, pool=None,
                  start: Sequence[Mapping] = (), progress: bool = False) -> SearchResult:
    """The best of the ``start`` mappings and random valid ones, ``budget`` in all."""
    search, rng = Search(evaluate, budget, objective, pool, progress), np.random.default_rng(seed)
    search.batch(start)
    while search.left:
        search.batch([space.sample(rng) for _ in range(min(BATCH, search.left))])
    return search.done()


def simulated_annealing(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp",
                        start_temperature: float = 1.0, end_temperature: float = 0.05, restarts: int = 6, *,
                        pool=None, start: Sequence[Mapping] = (), progress: bool = False) -> SearchResult:
    """``restarts`` walks side by side, the budget shared between them, each from a ``start``
    mapping or a random one to neighbouring ones: a worse neighbour is taken with probability
    ``exp(-relative worsening / temperature)``, the temperature falling from
    ``start_temperature`` to ``end_temperature`` over the walk."""
    if not 0 < end_temperature <= start_temperature:
        raise ValueError(f"temperatures must satisfy 0 < end <= start, got start={start_temperature!r}, "
                         f"end={end_temperature!r}")
    if not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}")
    search, rng = Search(evaluate, budget, objective, pool, progress), np.random.default_rng(seed)
    walks = min(restarts, budget)
    steps = [budget // walks + (w < budget % walks) for w in range(walks)]
    current = list(start[:walks]) + [space.sample(rng) for _ in range(walks - len(start[:walks]))]
    value = search.batch(current)
    for step in range(1, max(steps)):
        alive = [w for w in range(walks) if steps[w] > step]
        candidates = [space.neighbour(current[w], rng) for w in alive]
        for w, candidate, new in zip(alive, candidates, search.batch(candidates)):
            temperature = start_temperature * (end_temperature / start_temperature) ** (step / steps[w])
            worse = (new - value[w]) / value[w] if value[w] > 0 else (math.inf if new > value[w] else 0.0)
            if worse <= 0 or rng.random() < math.exp(-worse / temperature):
                current[w], value[w] = candidate, new
    return search.done()


def genetic(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp", population: int = 32,
            mutation: float = 0.5, *, pool=None, start: Sequence[Mapping] = (),
            progress: bool = False) -> SearchResult:
    """Generations of ``population`` mappings (the first: the ``start`` ones, then random
    ones): each child the crossover of two tournament winners, mutated (a neighbour taken) with
    probability ``mutation``; the best mapping so far survives into every generation."""
    if not isinstance(population, int) or population < 2:
        raise ValueError(f"population must be an integer >= 2, got {population!r}")
    if not 0 <= mutation <= 1:
        raise ValueError(f"mutation must be a probability in 0..1, got {mutation!r}")
    search, rng = Search(evaluate, budget, objective, pool, progress), np.random.default_rng(seed)
    first = list(start[:population])
    first += [space.sample(rng) for _ in range(min(population, budget) - len(first))]
    scored = list(zip(search.batch(first), first))

    def winner():
        a, b = rng.choice(len(scored), 2, replace=False)
        return min(scored[a], scored[b], key=lambda s: s[0])[1]

    while search.left:
        children = []
        for _ in range(min(population - 1, search.left)):
            child = space.crossover(winner(), winner(), rng)
            if rng.random() < mutation:
                child = space.neighbour(child, rng)
            children.append(child)
        scored = [min(scored, key=lambda s: s[0])] + list(zip(search.batch(children), children))
    return search.done()


class _Parameters:
    """A mapping of a ``MapSpace`` as optuna parameters, each a categorical where it can be: per
    dimension and prime of what its free slots share (``rest``), the index of the prime's split
    over those slots (one categorical per instance of the prime, the slot it goes to, where the
    splits are more than ``CHOICES``); per level with a free loop order, the index of the order
    of its loops (where they have more than ``CHOICES`` orders, a key in [0, 1] per loop, the
    loops sorted by key, innermost first); per level with a choice of kept tensors, its index.
    Whole splits and orders as categoricals find better mappings than per-prime slots and keys
    (TPE models each parameter apart). A ``Candidates`` space is the index of one of its mappings."""

    def __init__(self, space):
        from optuna.distributions import CategoricalDistribution, FloatDistribution

        self.space, self.listed, self.distributions = space, isinstance(space, Candidates), {}
        if self.listed:
            self.distributions["mapping"] = CategoricalDistribution(tuple(range(space.size())))
            return
        dims = list(space.workload.dims)
        self.splits = {}   # (dimension, prime) -> every split (exponent per free slot), if few
        for d in dims:
            for p, e in space.rest[d].items():
                if math.comb(e + len(space.free[d]) - 1, e) <= CHOICES:
                    self.splits[d, p] = list(compositions(e, len(space.free[d])))
                    self.distributions[f"{d}.{p}"] = CategoricalDistribution(tuple(range(len(self.splits[d, p]))))
                else:
                    for k in range(e):
                        self.distributions[f"{d}.{p}.{k}"] = CategoricalDistribution(tuple(space.free[d]))
        self.loops = [[d for d in dims if (2 * i in space.free[d] and space.rest[d])
                       or space.fixed[i].temporal.get(d, 1) > 1] if space.fixed[i].permutation is None else []
                      for i in range(len(space.keeps))]
        self.orders = {}   # level -> every order of its loops, if few
        for i, loops in enumerate(self.loops):
            if 1 < len(loops) and math.factorial(len(loops)) <= CHOICES:
                self.orders[i] = list(permutations(loops))
                self.distributions[f"order.{i}"] = CategoricalDistribution(tuple(range(len(self.orders[i]))))
            elif len(loops) > 1:
                for d in loops:
                    self.distributions[f"order.{i}.{d}"] = FloatDistribution(0.0, 1.0)
        for i, keeps in enumerate(space.keeps):
            if len(keeps) > 1:
                self.distributions[f"keep.{i}"] = CategoricalDistribution(tuple(range(len(keeps))))

    def mapping(self, params: dict) -> Mapping:
        """The valid mapping nearest to the parameters (``MapSpace.project``)."""
        space = self.space
        if self.listed:
            return space.mappings[params["mapping"]]
        factors = {d: [1] * len(space.slots) for d in space.workload.dims}
        for d in factors:
            for p, e in space.rest[d].items():
                if (d, p) in self.splits:
                    for s, x in zip(space.free[d], self.splits[d, p][params[f"{d}.{p}"]]):
                        factors[d][s] *= p ** x
                else:
                    for k in range(e):
                        factors[d][params[f"{d}.{p}.{k}"]] *= p
        orders = [self.orders[i][params[f"order.{i}"]] if i in self.orders
                  else sorted(loops, key=lambda d: params.get(f"order.{i}.{d}", 0.0))
                  for i, loops in enumerate(self.loops)]
        keeps = [k[params.get(f"keep.{i}", 0)] for i, k in enumerate(space.keeps)]
        return space.project(factors, orders, keeps)

    def of(self, mapping: Mapping) -> dict:
        """The parameters of a mapping of the space (what a warm start enqueues)."""
        space = self.space
        if self.listed:
            nests = [m.nest() for m in space.mappings]
            if mapping.nest() not in nests:
                raise ValueError("tpe: a start mapping must be one of the space's candidates")
            return {"mapping": nests.index(mapping.nest())}
        genome, params = space.encode(mapping), {}
        for d, primes in genome.exponents.items():
            for p, exponents in primes.items():
                if (d, p) in self.splits:
                    params[f"{d}.{p}"] = self.splits[d, p].index(exponents)
                else:
                    slots = [s for s, e in zip(space.free[d], exponents) for _ in range(e)]
                    params.update({f"{d}.{p}.{k}": s for k, s in enumerate(slots)})
        for i, loops in enumerate(self.loops):
            order = tuple(d for d in genome.orders[i] if d in loops)
            if i in self.orders:
                params[f"order.{i}"] = self.orders[i].index(order)
            elif len(loops) > 1:
                params.update({f"order.{i}.{d}": j / (len(order) - 1) for j, d in enumerate(order)})
        for i, keeps in enumerate(space.keeps):
            if len(keeps) > 1:
                params[f"keep.{i}"] = keeps.index(genome.keeps[i]) if genome.keeps[i] in keeps else len(keeps) - 1
        return params


def tpe(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp", batch: int = 16, *,
        pool=None, start: Sequence[Mapping] = (), progress: bool = False) -> SearchResult:
    """Optuna's TPE sampler (seeded with ``seed``) on an in-memory study: ``batch`` trials asked
    at a time (those not told yet stand in as the worst so far, optuna's constant liar), each
    projected to the nearest valid mapping, evaluated as one batch and told its objective; the
    ``start`` mappings are the first trials. ``batch`` does not follow the pool's workers, so
    that one seed takes one path on any pool. A trial whose parameters project to no valid
    mapping (kept tensors that cannot fit) is told it failed and costs no evaluation. Each ask
    takes time in proportion to the trials so far (optuna's TPE), about 20 ms at a thousand:
    a search of thousands of evaluations spends more time in the sampler than in the model."""
    import optuna

    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1 (trials asked at a time), got {batch!r}")
    search, parameters = Search(evaluate, budget, objective, pool, progress), _Parameters(space)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), direction="minimize")
        for mapping in start:
            study.enqueue_trial(parameters.of(mapping))
        failed = 0   # trials in a row that projected to no valid mapping
        while search.left:
            trials, mappings = [], []
            for trial in [study.ask(parameters.distributions) for _ in range(min(batch, search.left))]:
                try:
                    mappings.append(parameters.mapping(trial.params))
                    trials.append(trial)
                except ValueError:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
            failed = 0 if trials else failed + min(batch, search.left)
            if failed >= getattr(space, "tries", 1000):
                raise ValueError(f"tpe: {failed} trials in a row projected to no valid mapping; the capacities, "
                                 f"fan-outs or constraints may leave the space empty")
            for trial, value in zip(trials, search.batch(mappings)):
                study.tell(trial, value)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return search.done()


#: The mappers by the names the command line gives them.
MAPPERS = {"exhaustive": exhaustive, "random": random_search, "sa": simulated_annealing, "ga": genetic, "tpe": tpe}
