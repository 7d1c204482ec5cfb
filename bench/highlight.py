"""HighLight array: cycles, utilisation and speedup over dense for each HSS pattern.

Every pattern runs the same realistic GEMM (W pruned from one random dense matrix
with no zero entries, so each kept slot is a useful MAC) through the Verilated
default array via ``sparseloom sim highlight``, which also checks Y bit-exactly
against the golden model and its cycles against the cycle model. Prints a markdown table
and writes JSON.

    python bench/highlight.py                 # M=N=256, K=1680 on highlight_default
    python bench/highlight.py --m 64 --n 64   # quicker

Then small GEMMs (M=64, N=16, K=240 and up), where the first tile's load and the pipeline's
drain are not negligible: each alone and eight times back to back (``sim --repeat``), on the
array (dense 4:4,4:4, 2:4,2:4, 4:6,2:4) and on its dense baseline (``dense_default``).
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
#: Small GEMMs (M, N, K), and the patterns whose speed-up over dense the issue floors.
SMALL_GEMMS = [(64, 16, 240), (64, 16, 480), (128, 64, 240)]
SMALL_PATTERNS = ["4:4,4:4", "2:4,2:4", "4:6,2:4"]
BACK_TO_BACK = 8


def dense_weights(rng, m: int, k: int) -> np.ndarray:
    """Random int8 with no zero entry, so every weight HSS keeps is a useful MAC."""
    magnitude = rng.integers(1, 129, size=(m, k))
    return np.where(rng.random((m, k)) < 0.5, -magnitude, np.minimum(magnitude, 127)).astype(np.int8)


def small_gemm_rows(config: str, baseline: str, rng, tmp: Path, jobs: int) -> list[dict]:
    """Each small GEMM alone and back to back, each pattern on the array and int8 on the baseline."""
    work = []
    for m, n, k in SMALL_GEMMS:
        w_dense, x = dense_weights(rng, m, k), rng.integers(-128, 128, size=(k, n), dtype=np.int8)
        for repeat in (1, BACK_TO_BACK):
            work += [("highlight", p, config, hss.prune(w_dense, hss.HSSPattern.parse(p)), x, repeat)
                     for p in SMALL_PATTERNS]
            work.append(("dense", None, baseline, w_dense, x, repeat))
    with ThreadPoolExecutor(jobs) as pool:
        reports = list(pool.map(lambda a: simulate(*a[:5], tmp, repeat=a[5]), work))
    rows = []
    for (unit_name, pattern, cfg, w, x, repeat), r in zip(work, reports):
        same = [q for (u2, p2, _, w2, x2, rp2), q in zip(work, reports)
                if u2 == "highlight" and p2 == "4:4,4:4" and rp2 == repeat and w2.shape == w.shape and x2.shape == x.shape]
        rows.append({"unit": unit_name, "config": cfg, "pattern": pattern or "int8", "m": w.shape[0], "n": x.shape[1],
                     "k": w.shape[1], "back_to_back": repeat, "cycles": r["cycles"], "model_cycles": r["model_cycles"],
                     "utilization": r["utilization"], "speedup_vs_dense": same[0]["cycles"] / r["cycles"],
                     "ideal_speedup": 1 / r.get("density", 1.0)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="highlight_default")
    ap.add_argument("--baseline", default="dense_default", help="the dense array with the same multipliers")
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
    w_dense = dense_weights(rng, args.m, args.k)
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

    with tempfile.TemporaryDirectory(prefix="sparseloom-bench-") as tmp:
        small = small_gemm_rows(args.config, args.baseline, rng, Path(tmp), args.jobs)
    print(f"\nSmall GEMMs on `{args.config}` and `{args.baseline}`, alone and {BACK_TO_BACK} back to back "
          f"(speed-up over the array's own 4:4,4:4; floors: speed-up >= {FLOOR} x ideal, back-to-back "
          f"utilisation >= {FLOOR})\n")
    print("| unit | pattern | M | N | K | GEMMs | cycles | utilisation | speed-up vs dense | ideal |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in small:
        print(f"| {r['config']} | {r['pattern']} | {r['m']} | {r['n']} | {r['k']} | {r['back_to_back']} | "
              f"{r['cycles']} | {r['utilization']:.4f} | {r['speedup_vs_dense']:.3f} | {r['ideal_speedup']:.2f} |")
    write_json(args.json, {"config": args.config, "m": args.m, "n": args.n, "k": args.k,
                           "seed": args.seed, "floor": FLOOR, "rows": rows,
                           "baseline": args.baseline, "back_to_back": BACK_TO_BACK, "small_gemms": small})


if __name__ == "__main__":
    main()
