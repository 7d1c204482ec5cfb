"""Timeloop's published reference outputs, reproduced: the tutorial exercises of
``Accelergy-Project/timeloop-accelergy-exercises`` (commit 2d55108, MIT licence, files copied
unchanged into ``model/tests/timeloop/``: problem, mapping, flattened architecture, energy
reference table and Timeloop's ``stats.txt``). Every access count must be equal; energy to 0.1%.
"""
from pathlib import Path

import pytest

from sparseloom.model import files
from sparseloom.model.analysis import analyse
from sparseloom.model.arch import Architecture
from sparseloom.model.mapping import Mapping
from sparseloom.model.timeloop_stats import parse
from sparseloom.model.workload import Workload

HERE = Path(__file__).parent / "timeloop"
CASES = sorted(p.name for p in HERE.iterdir() if p.is_dir())


def model(case: str):
    d = HERE / case
    arch = Architecture.from_timeloop(files.load(d / "arch.yaml"), files.load(d / "ert.yaml"), name=case)
    return analyse(Workload.from_timeloop(files.load(d / "prob.yaml")), arch,
                   Mapping.from_timeloop(files.load(d / "map.yaml"), arch))


@pytest.mark.parametrize("case", CASES)
def test_access_counts_equal_timeloop(case):
    ref = parse((HERE / case / "stats.txt").read_text())
    got = model(case)
    assert got.computes == ref["computes"] and got.cycles == ref["cycles"]
    checked = 0
    for name, tensors in ref["levels"].items():
        if not tensors:
            continue
        level = got.level(name)
        for tensor, numbers in tensors.items():
            access = level.tensors[tensor]
            for key in ("tile", "reads", "fills", "updates"):
                assert getattr(access, key) == numbers[key], (case, name, tensor, key)
            assert level.instances == numbers["instances"], (case, name, "instances")
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("case", CASES)
def test_energy_equals_timeloop(case):
    ref = parse((HERE / case / "stats.txt").read_text())
    got = model(case)
    assert got.energy_pj * 1e3 / got.computes == pytest.approx(ref["fj_per_compute"], rel=1e-3)
