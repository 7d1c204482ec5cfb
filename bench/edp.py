"""HighLight's comparison on our model: energy, delay and EDP of the HighLight array, the dense
array, a 2:4-only array and an unstructured array, on real networks, at HSS densities from
dense to 1/7.

All four have highlight_default's multipliers, buffer and accumulators (the dense array is
``DenseConfig.matching`` it). HighLight and the dense array are our units as the model describes
them (cycles: their exact cycle models, asserted against the RTL; weights as wide as their share
of the RTL's weight beat, HighLight's carrying its offsets and block indices). The 2:4-only and
unstructured arrays are the dense array with the sparsity support of ``sparseloom.model.templates``
(``NofM``, ``CoordinateList`` with a coordinate per K of a tile): the computes they skip and the
metadata their weights carry; their cycles are the dense array's, less the compute cycles they
skip (the same loads and pipeline). The weights are pruned to each HSS pattern (its nominal
density: what the four do depends only on the structure). Layers: every GEMM of the network
(linear layers, and convolutions as im2col); depthwise convolutions and attention's
activation x activation products are left out (no unit runs them), the same for every design.

    python bench/edp.py [--networks minilm efficientnet_lite0] [--plot bench/results/edp.png]
"""
from __future__ import annotations

import argparse
import math
import sys

from sparseloom.benchkit import write_json
from sparseloom.gen.highlight.config import DenseConfig
from sparseloom.gen.highlight.unit import DENSE, HIGHLIGHT
from sparseloom.gen.tiles import ACCUMULATORS, BUFFER, HOST
from sparseloom.gen.unit import GemmShape
from sparseloom.golden.hss import HSSPattern
from sparseloom.model import networks
from sparseloom.model.analysis import analyse
from sparseloom.model.density import HSS
from sparseloom.model.templates import CoordinateList, NofM, on

PATTERNS = ["4:4,4:4", "4:4,3:4", "4:4,2:4", "2:4,4:4", "3:4,2:4", "2:4,2:4", "2:7,2:4", "1:7,4:4"]
DESIGNS = ("dense", "HighLight", "2:4-only", "unstructured")
PARTS = {"DRAM": HOST, "buffer": BUFFER, "registers": ACCUMULATORS}


def breakdown(result) -> dict[str, float]:
    """Energy (pJ) by DRAM, buffer, registers and compute."""
    return {part: result.level(level).energy_pj for part, level in PARTS.items()} | {
        "compute": result.compute_energy_pj}


def template(dense_config, shape, support, weights):
    """A sparsity ``support`` on the dense array: (cycles, energy by part)."""
    workload, mapping, _ = DENSE.model(dense_config, shape, None)
    arch = DENSE.architecture(dense_config)
    dense = analyse(workload, arch, mapping)
    sparse_workload, skip = on(support, workload, weights, dense_config.data_width)
    result = analyse(sparse_workload, arch, mapping, skip)
    exact = DENSE.cycles(dense_config, shape, None)
    return exact - dense.cycles + result.cycles, breakdown(result)


def evaluate(network: str, pattern_text: str, config, dense_config) -> dict[str, dict]:
    """Per design: cycles and energy by part, summed over the network's GEMM layers."""
    pattern, weights = HSSPattern.parse(pattern_text), HSS.parse(pattern_text)
    totals = {d: {"cycles": 0.0} | dict.fromkeys([*PARTS, "compute"], 0.0) for d in DESIGNS}
    for layer in networks.layers(network):
        gemm = networks.gemm_shape(layer)
        if gemm is None:
            continue
        m, k, n = gemm
        shape = GemmShape(m, n, k)
        workload, mapping, _ = DENSE.model(dense_config, shape, None)
        fiber = mapping.extents(workload, DENSE.architecture(dense_config), 1)["K"]   # a K tile, at the buffer
        runs = {"dense": DENSE.evaluate(dense_config, shape, None),
                "HighLight": HIGHLIGHT.evaluate(config, shape, pattern)}
        results = {d: (r.cycles, breakdown(r)) for d, r in runs.items()}
        results["2:4-only"] = template(dense_config, shape, NofM(2, 4), weights)
        results["unstructured"] = template(dense_config, shape, CoordinateList(fiber), weights)
        for d, (cycles, parts) in results.items():
            totals[d]["cycles"] += layer.count * cycles
            for part, pj in parts.items():
                totals[d][part] += layer.count * pj
    for t in totals.values():
        t["energy_pj"] = sum(t[p] for p in [*PARTS, "compute"])
        t["edp"] = t["energy_pj"] * t["cycles"]
    return totals


def plot(rows, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = sorted({r["network"] for r in rows})
    fig, axes = plt.subplots(len(nets), 1, figsize=(12, 4 * len(nets)), squeeze=False)
    colours = {"DRAM": "#4c72b0", "buffer": "#55a868", "registers": "#c44e52", "compute": "#8172b2"}
    width = 0.2
    for ax, net in zip(axes[:, 0], nets):
        for i, pattern in enumerate(PATTERNS):
            for j, design in enumerate(DESIGNS):
                r = next(r for r in rows if r["network"] == net and r["pattern"] == pattern and r["design"] == design)
                x, bottom = i + (j - 1.5) * width, 0.0
                for part, colour in colours.items():
                    ax.bar(x, r[part] / 1e6, width, bottom=bottom, color=colour,
                           label=part if (i, j) == (0, 0) else None, edgecolor="white", linewidth=0.3)
                    bottom += r[part] / 1e6
                ax.text(x, bottom, design[0] if design != "2:4-only" else "2", ha="center", va="bottom", fontsize=6)
        ax.set_xticks(range(len(PATTERNS)), [f"{p}\n({float(HSSPattern.parse(p).density):.3g})" for p in PATTERNS])
        ax.set_ylabel("energy (uJ)")
        ax.set_title(f"{net}: energy by part; bars per pattern: d(ense), H(ighLight), 2(:4-only), u(nstructured)")
        ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="*", default=["minilm", "efficientnet_lite0"], choices=networks.NETWORKS)
    ap.add_argument("--config", default="highlight_default")
    ap.add_argument("--json", default="bench/results/edp.json")
    ap.add_argument("--plot", default="bench/results/edp.png")
    args = ap.parse_args()
    config = HIGHLIGHT.presets[args.config]
    dense_config = DenseConfig.matching(config, f"{config.name}_dense")
    rows = []
    for net in args.networks:
        for pattern in PATTERNS:
            totals = evaluate(net, pattern, config, dense_config)
            for design, t in totals.items():
                rows.append({"network": net, "pattern": pattern, "density": float(HSSPattern.parse(pattern).density),
                             "design": design, **t, "edp_gain": totals["dense"]["edp"] / t["edp"]})
            print(f"  {net} {pattern}", file=sys.stderr, flush=True)
    print(f"\nEDP gain over the dense array ({config.name}'s multipliers; higher is better)\n")
    print("| network | pattern | density | " + " | ".join(DESIGNS) + " |")
    print("|---|---|---:|" + "---:|" * len(DESIGNS))
    for net in args.networks:
        for pattern in PATTERNS:
            got = {r["design"]: r for r in rows if r["network"] == net and r["pattern"] == pattern}
            print(f"| {net} | {pattern} | {got['dense']['density']:.3f} | "
                  + " | ".join(f"{got[d]['edp_gain']:.2f}x" for d in DESIGNS) + " |")
        geo = {d: math.exp(sum(math.log(r["edp_gain"]) for r in rows if r["network"] == net and r["design"] == d)
                           / len(PATTERNS)) for d in DESIGNS}
        print(f"| {net} | geomean | | " + " | ".join(f"{geo[d]:.2f}x" for d in DESIGNS) + " |")
    print("\nEnergy by part (uJ) and cycles at 2:4,2:4\n")
    print("| network | design | cycles | DRAM | buffer | registers | compute | total |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["pattern"] == "2:4,2:4":
            print(f"| {r['network']} | {r['design']} | {r['cycles']:.0f} | " + " | ".join(
                f"{r[p] / 1e6:.1f}" for p in [*PARTS, "compute"]) + f" | {r['energy_pj'] / 1e6:.1f} |")
    write_json(args.json, {"config": config.name, "patterns": PATTERNS, "rows": rows})
    if args.plot:
        plot(rows, args.plot)
        print(f"\nwrote {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
