"""``make fpga``: every default configuration on ECP5-85F (DSPs on and off), the small ones
also on iCE40 UP5K; a markdown table and ``bench/results/fpga.json``. Progress on stderr.

    python -m sparseloom.fpga.table [--only NAME ...] [--targets ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sparseloom.gen import emit

from .flow import ToolError, fpga_report

COLUMNS = "| config | target | DSP | LUTs | FFs | DSPs | BRAMs | Fmax MHz | eff. MACs/cycle | eff. GMAC/s | eff. MMAC/s per 1k LUTs | harness LUTs/FFs |"


def runs(only, targets):
    for config in emit.default_configs():
        if only and config.name not in only:
            continue
        small = config.name.endswith("_small")
        for target, dsp in [("ecp5-85f", True), ("ecp5-85f", False)] + ([("ice40-up5k", True)] if small else []):
            if target in targets:
                yield config, target, dsp


def row(r: dict) -> str:
    return (f"| {r['config']} | {r['target']} | {'on' if r['dsp_inference'] else 'off'} | {r['luts']} | {r['ffs']} | "
            f"{r['dsps']} | {r['brams']} | {r['fmax_mhz']:.1f} | {r['effective_macs_per_cycle']:.1f} | "
            f"{r['effective_macs_per_s'] / 1e9:.2f} | {r['effective_macs_per_s_per_1k_luts'] / 1e6:.1f} | "
            f"{r['harness']['luts']}/{r['harness']['ffs']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="configuration names (default: all presets)")
    ap.add_argument("--targets", nargs="*", default=["ecp5-85f", "ice40-up5k"])
    ap.add_argument("--out", default="build/fpga")
    ap.add_argument("--json", default="bench/results/fpga.json")
    args = ap.parse_args()
    todo = list(runs(args.only, args.targets))
    results = []
    for i, (config, target, dsp) in enumerate(todo):
        t0 = time.monotonic()
        tag = f"{config.name}-{target}{'' if dsp else '-nodsp'}"
        print(f"[{i + 1}/{len(todo)}] {tag} ...", file=sys.stderr, flush=True)
        try:
            results.append(fpga_report(config, target, Path(args.out) / tag, dsp=dsp))
        except (ValueError, ToolError) as e:  # does not fit, or a tool failed: recorded, not fatal
            results.append({"config": config.name, "target": target, "dsp_inference": dsp, "error": str(e)})
        print(f"    {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    print(COLUMNS)
    print("|---|---|---|" + "---:|" * 9)
    for r in results:
        print(row(r) if "error" not in r else
              f"| {r['config']} | {r['target']} | {'on' if r['dsp_inference'] else 'off'} | "
              f"failed: {r['error'].splitlines()[0]} |")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
