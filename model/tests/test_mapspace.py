"""The map space against brute force: every split of every dimension over the slots, every order
of each level's loops, kept by ``Mapping.validate`` (small GEMMs on a 2 x 2 systolic array)."""
import itertools
import math

import numpy as np
import pytest

from sparseloom.model.arch import Architecture
from sparseloom.model.mapping import LevelMapping, Mapping
from sparseloom.model.mapspace import Fixed, MapSpace
from sparseloom.model.templates import Systolic
from sparseloom.model.workload import Workload

GEMM = Workload.gemm(2, 4, 2)
ARRAY = Systolic("two_by_two", 2, 2, buffer_words=8).architecture()   # DRAM, GlobalBuffer, PERegister


def brute_force(workload: Workload, arch: Architecture) -> list[Mapping]:
    """Every candidate: each dimension's factors over (temporal, spatial) of every level, spatial
    only below a fan-out, each level's loops above 1 in every order."""
    slots = [(lv.name, kind) for i, lv in enumerate(arch.levels) for kind in ("temporal", "spatial")
             if kind == "temporal" or arch.fanout(i) > 1]
    splits = {d: [f for f in itertools.product(range(1, n + 1), repeat=len(slots)) if math.prod(f) == n]
              for d, n in workload.dims.items()}
    candidates = []
    for split in itertools.product(*splits.values()):
        factor = {(level, kind): {d: f[s] for d, f in zip(workload.dims, split) if f[s] > 1}
                  for s, (level, kind) in enumerate(slots)}
        orders = [itertools.permutations(factor[lv.name, "temporal"]) for lv in arch.levels]
        for order in itertools.product(*orders):
            candidates.append(Mapping(tuple(LevelMapping(lv.name, factor[lv.name, "temporal"], o,
                                                         factor.get((lv.name, "spatial"), {}))
                                            for lv, o in zip(arch.levels, order))))
    return candidates


def valid(mapping, workload, arch) -> bool:
    try:
        mapping.validate(workload, arch)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("workload", [GEMM, Workload.gemm(3, 2, 2), Workload.conv2d(1, 2, 1, 2, 1, 3, 1)])
def test_the_space_is_every_valid_candidate_once(workload):
    candidates = brute_force(workload, ARRAY)
    space = MapSpace(workload, ARRAY)
    assert space.size() == len(candidates)
    mappings = [m.nest() for m in space]
    assert len(mappings) == len(set(mappings)) > 1
    assert set(mappings) == {m.nest() for m in candidates if valid(m, workload, ARRAY)}


def test_sizes_of_the_gemm():
    space = MapSpace(GEMM, ARRAY)
    assert (space.size(), len(list(space))) == (316, 65)
    # bypass: the buffer keeps any of the 2^3 subsets of the tensors, the registers theirs or not
    bypass = MapSpace(GEMM, ARRAY, bypass=True)
    assert bypass.size() == 16 * 316
    kept = [(m.at("GlobalBuffer").keep, m.at("PERegister").keep) for m in bypass]
    assert {b for b, _ in kept} == {k for r in range(4) for k in
                                    itertools.combinations(("Weights", "Inputs", "Outputs"), r)}
    assert {r for _, r in kept} == {(), ("Weights",)}


def test_constraints_keep_the_mappings_that_honour_them():
    fixed = {"DRAM": Fixed(temporal={"N": 2}, permutation=("K", "N", "M")), "PERegister": Fixed(temporal={"K": 1})}
    space = MapSpace(GEMM, ARRAY, fixed)
    want = {m.nest() for m in MapSpace(GEMM, ARRAY)
            if m.at("DRAM").temporal.get("N", 1) == 2 and "K" not in m.at("PERegister").temporal
            and m.at("DRAM").permutation == tuple(d for d in "KNM" if d in m.at("DRAM").temporal)}
    assert {m.nest() for m in space} == want and want
    assert space.size() < MapSpace(GEMM, ARRAY).size()


@pytest.mark.parametrize("bypass", [False, True])
def test_random_moves_stay_in_the_space(bypass):
    space, rng = MapSpace(GEMM, ARRAY, bypass=bypass), np.random.default_rng(1)
    inside = {m.nest() for m in space}
    mapping = space.sample(rng)
    for _ in range(100):
        other = space.sample(rng)
        child, step = space.crossover(mapping, other, rng), space.neighbour(mapping, rng)
        assert {mapping.nest(), other.nest(), child.nest(), step.nest()} <= inside
        assert step.nest() != mapping.nest()
        assert space.decode(space.encode(mapping)).nest() == mapping.nest()
        mapping = step


def test_samples_cover_the_space():
    space, rng = MapSpace(GEMM, ARRAY), np.random.default_rng(0)
    assert {space.sample(rng).nest() for _ in range(1000)} == {m.nest() for m in space}


def test_errors_name_what_is_allowed():
    with pytest.raises(ValueError, match="unknown level 'L2'; allowed: DRAM, GlobalBuffer, PERegister"):
        MapSpace(GEMM, ARRAY, {"L2": Fixed()})
    with pytest.raises(ValueError, match="unknown dimension 'C'; allowed: M, N, K"):
        MapSpace(GEMM, ARRAY, {"DRAM": Fixed(temporal={"C": 2})})
    with pytest.raises(ValueError, match="multiply to 3, which does not divide N = 4"):
        MapSpace(GEMM, ARRAY, {"DRAM": Fixed(temporal={"N": 3})})
    with pytest.raises(ValueError, match="tries must be an integer >= 1"):
        MapSpace(GEMM, ARRAY, tries=0)
    empty = MapSpace(GEMM, Systolic("tiny", 2, 2, buffer_words=2).architecture(), tries=50)
    assert list(empty) == []
    with pytest.raises(ValueError, match=r"no valid mapping sampled in 50 tries \(tries=50\)"):
        empty.sample(np.random.default_rng(0))


@pytest.mark.parametrize("bypass", [False, True])
def test_projection_returns_a_mapping_of_the_space_to_itself_and_across_shapes(bypass):
    small = MapSpace(Workload.gemm(8, 12, 16), Systolic("s", 4, 4, buffer_words=64).architecture(), bypass=bypass)
    large = MapSpace(Workload.gemm(16, 24, 32), small.arch, bypass=bypass)
    rng = np.random.default_rng(5)
    for _ in range(20):
        m = small.sample(rng)
        orders = [lm.permutation for lm in m.levels]
        keeps = [lm.keep for lm in m.levels]
        assert small.project(small.slot_factors(m), orders, keeps).nest() == m.nest()
        carried = large.project(small.slot_factors(m), orders, keeps)
        carried.validate(large.workload, large.arch)
        # the loop orders travel with it (the loops above 1 in the small mapping's order)
        for lm, order in zip(carried.levels, orders):
            assert [d for d in order if d in lm.permutation] == [d for d in lm.permutation if d in order]


def test_projection_moves_what_does_not_fit_outward():
    space = MapSpace(GEMM, ARRAY)
    wanted = {d: [1, 1, 1, 1, n, 1] for d, n in GEMM.dims.items()}   # everything in the 1-word registers
    mapping = space.project(wanted)
    mapping.validate(GEMM, ARRAY)
    assert mapping.at("PERegister").temporal == {}
