"""pytest runner for the dense baseline array benches (simulator side: ``dense_tb``).

dense_small is the baseline of highlight_small; a 3x2 array of 4-lane PEs covers a
non-square array with wider PEs at a shallow buffer; dense_default (256 multipliers)
runs in the slow sweep.
"""
import pytest

from bench_runner import run_bench
from sparseloom.gen.highlight import PRESETS, DenseConfig

CONFIGS = {"dense_small": PRESETS["dense_small"],
           "dense_3x2x4": DenseConfig("dense_3x2x4", rows=3, cols=2, lanes=4, k_max=32)}
TESTS = ["random_shapes_stalls", "extremes_full_k", "exact_cycles_multi_tile", "back_pressure"]


@pytest.mark.parametrize("testcase", TESTS)
@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_dense(config_name, testcase, tmp_path):
    run_bench(CONFIGS[config_name], "dense_tb", testcase, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("testcase", TESTS)
def test_dense_default(testcase, tmp_path):
    run_bench(PRESETS["dense_default"], "dense_tb", testcase, tmp_path)
