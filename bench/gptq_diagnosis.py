"""Why GPTQ halves SDQ's loss on SmolLM2 at 1:8+W4g64 but not at 0:8+W4g64: the layer-wise objective against
the network's loss, and two ablations.

Per linear layer, on the calibration split of ``bench/compression.py`` (same Hessians): the proxy error
tr(E H E^T) / tr(W H W^T) of E = W - W^ for one-shot SDQ (``sdq.decompose``) and SDQ GPTQ (``gptq.gptq_sdq``
with activation-aware outliers and the clipping search), and how far each layer's largest input channel (by
RMS) stands above the median channel. Then, on the evaluation windows: GPTQ at 0:8+W4g64 with the layers whose
largest input channel exceeds ``MASSIVE`` x the median given 1:8 outliers (their GPTQ 1:8+W4g64 weights),
GPTQ at 0:8+W4g64 without the clipping search, and GPTQ calibrated block by block as its reference
implementation does (``sequential``: each block's Hessians from the calibration windows as the already-quantised
blocks before it transform them), at both configurations.

    pip install '.[models]' && OPENBLAS_NUM_THREADS=1 python bench/gptq_diagnosis.py
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

import compression
from sparseloom.golden import gptq, sdq
from sparseloom.models.evaluation import Hessians

CONFIGS = ["0:8+W4g64", "1:8+W4g64"]
MASSIVE = 100


def proxy_error(w: np.ndarray, approx: np.ndarray, h: np.ndarray) -> float:
    """tr(E H E^T) / tr(W H W^T), E = W - approx, in float64."""
    w = w.astype(np.float64)
    e = w - approx.astype(np.float64)
    return float(np.sum((e @ h) * e) / np.sum((w @ h) * w))


def sequential(s, config: sdq.SDQConfig) -> dict:
    """GPTQ-SDQ weights of every layer, block by block: block b's Hessians come from the unmodified block b run
    on what the quantised blocks 0..b-1 make of the calibration windows."""
    model = s.evaluation.model
    xs = [model.tensors["token_embd.weight"][w] for w in s.evaluation.calibration]
    weights = {}
    for b in range(model.config.n_layers):
        h = Hessians()
        for x in xs:
            model.block(b, x, act=h.hook)
        for n in (n for n in s.layers if n.startswith(f"blk.{b}.")):
            weights[n] = compression.gptq_layer(s.layers[n], h[n], config).dense().astype(np.float32)
        xs = [model.block(b, x, weights) for x in xs]
    return weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="bench/results/gptq_diagnosis.json")
    args = ap.parse_args()
    started = time.monotonic()

    def log(text):
        print(f"{time.monotonic() - started:6.0f} s  {text}", file=sys.stderr, flush=True)

    s = compression.load_subject("smollm2", log)
    h = s.hessians
    peak = {n: float(np.sqrt(np.diag(h[n]).max() / np.median(np.diag(h[n])))) for n in s.layers}
    massive = sorted(n for n, v in peak.items() if v > MASSIVE)
    layers, gptq_weights = {n: {"largest_over_median_rms": peak[n]} for n in s.layers}, {}
    for text in CONFIGS:
        config = sdq.SDQConfig.parse(text)
        t0 = time.monotonic()
        for n, w in s.layers.items():
            gptq_weights[text, n] = compression.gptq_layer(w, h[n], config).dense().astype(np.float32)
            layers[n][f"{text} one-shot"] = proxy_error(w, sdq.decompose(w, config).dense(), h[n])
            layers[n][f"{text} GPTQ"] = proxy_error(w, gptq_weights[text, n], h[n])
        log(f"{text}: one-shot and GPTQ proxy errors of {len(s.layers)} layers ({time.monotonic() - t0:.0f} s)")
    summary = {}
    for text in CONFIGS:
        one_shot = np.array([v[f"{text} one-shot"] for v in layers.values()])
        calibrated = np.array([v[f"{text} GPTQ"] for v in layers.values()])
        summary[text] = {"summed_ratio": float(calibrated.sum() / one_shot.sum()),
                         "median_ratio": float(np.median(calibrated / one_shot)),
                         "median_one_shot": float(np.median(one_shot)), "median_gptq": float(np.median(calibrated))}

    def score(weights: dict) -> dict:
        q = s.evaluation.score(weights=weights)
        return {k: q[k] for k in ("perplexity_increase_pct", "perplexity_increase_ci", "agreement", "kl")}

    ablations = {}
    protected = {n: gptq_weights["1:8+W4g64" if n in massive else "0:8+W4g64", n] for n in s.layers}
    ablations[f"GPTQ 0:8+W4g64, 1:8 outliers in {len(massive)} layers"] = score(protected)
    log(f"GPTQ 0:8+W4g64 with {massive} at 1:8: {ablations[next(iter(ablations))]}")
    config = sdq.SDQConfig.parse("0:8+W4g64")
    no_clip = {n: gptq.gptq_sdq(w, h[n], config, clip=False).dense().astype(np.float32) for n, w in s.layers.items()}
    ablations["GPTQ 0:8+W4g64 without the clipping search"] = score(no_clip)
    log(f"GPTQ 0:8+W4g64 without clipping: {ablations['GPTQ 0:8+W4g64 without the clipping search']}")

    for text in CONFIGS:
        t0 = time.monotonic()
        ablations[f"GPTQ {text}, calibrated block by block"] = score(sequential(s, sdq.SDQConfig.parse(text)))
        log(f"GPTQ {text} block by block ({time.monotonic() - t0:.0f} s): {ablations[f'GPTQ {text}, calibrated block by block']}")

    print("| configuration | median one-shot proxy error | median GPTQ | GPTQ / one-shot (summed) | (median) |")
    print("|---|---:|---:|---:|---:|")
    for text, v in summary.items():
        print(f"| {text} | {v['median_one_shot']:.4g} | {v['median_gptq']:.4g} | {v['summed_ratio']:.3f} | "
              f"{v['median_ratio']:.3f} |")
    print(f"\nlargest input channel over the median channel (RMS): median {np.median(list(peak.values())):.1f}x, "
          f"above {MASSIVE}x in {', '.join(f'{n} ({peak[n]:.0f}x)' for n in massive)}\n")
    print("| run | perplexity increase [95% CI] | agreement | KL (nats) |")
    print("|---|---|---:|---:|")
    for name, q in ablations.items():
        lo, hi = q["perplexity_increase_ci"]
        print(f"| {name} | {q['perplexity_increase_pct']:+.3g}% [{lo:.3g}, {hi:.3g}] | {q['agreement']:.3f} | "
              f"{q['kl']:.3g} |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "command": compression.command_line(), "date": datetime.date.today().isoformat(),
        "massive_layers": massive, "summary": summary, "ablations": ablations, "layers": layers}, indent=1) + "\n")
    log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
