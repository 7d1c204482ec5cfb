"""Run one GEMM through ``sparseloom sim`` (RTL, checked against the golden model) for a bench."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def simulate(unit: str, flag: str, spec: str, config: str, w: np.ndarray, x: np.ndarray, tmp: Path) -> dict:
    """The CLI's JSON report for Y = W @ X on ``unit`` (``flag`` is --pattern or --wbits)."""
    stem = tmp / f"{unit}-{config}-{spec.replace(':', '_').replace(',', '__')}"
    np.save(f"{stem}.w.npy", w)
    np.save(f"{stem}.x.npy", x)
    cmd = [sys.executable, "-m", "sparseloom", "sim", unit, flag, spec, "--weights", f"{stem}.w.npy",
           "--inputs", f"{stem}.x.npy", "--out", f"{stem}.y.npy", "--report", f"{stem}.json", "--config", config]
    t0 = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{unit} {spec}: sparseloom sim failed:\n{run.stderr}")
    report = json.loads(Path(f"{stem}.json").read_text())
    report["wall_s"] = round(time.monotonic() - t0, 1)
    print(f"  {unit} {config} {spec}: {report['cycles']} cycles ({report['wall_s']} s)", file=sys.stderr, flush=True)
    return report


def write_json(path: str, payload: dict) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)
