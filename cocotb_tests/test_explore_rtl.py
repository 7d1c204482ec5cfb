"""``sparseloom.explore`` end to end on the RTL: the winner of a small co-design search runs its
network's largest layer (cut to two row batches and two column tiles, its K and K tiling kept)
through ``sparseloom sim`` bit-exactly and in exactly the cycles the model promised.

The search space is small and the area budget tight so that the winner is highlight_small's
hardware (the Verilator build other tests share); with ``-m slow`` the FPGA flow also runs on it.
"""
import json

import pytest

from sparseloom import explore as ex
from sparseloom.fpga import calibration as cal
from sparseloom.gen.highlight.config import HIGHLIGHT_PRESETS

SPACE = {"rows": (1, 2), "cols": (1, 2), "g0_max": (2,), "h1_max": (4,), "g1_max": (2,), "k_max": (32, 64)}
BUDGET = cal.logic_cells(HIGHLIGHT_PRESETS["highlight_small"]) + 1


def test_winner_runs_on_the_rtl_in_the_model_cycles(tmp_path):
    result = ex.explore(network="minilm", tokens=8, method="hss:2:4,2:4", area_budget=BUDGET, out=tmp_path,
                        budget=8, seed=0, space=SPACE, rtl=True, fpga=False)
    assert result["winner"] == "highlight_small" and result["logic_cells"] <= BUDGET
    check = json.loads((tmp_path / "rtl_check.json").read_text())
    assert check == result["rtl_check"]
    assert check["passed"] and check["bit_exact"] and check["cycles_equal"]
    assert check["rtl_cycles"] == check["model_cycles"] == check["sim_model_cycles"]
    # the largest MiniLM layer: the FFN (1536 x 384 and 384 x 1536; the first of the two by MACs)
    assert check["full_gemm"]["m"] * check["full_gemm"]["k"] == 1536 * 384
    assert check["scaled_down"] and check["simulated_gemm"]["k"] == check["full_gemm"]["k"]
    # the simulated mapping keeps the chosen mapping's K tiling and host loop order
    layer = {lm["level"]: lm for lm in check["layer_mapping"]}
    simulated = {lm["level"]: lm for lm in check["simulated_mapping"]}
    assert simulated["Host"]["temporal"]["K"] == layer["Host"]["temporal"]["K"]
    assert simulated["Accumulators"] == layer["Accumulators"]


@pytest.mark.slow
def test_winner_through_the_fpga_flow(tmp_path):
    result = ex.explore(network="minilm", tokens=8, method="hss:2:4,2:4", area_budget=BUDGET, out=tmp_path,
                        budget=8, seed=0, space=SPACE, rtl=False, fpga=True)
    report = json.loads((tmp_path / "fpga" / "report.json").read_text())
    assert report["config"] == result["winner"] and not report["dsp_inference"]
    assert report["calibrated_logic_cells"] == pytest.approx(report["logic_cells"], rel=0.15)
