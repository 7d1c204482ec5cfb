"""pytest runner for the SME crossbar-engine benches (simulator side: ``sme_tb``).

Configurations: 2-bit cells with a saturating 4-bit ADC; a non-square crossbar, six
crossbars and a saturating 3-bit ADC; the 32 x 32 x 8 default with an exact ADC.
"""
import pytest

from bench_runner import run_bench
from sparseloom.gen.sme import PRESETS

TESTS = ["bit_densities_random_stalls", "extremes_and_adc_saturation", "exact_cycles_over_programmings",
         "orchestration_reprogramming_back_pressure"]


@pytest.mark.parametrize("testcase", TESTS)
@pytest.mark.parametrize("config_name", list(PRESETS))
def test_sme(config_name, testcase, tmp_path):
    run_bench(PRESETS[config_name], "sme_tb", testcase, tmp_path)
