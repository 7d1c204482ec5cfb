"""Real networks through the RTL: per method, cycles on the cores, speed-up, quality from the RTL.

Each row is one ``sparseloom run`` (every linear layer's GEMMs on the compiled drivers of the
units' default presets, every word checked against the golden model, the quality metric from a
forward pass on the RTL's outputs). Speed-up is over dense int8 on ``dense_default`` on the same
inputs; the model's cycles (the exact cycle model of every GEMM) and energy sit beside the RTL's.
Prints a markdown table, writes JSON (after every row, so a long run keeps what it measured).

    make models && python bench/networks.py [--networks ...] [--minilm-inputs 16] [--smollm2-tokens 8]
                                            [--cnn-images 8] [--json bench/results/networks.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from sparseloom.benchkit import markdown_table, write_json

METHODS = {"minilm": ["int8", "hss:2:4,2:4", "hss:4:4,2:4", "tasd:2:4+1:4", "sdq:1:8+W4g64"],
           "smollm2": ["int8", "q4_1", "hss:4:4,2:4"],
           "efficientnet-lite0": ["int8", "hss:2:4,2:4", "hss:4:4,2:4", "tasd:2:4+1:4", "sdq:1:8+W4g64"]}
QUALITY = {"minilm": "cosine_mean", "smollm2": "perplexity", "efficientnet-lite0": "top1_agreement"}


def run(network: str, method: str, inputs: int, tmp: Path) -> dict:
    report = tmp / f"{network}-{method.replace(':', '_').replace(',', '__')}.json"
    cmd = [sys.executable, "-m", "sparseloom", "run", "--network", network, "--method", method,
           "--inputs", str(inputs), "--report", str(report)]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{network} {method}: sparseloom run failed:\n{done.stderr[-3000:]}")
    return json.loads(report.read_text())


def table(rows) -> str:
    return markdown_table(
        ["network", "method", "units", "RTL cycles", "speed-up vs int8", "quality (from the RTL)", "model cycles",
         "model energy (uJ)", "utilisation", "golden"],
        [[r["network"], r["method"], r["units"], f"{r['cycles']:,}", f"{r['speedup']:.2f}x",
          f"{r['quality_name']} {r['quality']:.4f}", f"{r['model_cycles']:,}", f"{r['energy_uj']:.1f}",
          f"{r['utilization']:.3f}", "exact" if r["golden_match"] else "MISMATCH"] for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="*", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--minilm-inputs", type=int, default=16)
    ap.add_argument("--smollm2-tokens", type=int, default=8)
    ap.add_argument("--cnn-images", type=int, default=8, help="offline images for efficientnet-lite0")
    ap.add_argument("--json", default="bench/results/networks.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for network in args.networks:
            inputs = {"minilm": args.minilm_inputs, "smollm2": args.smollm2_tokens}.get(network, args.cnn_images)
            base = None
            for method in METHODS[network]:
                r = run(network, method, inputs, Path(tmp))
                base = base or r["cycles"]
                rows.append({"network": network, "inputs": r["inputs"], "method": method,
                             "units": ", ".join(r["units"].values()), "cycles": r["cycles"],
                             "model_cycles": r["model_cycles"], "speedup": base / r["cycles"],
                             "quality_name": QUALITY[network], "quality": r[QUALITY[network]],
                             **{k: r[k] for k in ("top1_agreement", "perplexity_reference", "top5_agreement",
                                                  "kl_mean", "top1_accuracy", "top1_accuracy_reference",
                                                  "host_macs", "gemm_macs") if k in r},
                             "energy_uj": r["energy_pj"] / 1e6, "utilization": r["utilization"],
                             "golden_match": r["golden_match"], "wall_seconds": r["wall_seconds"]})
                print(f"  {network} {method}: {r['cycles']:,} cycles, {QUALITY[network]} "
                      f"{r[QUALITY[network]]:.4f} ({r['wall_seconds']} s)", file=sys.stderr, flush=True)
                write_json(args.json, {"date": date.today().isoformat(),
                                       "command": " ".join(["python bench/networks.py", *sys.argv[1:]]), "rows": rows})
    print(table(rows))


if __name__ == "__main__":
    sys.exit(main())
