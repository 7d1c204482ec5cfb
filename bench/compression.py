"""Compression on real pretrained weights: quality against effective compute and weight storage.

Every matmul weight of the transformer blocks of each model (all-MiniLM-L6-v2 sentence
embeddings, SmolLM2-135M-Instruct language model; NumPy forward passes in
``sparseloom.models``) is replaced by its compressed approximation, and the model's quality
is measured against the unmodified model on fixed real text. Methods (``golden/``):

- int8: symmetric per-output-channel int8 (``golden/quant.py``), the dense baseline;
- HSS: the int8 codes magnitude-pruned to one G1:H1,G0:H0 pattern (``hss.prune``), globally
  or chosen per layer under a compute budget (the TASDER search over a pattern menu);
- SDQ: W = N:M int8 outliers + the remainder at b bits with per-group scales (``sdq``);
- TASD: the int8 codes as a series of N:M terms (``tasd``), one series for all layers,
  TASDER's per-layer series under a budget, and TASD of the activations (each linear
  layer's input, along K) with dense int8 weights.

Effective compute is the MACs the hardware must do relative to a dense int8 x int8 array
(MAC-weighted over layers): an N:M term costs N/M, a b-bit weight b/8 (bit-serial or LUT
datapath). Storage is bits per weight including indices and scales. Prints a markdown
table, writes JSON and a plot of quality against effective compute; progress on stderr.

    pip install '.[models]' && python bench/compression.py [--models minilm smollm2]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sparseloom.golden import hss, sdq, tasd
from sparseloom.golden.quant import per_channel_int8

HSS_GLOBAL = ["4:4,2:4", "3:4,2:4", "2:4,2:4", "2:4,1:4"]
HSS_MENU = ["4:4,4:4", "4:4,2:4", "3:4,2:4", "2:4,2:4", "2:4,1:4", "1:4,1:4"]
SDQ_CONFIGS = ["0:8+W4g64", "1:8+W4g64", "1:8+W3g64", "0:8+W2g64", "1:16+W2g64", "1:8+W2g64"]
TASD_SERIES = ["2:4+1:4", "4:8+1:8", "4:8", "2:8+1:8", "2:8"]
TASD_MENU = ["8:8", "4:8+2:8", "4:8", "2:8+1:8", "2:8", "1:8"]
BUDGETS = [0.5, 0.375, 0.25]
ACT_SERIES = ["4:8", "2:8+1:8"]
ACT_MENU = ["8:8", "4:8+2:8", "4:8", "2:8+1:8", "2:8"]


@dataclass
class Subject:
    """What every method starts from: the model, its float linear weights and their int8 codes."""
    model: object
    layers: dict        # name -> float32 (out, in)
    codes: dict         # name -> (int8 codes, per-channel scales)


@dataclass
class Compressed:
    """One method's result on a model: replacement weights (or an activation hook) and costs."""
    weights: dict
    compute: float          # MAC-weighted effective compute relative to dense int8
    storage_bits: float     # MAC-weighted bits per weight
    act: object = None
    choice: dict | None = None


def _weighted(layers: dict, per_layer: dict) -> float:
    total = sum(w.size for w in layers.values())
    return float(sum(layers[n].size * float(v) for n, v in per_layer.items()) / total)


def int8_codes(layers: dict) -> dict:
    return {name: per_channel_int8(w) for name, w in layers.items()}


def _from_codes(codes: dict, approx_codes: dict) -> dict:
    return {name: (approx_codes[name] * codes[name][1]).astype(np.float32) for name in approx_codes}


def int8_baseline(s: Subject) -> Compressed:
    return Compressed(_from_codes(s.codes, {n: q for n, (q, _) in s.codes.items()}), 1.0, 8.0)


def _hss_bits(p: hss.HSSPattern) -> float:
    """Bits per weight of an HSS matrix: kept values with rank-0 offsets, kept blocks' rank-1 indices."""
    return float(p.density) * (8 + math.ceil(math.log2(p.h0))) + p.g1 / p.group_size * math.ceil(math.log2(p.h1))


def _tasd_bits(series) -> float:
    """Bits per weight of a TASD series of int8 terms: each kept value with its index in its block."""
    return sum(n / m * (8 + math.ceil(math.log2(m))) for n, m in tasd.parse_series(str(series)).terms)


def hss_global(s: Subject, pattern: str) -> Compressed:
    p = hss.HSSPattern.parse(pattern)
    pruned = {n: hss.prune(q, p) for n, (q, _) in s.codes.items()}
    return Compressed(_from_codes(s.codes, pruned), float(p.density), _hss_bits(p))


def _search(layers, codes, menu, budget, approximate, cost, bits) -> Compressed:
    """TASDER's search (``tasd.search``) over another approximation: per layer, the option of
    ``menu`` that minimises the summed relative errors under ``budget`` (fraction of dense MACs)."""
    approx = {n: [approximate(q, option) for option in menu] for n, (q, _) in codes.items()}
    errors = {n: [float(np.square(a.astype(np.float64) - q).sum() / max(1, np.square(q, dtype=np.float64).sum()))
                  for a in approx[n]] for n, (q, _) in codes.items()}
    costs = {n: [layers[n].size * cost(option) for option in menu] for n in layers}
    choice = tasd.search(costs, errors, budget * sum(w.size for w in layers.values()))
    picked = {n: approx[n][i] for n, i in choice.items()}
    return Compressed(_from_codes(codes, picked), _weighted(layers, {n: cost(menu[i]) for n, i in choice.items()}),
                      _weighted(layers, {n: bits(menu[i]) for n, i in choice.items()}),
                      choice={n: str(menu[i]) for n, i in choice.items()})


def hss_per_layer(s: Subject, budget: float) -> Compressed:
    menu = [hss.HSSPattern.parse(p) for p in HSS_MENU]
    return _search(s.layers, s.codes, menu, budget, hss.prune, lambda p: float(p.density), _hss_bits)


def tasd_global(s: Subject, series: str) -> Compressed:
    approx = {n: tasd.decompose(q, series).approximation() for n, (q, _) in s.codes.items()}
    return Compressed(_from_codes(s.codes, approx), float(tasd.density(series)), _tasd_bits(series))


def tasder(s: Subject, budget: float) -> Compressed:
    """TASDER on weights: per layer, the series of ``TASD_MENU`` chosen under ``budget``."""
    choice = tasd.tasder({n: (q, q.size) for n, (q, _) in s.codes.items()}, TASD_MENU, budget)
    approx = {n: tasd.decompose(s.codes[n][0], c).approximation() for n, c in choice.items()}
    return Compressed(_from_codes(s.codes, approx), _weighted(s.layers, {n: tasd.density(c) for n, c in choice.items()}),
                      _weighted(s.layers, {n: _tasd_bits(c) for n, c in choice.items()}),
                      choice={n: str(c) for n, c in choice.items()})


def sdq_method(s: Subject, text: str) -> Compressed:
    config = sdq.SDQConfig.parse(text)
    parts = {n: sdq.decompose(w, config) for n, w in s.layers.items()}
    return Compressed({n: d.dense().astype(np.float32) for n, d in parts.items()},
                      _weighted(s.layers, {n: d.relative_compute() for n, d in parts.items()}),
                      _weighted(s.layers, {n: d.storage_bits_per_weight() for n, d in parts.items()}))


def tasd_activations(s: Subject, series: str) -> Compressed:
    """Dense int8 weights; every linear layer's input approximated by one TASD series along K."""
    return Compressed(int8_baseline(s).weights, float(tasd.density(series)), 8.0,
                      act=lambda name, x: tasd.decompose(x, series).approximation())


def tasder_activations(s: Subject, budget: float) -> Compressed:
    """TASDER on activations: each layer's input on the evaluation text (int8 weights) is captured,
    the per-layer series is searched under ``budget``, then applied to that layer's input."""
    weights = int8_baseline(s).weights
    captured = {}
    s.model.outputs(weights=weights, act=lambda name, x: captured.setdefault(name, x.copy()))
    macs = {n: x.shape[0] * s.layers[n].size for n, x in captured.items()}
    choice = tasd.tasder({n: (x, macs[n]) for n, x in captured.items()}, ACT_MENU, budget)
    total = sum(macs.values())
    return Compressed(weights, float(sum(macs[n] * tasd.density(c) for n, c in choice.items()) / total), 8.0,
                      act=lambda name, x: tasd.decompose(x, choice[name]).approximation(),
                      choice={n: str(c) for n, c in choice.items()})


def sweep() -> list[tuple[str, str, object]]:
    """(method, configuration, builder(subject)) of every run."""
    runs = [("int8", "per channel", int8_baseline)]
    runs += [("HSS", p, lambda s, p=p: hss_global(s, p)) for p in HSS_GLOBAL]
    runs += [("HSS per layer", f"budget {b}", lambda s, b=b: hss_per_layer(s, b)) for b in BUDGETS]
    runs += [("SDQ", c, lambda s, c=c: sdq_method(s, c)) for c in SDQ_CONFIGS]
    runs += [("TASD", c, lambda s, c=c: tasd_global(s, c)) for c in TASD_SERIES]
    runs += [("TASDER", f"budget {b}", lambda s, b=b: tasder(s, b)) for b in BUDGETS]
    runs += [("TASD activations", c, lambda s, c=c: tasd_activations(s, c)) for c in ACT_SERIES]
    runs += [("TASDER activations", f"budget {b}", lambda s, b=b: tasder_activations(s, b)) for b in BUDGETS]
    return runs


def load_models(names):
    from sparseloom.models.minilm import MiniLM
    from sparseloom.models.smollm2 import SmolLM2

    known = {"minilm": MiniLM, "smollm2": SmolLM2}
    return [known[n].load() for n in names]


def evaluate(model, runs, log) -> list[dict]:
    layers = model.linear_weights()
    subject = Subject(model, layers, int8_codes(layers))
    rows = []
    for i, (method, config, build) in enumerate(runs):
        t0 = time.monotonic()
        c = build(subject)
        quality = model.quality(model.outputs(weights=c.weights, act=c.act))
        rows.append({"model": model.name, "method": method, "config": config, "effective_compute": c.compute,
                     "speedup": 1 / c.compute, "storage_bits_per_weight": c.storage_bits, **quality,
                     **({"per_layer_choice": c.choice} if c.choice else {})})
        log(f"[{i + 1}/{len(runs)}] {model.name}: {method} {config}: compute {c.compute:.3f}, "
            f"{quality['headline']} {quality[quality['headline']]:.4f} ({time.monotonic() - t0:.0f} s)")
    return rows


def table(rows) -> str:
    lines = ["| model | method | configuration | eff. compute | speed-up | bits/weight | quality (headline) | "
             "other metrics |", "|---|---|---|---:|---:|---:|---|---|"]
    skip = {"model", "method", "config", "effective_compute", "speedup", "storage_bits_per_weight", "headline",
            "per_layer_choice"}
    for r in rows:
        h = r["headline"]
        others = ", ".join(f"{k} {v:.4g}" for k, v in r.items() if k not in skip and k != h)
        lines.append(f"| {r['model']} | {r['method']} | {r['config']} | {r['effective_compute']:.3f} | "
                     f"{r['speedup']:.2f}x | {r['storage_bits_per_weight']:.2f} | {h} {r[h]:.4g} | {others} |")
    return "\n".join(lines)


def plot(rows, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 4.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        mine = [r for r in rows if r["model"] == model]
        for method in dict.fromkeys(r["method"] for r in mine):
            pts = sorted((r["effective_compute"], r[r["headline"]]) for r in mine if r["method"] == method)
            ax.plot(*zip(*pts), marker="o", linestyle="-" if len(pts) > 1 else "", label=method)
        ax.set_xlabel("effective compute (MACs relative to dense int8)")
        ax.set_ylabel(mine[0]["headline"].replace("_", " "))
        if mine[0]["headline"] == "perplexity_increase_pct":
            ax.set_yscale("symlog", linthresh=1)
        ax.set_title(model)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["minilm", "smollm2"], choices=["minilm", "smollm2"])
    ap.add_argument("--json", default="bench/results/compression.json")
    ap.add_argument("--plot", default="bench/results/compression.png")
    args = ap.parse_args()
    started = time.monotonic()

    def log(text):
        print(f"{time.monotonic() - started:6.0f} s  {text}", file=sys.stderr, flush=True)

    rows, references = [], {}
    for model in load_models(args.models):
        log(f"{model.name}: {len(model.linear_weights())} linear layers")
        references[model.name] = model.quality(model.reference())
        rows += evaluate(model, sweep(), log)
    print(table(rows))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"command": "python bench/compression.py", "references": references,
                                           "rows": rows}, indent=2) + "\n")
    plot(rows, Path(args.plot))
    log(f"wrote {args.json} and {args.plot}")


if __name__ == "__main__":
    main()
