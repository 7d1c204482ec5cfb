"""SME on real CNNs: crossbars saved by orchestration, cumulation and squeeze-out, what each costs
in accuracy, and real layers on the Verilated engines.

Networks: MobileNet-v2 (SME's own, torchvision's ImageNet checkpoint) and EfficientNet-lite0,
batch norm folded, every GEMM layer (convolutions as M = out channels by K = in channels x
kernel; the depthwise ones are not crossbar GEMMs and stay out) int8 per output channel.
Crossbars: ``--rows`` x ``--cols`` of 1-bit cells, the golden SME mapping (``golden/sme.py``).

Orchestrations, per network:
* ``int8 (squeeze-out only)``: dense bit slicing of the int8 codes, all-zero word lines dropped;
* ``<= k bits/weight (global)``: every weight to the nearest magnitude with <= k set bits;
* ``per-layer``: ``sparseloom/network_sme.py``: per layer a curve over power-of-two terms and a
  low bit (a), cumulation (c) and crossbar drops (b), ``golden/sme_orchestration.py``; one
  multiplier mu over sensitivity-weighted costs picks each layer's point; the sweep of mu is the
  plot (refined by bisection of mu at each floor), and the rows are its largest reduction at
  >= 97% and >= 99% top-1 agreement.
Accuracy: top-1 / top-5 agreement and mean softmax KL against the int8 network (what dense bit
slicing computes) on every offline image (20 labelled ImageNet validation JPEGs + the unlabelled
photographs), agreement against the float network too, and top-1 on the labelled ones.
Calibration (E[x^2] per input and the layers' sensitivities) uses the unlabelled photographs
only. Then three real layers of each network run on the RTL (``sparseloom sim sme``, fast
path), with real int8 activations (64 pixels of the first image), as int8 and as the >= 97%
choice, on each engine, against the dense mapping's cycles from the cycle model (which every
run equals). Prints markdown tables, writes JSON and a plot.

    make models && python bench/sme.py [--networks mobilenet-v2 efficientnet-lite0] [--engine ...]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from sparseloom import network_sme as ns
from sparseloom.benchkit import markdown_table, simulate, write_json
from sparseloom.execution import quantise_activations
from sparseloom.gen.sme.plan import dense_occupancy, programmings
from sparseloom.gen.unit import GemmShape
from sparseloom.golden import sme
from sparseloom.models.images import offline_images
from sparseloom.models.mobile import LOADERS, classification_quality
from sparseloom.units import unit

NETWORKS = ("mobilenet-v2", "efficientnet-lite0")
RTL_LAYERS = {"mobilenet-v2": ["features.0.0", "features.3.conv.2", "features.12.conv.0.0"],
              "efficientnet-lite0": ["_conv_stem", "_blocks.1._project_conv", "_blocks.5._project_conv"]}
#: The SME engines the real layers run on: the one-row-a-beat engine and the busier sme_wide.
RTL_ENGINES = ["sme_default", "sme_wide"]
GLOBAL_BITS = (3, 2)
FLOORS = (0.97, 0.99)
BISECTIONS = 4   # extra sweep points per floor, between the last point below it and the first above
PUBLISHED = {"mobilenet-v2": 2.1, "resnet-50": 8.7}


def quality(out, base, reference, labels) -> dict:
    """Agreement with the int8 network, agreement with the float one, top-1 on the labelled images."""
    q = classification_quality(out, base, labels)
    f = classification_quality(out, reference, labels)
    return {"top1_agreement": q["top1_agreement"], "top5_agreement": q["top5_agreement"], "kl_mean": q["kl_mean"],
            "top1_agreement_float": f["top1_agreement"], "top1_accuracy": f.get("top1_accuracy")}


def network_study(name: str, config: sme.CrossbarSpec, mus) -> dict:
    """Curves, sensitivities, the global and per-layer orchestrations and their accuracy for one network."""
    t0 = time.monotonic()
    net = LOADERS[name]()
    photos = offline_images()
    calib = [p for p in photos if p.label is None]
    x, x_cal = net.images(photos), net.images(calib)
    labels = [p.label for p in photos]
    x_power = ns.calibrate(net, x_cal)
    weights = net.linear_weights()
    curves = []
    for i, (layer, w) in enumerate(weights.items()):
        curves.append(ns.layer_curve(layer, w, x_power[layer], config))
        print(f"  {name} [{i + 1}/{len(weights)}] {layer}: {len(curves[-1].points)} points", file=sys.stderr, flush=True)
    sensitivity = ns.sensitivities(net, x_cal, curves)
    reference = net.forward(x)
    base = ns.forward_with(net, x, ns.int8_weights(curves))
    dense = sum(c.counts["crossbars_dense"] for c in curves)
    size = sum(c.q.size for c in curves)

    def mean_error(codes: dict) -> float:
        return sum(sme.orchestration_error(c.q, codes[c.name])["relative_l2"] * c.q.size for c in curves) / size

    rows = []
    squeezed = [sme.squeeze(c.q, config) for c in curves]
    rows.append({"orchestration": "int8 (squeeze-out only)", "crossbars_dense": dense,
                 "crossbars_after_orchestration": sum(m.crossbars_occupied for m in squeezed),
                 "crossbars_after_cumulation": None, "crossbars_final": sum(m.crossbars_physical for m in squeezed),
                 "weight_error": 0.0, **quality(base, base, reference, labels)})
    for bits in GLOBAL_BITS:
        codes = {c.name: sme.orchestrate(c.q, bits) for c in curves}
        maps = [sme.squeeze(codes[c.name], config) for c in curves]
        out = ns.forward_with(net, x, {c.name: (codes[c.name] * c.scale[:, None]).astype(np.float32) for c in curves})
        rows.append({"orchestration": f"<= {bits} bits/weight (global)", "crossbars_dense": dense,
                     "crossbars_after_orchestration": sum(m.crossbars_occupied for m in maps),
                     "crossbars_after_cumulation": None, "crossbars_final": sum(m.crossbars_physical for m in maps),
                     "weight_error": mean_error(codes), **quality(out, base, reference, labels)})
    def point(mu: float) -> dict:
        chosen = ns.choose(curves, mu, sensitivity)
        out = ns.forward_with(net, x, ns.weights_for(curves, chosen))
        total = sum(p.crossbars for p in chosen.values())
        return {"mu": mu, "crossbars_final": total, "reduction": dense / total,
                **quality(out, base, reference, labels), "chosen": chosen}

    sweep = [point(float(mu)) for mu in mus]
    for floor in FLOORS:   # bisect log(mu) between the sweep's best point at the floor and its cheaper neighbour
        ok = sorted((s for s in sweep if s["top1_agreement"] >= floor), key=lambda s: s["mu"])
        if ok and ok[0]["mu"] > sweep[0]["mu"]:
            lo, hi = max(s["mu"] for s in sweep if s["mu"] < ok[0]["mu"]), ok[0]["mu"]
            for _ in range(BISECTIONS):
                mid = float(np.sqrt(lo * hi))
                sweep.append(point(mid))
                lo, hi = (lo, mid) if sweep[-1]["top1_agreement"] >= floor else (mid, hi)
    sweep.sort(key=lambda s: s["mu"])
    for floor in FLOORS:
        ok = [s for s in sweep if s["top1_agreement"] >= floor]
        if not ok:
            continue
        best = max(ok, key=lambda s: (s["reduction"], s["top1_agreement"]))
        per_layer = [ns.breakdown(c, best["chosen"][c.name], config) for c in curves]
        codes = {c.name: c.codes(best["chosen"][c.name]) for c in curves}
        rows.append({"orchestration": f"per-layer, best at >= {floor:.0%} agreement", "mu": best["mu"],
                     "crossbars_dense": dense,
                     "crossbars_after_orchestration": sum(b["crossbars_after_orchestration"] for b in per_layer),
                     "crossbars_after_cumulation": sum(b["crossbars_after_cumulation"] for b in per_layer),
                     "crossbars_final": best["crossbars_final"], "weight_error": mean_error(codes),
                     **{k: best[k] for k in ("top1_agreement", "top5_agreement", "kl_mean", "top1_agreement_float",
                                             "top1_accuracy")},
                     "layers": per_layer, "codes": codes})
    for r in rows:
        r["network"], r["reduction"] = name, dense / r["crossbars_final"]
    for s in sweep:
        s.pop("chosen")
    print(f"  {name}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return {"network": name, "images": len(photos), "labelled": sum(p.label is not None for p in photos),
            "calibration_images": len(calib), "rows": rows, "sweep": sweep,
            "float_vs_int8": quality(base, reference, reference, labels), "net": net, "x": x, "curves": curves}


def rtl_cases(study: dict, layers: list[str]) -> list[dict]:
    """Each RTL layer as int8 and as the >= 97% choice, with real int8 activations (64 pixels of
    the first image, per-tensor scale)."""
    net, curves = study["net"], {c.name: c for c in study["curves"]}
    captured = {}

    def hook(name, a):
        captured[name] = a
        return a @ net.linear_weights()[name].T
    net.forward(study["x"][:1], matmul=hook)
    chosen = next((r for r in study["rows"] if r["orchestration"].endswith(">= 97% agreement")), None)
    cases = []
    for layer in layers:
        xq = quantise_activations(captured[layer][:64])[0].T.copy()
        cases.append({"layer": layer, "variant": "int8", "w": curves[layer].q, "x": xq})
        if chosen is not None:
            cases.append({"layer": layer, "variant": "per-layer >= 97%", "w": chosen["codes"][layer], "x": xq})
    return cases


def rtl_runs(network: str, cases: list[dict], engine_names: list[str]) -> list[dict]:
    """Real layers through the Verilated engines, squeezed, vs. the dense mapping (cycle model)."""
    u = unit("sme")
    engines = {name: u.load(name) for name in engine_names}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            w, x = case["w"], case["x"]
            shape = GemmShape(w.shape[0], x.shape[1], w.shape[1])
            for name, engine in engines.items():
                dense = dense_occupancy(engine, shape)
                r = simulate("sme", "none", name, w, x, Path(tmp))
                if not np.array_equal(np.load(r["y_file"]), w.astype(np.int64) @ x):
                    raise SystemExit(f"{network} {case['layer']} on {name}: Y differs from W @ X")
                runs.append({"network": network, "engine": name, "layer": case["layer"], "variant": case["variant"],
                             "m": w.shape[0], "k": w.shape[1], "n": x.shape[1],
                             "programmings": r["programmings"], "crossbars": r["crossbars_after_squeeze"],
                             "cycles": r["cycles"], "model_cycles": r["model_cycles"],
                             "dense_programmings": len(programmings(engine, dense)),
                             "dense_cycles": u.cycles(engine, shape, dense),
                             "utilization": r["utilization"], "cell_utilization": r["cell_utilization"]})
    return runs


def summary_table(rows) -> str:
    return markdown_table(
        ["network", "orchestration", "dense", "after orchestration", "after cumulation", "after squeeze-out",
         "reduction", "weight error (rel. L2)", "top-1 agr.", "top-5 agr.", "KL", "top-1 agr. (float)", "top-1 (labelled)"],
        [[r["network"], r["orchestration"], r["crossbars_dense"], r["crossbars_after_orchestration"],
          "-" if r["crossbars_after_cumulation"] is None else r["crossbars_after_cumulation"], r["crossbars_final"],
          f"{r['reduction']:.2f}x", f"{r['weight_error']:.4f}", f"{r['top1_agreement']:.3f}",
          f"{r['top5_agreement']:.3f}", f"{r['kl_mean']:.4f}", f"{r['top1_agreement_float']:.3f}",
          f"{r['top1_accuracy']:.2f}"] for r in rows])


def rtl_table(runs) -> str:
    first = runs[0]["engine"]
    base = {(r["network"], r["layer"], r["variant"]): r["cycles"] for r in runs if r["engine"] == first}
    return markdown_table(
        ["network", "layer", "M x K", "weights", "engine", "crossbars", "programmings", "RTL cycles",
         "dense cycles", "speedup vs dense", f"vs {first}", "utilization", "cell utilization"],
        [[r["network"], r["layer"], f"{r['m']} x {r['k']}", r["variant"], r["engine"], r["crossbars"],
          r["programmings"], r["cycles"], r["dense_cycles"], f"{r['dense_cycles'] / r['cycles']:.2f}x",
          f"{base[r['network'], r['layer'], r['variant']] / r['cycles']:.2f}x", f"{r['utilization']:.3f}",
          f"{r['cell_utilization']:.3f}"] for r in runs])


def plot(studies, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for s in studies:
        pts = sorted((p["reduction"], p["top1_agreement"]) for p in s["sweep"])
        line, = ax.plot(*zip(*pts), marker="o", label=f"{s['network']}: per-layer (sweep of mu)")
        glob = [r for r in s["rows"] if "global" in r["orchestration"] or "squeeze-out only" in r["orchestration"]]
        ax.plot([r["reduction"] for r in glob], [r["top1_agreement"] for r in glob], marker="s", linestyle="",
                color=line.get_color(), label=f"{s['network']}: int8 and <= k bits/weight")
    ax.axvline(PUBLISHED["mobilenet-v2"], color="grey", linestyle="--", label="SME published, MobileNet-v2 (2.1x)")
    for floor in FLOORS:
        ax.axhline(floor, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("crossbar reduction over dense bit slicing")
    ax.set_ylabel("top-1 agreement with the int8 network")
    ax.set_title(f"SME crossbars vs accuracy ({studies[0]['images']} offline images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--cols", type=int, default=128)
    ap.add_argument("--mus", type=int, default=17, help="points of the mu sweep (1e2..1e6, log-spaced)")
    ap.add_argument("--engine", nargs="+", default=RTL_ENGINES, help="SME engine presets for the RTL runs")
    ap.add_argument("--no-rtl", action="store_true", help="skip the RTL runs")
    ap.add_argument("--json", default="bench/results/sme.json")
    ap.add_argument("--plot", default="bench/results/sme.png")
    args = ap.parse_args()
    config = sme.CrossbarSpec(args.rows, args.cols)
    mus = np.geomspace(1e2, 1e6, args.mus)
    studies = [network_study(name, config, mus) for name in args.networks]
    rows = [r for s in studies for r in s["rows"]]
    print(f"\nCrossbars of {args.rows}x{args.cols} 1-bit cells; accuracy on {studies[0]['images']} offline images "
          f"({studies[0]['labelled']} labelled), agreement against the int8 network:\n")
    print(summary_table(rows))
    print(f"\nSME published: {PUBLISHED['mobilenet-v2']}x on MobileNet-v2, {PUBLISHED['resnet-50']}x on ResNet-50.")
    runs = []
    if not args.no_rtl:
        for s in studies:
            runs += rtl_runs(s["network"], rtl_cases(s, RTL_LAYERS[s["network"]]), args.engine)
        print("\nReal layers on the RTL (64 real int8 input vectors; dense = the unsqueezed mapping, cycle model):\n")
        print(rtl_table(runs))
    plot(studies, args.plot)
    summary = [{k: r[k] for k in ("network", "orchestration", "crossbars_dense", "crossbars_after_orchestration",
                                   "crossbars_after_cumulation", "crossbars_final", "reduction", "weight_error",
                                   "top1_agreement", "top5_agreement", "kl_mean", "top1_agreement_float",
                                   "top1_accuracy")} for r in rows]
    write_json(args.json, {
        "date": date.today().isoformat(), "command": " ".join(["python bench/sme.py", *sys.argv[1:]]),
        "crossbar": {"rows": args.rows, "cols": args.cols, "cell_bits": 1}, "published": PUBLISHED,
        "summary": summary,
        "networks": [{"network": s["network"], "images": s["images"], "labelled": s["labelled"],
                      "calibration_images": s["calibration_images"], "float_vs_int8": s["float_vs_int8"],
                      "sweep": s["sweep"],
                      "layers": {r["orchestration"]: r["layers"] for r in s["rows"] if "layers" in r}}
                     for s in studies],
        "rtl": runs})


if __name__ == "__main__":
    main()
