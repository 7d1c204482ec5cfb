"""pytest runner of every unit's cocotb bench, derived from the unit records.

Each record names its simulator-side module (``sparseloom.testbenches.<unit>_tb``) and the
configurations CI runs every test of it on; its slow configurations and slow tests run
with ``-m slow``. One Verilator build per configuration is cached and shared by its tests.
Logs, results and (with ``WAVES=1``) ``dump.fst`` land in ``$SPARSELOOM_SIM_DIR/<config>-<test>``.
"""
import importlib
import os
from pathlib import Path

import pytest
from cocotb import regression

from sparseloom import verilate
from sparseloom.units import all_units


def bench_tests(module: str) -> list[str]:
    """The cocotb tests a simulator-side module defines, in definition order."""
    return [t.name for t in vars(importlib.import_module(module)).values() if isinstance(t, regression.TestGenerator)]


def cases() -> list:
    out = []
    for u in all_units().values():
        b = u.bench
        tests = bench_tests(b.module)
        for config in b.configs + b.slow_configs:
            for test in tests:
                slow = config in b.slow_configs or test in b.slow_tests
                out.append(pytest.param(b.module, config, test, id=f"{config.name}-{test}",
                                        marks=[pytest.mark.slow] if slow else []))
    return out


@pytest.mark.parametrize("module, config, testcase", cases())
def test_bench(module, config, testcase, tmp_path):
    sim_dir = os.environ.get("SPARSELOOM_SIM_DIR")
    test_dir = Path(sim_dir) / f"{config.name}-{testcase}" if sim_dir else tmp_path
    verilate.run(config, module, testcase=testcase, test_dir=test_dir)
