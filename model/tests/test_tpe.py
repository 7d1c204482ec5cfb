"""TPE (optuna's tree-structured Parzen estimator) on the map space of ``test_mappers``, small
enough to enumerate: it finds the exhaustive optimum within twice the space's size for most
seeds; every mapping it evaluates is valid (a projection of its trial), the budget is its
evaluations, one seed gives one result here and on Dask workers, and warm-start mappings are
its first trials."""
import numpy as np
import pytest

from sparseloom.model.analysis import analyse
from sparseloom.model.mappers import MAPPERS, OBJECTIVES, _Parameters, tpe
from sparseloom.model.mapspace import Candidates, MapSpace
from sparseloom.model.templates import Systolic
from sparseloom.model.workload import Workload

pytest.importorskip("optuna")

GEMM = Workload.gemm(2, 4, 2)
ARCH = Systolic("two_by_two", 2, 2, buffer_words=8).architecture()
SPACE = MapSpace(GEMM, ARCH)
VALID = list(SPACE)   # 65 mappings, one of them the optimum (test_mappers checks it is rare)
RESULTS = {}   # the model's result of each loop nest, once (the mapper still counts every call)


def evaluate(mapping):
    mapping.validate(GEMM, ARCH)
    if mapping.nest() not in RESULTS:
        RESULTS[mapping.nest()] = analyse(GEMM, ARCH, mapping)
    return RESULTS[mapping.nest()]


def optimum(objective):
    return min(OBJECTIVES[objective](evaluate(m)) for m in VALID)


@pytest.mark.parametrize("objective", ["edp", "energy"])
def test_tpe_finds_the_exhaustive_optimum(objective):
    found = [tpe(SPACE, evaluate, 2 * len(VALID), seed, objective).best_value for seed in (0, 1, 2)]
    assert found.count(optimum(objective)) >= 2, found


@pytest.mark.parametrize("objective", ["edp", "cycles"])
def test_the_budget_is_the_evaluations_every_one_valid_and_the_best_kept(objective):
    calls = []
    found = MAPPERS["tpe"](SPACE, lambda m: calls.append(m) or evaluate(m), 50, 0, objective, batch=7)
    assert len(calls) == 50 == found.convergence[-1][0]
    assert [e for e, _ in found.convergence] == list(range(1, 51))
    valid = {m.nest() for m in VALID}
    assert all(m.nest() in valid for m in calls)   # evaluate validates too
    best = [b for _, b in found.convergence]
    assert best == sorted(best, reverse=True) and best[-1] == found.best_value
    assert OBJECTIVES[objective](evaluate(found.best_mapping)) == found.best_value
    assert len({m.nest() for m in calls}) > 20   # it explores, not one mapping over and over


def test_one_seed_one_result():
    runs = [tpe(SPACE, evaluate, 60, seed) for seed in (3, 3, 4)]
    assert runs[0].convergence == runs[1].convergence
    assert runs[0].best_mapping.nest() == runs[1].best_mapping.nest()
    assert runs[2].convergence != runs[0].convergence


def test_one_seed_one_result_on_dask_workers():
    from sparseloom.model.pool import DaskPool

    here = tpe(SPACE, evaluate, 80, 5, batch=40)   # batches large enough that the pool sends them out
    with DaskPool(2) as pool:
        there = tpe(SPACE, evaluate, 80, 5, batch=40, pool=pool)
    assert there.convergence == here.convergence and there.best_mapping.nest() == here.best_mapping.nest()


def test_start_mappings_are_the_first_trials():
    best = min(VALID, key=lambda m: evaluate(m).edp)
    calls = []
    found = tpe(SPACE, lambda m: calls.append(m) or evaluate(m), 20, 0, start=[VALID[0], best])
    assert [m.nest() for m in calls[:2]] == [VALID[0].nest(), best.nest()]
    assert found.convergence[1][1] == found.best_value == evaluate(best).edp


@pytest.mark.parametrize("bypass", [False, True])
def test_the_parameters_of_a_mapping_give_it_back(bypass):
    space = MapSpace(GEMM, ARCH, bypass=bypass)
    parameters, rng = _Parameters(space), np.random.default_rng(1)
    for _ in range(30):
        m = space.sample(rng)
        assert parameters.mapping(parameters.of(m)).nest() == m.nest()
    # with bypass the kept tensors are parameters too
    assert ("keep.1" in parameters.distributions) == bypass


def test_a_list_of_candidates_is_one_categorical():
    space = Candidates(VALID[::3])
    calls = []
    found = tpe(space, lambda m: calls.append(m.nest()) or evaluate(m), 3 * space.size(), 0)
    assert found.best_value == min(evaluate(m).edp for m in space.mappings)
    assert set(calls) <= {m.nest() for m in space.mappings}
    with pytest.raises(ValueError, match="a start mapping must be one of the space's candidates"):
        tpe(space, evaluate, 5, 0, start=[VALID[1]])


def test_a_space_without_a_valid_mapping_is_a_clear_error():
    empty = MapSpace(GEMM, Systolic("tiny", 2, 2, buffer_words=2).architecture(), tries=32)
    with pytest.raises(ValueError, match="tpe: 40 trials in a row projected to no valid mapping"):
        tpe(empty, evaluate, 10, 0)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="batch must be an integer >= 1"):
        tpe(SPACE, evaluate, 10, 0, batch=0)
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        tpe(SPACE, evaluate, 0, 0)
    with pytest.raises(ValueError, match="objective must be one of edp, energy, cycles"):
        tpe(SPACE, evaluate, 10, 0, "area")
