"""Peer comparison: the dense array's cycles from the RTL, from our analytical model and from
ZigZag's cost model, on the layers of ``bench/model.py``, with both models' evaluation speed.

Each GEMM runs once through ``sparseloom sim dense`` (Verilated, checked bit-exactly against
the golden model), through ``Unit.evaluate`` (our model on the planner's mapping) and through
``sparseloom.peers.zigzag`` (ZigZag given the same workload, array, buffers, widths, energies
and mapping, all read from the configuration). Evaluation times are the best of ``--repeat``:
ours from the configuration to the result, ZigZag's of its cost model alone (its inputs parsed
beforehand). Needs the ``peers`` extra. Prints a markdown table and writes JSON.

    python bench/peers.py [--config dense_default]
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from sparseloom.benchkit import simulate, write_json
from sparseloom.gen.unit import GemmShape
from sparseloom.peers import PeerMissing, zigzag
from sparseloom.units import unit

SHAPES = {  # (M, K, N): out features, in features, tokens; the layers of bench/model.py
    "MiniLM q/k/v/o (32 tokens)": (384, 384, 32),
    "MiniLM FFN down (32 tokens)": (384, 1536, 32),
    "SmolLM2 q/o (decode, 8 tokens)": (576, 576, 8),
}


def timed(f, *args):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = f(*args)
    return time.perf_counter() - start, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="dense_default")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--repeat", type=int, default=20, help="timed evaluations per GEMM and model (best kept)")
    ap.add_argument("--json", default="bench/results/peers.json")
    args = ap.parse_args()
    logging.getLogger("zigzag").setLevel(logging.ERROR)   # it warns that a Gemm takes the default mapping
    dense = unit("dense")
    config = dense.load(args.config)
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sparseloom-peers-") as tmp:
        for layer, (m, k, n) in SHAPES.items():
            shape = GemmShape(m, n, k)
            try:
                zz_runs = [zigzag.evaluate(config, shape) for _ in range(args.repeat)]
            except PeerMissing as e:
                raise SystemExit(str(e)) from None
            zz, zz_seconds = zz_runs[-1], min(r.seconds for r in zz_runs)
            our_runs = [timed(dense.evaluate, config, shape, None) for _ in range(args.repeat)]
            ours, ours_seconds = our_runs[-1][1], min(s for s, _ in our_runs)
            w = rng.integers(-128, 128, (m, k), dtype=np.int8)
            x = rng.integers(-128, 128, (k, n), dtype=np.int8)
            rtl = simulate("dense", None, args.config, w, x, Path(tmp))
            rows.append({"layer": layer, "m": m, "k": k, "n": n, "config": config.name,
                         "rtl_cycles": rtl["cycles"], "rtl_seconds": rtl["wall_s"],
                         "model_cycles": ours.cycles, "model_energy_pj": ours.energy_pj, "model_seconds": ours_seconds,
                         "zigzag_cycles": zz.cycles, "zigzag_ideal_cycles": zz.ideal_cycles,
                         "zigzag_stall_cycles": zz.stall_cycles, "zigzag_onload_cycles": zz.onload_cycles,
                         "zigzag_offload_cycles": zz.offload_cycles, "zigzag_macs": zz.macs,
                         "zigzag_energy_pj": zz.energy_pj, "zigzag_seconds": zz_seconds,
                         "zigzag_over_rtl": zz.cycles / rtl["cycles"], "speed_ratio": zz_seconds / ours_seconds})
    print(f"\n{config.name}: {config.rows} x {config.cols} PEs of {config.lanes} lanes, {config.multipliers} MACs\n")
    print("| layer | M x K x N | RTL cycles | model cycles | ZigZag cycles (ideal + stall + onload + offload) "
          "| ZigZag / RTL | model evals/s | ZigZag evals/s | model / ZigZag speed | ZigZag / model energy |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['layer']} | {r['m']} x {r['k']} x {r['n']} | {r['rtl_cycles']} | {r['model_cycles']:.0f} | "
              f"{r['zigzag_cycles']:.0f} ({r['zigzag_ideal_cycles']:.0f} + {r['zigzag_stall_cycles']:.0f} + "
              f"{r['zigzag_onload_cycles']:.0f} + {r['zigzag_offload_cycles']:.0f}) | {r['zigzag_over_rtl']:.5f} | "
              f"{1 / r['model_seconds']:,.0f} | {1 / r['zigzag_seconds']:,.0f} | {r['speed_ratio']:.1f}x | "
              f"{r['zigzag_energy_pj'] / r['model_energy_pj']:.5f} |")
    write_json(args.json, {"seed": args.seed, "repeat": args.repeat, "config": config.name, "rows": rows})


if __name__ == "__main__":
    main()
