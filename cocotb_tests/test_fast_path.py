"""The fast path (the compiled driver, ``sparseloom.sim.fast``) against the cocotb engine on every unit.

Each unit's smallest bench configuration runs one GEMM through ``sparseloom sim`` on both engines
with 30% random stalls and the same seed (and, on an overlapped core, three GEMMs back to back):
the result words and the cycle count must be identical, and the stall-free cycles equal to the
unit's cycle model. The data are random from a logged seed.
"""
import json

import numpy as np
import pytest

from sparseloom import cli
from sparseloom.golden import hss, lut
from sparseloom.units import all_units

SEED = 20261202
SETTINGS = {"highlight": "2:4,2:4", "dense": None, "lut": "2", "mac": "2", "sme": "2"}


def operands(unit: str, setting, rng):
    """Random W (M x K) and X (K x N) the unit can run with ``setting``, a few tiles of each
    (K one input buffer on SME, two K tiles elsewhere)."""
    m, k, n = 7, 32 if unit == "sme" else 48, 5
    x = rng.integers(-128, 128, (k, n), dtype=np.int8)
    w = rng.integers(-128, 128, (m, k), dtype=np.int8)
    if unit == "highlight":
        w = hss.prune(w, hss.HSSPattern.parse(setting))
    elif unit in ("lut", "mac"):
        w = rng.choice(np.array(lut.weight_format(setting).values, dtype=np.int8), (m, k))
    return w, x


def simulate(tmp_path, unit, config, setting, engine, *flags):
    report = tmp_path / f"{engine}.json"
    argv = ["sim", unit, "--config", config, "--weights", str(tmp_path / "w.npy"), "--inputs", str(tmp_path / "x.npy"),
            "--out", str(tmp_path / f"{engine}.npy"), "--report", str(report), "--engine", engine, *flags]
    if setting is not None:
        argv += [all_units()[unit].setting.flag, setting]
    assert cli.main(argv) == 0
    return np.load(tmp_path / f"{engine}.npy"), json.loads(report.read_text())


@pytest.mark.parametrize("unit", list(SETTINGS))
def test_fast_path_equals_cocotb(unit, tmp_path):
    u = all_units()[unit]
    config = f"{unit}_small"
    print(f"seed {SEED}, {config}")
    w, x = operands(unit, SETTINGS[unit], np.random.default_rng(SEED))
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "x.npy", x)
    runs = [["--stall", "0.3", "--seed", "5"]]
    if getattr(u.component, "overlapped", False):
        runs.append(["--stall", "0.3", "--seed", "6", "--repeat", "3"])
    for flags in runs:
        y_fast, fast = simulate(tmp_path, unit, config, SETTINGS[unit], "fast", *flags)
        y_cocotb, cocotb = simulate(tmp_path, unit, config, SETTINGS[unit], "cocotb", *flags)
        assert np.array_equal(y_fast, y_cocotb)
        assert fast["cycles"] == cocotb["cycles"] > fast["model_cycles"], (flags, fast["cycles"], cocotb["cycles"])
    _, stall_free = simulate(tmp_path, unit, config, SETTINGS[unit], "fast")
    assert stall_free["cycles"] == stall_free["model_cycles"]
