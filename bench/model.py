"""The analytical model against the RTL: cycles (must be equal) and speed (model evaluations
against Verilator runs of the same GEMMs), per unit, on real-layer shapes.

Each GEMM runs once through ``sparseloom sim`` (the Verilated core, checked bit-exactly against
the golden model, stall-free) and through ``Unit.evaluate`` (the analytical model on the same
mapping and the plan's encoding, its cycles the unit's cycle model). Shapes are linear layers of the networks this
project runs: all-MiniLM-L6-v2 (hidden 384, FFN 1536) on 32 tokens, SmolLM2-135M (hidden 576,
FFN 1536) decoding 8 tokens; on the SME engine, whose input vector holds at most ``k_max`` = 256
activations, two of EfficientNet-lite0's pointwise projections over their whole feature maps.
Prints a markdown table and writes JSON.

    python bench/model.py [--units highlight dense lut mac sme]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sparseloom.benchkit import simulate, write_json
from sparseloom.gen.unit import GemmShape
from sparseloom.golden import hss, lut
from sparseloom.units import unit

SHAPES = {  # (M, K, N): out features, in features, tokens
    "MiniLM q/k/v/o (32 tokens)": (384, 384, 32),
    "MiniLM FFN down (32 tokens)": (384, 1536, 32),
    "SmolLM2 q/o (decode, 8 tokens)": (576, 576, 8),
}
SME_SHAPES = {  # (M, K, N): output channels, input channels, output pixels
    "EfficientNet-lite0 block 1 project (56x56)": (24, 96, 56 * 56),
    "EfficientNet-lite0 block 5 project (28x28)": (40, 240, 28 * 28),
}
SETTINGS = {"highlight": ["4:4,4:4", "2:4,2:4", "4:4,1:4"], "dense": [None], "lut": ["1", "2", "4"], "mac": ["2"],
            "sme": ["none", "2"]}


def operands(name: str, setting, shape, rng):
    m, k, n = shape
    x = rng.integers(-128, 128, (k, n), dtype=np.int8)
    if name == "highlight":
        return hss.prune(rng.integers(-128, 128, (m, k), dtype=np.int8), hss.HSSPattern.parse(setting)), x
    if name in ("lut", "mac"):
        return rng.choice(np.array(lut.weight_format(setting).values, dtype=np.int8), (m, k)), x
    return rng.integers(-128, 128, (m, k), dtype=np.int8), x


def model_seconds(u, config, shape, encoding, repeat: int) -> tuple[float, float]:
    """(seconds per evaluation, its cycles), best of ``repeat`` timed batches."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = u.evaluate(config, shape, encoding)
        best = min(best, time.perf_counter() - t0)
    return best, result.cycles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", nargs="*", default=list(SETTINGS))
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--repeat", type=int, default=20, help="timed model evaluations per GEMM (best kept)")
    ap.add_argument("--json", default="bench/results/model.json")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sparseloom-bench-") as tmp:
        for name in args.units:
            u = unit(name)
            config = u.presets[u.default_preset]
            # untimed: a small GEMM first, so that no timed run includes the Verilator build
            simulate(name, SETTINGS[name][0], config.name,
                     *operands(name, SETTINGS[name][0], (8, 64, 2), np.random.default_rng(0)), Path(tmp))
            for layer, (m, k, n) in (SME_SHAPES if name == "sme" else SHAPES).items():
                for setting in SETTINGS[name]:
                    w, x = operands(name, setting, (m, k, n), rng)
                    report = simulate(name, setting, config.name, w, x, Path(tmp))
                    shape = GemmShape(m, n, k)
                    # what the RTL ran: the pattern or weight format, or SME's occupancy of this W
                    encoding = u.plan(config, u.setting.parse(setting) if u.setting else None, w, x).encoding
                    seconds, cycles = model_seconds(u, config, shape, encoding, args.repeat)
                    rows.append({"unit": name, "config": config.name, "layer": layer, "m": m, "k": k, "n": n,
                                 "setting": setting or "int8", "rtl_cycles": report["cycles"], "model_cycles": cycles,
                                 "error": (cycles - report["cycles"]) / report["cycles"],
                                 "rtl_seconds": report["wall_s"], "model_seconds": seconds,
                                 "speed_ratio": report["wall_s"] / seconds})
                    print(f"  {name} {layer} {setting}: RTL {report['cycles']}, model {cycles:.0f}", file=sys.stderr)
    print("\n| unit | layer | M x K x N | setting | RTL cycles | model cycles | error | RTL run (s) | model (ms) "
          "| model / RTL speed |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['config']} | {r['layer']} | {r['m']} x {r['k']} x {r['n']} | {r['setting']} | {r['rtl_cycles']} | "
              f"{r['model_cycles']:.0f} | {100 * r['error']:.1f}% | {r['rtl_seconds']:.1f} | "
              f"{1e3 * r['model_seconds']:.2f} | {r['speed_ratio']:,.0f}x |")
    ratios = sorted(r["speed_ratio"] for r in rows)
    print(f"\nLargest |error| {max(abs(r['error']) for r in rows):.1%}; model/RTL speed ratio "
          f"{ratios[0]:,.0f}x to {ratios[-1]:,.0f}x (median {ratios[len(ratios) // 2]:,.0f}x).")
    write_json(args.json, {"seed": args.seed, "repeat": args.repeat, "rows": rows})


if __name__ == "__main__":
    main()
