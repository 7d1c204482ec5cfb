"""The fast simulation path against the cocotb engine: the same GEMMs, side by side in one run.

Each GEMM runs through ``sparseloom sim`` on the compiled Verilator driver (``--engine fast``)
and on the cocotb engine (``--engine cocotb``) with the same seed: results and cycles must be
identical (the run stops otherwise). Speed is simulated cycles per second of each engine's
play (the driver's includes writing and reading its stream files; neither includes the
Verilator build, cached per configuration, or the simulator's start); end-to-end wall times
of the CLI are shown too. Prints a markdown table and writes JSON.

    python bench/fastpath.py [--json bench/results/fastpath.json]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

from sparseloom.benchkit import markdown_table, simulate, write_json
from sparseloom.golden import hss, lut

#: (unit, config, setting, M, K, N): long enough (about 10^5 cycles) that neither engine's start matters.
GEMMS = [("highlight", "highlight_default", "2:4,2:4", 512, 1536, 128),
         ("lut", "lut_default", "2", 512, 512, 64),
         ("dense", "dense_default", None, 256, 768, 64)]


def operands(unit: str, setting, m: int, k: int, n: int, rng):
    w = rng.integers(-128, 128, (m, k), dtype=np.int8)
    if unit == "highlight":
        w = hss.prune(w, hss.HSSPattern.parse(setting))
    elif unit == "lut":
        w = rng.choice(np.array(lut.weight_format(setting).values, dtype=np.int8), (m, k))
    return w, rng.integers(-128, 128, (k, n), dtype=np.int8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", default="bench/results/fastpath.json")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for unit, config, setting, m, k, n in GEMMS:
            w, x = operands(unit, setting, m, k, n, rng)
            fast = simulate(unit, setting, config, w, x, Path(tmp), engine="fast")
            cocotb = simulate(unit, setting, config, w, x, Path(tmp), engine="cocotb")
            if fast["cycles"] != cocotb["cycles"] or not np.array_equal(np.load(fast["y_file"]),
                                                                        np.load(cocotb["y_file"])):
                raise SystemExit(f"{config}: the engines disagree ({fast['cycles']} vs {cocotb['cycles']} cycles)")
            speed = {e: r["cycles"] / r["sim_seconds"] for e, r in (("fast", fast), ("cocotb", cocotb))}
            rows.append({"unit": unit, "config": config, "setting": setting, "gemm": f"{m}x{k}x{n}",
                         "cycles": fast["cycles"], "identical": True,
                         "fast_cycles_per_s": round(speed["fast"]), "cocotb_cycles_per_s": round(speed["cocotb"]),
                         "speedup": round(speed["fast"] / speed["cocotb"], 1),
                         "fast_wall_s": fast["wall_s"], "cocotb_wall_s": cocotb["wall_s"]})
    print(markdown_table(
        ["config", "GEMM (MxKxN)", "cycles", "fast cycles/s", "cocotb cycles/s", "fast / cocotb",
         "CLI wall s (fast / cocotb)"],
        [[f"{r['config']} {r['setting'] or 'int8'}", r["gemm"], f"{r['cycles']:,}", f"{r['fast_cycles_per_s']:,}",
          f"{r['cocotb_cycles_per_s']:,}", f"{r['speedup']}x", f"{r['fast_wall_s']} / {r['cocotb_wall_s']}"]
         for r in rows]))
    write_json(args.json, {"date": date.today().isoformat(), "command": "python bench/fastpath.py", "rows": rows})


if __name__ == "__main__":
    sys.exit(main())
