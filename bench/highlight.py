"""HighLight array: cycles, utilisation and speedup over dense for each HSS pattern.

Every pattern runs the same realistic GEMM (W pruned from one random dense matrix
with no zero entries, so each kept slot is a useful MAC) through the Verilated
default array via ``sparseloom sim highlight``, which also checks Y bit-exactly
against the golden model and its cycles against the cycle model. Prints a markdown table
and writes JSON.

    python bench/highlight.py                 # M=N=256, K=1680 on highlight_default
    python bench/highlight.py --m 64 --n 64   # quicker
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sparseloom.benchkit import simulate, write_json
from sparseloom.golden import hss

HIGHLIGHT_SET = [f"4:{h1},{g0}:4" for g0 in (4, 2, 1) for h1 in (4, 5, 6, 7)] + ["2:4,2:4"]
FLOOR = 0.95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="highlight_default")
    ap.add_argument("--m", type=int, default=256)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--k", type=int, default=1680, help="a multiple of every group size used")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--patterns", nargs="*", default=HIGHLIGHT_SET)
    ap.add_argument("--json", default="bench/results/highlight.json")
    args = ap.parse_args()
    dense = "4:4,4:4"
    patterns = [dense] + [p for p in args.patterns if p != dense]

    rng = np.random.default_rng(args.seed)
    magnitude = rng.integers(1, 129, size=(args.m, args.k))
    w_dense = np.where(rng.random((args.m, args.k)) < 0.5, -magnitude, np.minimum(magnitude, 127)).astype(np.int8)
    x = rng.integers(-128, 128, size=(args.k, args.n), dtype=np.int8)
    print(f"GEMM M={args.m} N={args.n} K={args.k} on {args.config}, seed {args.seed}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="sparseloom-bench-") as tmp:
        def run(pattern):
            w = hss.prune(w_dense, hss.HSSPattern.parse(pattern))
            return simulate("highlight", pattern, args.config, w, x, Path(tmp))

        with ThreadPoolExecutor(args.jobs) as pool:
            reports = list(pool.map(run, patterns))

    dense_cycles = reports[0]["cycles"]
    rows = []
    for r in reports:
        ideal = 1 / r["density"]
        speedup = dense_cycles / r["cycles"]
        rows.append({
            "pattern": r["pattern"], "density": r["density"], "cycles": r["cycles"],
            "model_cycles": r["model_cycles"], "utilization": r["utilization"],
            "speedup": speedup, "ideal_speedup": ideal, "speedup_vs_ideal": speedup / ideal,
            "meets_floors": r["utilization"] >= FLOOR and speedup >= FLOOR * ideal,
        })
    print(f"\nHighLight `{args.config}`, GEMM M={args.m} N={args.n} K={args.k} "
          f"({reports[0]['multipliers']} multipliers; floors: utilisation >= {FLOOR}, speedup >= {FLOOR} x ideal)\n")
    print("| pattern | density | cycles | utilisation | speedup vs dense | ideal 1/density | speedup / ideal | floors |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['pattern']} | {r['density']:.4f} | {r['cycles']} | {r['utilization']:.4f} | "
              f"{r['speedup']:.3f} | {r['ideal_speedup']:.3f} | {r['speedup_vs_ideal']:.4f} | "
              f"{'met' if r['meets_floors'] else 'MISSED'} |")
    write_json(args.json, {"config": args.config, "m": args.m, "n": args.n, "k": args.k,
                           "seed": args.seed, "floor": FLOOR, "rows": rows})


if __name__ == "__main__":
    main()
