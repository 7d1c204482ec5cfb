"""Mind Mappings on a 4 x 4 systolic array with a 64-word buffer: a surrogate trained on random
mappings of GEMMs around three shapes in seconds predicts held-out mappings' EDP closely and
ranks them almost as the model does, also on a shape it was not given; it saves and loads to
the same predictions; its search is reproducible, evaluates only valid mappings within its
budget, and on a space of two million candidates beats the median of random search."""
import statistics
from functools import partial

import numpy as np
import pytest

from sparseloom.model.analysis import analyse
from sparseloom.model.mappers import random_search
from sparseloom.model.mapspace import Candidates, MapSpace
from sparseloom.model.mindmappings import (Layout, Surrogate, mind_mappings, mind_mappings_for, problems,
                                           spearman, train)
from sparseloom.model.pool import SerialPool
from sparseloom.model.templates import Systolic
from sparseloom.model.workload import Workload

pytest.importorskip("torch")

ARCH = Systolic("four_by_four", 4, 4, buffer_words=64).architecture()
FAMILY = [Workload.gemm(8, 12, 16), Workload.gemm(16, 16, 16), Workload.gemm(32, 8, 24)]
MEDIUM = Workload.gemm(16, 24, 32)   # a shape the training was not given
SPACE = MapSpace(MEDIUM, ARCH)


@pytest.fixture(scope="module")
def surrogate():
    return train(ARCH, FAMILY, 1000, 0, 40, shapes=24, hidden=(128, 128, 128))


def predicted_edp(surrogate, workload, mappings):
    layout = surrogate.layout
    x = np.array([np.concatenate([layout.problem(workload), layout.mapping(workload, ARCH, m)]) for m in mappings])
    return np.exp(surrogate.predict(x)[:, layout.targets.index("edp")])


def test_the_surrogate_predicts_held_out_mappings_and_a_new_shape(surrogate):
    held = surrogate.meta["held_out"]
    rng = np.random.default_rng(9)
    mappings = [SPACE.sample(rng) for _ in range(100)]
    true = np.array([analyse(MEDIUM, ARCH, m).edp for m in mappings])
    guess = predicted_edp(surrogate, MEDIUM, mappings)
    error, rank = float(np.median(np.abs(guess - true) / true)), spearman(guess, true)
    print(f"\ntrained in {surrogate.meta['train_seconds']:.1f} s (samples evaluated in "
          f"{surrogate.meta['evaluate_seconds']:.1f} s); held out: {held}; GEMM 16x24x32: median relative "
          f"error {error:.3f}, Spearman {rank:.4f}")
    assert held["mappings"] == 100
    assert held["edp_median_relative_error"] < 0.25 and held["edp_spearman"] > 0.95
    assert error < 0.25 and rank > 0.95
    assert 0 < surrogate.meta["train_seconds"] < 60


def test_save_and_load_give_the_same_predictions(surrogate, tmp_path):
    surrogate.save(tmp_path / "surrogate.pt")
    loaded = Surrogate.load(tmp_path / "surrogate.pt")
    mappings = [SPACE.sample(np.random.default_rng(s)) for s in range(10)]
    assert np.array_equal(predicted_edp(loaded, MEDIUM, mappings), predicted_edp(surrogate, MEDIUM, mappings))
    assert loaded.meta == surrogate.meta and loaded.layout.to_dict() == surrogate.layout.to_dict()
    assert len(set(predicted_edp(loaded, MEDIUM, mappings))) == 10   # not a constant


@pytest.mark.parametrize("bypass", [False, True])
def test_the_features_of_a_mapping_decode_to_it(surrogate, bypass):
    space, layout = MapSpace(MEDIUM, ARCH, bypass=bypass), surrogate.layout
    rng = np.random.default_rng(2)
    for _ in range(20):
        m = space.sample(rng)
        assert layout.decode(space, layout.mapping(MEDIUM, ARCH, m)).nest() == m.nest()
    assert len(layout.problem(MEDIUM)) + len(layout.mapping(MEDIUM, ARCH, m)) == layout.size


@pytest.mark.parametrize("bypass", [False, True])
def test_the_search_is_reproducible_valid_and_within_its_budget(surrogate, bypass):
    space = MapSpace(MEDIUM, ARCH, bypass=bypass)
    calls = []

    def evaluate(mapping):
        mapping.validate(MEDIUM, ARCH)
        calls.append(mapping.nest())
        return analyse(MEDIUM, ARCH, mapping)

    runs = [mind_mappings(space, evaluate, 60, seed, surrogate=surrogate) for seed in (1, 1, 2)]
    assert len(calls) == 180 and all(len(r.convergence) == 60 for r in runs)
    assert runs[0].convergence == runs[1].convergence and runs[0].best_mapping.nest() == runs[1].best_mapping.nest()
    assert runs[2].convergence != runs[0].convergence
    assert len(set(calls[:60])) == 60   # a mapping evaluated before is not evaluated again


def test_the_search_beats_random_search_on_a_medium_space(surrogate):
    evaluate = partial(analyse, MEDIUM, ARCH)
    seeds, budget = range(5), 120
    ours = [mind_mappings(SPACE, evaluate, budget, s, surrogate=surrogate).best_value for s in seeds]
    theirs = [random_search(SPACE, evaluate, budget, s).best_value for s in seeds]
    print(f"\nbudget {budget}: Mind Mappings median EDP {statistics.median(ours):.4g}, random search's "
          f"{statistics.median(theirs):.4g}")
    assert statistics.median(ours) <= statistics.median(theirs)


def test_a_mapper_of_the_common_signature(surrogate):
    mapper = mind_mappings_for(surrogate, walks=4)
    start = SPACE.sample(np.random.default_rng(4))
    calls = []
    found = mapper(SPACE, lambda m: calls.append(m.nest()) or analyse(MEDIUM, ARCH, m), 20, 0, "energy",
                   pool=SerialPool(), start=[start], progress=False)
    assert calls[0] == start.nest() and len(calls) == 20
    assert found.best_value == analyse(MEDIUM, ARCH, found.best_mapping).energy_pj == found.convergence[-1][1]


def test_problems_of_the_family_stay_near_the_shapes():
    found = problems(FAMILY, 30, np.random.default_rng(0), spread=2.0)
    assert found[:3] == FAMILY and len(found) == 30
    for w in found[3:]:
        assert list(w.dims) == ["M", "N", "K"] and w.tensors == FAMILY[0].tensors
        assert any(all(b.dims[d] / 2 <= n <= b.dims[d] * 2 for d, n in w.dims.items()) for b in FAMILY)
    assert len({tuple(w.dims.values()) for w in found}) > 20


def test_bad_input_is_a_clear_error(surrogate):
    evaluate = partial(analyse, MEDIUM, ARCH)
    with pytest.raises(ValueError, match="space must be a MapSpace"):
        mind_mappings(Candidates([SPACE.sample(np.random.default_rng(0))]), evaluate, 5, 0, surrogate=surrogate)
    other = Systolic("eight_by_eight", 8, 8, buffer_words=64).architecture()
    with pytest.raises(ValueError, match="trained on architecture 'four_by_four'"):
        mind_mappings(MapSpace(MEDIUM, other), evaluate, 5, 0, surrogate=surrogate)
    with pytest.raises(ValueError, match="trained on workloads of dimensions M, N, K"):
        mind_mappings(MapSpace(Workload.mttkrp(4, 4, 4, 4), ARCH), evaluate, 5, 0, surrogate=surrogate)
    with pytest.raises(ValueError, match="objective must be one of edp, energy, cycles"):
        mind_mappings(SPACE, evaluate, 5, 0, "area", surrogate=surrogate)
    with pytest.raises(ValueError, match="walks must be an integer >= 1"):
        mind_mappings(SPACE, evaluate, 5, 0, surrogate=surrogate, walks=0)
    with pytest.raises(ValueError, match="samples must be an integer >= 2"):
        train(ARCH, FAMILY, 1, 0)
    with pytest.raises(ValueError, match="trained on workloads of dimensions M, N, K"):
        train(ARCH, FAMILY + [Workload.mttkrp(4, 4, 4, 4)], 10, 0)
    assert Layout.of(ARCH, MEDIUM).size == surrogate.layout.size
