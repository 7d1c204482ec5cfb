"""A search takes the same path on one worker or many: the same seed gives the same best
mapping and the same convergence evaluated here, on a one-worker and on a two-worker Dask
cluster (separate processes, so the evaluator and the results really travel)."""
from functools import partial

import pytest

from sparseloom.model.analysis import analyse
from sparseloom.model.mappers import MAPPERS
from sparseloom.model.mapspace import MapSpace
from sparseloom.model.pool import DaskPool, SerialPool
from sparseloom.model.templates import Systolic
from sparseloom.model.workload import Workload

GEMM = Workload.gemm(8, 12, 16)
ARCH = Systolic("four_by_four", 4, 4, buffer_words=64).architecture()
SPACE = MapSpace(GEMM, ARCH)
EVALUATE = partial(analyse, GEMM, ARCH)


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def cluster(request):
    with DaskPool(request.param, min_slice=1) as pool:   # every batch to the cluster, however small
        assert pool.workers == request.param
        yield pool


@pytest.mark.parametrize("mapper", ["random", "sa", "ga"])
def test_one_seed_one_result_on_any_number_of_workers(cluster, mapper):
    here = MAPPERS[mapper](SPACE, EVALUATE, 150, 7, "edp", pool=SerialPool())
    there = MAPPERS[mapper](SPACE, EVALUATE, 150, 7, "edp", pool=cluster)
    assert there.convergence == here.convergence and len(here.convergence) == 150
    assert there.best_mapping.nest() == here.best_mapping.nest()
    assert there.best_result.edp == here.best_result.edp
    # another seed takes another path: the comparison above can tell paths apart
    other = MAPPERS[mapper](SPACE, EVALUATE, 150, 8, "edp", pool=cluster)
    assert other.convergence != here.convergence


def test_a_pool_returns_results_in_the_batch_order(cluster):
    import numpy as np

    rng = np.random.default_rng(0)
    batch = [SPACE.sample(rng) for _ in range(40)]
    assert [r.edp for r in cluster.map(EVALUATE, batch)] == [EVALUATE(m).edp for m in batch]


def test_no_scheduler_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no Dask scheduler answers at 'tcp://127.0.0.1:1'"):
        DaskPool(address="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        DaskPool(0)
