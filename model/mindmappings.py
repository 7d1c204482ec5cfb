"""Mind Mappings (Hegde et al., ASPLOS 2021): a search of a map space by gradient descent on a
differentiable surrogate of the cost model, each step projected back to a valid mapping.

* **features** (``Layout``): a problem part, the log2 of each dimension's size (frozen during a
  search), and a mapping part: per dimension and slot (level, temporal or spatial) the log2 of
  the factor, per level and dimension the normalised position of its loop in the level's
  order (0 innermost, 1 outermost), per level below the outermost and tensor it may hold a
  kept bit. Their length is fixed by the architecture, the dimension names and the tensors:
  one surrogate serves every problem of a workload family on one architecture;
* **targets**: the meta-statistics the paper found to train better than the cost alone, each
  level's energy (log), the total energy (log), the cycles (log), the utilisation and the EDP
  (log), every one standardised;
* **training** (``train``): random problems of the family around the given shapes (each size
  replaced by a product of 2, 3 and 5 within a factor ``spread`` of it), random valid mappings
  of each (``MapSpace.sample``) evaluated with ``analyse``; an MLP fitted with Adam on the mean
  squared error; the held-out mappings' median relative error of the predicted EDP, its rank
  correlation with the true EDP and the wall-clock training time kept in ``Surrogate.meta``;
* **search** (``mind_mappings``): ``walks`` walks side by side, each from a ``start`` mapping or
  a random one; a step moves every walk's mapping part down the gradient (torch autograd) of
  the predicted objective, in the standardised coordinates the network reads, the largest
  coordinate by ``lr``; each walk is projected to the nearest valid mapping
  (``MapSpace.project``: factors ``2 ** log-factor``, loops sorted by position, tensors whose
  bit is above 0.5 kept), and the walks' new mappings are evaluated with the true model as
  one batch (counted against the budget). A walk whose projection is a mapping evaluated
  before is not evaluated again: it steps on. A walk that has taken ``steps_per_restart``
  steps without beating its best restarts from a random mapping, evaluated whatever it is
  (the paper's random restarts out of local minima; they also end a search of a space the
  walks have exhausted).

torch is imported where it is used, so the package imports without it.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from .analysis import analyse
from .arch import Architecture
from .mappers import OBJECTIVES, Search, SearchResult
from .mapping import Mapping
from .mapspace import MapSpace
from .workload import Workload

SMOOTH = (2, 3, 5)   # the primes of the sizes of random problems


class Layout:
    """Where each feature and target sits for one architecture and workload family (its
    dimension names and tensor names, in order)."""

    def __init__(self, arch: Architecture, dims: Sequence[str], tensors: Sequence[str]):
        self.arch = json.dumps(arch.to_dict(), sort_keys=True)
        self.levels, self.dims, self.tensors = [lv.name for lv in arch.levels], list(dims), list(tensors)
        self.slots = len(self.levels) * 2
        self.kept = [(i, t) for i in range(1, len(self.levels)) for t in self.tensors
                     if arch.levels[i].keeps is None or t in arch.levels[i].keeps]
        self.targets = [f"energy {lv}" for lv in self.levels] + ["energy", "cycles", "utilization", "edp"]
        self.size = len(self.dims) * (1 + self.slots + len(self.levels)) + len(self.kept)   # features

    @classmethod
    def of(cls, arch: Architecture, workload: Workload) -> Layout:
        return cls(arch, list(workload.dims), [t.name for t in workload.tensors])

    def to_dict(self) -> dict:
        return {"architecture": json.loads(self.arch), "dims": self.dims, "tensors": self.tensors}

    @classmethod
    def from_dict(cls, d: dict) -> Layout:
        return cls(Architecture.from_dict(d["architecture"]), d["dims"], d["tensors"])

    def check(self, arch: Architecture, workload: Workload) -> None:
        """Raise ValueError unless ``workload`` on ``arch`` has this layout."""
        if json.dumps(arch.to_dict(), sort_keys=True) != self.arch:
            raise ValueError(f"surrogate: trained on architecture {json.loads(self.arch)['architecture']['name']!r} "
                             f"({', '.join(self.levels)}), not on {arch.name!r} as described")
        if list(workload.dims) != self.dims or [t.name for t in workload.tensors] != self.tensors:
            raise ValueError(f"surrogate: trained on workloads of dimensions {', '.join(self.dims)} and tensors "
                             f"{', '.join(self.tensors)}; got {', '.join(workload.dims)} and "
                             f"{', '.join(t.name for t in workload.tensors)}")

    # ----- features -----------------------------------------------------------------------
    def problem(self, workload: Workload) -> np.ndarray:
        return np.log2([workload.dims[d] for d in self.dims])

    def mapping(self, workload: Workload, arch: Architecture, mapping: Mapping) -> np.ndarray:
        """The mapping part: log2 factors (dimension-major, slots outermost first), loop
        positions (level-major), kept bits."""
        levels = [mapping.at(name) for name in self.levels]
        factors = [math.log2(getattr(lm, kind).get(d, 1)) for d in self.dims for lm in levels
                   for kind in ("temporal", "spatial")]
        last = max(1, len(self.dims) - 1)
        positions = []
        for lm in levels:
            order = list(lm.permutation) + [d for d in self.dims if d not in lm.permutation]
            positions += [order.index(d) / last for d in self.dims]
        kept = [{t.name for t in mapping.kept(workload, arch, i)} for i in range(len(self.levels))]
        return np.array(factors + positions + [float(t in kept[i]) for i, t in self.kept])

    def free(self, space: MapSpace) -> np.ndarray:
        """Which coordinates of the mapping part a search of ``space`` may move: the factors of
        free slots of dimensions with something to split, the positions of loops of levels
        with a free order, the bits of levels with a choice of kept tensors."""
        factors = [s in space.free[d] and bool(space.rest[d]) for d in self.dims for s in range(self.slots)]
        positions = [space.fixed[i].permutation is None for i in range(len(self.levels)) for _ in self.dims]
        return np.array(factors + positions + [len(space.keeps[i]) > 1 for i, _ in self.kept])

    def bounds(self, space: MapSpace) -> tuple[np.ndarray, np.ndarray]:
        """The box a search keeps the mapping part in: factors 1 to the dimension's size,
        positions and bits 0 to 1."""
        high = [math.log2(space.workload.dims[d]) for d in self.dims for _ in range(self.slots)]
        high += [1.0] * (len(self.levels) * len(self.dims) + len(self.kept))
        return np.zeros(len(high)), np.array(high)

    def decode(self, space: MapSpace, x: np.ndarray) -> Mapping:
        """The valid mapping of ``space`` nearest to a mapping part ``x``."""
        n, d_count = self.slots, len(self.dims)
        factors = {d: list(2.0 ** x[j * n:(j + 1) * n]) for j, d in enumerate(self.dims)}
        positions = x[d_count * n:d_count * n + len(self.levels) * d_count].reshape(len(self.levels), d_count)
        orders = [[self.dims[j] for j in np.argsort(p, kind="stable")] for p in positions]
        bits = dict(zip(self.kept, x[d_count * n + len(self.levels) * d_count:]))
        keeps = [tuple(t for t in self.tensors if bits.get((i, t), 0.0) > 0.5) if len(k) > 1 else k[0]
                 for i, k in enumerate(space.keeps)]
        return space.project(factors, orders, keeps)

    def target_values(self, result) -> list[float]:
        """The targets of a model result."""
        return ([math.log1p(lv.energy_pj) for lv in result.levels]
                + [math.log(result.energy_pj), math.log(result.cycles), result.utilization, math.log(result.edp)])


# ----- the surrogate ---------------------------------------------------------------------------
def _network(inputs: int, hidden: Sequence[int], outputs: int):
    import torch.nn as nn

    layers, width = [], inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.GELU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, outputs))


class Surrogate:
    """An MLP from features to targets with the standardisation of both; ``meta`` records how
    it was trained (samples, epochs, seconds) and how well it predicts held-out mappings."""

    def __init__(self, layout: Layout, hidden: Sequence[int], stats: dict[str, np.ndarray], meta: dict,
                 state: dict | None = None):
        import torch

        self.layout, self.hidden, self.meta = layout, list(hidden), meta
        self.net = _network(layout.size, self.hidden, len(layout.targets))
        if state is not None:
            self.net.load_state_dict(state)
        self.net.eval()
        self.stats = {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}
        self._stats = {k: torch.tensor(v, dtype=torch.float32) for k, v in self.stats.items()}

    def forward(self, x):
        """Targets (standardisation undone) of a torch batch of features, differentiably."""
        s = self._stats
        return self.net((x - s["x_mean"]) / s["x_std"]) * s["y_std"] + s["y_mean"]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Targets of a batch of features (rows), as numbers."""
        import torch

        with torch.no_grad():
            return self.forward(torch.tensor(np.atleast_2d(features), dtype=torch.float32)).double().numpy()

    def save(self, path) -> None:
        """One torch file: the weights, the standardisation, the layout and the metadata."""
        import torch

        torch.save({"state": self.net.state_dict(), "hidden": self.hidden,
                    "stats": {k: torch.tensor(v) for k, v in self.stats.items()},
                    "layout": json.dumps(self.layout.to_dict()), "meta": json.dumps(self.meta)}, path)

    @classmethod
    def load(cls, path) -> Surrogate:
        import torch

        saved = torch.load(path, weights_only=True)
        return cls(Layout.from_dict(json.loads(saved["layout"])), saved["hidden"],
                   {k: v.numpy() for k, v in saved["stats"].items()}, json.loads(saved["meta"]), saved["state"])


# ----- training --------------------------------------------------------------------------------
def problems(workloads: Sequence[Workload], count: int, rng, spread: float = 2.0) -> list[Workload]:
    """The ``workloads`` and random others of the family up to ``count``: one of them with each
    size replaced by a product of ``SMOOTH`` primes (or itself) within a factor ``spread`` of it."""
    found = list(workloads)
    while len(found) < count:
        base = workloads[int(rng.integers(len(workloads)))]
        dims = {}
        for d, n in base.dims.items():
            sizes = [m for m in range(max(1, math.ceil(n / spread)), int(n * spread) + 1) if _smooth(m) or m == n]
            dims[d] = sizes[int(rng.integers(len(sizes)))]
        found.append(dataclasses.replace(base, dims=dims))
    return found


def _smooth(n: int) -> bool:
    for p in SMOOTH:
        while n % p == 0:
            n //= p
    return n == 1


def _analyse(task):
    workload, arch, mapping = task
    return analyse(workload, arch, mapping)


def train(arch: Architecture, workloads: Sequence[Workload], samples: int, seed: int, epochs: int = 60, *,
          shapes: int = 32, spread: float = 2.0, bypass: bool = False, hidden: Sequence[int] = (256, 256, 256),
          lr: float = 2e-3, batch: int = 128, held_out: float = 0.1, threads: int | None = 1,
          pool=None) -> Surrogate:
    """A surrogate of ``analyse`` on ``arch`` for the family of ``workloads`` (one set of
    dimension and tensor names): ``samples`` random valid mappings of ``shapes`` problems (the
    workloads and random ones around them, ``problems``), ``held_out`` of them kept apart to
    measure it; ``epochs`` passes of Adam (learning rate ``lr`` falling on a cosine) over
    mini-batches of ``batch``. ``seed`` fixes the problems, mappings, initial weights and
    batches; ``threads`` torch threads (1: the same weights run after run); ``pool`` evaluates
    the samples (``pool.SerialPool`` or ``pool.DaskPool``)."""
    import torch

    if not workloads:
        raise ValueError("train: workloads must name at least one workload")
    for name, value, low in (("samples", samples, 2), ("epochs", epochs, 1), ("shapes", shapes, 1),
                             ("batch", batch, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"train: {name} must be an integer >= {low}, got {value!r}")
    if not 0 < held_out < 1:
        raise ValueError(f"train: held_out must be a fraction in (0, 1), got {held_out!r}")
    if not spread >= 1:
        raise ValueError(f"train: spread must be >= 1 (the factor sizes may grow or shrink by), got {spread!r}")
    layout = Layout.of(arch, workloads[0])
    for w in workloads:
        layout.check(arch, w)
    rng, started = np.random.default_rng(seed), time.perf_counter()
    spaces = []
    for w in problems(workloads, max(shapes, len(workloads)), rng, spread):
        space = MapSpace(w, arch, bypass=bypass)
        try:
            space.sample(rng)
        except ValueError:   # no valid mapping of this size fits
            continue
        spaces.append(space)
    if not spaces:
        raise ValueError("train: no problem of the family has a valid mapping on the architecture")
    tasks = [(s.workload, arch, s.sample(rng)) for s in (spaces[j % len(spaces)] for j in range(samples))]
    results = (pool.map(_analyse, tasks) if pool is not None else [_analyse(t) for t in tasks])
    x = np.array([np.concatenate([layout.problem(w), layout.mapping(w, arch, m)]) for w, _, m in tasks])
    y = np.array([layout.target_values(r) for r in results])
    evaluated = time.perf_counter()
    order = rng.permutation(samples)
    cut = max(1, round(samples * held_out))
    test, fit = order[:cut], order[cut:]
    stats = {"x_mean": x[fit].mean(0), "x_std": _std(x[fit]), "y_mean": y[fit].mean(0), "y_std": _std(y[fit])}
    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        surrogate = Surrogate(layout, hidden, stats, {})
        net = surrogate.net
        xs = torch.tensor((x[fit] - stats["x_mean"]) / stats["x_std"], dtype=torch.float32)
        ys = torch.tensor((y[fit] - stats["y_mean"]) / stats["y_std"], dtype=torch.float32)
        optimiser = torch.optim.Adam(net.parameters(), lr=lr)
        steps = epochs * math.ceil(len(fit) / batch)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
        shuffle = torch.Generator().manual_seed(seed)
        net.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(fit), generator=shuffle).split(batch):
                optimiser.zero_grad()
                torch.nn.functional.mse_loss(net(xs[idx]), ys[idx]).backward()
                optimiser.step()
                schedule.step()
        net.eval()
        predicted = surrogate.predict(x[test])
    finally:
        torch.set_num_threads(threads_before)
    edp = layout.targets.index("edp")
    true, guess = np.exp(y[test, edp]), np.exp(predicted[:, edp])
    surrogate.meta = {"samples": samples, "problems": len(spaces), "epochs": epochs, "seed": seed, "bypass": bypass,
                      "evaluate_seconds": evaluated - started, "train_seconds": time.perf_counter() - evaluated,
                      "held_out": {"mappings": int(cut),
                                   "edp_median_relative_error": float(np.median(np.abs(guess - true) / true)),
                                   "edp_spearman": spearman(guess, true),
                                   "rmse_standardised": float(np.sqrt(np.mean(
                                       ((predicted - y[test]) / stats["y_std"]) ** 2)))}}
    return surrogate


def _std(a: np.ndarray) -> np.ndarray:
    """Each column's standard deviation (1 where a column is constant)."""
    s = a.std(0)
    return np.where(s > 1e-9, s, 1.0)


def spearman(a, b) -> float:
    """Spearman's rank correlation of two samples (ties broken by order)."""
    ra, rb = (np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float) for v in (a, b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / math.sqrt((ra * ra).sum() * (rb * rb).sum()))


# ----- the search ------------------------------------------------------------------------------
def mind_mappings(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp", *,
                  surrogate: Surrogate, pool=None, start: Sequence[Mapping] = (), progress: bool = False,
                  walks: int = 8, steps_per_restart: int = 6, lr: float = 0.25,
                  threads: int | None = 1) -> SearchResult:
    """Gradient descent on ``surrogate``'s predicted ``objective`` from ``walks`` mappings (the
    ``start`` ones, then random ones drawn from ``numpy.random.default_rng(seed)``), projected
    to valid mappings and evaluated a step of every walk at a time; restarts after
    ``steps_per_restart`` steps without improvement (see the module's docstring)."""
    import torch

    if not isinstance(space, MapSpace):
        raise ValueError(f"mind_mappings: space must be a MapSpace (features need its workload and architecture), "
                         f"got {type(space).__name__}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    for name, value in (("walks", walks), ("steps_per_restart", steps_per_restart)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"mind_mappings: {name} must be an integer >= 1, got {value!r}")
    if not lr > 0:
        raise ValueError(f"mind_mappings: lr must be > 0 (standard deviations per step), got {lr!r}")
    layout = surrogate.layout
    layout.check(space.arch, space.workload)
    search, rng = Search(evaluate, budget, objective, pool, progress), np.random.default_rng(seed)
    target = layout.targets.index(objective)   # the objectives are targets by their own names
    workload, arch = space.workload, space.arch
    problem = torch.tensor(layout.problem(workload), dtype=torch.float32)
    free = torch.tensor(layout.free(space))
    low, high = (torch.tensor(b, dtype=torch.float32) for b in layout.bounds(space))
    scale = torch.tensor(surrogate.stats["x_std"][len(layout.dims):], dtype=torch.float32)

    def part(mapping):
        return torch.tensor(layout.mapping(workload, arch, mapping), dtype=torch.float32)

    n = min(walks, budget)
    first = list(start[:n]) + [space.sample(rng) for _ in range(n - len(start[:n]))]
    best = search.batch(first)
    seen = {m.nest(): v for m, v in zip(first, best)}
    stale = [0] * n
    x = torch.stack([part(m) for m in first])
    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        while search.left:
            x.requires_grad_(True)
            predicted = surrogate.forward(torch.cat([problem.expand(n, -1), x], 1))[:, target]
            (grad,) = torch.autograd.grad(predicted.sum(), x)
            with torch.no_grad():
                step = grad * scale * free   # descent in the standardised coordinates the network reads
                step = step / step.abs().amax(1, keepdim=True).clamp_min(1e-12)
                x = torch.minimum(torch.maximum(x.detach() - lr * scale * step, low), high)
            moved = {}   # walk -> its new mapping, to evaluate
            for w in range(n):
                if stale[w] >= steps_per_restart:
                    moved[w] = space.sample(rng)
                    continue
                try:
                    mapping = layout.decode(space, x[w].numpy())
                except ValueError:   # no valid mapping near (kept tensors that cannot fit)
                    stale[w] = steps_per_restart
                    continue
                if mapping.nest() in seen or any(m.nest() == mapping.nest() for m in moved.values()):
                    stale[w] += 1
                else:
                    moved[w] = mapping
            mappings = list(moved.values())
            for (w, mapping), value in zip(moved.items(), search.batch(mappings)):
                restarted = stale[w] >= steps_per_restart
                seen[mapping.nest()] = value
                x[w] = part(mapping)
                if restarted or value < best[w]:
                    best[w], stale[w] = value, 0
                else:
                    stale[w] += 1
    finally:
        torch.set_num_threads(threads_before)
    return search.done()


def mind_mappings_for(surrogate: Surrogate, **options) -> Callable:
    """``mind_mappings`` with this surrogate (and ``options``) as a mapper of the common
    signature ``(space, evaluate, budget, seed, objective, *, pool, start, progress)``."""
    def mapper(space, evaluate: Callable, budget: int, seed: int, objective: str = "edp", *, pool=None,
               start: Sequence[Mapping] = (), progress: bool = False) -> SearchResult:
        return mind_mappings(space, evaluate, budget, seed, objective, surrogate=surrogate, pool=pool,
                             start=start, progress=progress, **options)
    return mapper
