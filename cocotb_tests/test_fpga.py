"""FPGA flow smoke test: one small core through Yosys + nextpnr on iCE40, a real report parsed."""
import json
import subprocess
import sys

import pytest

from sparseloom.fpga.flow import TARGETS, cell_classes, clock_fmax


def sparseloom(*args):
    return subprocess.run([sys.executable, "-m", "sparseloom", *args], capture_output=True, text=True)


def test_lut_small_on_ice40_end_to_end(tmp_path):
    run = sparseloom("fpga", "lut", "--config", "lut_small", "--target", "ice40-up5k", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    r = json.loads((tmp_path / "report.json").read_text())
    nextpnr = json.loads((tmp_path / "core" / "report.json").read_text())
    assert r["fmax_mhz"] == pytest.approx(clock_fmax(nextpnr["fmax"])) and 5 < r["fmax_mhz"] < 300
    assert r["utilization"]["ICESTORM_LC"]["used"] >= max(r["luts"], r["ffs"]) > 0
    assert r["cells"]["SB_LUT4"] == r["luts"] and r["brams"] == r["utilization"]["ICESTORM_RAM"]["used"]
    assert 0 < r["harness"]["luts"] < r["luts"] and r["core_luts"] == r["luts"] - r["harness"]["luts"]
    assert r["effective_macs_per_s"] == pytest.approx(r["effective_macs_per_cycle"] * r["fmax_mhz"] * 1e6)
    assert r["command"] == "sparseloom fpga lut --config lut_small --target ice40-up5k"


def test_unknown_target_is_refused_before_any_work(tmp_path):
    run = sparseloom("fpga", "lut", "--config", "lut_small", "--target", "xc7", "--out", str(tmp_path / "o"))
    assert run.returncode == 2 and "--target must be one of ice40-up5k, ecp5-85f, got 'xc7'" in run.stderr
    assert not (tmp_path / "o").exists()


def test_report_parsing_helpers():
    assert clock_fmax({"clk$SB_IO_IN_$glb_clk": {"achieved": 40.5, "constraint": 24},
                       "pseudo$glb_ce": {"achieved": 900.0, "constraint": 24}}) == 40.5
    assert clock_fmax({"$glbnet$clk$TRELLIS_IO_IN": {"achieved": 120.0, "constraint": 100}}) == 120.0
    assert cell_classes({"SB_LUT4": 10, "SB_DFFE": 3, "SB_DFF": 2, "SB_MAC16": 1})["ffs"] == 5
    assert set(TARGETS) == {"ice40-up5k", "ecp5-85f"}
