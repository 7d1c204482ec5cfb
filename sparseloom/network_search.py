"""Searches of a single GEMM or of a real network's layers: on a unit (its map space: the
mappings its hardware runs) or on a described architecture (the free map space).

A network's layers are searched one after another. With **warm-start** a layer's search begins
from the best mappings of the previously searched layers nearest to it by shape (distance of
the logarithms of the dimensions, among layers with the same dimensions), each carried into
the layer's space by ``space.nearest``; without it the layers are independent and are searched
side by side, one layer a task of the pool. **Sparsity-aware** search (described architectures)
evaluates each candidate under the layer's weight density (the compute skips zero weights and
the innermost storage skips the other operands' reads they pair with, Sparseloop's rules), or
under each of a range of densities, keeping the mapping whose geometric-mean objective is best;
a search that is not sparsity-aware evaluates the dense layer. Every layer's best mapping is
reported under the layer's own density either way, so the two are compared on equal terms.

The evaluators are dataclasses, not closures, so that a Dask worker can take them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sparseloom.gen.unit import GemmShape
from sparseloom.model import networks
from sparseloom.model.analysis import analyse
from sparseloom.model.density import Uniform
from sparseloom.model.mappers import MAPPERS
from sparseloom.model.mapspace import Candidates, MapSpace
from sparseloom.model.sparse import Action, Sparsity

WARM = 3   # previous layers whose best mappings start a warm-started search


@dataclass(frozen=True)
class OnUnit:
    """A mapping of a GEMM evaluated on a unit (by the unit's name, so that it travels)."""
    unit: str
    config: object
    shape: GemmShape
    encoding: object = None
    table: object = None

    def __call__(self, mapping):
        from sparseloom.units import unit
        return unit(self.unit).evaluate(self.config, self.shape, self.encoding, mapping, self.table)


def weight_sparsity(workload, arch, density: float) -> Sparsity | None:
    """The compute skips zero weights and the innermost storage level skips the reads of the
    other operands they pair with; None for a layer without weights or with dense ones."""
    names = [t.name for t in workload.tensors]
    if "Weights" not in names or density >= 1.0:
        return None
    others = [t.name for t in workload.tensors if not t.output and t.name != "Weights"]
    actions = [Action(arch.levels[-1].name, "skipping", ("Weights",), t) for t in others]
    actions.append(Action(arch.compute.name, "skipping", ("Weights",)))
    model = Uniform(density, workload.size(workload.tensor("Weights")))
    return Sparsity({"Weights": model}, {}, tuple(actions))


@dataclass
class Across:
    """A mapping's results under several densities; its objectives are their geometric means."""
    results: list
    densities: tuple

    @staticmethod
    def _mean(values) -> float:
        return math.exp(sum(math.log(max(v, 1e-300)) for v in values) / len(values))

    edp = property(lambda self: self._mean([r.edp for r in self.results]))
    energy_pj = property(lambda self: self._mean([r.energy_pj for r in self.results]))
    cycles = property(lambda self: self._mean([r.cycles for r in self.results]))
    utilization = property(lambda self: sum(r.utilization for r in self.results) / len(self.results))


@dataclass(frozen=True)
class OnArchitecture:
    """A mapping of a workload evaluated on an architecture, dense or under each of
    ``densities`` of its weights (an ``Across`` when there are several)."""
    workload: object
    arch: object
    densities: tuple = ()

    def at(self, mapping, density: float):
        return analyse(self.workload, self.arch, mapping, sparsity=weight_sparsity(self.workload, self.arch, density))

    def __call__(self, mapping):
        if not self.densities:
            return analyse(self.workload, self.arch, mapping)
        if len(self.densities) == 1:
            return self.at(mapping, self.densities[0])
        return Across([self.at(mapping, d) for d in self.densities], self.densities)


@dataclass
class LayerJob:
    """One layer's search: its space, evaluator, seed and what reports it."""
    name: str
    count: int
    dims: dict
    space: object
    evaluate: object
    seed: int
    density: float | None = None            # the layer's weight density (reported at)
    report: object = None                   # evaluator of the best mapping under the layer's density
    start: list = field(default_factory=list)


@dataclass(frozen=True)
class RunLayer:
    """A layer's whole search as one task (layers searched side by side)."""
    mapper: str
    budget: int
    objective: str

    def __call__(self, job: LayerJob):
        return MAPPERS[self.mapper](job.space, job.evaluate, self.budget, job.seed, self.objective, start=job.start)


def layer_seed(seed: int, index: int) -> int:
    """Layer ``index``'s seed, independent of the other layers'."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def unit_jobs(u, config, encoding, network: str, method: str, tokens, table, seed: int) -> tuple[list, list]:
    """(jobs, layers not mapped) of a network on a unit: each GEMM layer over the unit's map space."""
    jobs, skipped = [], []
    for layer in networks.layers(network, tokens):
        shape = networks.gemm_shape(layer)
        if shape is None:
            skipped.append({"name": layer.name, "count": layer.count, "mapped": "no single GEMM"})
            continue
        m, k, n = shape
        gemm = GemmShape(m, n, k)
        space = Candidates(u.mappings(config, gemm, encoding))
        jobs.append(LayerJob(layer.name, layer.count, {"m": m, "k": k, "n": n}, space,
                             OnUnit(u.name, config, gemm, encoding, table), layer_seed(seed, len(jobs))))
    return jobs, skipped


def described_jobs(arch, network: str, method: str, tokens, seed: int, sparsity_aware: bool,
                   densities: tuple = ()) -> tuple[list, list]:
    """(jobs, layers not mapped) of a network on a described architecture: every layer over
    its free map space, its weights' density from ``method`` (measured where the weights are
    installed)."""
    jobs, skipped = [], []
    for layer in networks.layers(network, tokens):
        workload = networks.with_density(layer, method, nominal=layer.weight is None)
        density = next((t.density for t in workload.tensors if t.name == "Weights"), None)
        try:
            space = MapSpace(workload, arch)
        except ValueError as e:
            skipped.append({"name": layer.name, "count": layer.count, "mapped": str(e)})
            continue
        searched = densities if densities else ((density,) if sparsity_aware and density is not None else ())
        report = OnArchitecture(workload, arch, (density,) if density is not None else ())
        jobs.append(LayerJob(layer.name, layer.count, dict(workload.dims), space,
                             OnArchitecture(workload, arch, tuple(searched)), layer_seed(seed, len(jobs)),
                             density, report))
    return jobs, skipped


def nearest_starts(job: LayerJob, done: list[tuple[LayerJob, object]]) -> list:
    """The best mappings of the (up to ``WARM``) searched layers nearest to ``job`` by shape,
    carried into its space."""
    same = [(j, found) for j, found in done if set(j.dims) == set(job.dims)]
    distance = lambda j: sum((math.log(j.dims[d]) - math.log(job.dims[d])) ** 2 for d in job.dims)
    starts, seen = [], set()
    for j, found in sorted(same, key=lambda p: distance(p[0]))[:WARM]:
        try:
            mapping = job.space.nearest(found.best_mapping)
        except ValueError:
            continue
        if mapping.nest() not in seen:
            seen.add(mapping.nest())
            starts.append(mapping)
    return starts


def surrogates(jobs: list[LayerJob], folder, samples: int, seed: int, pool=None) -> tuple[dict, list]:
    """Mind Mappings' surrogate of each workload family (dimension names) among the jobs, on
    their architecture: loaded from ``folder`` where one was trained before, else trained on
    ``samples`` mappings of the family's layers and saved there; and what each reports
    (file, trained now or loaded, training seconds, held-out error)."""
    from pathlib import Path

    from sparseloom.model import mindmappings

    found, reports = {}, []
    for job in jobs:
        family = tuple(job.dims)
        if family in found:
            continue
        arch = job.space.arch
        path = Path(folder) / f"{arch.name}-{''.join(family)}.pt"
        if path.is_file():
            surrogate, trained = mindmappings.Surrogate.load(path), False
            surrogate.layout.check(arch, job.space.workload)
        else:
            workloads = [j.space.workload for j in jobs if tuple(j.dims) == family]
            surrogate, trained = mindmappings.train(arch, workloads, samples, seed, pool=pool), True
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            surrogate.save(partial)
            partial.replace(path)   # whole or not at all
        found[family] = surrogate
        reports.append({"file": str(path), "dims": list(family), "trained_now": trained, **surrogate.meta})
    return found, reports


def search_layers(jobs: list[LayerJob], mapper, budget: int, objective: str, pool, warm_start: bool,
                  progress: bool = False) -> list:
    """Each job's ``SearchResult``: side by side on the pool, or (with ``warm_start``, for one
    layer, or where ``mapper`` is a function of the job giving its mapper rather than a name in
    ``MAPPERS``) one after another, each layer's candidates on the pool."""
    pick = (lambda job: MAPPERS[mapper]) if isinstance(mapper, str) else mapper
    if not warm_start and len(jobs) > 1 and isinstance(mapper, str):
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(jobs), unit="layer", desc="search", leave=False, disable=None)
            found = []
            for i in range(0, len(jobs), max(pool.workers, 1)):
                found += pool.map(RunLayer(mapper, budget, objective), jobs[i:i + max(pool.workers, 1)])
                bar.update(len(found) - bar.n)
                bar.set_postfix(layer=jobs[len(found) - 1].name)
            bar.close()
            return found
        return pool.map(RunLayer(mapper, budget, objective), jobs)
    done = []
    for job in jobs:
        job.start = nearest_starts(job, done) if warm_start else []
        found = pick(job)(job.space, job.evaluate, budget, job.seed, objective, pool=pool, start=job.start,
                          progress=progress)
        done.append((job, found))
    return [found for _, found in done]


def layer_report(job: LayerJob, found) -> dict:
    """What best.json says of one layer's search."""
    r = found.best_result
    at = job.report(found.best_mapping) if job.report is not None else r
    row = {"name": job.name, "count": job.count, "dims": job.dims, "space_size": job.space.size(),
           "evaluations": len(found.convergence), "warm_starts": len(job.start),
           "edp": r.edp, "energy_pj": r.energy_pj, "cycles": r.cycles, "utilization": r.utilization,
           "mapping": found.best_mapping.to_dict()["mapping"]}
    if job.density is not None:
        row |= {"weight_density": job.density, "edp_at_density": at.edp, "energy_pj_at_density": at.energy_pj,
                "cycles_at_density": at.cycles}
    return row


def network_report(jobs, found, skipped) -> dict:
    """Totals over the layers (each run ``count`` times; layers one after another) at their densities."""
    rows = [layer_report(j, f) for j, f in zip(jobs, found)]
    key = lambda r, what: r.get(f"{what}_at_density", r[what])
    cycles = sum(r["count"] * key(r, "cycles") for r in rows)
    energy = sum(r["count"] * key(r, "energy_pj") for r in rows)
    return {"layers": rows, "not_mapped": skipped, "cycles": cycles, "energy_pj": energy, "edp": cycles * energy}
