"""Sparseloop's published reference outputs, reproduced: the sparse example designs of
``Accelergy-Project/timeloop-accelergy-exercises`` (commit 2d55108, MIT licence, files copied
unchanged into ``model/tests/sparseloop/``: the architecture with its ``sparse_optimizations``,
the problem with its densities, and from ``ref_outputs/``: the mapper's mapping (``.map.yaml``
and ``.map.txt``), the flattened architecture, the energy reference table and the statistics).
Cycles, computes (actual, gated, skipped, algorithmic) and every access count (actual, gated,
skipped and algorithmic data accesses, metadata units per rank) must be equal; energy per
compute to 0.1%.
"""
import math
import re
from pathlib import Path

import pytest

from sparseloom.model import files
from sparseloom.model.analysis import analyse
from sparseloom.model.arch import Architecture
from sparseloom.model.mapping import Mapping
from sparseloom.model.sparse import Sparsity
from sparseloom.model.timeloop_stats import parse
from sparseloom.model.workload import Workload

HERE = Path(__file__).parent / "sparseloop"
CASES = sorted(p.name for p in HERE.iterdir() if p.is_dir())
ACTIONS = ("reads", "fills", "updates")


def inputs(case: str):
    d = HERE / case
    arch = Architecture.from_timeloop(files.load(d / "timeloop-mapper.flattened_architecture.yaml"),
                                      files.load(d / "timeloop-mapper.ERT_summary.yaml"), name=case)
    workload = Workload.from_timeloop(files.load(d / "problem.yaml"))
    sparsity = Sparsity.from_timeloop(files.load(d / "arch.yaml"), files.load(d / "problem.yaml"), workload)
    return workload, arch, Mapping.from_timeloop(files.load(d / "timeloop-mapper.map.yaml"), arch), sparsity


def model(case: str):
    workload, arch, mapping, sparsity = inputs(case)
    return analyse(workload, arch, mapping, sparsity=sparsity)


def reference(case: str) -> dict:
    return parse((HERE / case / "timeloop-mapper.stats.txt").read_text())


def ranks(value) -> list:
    """A metadata field of the statistics: per-rank (metadata, payload) units, or 0 for none."""
    return [list(r) for r in value] if isinstance(value, list) else []


@pytest.mark.parametrize("case", CASES)
def test_cycles_and_computes_equal_sparseloop(case):
    ref, got = reference(case), model(case)
    assert got.cycles == ref["cycles"]
    assert got.computes == ref["computes"]
    for key, ours in (("algorithmic_computes", "algorithmic"), ("gated_computes", "gated"),
                      ("skipped_computes", "skipped")):
        if key in ref["compute"]:
            assert got.compute_actions[ours] == ref["compute"][key], key


@pytest.mark.parametrize("case", CASES)
def test_access_counts_equal_sparseloop(case):
    ref, got = reference(case), model(case)
    checked = 0
    for name, tensors in ref["levels"].items():
        for tensor, numbers in tensors.items():
            level = got.level(name)
            access, where = level.tensors[tensor], (case, name, tensor)
            assert access.tile == numbers["tile"] and level.instances == numbers["instances"], where
            for x in ACTIONS:
                assert getattr(access, x) == numbers[x], where + (x,)
                for kind in ("gated", "skipped", "algorithmic"):
                    if f"{kind}_{x}" in numbers:
                        assert getattr(access, kind)[x] == numbers[f"{kind}_{x}"], where + (kind, x)
                for kind, ours in (("", "actual"), ("gated_", "gated"), ("skipped_", "skipped")):
                    if f"{kind}format_{x}" in numbers:
                        expected = ranks(numbers[f"{kind}format_{x}"])
                        assert [r for r in access.metadata.get(x, {}).get(ours, []) if expected or any(r)] == \
                            expected, where + (kind + "format", x)
            if access.format:   # Sparseloop reports the largest occupancy: here the mean's ceiling
                assert math.ceil(access.occupancy) == numbers["occupancy"], where + ("occupancy",)
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("case", CASES)
def test_energy_per_compute_matches_sparseloop(case):
    assert model(case).energy_pj * 1e3 / reference(case)["computes"] == pytest.approx(
        reference(case)["fj_per_compute"], rel=1e-3)


def canonical(loops) -> list:
    """Loops outermost first, each run of spatial loops (which have no order) sorted."""
    out, run = [], []
    for loop in list(loops) + [None]:
        if loop is not None and loop[2]:
            run.append(loop)
            continue
        out += sorted(run) + ([loop] if loop else [])
        run = []
    return out


def loops_of_map_txt(text: str) -> list[tuple[str, int, bool]]:
    """The loop nest Timeloop printed, outermost first: (dimension, factor, spatial)."""
    return canonical((m[1], int(m[2]), bool(m[3]))
                     for m in re.finditer(r"for (\w+) in \[0:(\d+)\)( \(Spatial-[XY]\))?", text))


@pytest.mark.parametrize("case", CASES)
def test_the_mapping_is_the_one_sparseloop_reports(case):
    workload, arch, mapping, _ = inputs(case)
    ours = []
    for lv in arch.levels:
        lm = mapping.at(lv.name)
        ours += [(d, f, False) for d, f in reversed(lm.loops(workload.dims))]
        ours += [(d, f, True) for d, f in lm.spatial.items() if f > 1]
    assert canonical(ours) == loops_of_map_txt((HERE / case / "timeloop-mapper.map.txt").read_text())
