"""Timeloop's published reference outputs, reproduced: the tutorial exercises of
``Accelergy-Project/timeloop-accelergy-exercises`` (commit 2d55108, MIT licence, files copied
unchanged into ``model/tests/timeloop/``: problem, mapping, flattened architecture, energy
reference table and Timeloop's ``stats.txt``). Every access count must be equal; energy to 0.1%.
"""
import re
from pathlib import Path

import pytest

from sparseloom.model import files
from sparseloom.model.analysis import analyse
from sparseloom.model.arch import Architecture
from sparseloom.model.mapping import Mapping
from sparseloom.model.workload import Workload

HERE = Path(__file__).parent / "timeloop"
CASES = sorted(p.name for p in HERE.iterdir() if p.is_dir())

FIELDS = {"Utilized capacity": "tile", "Scalar reads (per-instance)": "reads",
          "Scalar fills (per-instance)": "fills", "Scalar updates (per-instance)": "updates",
          "Utilized instances (max)": "instances", "Energy (total)": "energy"}


def timeloop_stats(text: str) -> dict:
    """Per level, per tensor: the numbers of ``FIELDS``; and the computes, cycles, total energy."""
    levels, level, tensor = {}, None, None
    body = text.split("Summary Stats")[0].split("Operational Intensity Stats")[0]
    for line in body.splitlines():
        if m := re.match(r"=== (\S+) ===", line.strip()):
            level, tensor = m[1], None
            levels.setdefault(level, {})
        elif m := re.match(r"\s{4}(\w+):\s*$", line):
            tensor = m[1]
            levels[level][tensor] = {}
        elif tensor and (m := re.match(r"\s+(.+?)\s+:\s+([\d.]+)", line)) and m[1] in FIELDS:
            levels[level][tensor][FIELDS[m[1]]] = float(m[2])
    summary = text.split("Summary Stats")[1]
    return {"levels": levels, "computes": int(re.search(r"Computes \(total\)\s+:\s+(\d+)", text)[1]),
            "cycles": int(re.search(r"Cycles: (\d+)", summary)[1]),
            "fj_per_compute": float(re.search(r"fJ/Compute.*?\n\s+Total\s+=\s+([\d.]+)", summary, re.S)[1])}


def model(case: str):
    d = HERE / case
    arch = Architecture.from_timeloop(files.load(d / "arch.yaml"), files.load(d / "ert.yaml"), name=case)
    return analyse(Workload.from_timeloop(files.load(d / "prob.yaml")), arch,
                   Mapping.from_timeloop(files.load(d / "map.yaml"), arch))


@pytest.mark.parametrize("case", CASES)
def test_access_counts_equal_timeloop(case):
    ref = timeloop_stats((HERE / case / "stats.txt").read_text())
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
    ref = timeloop_stats((HERE / case / "stats.txt").read_text())
    got = model(case)
    assert got.energy_pj * 1e3 / got.computes == pytest.approx(ref["fj_per_compute"], rel=1e-3)
