"""What the bench scripts share: one GEMM through ``sparseloom sim`` and their JSON output.

Every run is checked bit-exactly against the golden model by the CLI, and its stall-free
cycles are asserted equal to the unit's analytical cycle model (from the shape and encoding
alone): a bench that disagrees with the model stops.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sparseloom.units import unit


def simulate(unit_name: str, setting: str | None, config: str, w: np.ndarray, x: np.ndarray, tmp: Path,
             repeat: int = 1, engine: str = "fast") -> dict:
    """The CLI's JSON report for Y = W @ X on ``unit_name`` with its run-time ``setting`` text
    (``repeat`` times back to back, on a unit whose core overlaps GEMMs), on ``engine``; its Y is
    at ``report["y_file"]``."""
    u = unit(unit_name)
    tag = (setting or "int8").replace(":", "_").replace(",", "__")
    stem = tmp / f"{u.name}-{config}-{tag}-{w.shape[0]}x{x.shape[1]}x{w.shape[1]}-r{repeat}-{engine}"
    np.save(f"{stem}.w.npy", w)
    np.save(f"{stem}.x.npy", x)
    flag = [u.setting.flag, setting] if u.setting else []
    cmd = [sys.executable, "-m", "sparseloom", "sim", u.name, *flag, "--weights", f"{stem}.w.npy",
           "--inputs", f"{stem}.x.npy", "--out", f"{stem}.y.npy", "--report", f"{stem}.json", "--config", config,
           "--engine", engine, *(["--repeat", str(repeat)] if repeat > 1 else [])]
    t0 = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{u.name} {setting}: sparseloom sim failed:\n{run.stderr}")
    report = json.loads(Path(f"{stem}.json").read_text())
    if report["cycles"] != report["model_cycles"]:
        raise SystemExit(f"{u.name} {config} {setting}: the RTL took {report['cycles']} cycles, "
                         f"the cycle model says {report['model_cycles']}")
    report["wall_s"] = round(time.monotonic() - t0, 1)
    report["y_file"] = f"{stem}.y.npy"
    print(f"  {u.name} {config} {setting} {w.shape[0]}x{x.shape[1]}x{w.shape[1]}"
          f"{f' x{repeat} back to back' if repeat > 1 else ''} ({engine}): {report['cycles']} cycles "
          f"({report['wall_s']} s)",
          file=sys.stderr, flush=True)
    return report


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A markdown table of ``rows`` (cells already formatted) under ``header``."""
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(map(str, row)) + " |" for row in rows)])


def write_json(path: str, payload: dict) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)
