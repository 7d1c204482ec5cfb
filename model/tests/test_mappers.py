"""The mappers on a map space small enough to enumerate (a GEMM on a 2 x 2 systolic array): each
finds the exhaustive optimum within a few times the space's size in evaluations, for most seeds;
every mapping it evaluates is valid, the budget is its evaluations, and one seed gives one result."""
import numpy as np
import pytest

from sparseloom.model.analysis import analyse
from sparseloom.model.mappers import OBJECTIVES, genetic, random_search, simulated_annealing
from sparseloom.model.mapspace import MapSpace
from sparseloom.model.templates import Systolic
from sparseloom.model.workload import Workload

GEMM = Workload.gemm(2, 4, 2)
ARCH = Systolic("two_by_two", 2, 2, buffer_words=8).architecture()
SPACE = MapSpace(GEMM, ARCH)
VALID = list(SPACE)
# budgets in multiples of the valid mappings: a walk or a population needs more than samples
MAPPERS = [(random_search, 2), (simulated_annealing, 5), (genetic, 5)]
RESULTS = {}   # the model's result of each loop nest, once (the mappers still count every call)


def evaluate(mapping):
    mapping.validate(GEMM, ARCH)
    nest = mapping.nest()
    if nest not in RESULTS:
        RESULTS[nest] = analyse(GEMM, ARCH, mapping)
    return RESULTS[nest]


def optimum(objective):
    return min(OBJECTIVES[objective](evaluate(m)) for m in VALID)


def test_the_optimum_is_rare_and_no_first_sample():
    values = [evaluate(m).edp for m in VALID]
    assert values.count(min(values)) == 1 and len(VALID) == 65
    assert all(evaluate(SPACE.sample(np.random.default_rng(seed))).edp > min(values) for seed in (0, 1, 2))


@pytest.mark.parametrize("objective", ["edp", "energy"])
@pytest.mark.parametrize("mapper, times", MAPPERS)
def test_each_mapper_finds_the_exhaustive_optimum(mapper, times, objective):
    # a heuristic may miss it for a seed: it must find it for most
    found = [mapper(SPACE, evaluate, times * len(VALID), seed, objective).best_value for seed in (0, 1, 2)]
    assert found.count(optimum(objective)) >= 2, found


@pytest.mark.parametrize("objective", ["edp", "energy", "cycles"])
@pytest.mark.parametrize("mapper", [random_search, simulated_annealing, genetic])
def test_the_budget_is_the_evaluations_and_the_best_is_kept(mapper, objective):
    calls = []
    found = mapper(SPACE, lambda m: calls.append(m.nest()) or evaluate(m), 50, 0, objective)
    assert len(calls) == 50 == found.convergence[-1][0]
    assert [e for e, _ in found.convergence] == list(range(1, 51))
    best = [b for _, b in found.convergence]
    assert best == sorted(best, reverse=True) and best[-1] == found.best_value
    assert OBJECTIVES[objective](found.best_result) == found.best_value
    assert OBJECTIVES[objective](evaluate(found.best_mapping)) == found.best_value
    assert found.best_mapping.nest() in calls


@pytest.mark.parametrize("mapper, times", MAPPERS)
def test_one_seed_one_result(mapper, times):
    runs = [mapper(SPACE, evaluate, 60, seed, "edp") for seed in (3, 3, 4)]
    assert runs[0].best_mapping.nest() == runs[1].best_mapping.nest()
    assert runs[0].convergence == runs[1].convergence
    assert len(runs[2].convergence) == 60


@pytest.mark.parametrize("mapper", [random_search, simulated_annealing, genetic])
def test_a_budget_and_an_objective_are_checked(mapper):
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        mapper(SPACE, evaluate, 0, 0)
    with pytest.raises(ValueError, match="objective must be one of edp, energy, cycles, got 'area'"):
        mapper(SPACE, evaluate, 10, 0, "area")
