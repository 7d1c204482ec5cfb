"""pytest runner for the LUT Tensor Core and MAC-baseline benches (simulator side: ``lut_tb``).

Configurations: g = 2 on a 4 x 2 tile and g = 4 on the elongated 64 x 4 default, each
with its matching dequantise-then-multiply baseline.
"""
import pytest

from bench_runner import run_bench
from sparseloom.gen.lut import PRESETS

CONFIGS = ["lut_small", "lut_default", "mac_small", "mac_default"]
TESTS = ["every_format_random_stalls", "extremes_full_k", "exact_cycles_per_plane",
         "back_pressure_and_reconfiguration"]


@pytest.mark.parametrize("testcase", TESTS)
@pytest.mark.parametrize("config_name", CONFIGS)
def test_lut(config_name, testcase, tmp_path):
    run_bench(PRESETS[config_name], "lut_tb", testcase, tmp_path)
