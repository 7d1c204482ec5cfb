"""pytest runner for the HighLight array benches (the simulator side is ``highlight_tb``).

One Verilator build per configuration is cached and shared by all its tests; the
configurations cover a tiny array, the HighLight default (H0=4, rank-1 4:4..4:7) and
an H0=8 non-square array. Every provisioned pattern of each runs in every_pattern_*.
"""
import pytest

from bench_runner import run_bench
from sparseloom.gen.highlight import PRESETS

CONFIGS = ["highlight_small", "highlight_default", "highlight_h8"]
TESTS = ["every_pattern_random_stalls", "extremes_full_k", "exact_cycles_multi_tile",
         "back_pressure_and_reconfiguration"]


@pytest.mark.parametrize("testcase", TESTS)
@pytest.mark.parametrize("config_name", CONFIGS)
def test_highlight(config_name, testcase, tmp_path):
    run_bench(PRESETS[config_name], "highlight_tb", testcase, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("config_name", CONFIGS)
def test_highlight_large_sweep(config_name, tmp_path):
    run_bench(PRESETS[config_name], "highlight_tb", "large_gemm_sweep", tmp_path, env={"SPARSELOOM_SLOW": "1"})
