"""Mappers: searches of a map space (``mapspace.MapSpace``) for the mapping that minimises an
objective of the model's result, within a budget of evaluations.

* ``exhaustive``: every valid mapping in turn (the ground truth on small spaces);
* ``random_search``: independent samples of the space;
* ``simulated_annealing``: walks of neighbouring mappings that take a worse one with a
  probability that falls as the temperature cools geometrically over the walk (a few walks
  from fresh random mappings share the budget, so that one stuck walk does not waste it);
* ``genetic``: a population bred by tournament selection, crossover and mutation (GAMMA's
  operators on the genome of ``MapSpace``), the best one always kept.

Each takes ``(space, evaluate, budget, seed, objective)``: ``evaluate(mapping)`` returns the
model's ``Result``, ``budget`` is the number of calls to it (a mapping seen twice costs twice),
and every random choice comes from ``numpy.random.default_rng(seed)``: one seed, one result.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .mapping import Mapping

OBJECTIVES = {"edp": lambda r: r.edp, "energy": lambda r: r.energy_pj, "cycles": lambda r: r.cycles}


@dataclass
class SearchResult:
    """The best mapping found, its objective and result, and ``convergence``: (evaluations so
    far, best objective so far) after each evaluation."""
    best_mapping: Mapping | None = None
    best_value: float = math.inf
    best_result: object = None
    convergence: list[tuple[int, float]] = field(default_factory=list)


class _Search:
    """Evaluations counted against the budget, the best so far kept."""

    def __init__(self, evaluate: Callable, budget: int, objective: str):
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise ValueError(f"budget must be an integer >= 1 (evaluations), got {budget!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        self.evaluate, self.budget, self.value_of = evaluate, budget, OBJECTIVES[objective]
        self.result = SearchResult()

    @property
    def left(self) -> int:
        return self.budget - len(self.result.convergence)

    def __call__(self, mapping: Mapping) -> float:
        result = self.evaluate(mapping)
        value = self.value_of(result)
        if value < self.result.best_value:
            self.result.best_mapping, self.result.best_value, self.result.best_result = mapping, value, result
        self.result.convergence.append((len(self.result.convergence) + 1, self.result.best_value))
        return value


def exhaustive(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp") -> SearchResult:
    """Every valid mapping of the space in turn, up to ``budget`` of them (``seed`` unused)."""
    search = _Search(evaluate, budget, objective)
    for mapping in space:
        if not search.left:
            break
        search(mapping)
    return search.result


def random_search(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp") -> SearchResult:
    """The best of ``budget`` random valid mappings."""
    search, rng = _Search(evaluate, budget, objective), np.random.default_rng(seed)
    while search.left:
        search(space.sample(rng))
    return search.result


def simulated_annealing(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp",
                        start: float = 1.0, end: float = 0.05, restarts: int = 6) -> SearchResult:
    """``restarts`` walks, the budget shared between them, each from a random mapping to
    neighbouring ones: a worse neighbour is taken with probability ``exp(-relative worsening /
    temperature)``, the temperature falling from ``start`` to ``end`` over the walk."""
    if not 0 < end <= start:
        raise ValueError(f"temperatures must satisfy 0 < end <= start, got start={start!r}, end={end!r}")
    if not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}")
    search, rng = _Search(evaluate, budget, objective), np.random.default_rng(seed)
    for walk in range(restarts):
        steps = search.left // (restarts - walk)
        if not steps:
            continue
        current = space.sample(rng)
        value = search(current)
        for step in range(1, steps):
            temperature = start * (end / start) ** (step / steps)
            candidate = space.neighbour(current, rng)
            new = search(candidate)
            worse = (new - value) / value if value > 0 else (math.inf if new > value else 0.0)
            if worse <= 0 or rng.random() < math.exp(-worse / temperature):
                current, value = candidate, new
    return search.result


def genetic(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp", population: int = 32,
            mutation: float = 0.5) -> SearchResult:
    """Generations of ``population`` mappings: each child the crossover of two tournament
    winners, mutated (a neighbour taken) with probability ``mutation``; the best mapping so
    far survives into every generation."""
    if not isinstance(population, int) or population < 2:
        raise ValueError(f"population must be an integer >= 2, got {population!r}")
    if not 0 <= mutation <= 1:
        raise ValueError(f"mutation must be a probability in 0..1, got {mutation!r}")
    search, rng = _Search(evaluate, budget, objective), np.random.default_rng(seed)
    scored = []
    while search.left and len(scored) < population:
        mapping = space.sample(rng)
        scored.append((search(mapping), mapping))

    def winner():
        a, b = rng.choice(len(scored), 2, replace=False)
        return min(scored[a], scored[b], key=lambda s: s[0])[1]

    while search.left:
        children = [min(scored, key=lambda s: s[0])]
        while search.left and len(children) < population:
            child = space.crossover(winner(), winner(), rng)
            if rng.random() < mutation:
                child = space.neighbour(child, rng)
            children.append((search(child), child))
        scored = children
    return search.result


#: The mappers by the names the command line gives them.
MAPPERS = {"exhaustive": exhaustive, "random": random_search, "sa": simulated_annealing, "ga": genetic}
