"""Compression on real pretrained weights, one-shot against calibrated, on held-out real text.

Every matmul weight of the transformer blocks of each model (all-MiniLM-L6-v2 sentence embeddings,
SmolLM2-135M-Instruct language model; NumPy forward passes in ``sparseloom.models``) is replaced by its
compressed approximation; quality against the unmodified model is measured on the evaluation split of the
Wikipedia excerpt that ships in gensim (``sparseloom.models.wikipedia``), calibration statistics come from
its calibration split (other pages). Metrics and their bootstrap intervals: ``sparseloom.models.evaluation``.

Methods (golden models in ``golden/``), each one-shot method next to its calibrated counterpart:

- int8: symmetric per-output-channel int8 (``golden/quant.py``), the dense baseline;
- SDQ: W = N:M int8 outliers + the remainder at b bits with per-group scales max |R| / Q (``sdq.decompose``),
  against SDQ GPTQ: outliers by |w| * ||x||, the remainder with GPTQ's error compensation and each group's
  clipping range searched (``gptq.gptq_sdq(clip=True)``); SDQ clipped, the clipping search alone (one-shot,
  ``sdq.decompose(clip=True)``), shows how much of the gain is calibration's;
- HSS: the int8 codes pruned to one G1:H1,G0:H0 pattern by magnitude (``hss.prune``), against Wanda
  (|w| * ||x||, ``sparsegpt.wanda``) and SparseGPT (adaptive mask, OBS updates, ``sparsegpt.sparsegpt``);
  HSS per layer: TASDER's search over a pattern menu under a compute budget (weight error);
- TASD: the int8 codes as a series of N:M terms (``tasd``), one series for all layers; TASDER's per-layer
  series under a budget chosen by weight error, against loss-aware TASDER: the same search on each
  layer's measured network-output loss (KL for SmolLM2, 1 - cosine for MiniLM) on calibration text;
- TASD of the activations (each linear layer's input, along K) with dense int8 weights; TASDER of the
  activations with the per-layer series searched on calibration activations;
- SDQ in its own accounting: the outliers run W8A8 and the remainder W4A4 (activations quantised per
  token, or per token and 64-feature group, ``golden.quant.per_token``), effective compute counted against
  16-bit dense (``sdq.sdq_compute``).

Effective compute is the MACs the hardware must do relative to a dense int8 x int8 array (MAC-weighted over
layers): an N:M term costs N/M, a b-bit weight b/8 (bit-serial or LUT datapath). Storage is bits per weight
including indices and scales. Prints markdown tables and the floors, writes JSON and a plot; progress on stderr.

    pip install '.[models]' && python bench/compression.py [--models minilm smollm2] [--skip METHOD ...]
    python bench/compression.py --merge A.json B.json    # one table, JSON and plot from separate runs
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sparseloom.golden import gptq, hss, sdq, sparsegpt, tasd
from sparseloom.golden.quant import per_channel_int8, per_token

EVAL_WINDOWS, CAL_WINDOWS, WINDOW = 32, 64, 256
EVAL_SENTENCES, CAL_SENTENCES = 1000, 1024
HSS_GLOBAL = ["4:4,2:4", "3:4,2:4", "2:4,2:4", "2:4,1:4"]
HSS_MENU = ["4:4,4:4", "4:4,2:4", "3:4,2:4", "2:4,2:4", "2:4,1:4", "1:4,1:4"]
SDQ_CONFIGS = ["0:8+W4g64", "1:8+W4g64", "1:8+W3g64", "0:8+W2g64", "1:16+W2g64", "1:8+W2g64"]
TASD_SERIES = ["2:4+1:4", "4:8+1:8", "4:8", "2:8+1:8", "2:8"]
TASD_MENU = ["8:8", "4:8+2:8", "4:8", "2:8+1:8", "2:8", "1:8"]
BUDGETS = [0.5, 0.375, 0.25]
ACT_SERIES = ["4:8", "2:8+1:8"]
ACT_MENU = ["8:8", "4:8+2:8", "4:8", "2:8+1:8", "2:8"]
# SDQ's own setting: (config, outlier activation bits, remainder activation bits, activation group): one
# activation scale per token, or per token and 64-feature group (the weights' groups).
SDQ_OWN = [("0:8+W8g64", 8, 8, None), ("0:8+W4g64", 4, 4, None), ("1:8+W4g64", 8, 4, None),
           ("1:16+W4g64", 8, 4, None), ("0:8+W4g64", 4, 4, 64), ("1:8+W4g64", 8, 4, 64), ("1:16+W4g64", 8, 4, 64)]
# one-shot method -> its calibrated counterparts, compared at equal configuration (equal compute)
PAIRS = {"SDQ": ["SDQ GPTQ"], "HSS": ["HSS Wanda", "HSS SparseGPT"], "TASDER": ["TASDER loss-aware"]}


@dataclass
class Subject:
    """What every method starts from: the model's evaluation, its float linear weights, their int8 codes,
    and (computed once, on first use) the calibration statistics."""
    name: str
    evaluation: object
    layers: dict
    codes: dict
    log: object
    _hessians: object = None
    _losses: dict = field(default_factory=dict)

    @property
    def hessians(self):
        if self._hessians is None:
            t0 = time.monotonic()
            self._hessians = self.evaluation.hessians()
            self.log(f"{self.name}: calibration statistics of {len(self.layers)} layers ({time.monotonic() - t0:.0f} s)")
        return self._hessians


@dataclass
class Compressed:
    """One method's result on a model: replacement weights (or activation / product hooks) and costs."""
    weights: dict
    compute: float          # MAC-weighted effective compute relative to dense int8
    storage_bits: float     # MAC-weighted bits per weight
    act: object = None
    matmul: object = None
    choice: dict | None = None
    own_compute: float | None = None   # SDQ's accounting: relative to 16-bit dense


def _weighted(layers: dict, per_layer: dict) -> float:
    total = sum(w.size for w in layers.values())
    return float(sum(layers[n].size * float(v) for n, v in per_layer.items()) / total)


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


def _hss_result(s: Subject, pattern: hss.HSSPattern, pruned: dict) -> Compressed:
    return Compressed(_from_codes(s.codes, pruned), float(pattern.density), _hss_bits(pattern))


def hss_global(s: Subject, pattern: str) -> Compressed:
    p = hss.HSSPattern.parse(pattern)
    return _hss_result(s, p, {n: hss.prune(q, p) for n, (q, _) in s.codes.items()})


def hss_wanda(s: Subject, pattern: str) -> Compressed:
    p, h = hss.HSSPattern.parse(pattern), s.hessians
    return _hss_result(s, p, {n: sparsegpt.wanda(w, np.sqrt(np.diag(h[n])), p)[0] for n, w in s.layers.items()})


def hss_sparsegpt(s: Subject, pattern: str) -> Compressed:
    """SparseGPT's codes keep their own per-channel scale (the same rule as ``per_channel_int8``)."""
    p, h = hss.HSSPattern.parse(pattern), s.hessians
    weights = {}
    for n, w in s.layers.items():
        codes, scale = sparsegpt.sparsegpt(w, h[n], p)
        weights[n] = (codes * scale).astype(np.float32)
    return Compressed(weights, float(p.density), _hss_bits(p))


def _search(layers, options, budget, error, cost, bits) -> Compressed:
    """TASDER's search (``tasd.search``): per layer, the option minimising the summed ``error(name, i)``
    under ``budget`` (fraction of dense MACs); ``options[name][i]`` is the i-th replacement weight."""
    errors = {n: [error(n, i) for i in range(len(opts))] for n, opts in options.items()}
    costs = {n: [layers[n].size * c for c in cost] for n in layers}
    choice = tasd.search(costs, errors, budget * sum(w.size for w in layers.values()))
    return Compressed({n: options[n][i] for n, i in choice.items()}, _weighted(layers, {n: cost[i] for n, i in choice.items()}),
                      _weighted(layers, {n: bits[i] for n, i in choice.items()}), choice=choice)


def _weight_error(codes, approx):
    """Relative squared error of each option's codes against the layer's int8 codes."""
    def error(n, i):
        q = codes[n][0].astype(np.float64)
        return float(np.square(approx[n][i] - q).sum() / max(1.0, np.square(q).sum()))
    return error


def hss_per_layer(s: Subject, budget: float) -> Compressed:
    menu = [hss.HSSPattern.parse(p) for p in HSS_MENU]
    approx = {n: [hss.prune(q, p) for p in menu] for n, (q, _) in s.codes.items()}
    c = _search(s.layers, {n: [(a * s.codes[n][1]).astype(np.float32) for a in approx[n]] for n in approx}, budget,
                _weight_error(s.codes, approx), [float(p.density) for p in menu], [_hss_bits(p) for p in menu])
    c.choice = {n: HSS_MENU[i] for n, i in c.choice.items()}
    return c


def tasd_global(s: Subject, series: str) -> Compressed:
    approx = {n: tasd.decompose(q, series).approximation() for n, (q, _) in s.codes.items()}
    return Compressed(_from_codes(s.codes, approx), float(tasd.density(series)), _tasd_bits(series))


def _tasd_options(s: Subject):
    return {n: [tasd.decompose(q, c).approximation() for c in TASD_MENU] for n, (q, _) in s.codes.items()}


def _tasder(s: Subject, budget: float, error) -> Compressed:
    approx = _tasd_options(s)
    options = {n: [(a * s.codes[n][1]).astype(np.float32) for a in approx[n]] for n in approx}
    c = _search(s.layers, options, budget, error(approx, options), [float(tasd.density(m)) for m in TASD_MENU],
                [_tasd_bits(m) for m in TASD_MENU])
    c.choice = {n: TASD_MENU[i] for n, i in c.choice.items()}
    return c


def tasder(s: Subject, budget: float) -> Compressed:
    """TASDER on weights, each layer's option error = its relative weight error (``tasd.tasder``'s)."""
    return _tasder(s, budget, lambda approx, options: _weight_error(s.codes, approx))


def tasder_loss_aware(s: Subject, budget: float) -> Compressed:
    """TASDER on weights, each layer's option error = the network-output loss with only that layer replaced
    by that option, measured on calibration text (``evaluation.loss``; one table for every budget)."""
    def error(approx, options):
        def measured(n, i):
            if (n, i) not in s._losses:
                s._losses[n, i] = s.evaluation.loss(n, options[n][i])
            return s._losses[n, i]
        return measured
    t0 = time.monotonic()
    c = _tasder(s, budget, error)
    s.log(f"{s.name}: loss-aware TASDER, {len(s._losses)} layer losses measured ({time.monotonic() - t0:.0f} s)")
    return c


def _sdq_result(s: Subject, parts: dict) -> Compressed:
    return Compressed({n: d.dense().astype(np.float32) for n, d in parts.items()},
                      _weighted(s.layers, {n: d.relative_compute() for n, d in parts.items()}),
                      _weighted(s.layers, {n: d.storage_bits_per_weight() for n, d in parts.items()}))


def sdq_method(s: Subject, text: str) -> Compressed:
    config = sdq.SDQConfig.parse(text)
    return _sdq_result(s, {n: sdq.decompose(w, config) for n, w in s.layers.items()})


def sdq_clipped(s: Subject, text: str) -> Compressed:
    config = sdq.SDQConfig.parse(text)
    return _sdq_result(s, {n: sdq.decompose(w, config, clip=True) for n, w in s.layers.items()})


def gptq_layer(w: np.ndarray, h: np.ndarray, config: sdq.SDQConfig) -> sdq.SDQDecomposition:
    """The bench's SDQ GPTQ of one layer against its Hessian: activation-aware outliers, clipping search."""
    return gptq.gptq_sdq(w, h, config, outlier_score=gptq.activation_score(w, h), clip=True)


def _gptq_parts(s: Subject, config: sdq.SDQConfig) -> dict:
    h = s.hessians
    return {n: gptq_layer(w, h[n], config) for n, w in s.layers.items()}


def sdq_gptq(s: Subject, text: str) -> Compressed:
    return _sdq_result(s, _gptq_parts(s, sdq.SDQConfig.parse(text)))


def sdq_own(s: Subject, text: str, outlier_act_bits: int, remainder_act_bits: int, act_group: int | None) -> Compressed:
    """SDQ GPTQ with its activations quantised per token (and per ``act_group`` features): the outlier product
    at ``outlier_act_bits``, the remainder product at ``remainder_act_bits``; effective compute in SDQ's
    accounting (``sdq.sdq_compute``)."""
    config = sdq.SDQConfig.parse(text)
    parts = _gptq_parts(s, config)
    split = {n: (d.sparse * d.sparse_scale, (d.dense() - d.sparse * d.sparse_scale).astype(np.float32))
             for n, d in parts.items()}

    def matmul(name, x):
        outliers, remainder = split[name]
        y = per_token(x, remainder_act_bits, act_group) @ remainder.T
        return y + per_token(x, outlier_act_bits, act_group) @ outliers.T if config.n else y
    c = _sdq_result(s, parts)
    c.weights, c.matmul = {}, matmul
    c.own_compute = float(sdq.sdq_compute(config, outlier_act_bits, remainder_act_bits))
    return c


def tasd_activations(s: Subject, series: str) -> Compressed:
    """Dense int8 weights; every linear layer's input approximated by one TASD series along K."""
    return Compressed(int8_baseline(s).weights, float(tasd.density(series)), 8.0,
                      act=lambda name, x: tasd.decompose(x, series).approximation())


def tasder_activations(s: Subject, budget: float) -> Compressed:
    """TASDER on activations: the per-layer series searched on each layer's input on the calibration
    text (``evaluation.calibration_inputs``, int8 weights), then applied to the evaluation inputs."""
    weights = int8_baseline(s).weights
    captured = s.evaluation.calibration_inputs(weights)
    macs = {n: x.shape[0] * s.layers[n].size for n, x in captured.items()}
    choice = tasd.tasder({n: (x, macs[n]) for n, x in captured.items()}, ACT_MENU, budget)
    total = sum(macs.values())
    return Compressed(weights, float(sum(macs[n] * tasd.density(c) for n, c in choice.items()) / total), 8.0,
                      act=lambda name, x: tasd.decompose(x, choice[name]).approximation(),
                      choice={n: str(c) for n, c in choice.items()})


def sweep() -> list[tuple[str, str, object]]:
    """(method, configuration, builder(subject)) of every run."""
    runs = [("int8", "per channel", int8_baseline)]
    runs += [("SDQ", c, lambda s, c=c: sdq_method(s, c)) for c in SDQ_CONFIGS]
    runs += [("SDQ clipped", c, lambda s, c=c: sdq_clipped(s, c)) for c in SDQ_CONFIGS]
    runs += [("SDQ GPTQ", c, lambda s, c=c: sdq_gptq(s, c)) for c in SDQ_CONFIGS]
    runs += [("SDQ own accounting", f"{c} A{a}/A{b}" if g is None else f"{c} A{a}g{g}/A{b}g{g}",
              lambda s, c=c, a=a, b=b, g=g: sdq_own(s, c, a, b, g)) for c, a, b, g in SDQ_OWN]
    for method, build in (("HSS", hss_global), ("HSS Wanda", hss_wanda), ("HSS SparseGPT", hss_sparsegpt)):
        runs += [(method, p, lambda s, p=p, build=build: build(s, p)) for p in HSS_GLOBAL]
    runs += [("HSS per layer", f"budget {b}", lambda s, b=b: hss_per_layer(s, b)) for b in BUDGETS]
    runs += [("TASD", c, lambda s, c=c: tasd_global(s, c)) for c in TASD_SERIES]
    runs += [("TASDER", f"budget {b}", lambda s, b=b: tasder(s, b)) for b in BUDGETS]
    runs += [("TASDER loss-aware", f"budget {b}", lambda s, b=b: tasder_loss_aware(s, b)) for b in BUDGETS]
    runs += [("TASD activations", c, lambda s, c=c: tasd_activations(s, c)) for c in ACT_SERIES]
    runs += [("TASDER activations", f"budget {b}", lambda s, b=b: tasder_activations(s, b)) for b in BUDGETS]
    return runs


def load_subject(name: str, log) -> Subject:
    from sparseloom.models import wikipedia
    from sparseloom.models.evaluation import LanguageEval, SentenceEval

    evaluation = [text for _, text in wikipedia.split("evaluation")]
    calibration = [text for _, text in wikipedia.split("calibration")]
    if name == "smollm2":
        from sparseloom.models.smollm2 import SmolLM2

        model = SmolLM2.load()
        ev = LanguageEval(model, wikipedia.token_windows(model.encode, evaluation, EVAL_WINDOWS, WINDOW),
                          wikipedia.token_windows(model.encode, calibration, CAL_WINDOWS, WINDOW))
    else:
        from sparseloom.models.minilm import MiniLM

        model = MiniLM.load()
        ev = SentenceEval(model, wikipedia.sentences(evaluation, EVAL_SENTENCES),
                          wikipedia.sentences(calibration, CAL_SENTENCES))
    layers = model.linear_weights()
    return Subject(model.name, ev, layers, {n: per_channel_int8(w) for n, w in layers.items()}, log)


def evaluate(s: Subject, runs, log) -> list[dict]:
    rows = []
    for i, (method, config, build) in enumerate(runs):
        t0 = time.monotonic()
        c = build(s)
        quality = s.evaluation.score(weights=c.weights, act=c.act, matmul=c.matmul)
        rows.append({"model": s.name, "method": method, "config": config, "effective_compute": c.compute,
                     "speedup": 1 / c.compute, "storage_bits_per_weight": c.storage_bits, **quality,
                     **({"sdq_effective_compute": c.own_compute} if c.own_compute is not None else {}),
                     **({"per_layer_choice": c.choice} if c.choice else {})})
        h = quality["headline"]
        log(f"[{i + 1}/{len(runs)}] {s.name}: {method} {config}: compute {c.compute:.3f}, {h} {quality[h]:.4g} "
            f"{quality[_ci(h)]} ({time.monotonic() - t0:.0f} s)")
    return rows


def floors(rows) -> list[dict]:
    """The issue's floors, from the rows: calibrated vs one-shot at equal configuration (the calibrated
    increase at most half the one-shot one), loss-aware TASDER vs the best uniform series at each budget,
    and SDQ at 4x in its own accounting within 10% perplexity."""
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        h = mine[0]["headline"]
        at = {(r["method"], r["config"]): r for r in mine}
        for base, calibrated in PAIRS.items():
            for r in (r for r in mine if r["method"] == base):
                for name in calibrated:
                    c = at.get((name, r["config"]))
                    if c is not None:
                        out.append({"model": model, "floor": f"{name} <= half of {base}", "config": r["config"],
                                    "effective_compute": r["effective_compute"], "one_shot": r[h], "calibrated": c[h],
                                    "ratio": c[h] / r[h] if r[h] else math.inf, "met": c[h] <= 0.5 * r[h]})
        for r in (r for r in mine if r["method"] == "TASDER loss-aware"):
            budget = float(r["config"].split()[-1])
            uniform = [u for u in mine if u["method"] == "TASD" and u["effective_compute"] <= budget + 1e-9]
            if uniform:
                best = min(uniform, key=lambda u: u[h])
                out.append({"model": model, "floor": "TASDER loss-aware <= best uniform TASD", "config": r["config"],
                            "effective_compute": r["effective_compute"], "one_shot": best[h], "calibrated": r[h],
                            "uniform": best["config"], "ratio": r[h] / best[h] if best[h] else math.inf,
                            "met": r[h] <= best[h]})
        for r in (r for r in mine if r["method"] == "SDQ own accounting" and h == "perplexity_increase_pct"):
            if r["sdq_effective_compute"] <= 0.25 + 1e-9:
                out.append({"model": model, "floor": "SDQ at 4x (own accounting) within 10%", "config": r["config"],
                            "effective_compute": r["effective_compute"], "calibrated": r[h],
                            "ci": r["perplexity_increase_ci"], "met": r[h] <= 10})
    return out


def _ci(headline: str) -> str:
    """The key of a headline metric's confidence interval."""
    return {"perplexity_increase_pct": "perplexity_increase_ci", "cosine_loss": "cosine_loss_ci"}[headline]


def _fmt_ci(r, key) -> str:
    lo, hi = r[key]
    return f"[{lo:.3g}, {hi:.3g}]"


# per headline: the quality columns' header and cells
_QUALITY = {
    "perplexity_increase_pct": ("perplexity [95% CI] | increase [95% CI] | agreement | KL (nats)", lambda r: (
        f"{r['perplexity']:.4g} {_fmt_ci(r, 'perplexity_ci')} | {r['perplexity_increase_pct']:+.3g}% "
        f"{_fmt_ci(r, 'perplexity_increase_ci')} | {r['agreement']:.3f} | {r['kl']:.3g}")),
    "cosine_loss": ("1 - cosine [95% CI] | cosine min | NN kept | retrieval@1", lambda r: (
        f"{r['cosine_loss']:.3g} {_fmt_ci(r, 'cosine_loss_ci')} | {r['cosine_min']:.3f} | {r['nn_retained']:.3f} | "
        f"{r['retrieval_at1']:.3f}")),
}


def table(rows) -> str:
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        header, cells = _QUALITY[mine[0]["headline"]]
        lines += [f"\n{model}\n", f"| method | configuration | eff. compute | SDQ accounting | bits/weight | {header} |",
                  "|---|---|---:|---:|---:|" + "---|" * (header.count("|") + 1)]
        for r in mine:
            own = f"{1 / r['sdq_effective_compute']:.2f}x" if "sdq_effective_compute" in r else ""
            lines.append(f"| {r['method']} | {r['config']} | {r['effective_compute']:.3f} | {own} | "
                         f"{r['storage_bits_per_weight']:.2f} | {cells(r)} |")
    return "\n".join(lines)


def floor_table(found) -> str:
    lines = ["| model | floor | configuration | eff. compute | reference | calibrated | ratio | met |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for f in found:
        ref = f"{f['one_shot']:.4g}" + (f" ({f['uniform']})" if "uniform" in f else "") if "one_shot" in f else ""
        ratio = f"{f['ratio']:.3f}" if "ratio" in f else f"CI [{f['ci'][0]:.3g}, {f['ci'][1]:.3g}]"
        lines.append(f"| {f['model']} | {f['floor']} | {f['config']} | {f['effective_compute']:.3f} | {ref} | "
                     f"{f['calibrated']:.4g} | {ratio} | {'yes' if f['met'] else 'no'} |")
    return "\n".join(lines)


def _series(row) -> str:
    """The plot's line a row belongs to: its method, SDQ's own setting split by activation scale granularity."""
    if row["method"] != "SDQ own accounting":
        return row["method"]
    return f"{row['method']} ({'A per 64' if 'g64/' in row['config'] else 'A per token'})"


def plot(rows, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(7.5 * len(models), 6), squeeze=False)
    calibrated = {m for ms in PAIRS.values() for m in ms} | {"SDQ own accounting"}
    series = list(dict.fromkeys(_series(r) for r in rows))
    style = {name: (plt.cm.tab20(i % 20), "osD^v<>ph*"[i % 10]) for i, name in enumerate(series)}
    for ax, model in zip(axes[0], models):
        mine = [r for r in rows if r["model"] == model]
        h = mine[0]["headline"]
        for name in dict.fromkeys(_series(r) for r in mine):
            pts = sorted((r["effective_compute"], r[h], *r[_ci(h)]) for r in mine if _series(r) == name)
            x, y, lo, hi = map(np.asarray, zip(*pts))
            solid = name.split(" (")[0] in calibrated
            ax.errorbar(x, y, yerr=[y - lo, hi - y], color=style[name][0], marker=style[name][1], capsize=3,
                        label=name, linestyle=("-" if solid else "--") if len(pts) > 1 else "")
        ax.set_xlabel("effective compute (MACs relative to dense int8)")
        ax.set_ylabel({"perplexity_increase_pct": "perplexity increase (%), 95% CI",
                       "cosine_loss": "1 - cosine to the unmodified model, 95% CI"}[h])
        ax.set_yscale("symlog", linthresh=1 if h == "perplexity_increase_pct" else 1e-3)
        ax.set_title(f"{model} (solid: calibrated)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def command_line() -> str:
    """This run's command as a shell line, with the BLAS thread count it ran under."""
    threads = os.environ.get("OPENBLAS_NUM_THREADS")
    return (f"OPENBLAS_NUM_THREADS={threads} " if threads else "") + shlex.join(["python", *sys.argv])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["minilm", "smollm2"], choices=["minilm", "smollm2"])
    ap.add_argument("--json", default="bench/results/compression.json")
    ap.add_argument("--plot", default="bench/results/compression.png")
    ap.add_argument("--skip", nargs="*", default=[], metavar="METHOD",
                    help="methods left out (e.g. 'HSS per layer'), to shorten a run")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="no runs: combine the rows of earlier runs' JSON files into one table, JSON and plot")
    args = ap.parse_args()
    started = time.monotonic()

    def log(text):
        print(f"{time.monotonic() - started:6.0f} s  {text}", file=sys.stderr, flush=True)

    rows, references, commands = [], {}, []
    for path in args.merge or []:
        earlier = json.loads(Path(path).read_text())
        rows, references, commands = rows + earlier["rows"], references | earlier["references"], commands + [earlier["command"]]
    for name in [] if args.merge else args.models:
        s = load_subject(name, log)
        references[s.name] = s.evaluation.reference_score()
        log(f"{s.name}: {len(s.layers)} linear layers, reference {references[s.name]}")
        rows += evaluate(s, [r for r in sweep() if r[0] not in args.skip], log)
    command = " ; ".join(commands) if args.merge else command_line()
    found = floors(rows)
    print(table(rows))
    print("\nFloors\n")
    print(floor_table(found))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    eval_tokens = next((v["eval_tokens"] for v in references.values() if "eval_tokens" in v), None)
    Path(args.json).write_text(json.dumps({
        "command": command, "date": datetime.date.today().isoformat(),
        "eval_tokens": eval_tokens, "references": references, "rows": rows, "floors": found},
        indent=2) + "\n")
    plot(rows, Path(args.plot))
    log(f"wrote {args.json} and {args.plot}")


if __name__ == "__main__":
    main()
