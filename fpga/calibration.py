"""Logic cells of a HighLight configuration, calibrated to the FPGA flow (ECP5-85F, DSPs off).

The analytical model's area (``sparseloom.model.energy``: um^2 of an ASIC's multipliers,
adders and SRAM) has no selection muxes and says nothing about an FPGA. This module predicts
what ``sparseloom fpga highlight --target ecp5-85f --no-dsp`` reports as ``logic_cells``
(nextpnr's TRELLIS_COMB: the LUT positions logic, carry chains and LUT RAM take, harness
included) as a linear function of counts computed from the configuration alone (``features``:
multipliers, selection-mux input bits, LUT RAM cells and their read muxes, block RAMs,
accumulator bits, weight-beat bits, a constant), fitted to measured points
(``fpga/calibration.json``) by least squares of the relative error with no negative
coefficient (``fit``). Whether the activation banks land in LUT RAM or block RAM follows
Yosys' memory-library costs (``buffer_memory``); block RAMs are reported apart
(``block_rams``), as they take no logic cells.

Measured points come two ways:

* **placed and routed** (``sparseloom fpga``'s flow, or ``bench/results/fpga.json``): the
  logic cells as nextpnr packs them;
* **synthesis only** (``synthesis_counts``: the same harnessed top and Yosys script as
  ``fpga.flow.synthesise``, stopped before nextpnr): Yosys' LUT4, CCU2C and TRELLIS_DPR16X4
  counts, in seconds to a few minutes where place-and-route takes minutes to most of an hour.
  Their logic cells are *estimated* by ``packing``, a second least-squares fit of logic cells
  on those three counts over every placed-and-routed ECP5 DSP-off run (HighLight and the other
  units; a CCU2C comes out at about 2.7 LUT positions, a DPR16X4 at about 6).

``logic_cells(config)`` is the fit, ``residuals()`` its error on every point (with the model's
own area in um^2 beside it), ``cross_validation()`` the leave-one-out errors. The fit covers
``data_width=8``, ``acc_width=32`` (``FIT_RANGE``) and the parameter ranges of
``CALIBRATION_CONFIGS``; outside them it extrapolates.

Measure more points (each appended to ``fpga/calibration.json`` as it finishes; at most two
measuring processes at once, they share the file under a lock)::

    python -m sparseloom.fpga.calibration measure [--only NAME ...] [--pnr]
    python -m sparseloom.fpga.calibration fit       # coefficients, residuals, leave-one-out
"""
from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import numpy as np

from sparseloom.gen.highlight.config import HighLightConfig

#: The committed measurements.
DATA = Path(__file__).with_name("calibration.json")
TARGET = "ecp5-85f"

#: The features of the fit, each a count of the configuration (see ``features``).
FEATURES = ("multipliers", "mux_bits", "lutrams", "lutram_mux_bits", "brams", "accumulator_bits",
            "weight_beat_bits", "constant")

#: Where the fit was measured: outside it, ``logic_cells`` extrapolates.
FIT_RANGE = {"data_width": 8, "acc_width": 32}


def buffer_memory(config: HighLightConfig) -> dict:
    """How Yosys maps each activation bank (``2 * bank_rows`` words of ``h0 * cols * data_width``
    bits) on ECP5, by the costs of its memory library (share/lattice): LUT RAM, TRELLIS_DPR16X4 of
    16 x 4 bits at cost 4 each plus a read mux of ``width`` bits per extra 16 words (our estimate
    of the muxing), or block RAM, DP16KD/PDPW16KD of up to 512 x 36 bits at cost 128 each,
    whichever costs less (block RAM on a tie). Banks up to 32 deep land in LUT RAM, 64 and deeper
    in block RAM: what every measured point shows (the test checks the counts)."""
    c = config
    depth, width = 2 * c.bank_rows, c.h0 * c.cols * c.data_width
    high = -(-depth // 16)
    dprs = high * -(-width // 4)
    brams = -(-width // 36) * -(-depth // 512)
    lut_cost = 4 * dprs + width * (high - 1)
    if 128 * brams <= lut_cost:
        return {"kind": "block RAM", "brams": c.banks * brams, "lutrams": 0, "lutram_mux_bits": 0,
                "depth": depth, "width": width}
    return {"kind": "LUT RAM", "brams": 0, "lutrams": c.banks * dprs, "lutram_mux_bits": c.banks * width * (high - 1),
            "depth": depth, "width": width}


def features(config: HighLightConfig) -> dict[str, float]:
    """The counts the fit weighs, from the configuration alone:

    * ``multipliers``: rows x cols x lanes data_width-bit multipliers (LUTs with DSPs off), each
      with its product register and its share of the PE's lane adder;
    * ``mux_bits``: the inputs of every lane's activation selection mux, rows x lanes x cols
      muxes of banks x h0 words of data_width bits (HighLight's own cost over a dense array);
    * ``lutrams``, ``lutram_mux_bits``: the activation banks in LUT RAM (``buffer_memory``;
      zero where they are in block RAM);
    * ``brams``: the block RAMs of banks in block RAM (their storage takes no logic cells, their
      ports' data and address logic does);
    * ``accumulator_bits``: rows x cols accumulators and their result register, acc_width each
      (and the harness's reduction of the result stream);
    * ``weight_beat_bits``: one weight beat (values, offsets, slots: their decoding per lane);
    * ``constant``: the sequencer, the stream handshakes and the harness's fixed part."""
    c = config
    memory = buffer_memory(c)
    return {
        "multipliers": float(c.multipliers),
        "mux_bits": float(c.rows * c.lanes * c.cols * c.banks * c.h0 * c.data_width),
        "lutrams": float(memory["lutrams"]),
        "lutram_mux_bits": float(memory["lutram_mux_bits"]),
        "brams": float(memory["brams"]),
        "accumulator_bits": float(c.rows * c.cols * c.acc_width),
        "weight_beat_bits": float(c.weight_layout.size),
        "constant": 1.0,
    }


def block_rams(config: HighLightConfig) -> int:
    """DP16KD/PDPW16KD block RAMs the activation banks take (``buffer_memory``)."""
    return buffer_memory(config)["brams"]


# ----- measuring -------------------------------------------------------------------------

def _config(name: str, rows: int, cols: int, h0: int, g0_max: int, h1_max: int, g1_max: int, k_max: int):
    return HighLightConfig(name, rows=rows, cols=cols, h0=h0, g0_max=g0_max, h1_max=h1_max, g1_max=g1_max,
                           k_max=k_max)


#: The configurations measured for the fit: highlight_small's neighbours, one parameter moved
#: at a time, and a few moved together. (highlight_small and highlight_h8 themselves come from
#: bench/results/fpga.json, placed and routed.)
CALIBRATION_CONFIGS = {c.name: c for c in [
    _config("cal_r1c1_g1", 1, 1, 4, 1, 2, 1, 32),
    _config("cal_r1c1", 1, 1, 4, 2, 4, 2, 64),
    _config("cal_r2c1", 2, 1, 4, 2, 4, 2, 64),
    _config("cal_r1c2", 1, 2, 4, 2, 4, 2, 64),
    _config("cal_g1", 2, 2, 4, 1, 4, 2, 64),
    _config("cal_g4", 2, 2, 4, 4, 4, 4, 64),
    _config("cal_h1_2", 2, 2, 4, 2, 2, 2, 64),
    _config("cal_h1_8", 2, 2, 4, 2, 8, 2, 64),
    _config("cal_k256", 2, 2, 4, 2, 4, 2, 256),
    _config("cal_h0_8", 2, 2, 8, 2, 4, 2, 64),
    _config("cal_r4c2", 4, 2, 4, 2, 4, 2, 64),
    _config("cal_r2c4", 2, 4, 4, 2, 4, 2, 64),
    _config("cal_r4c4", 4, 4, 4, 2, 4, 2, 128),
    _config("cal_r4c4_g4", 4, 4, 4, 4, 4, 2, 128),
    _config("cal_r1c1_k512", 1, 1, 4, 4, 4, 4, 512),
    # towards the corners of sparseloom.explore's default space
    _config("cal_r8c2", 8, 2, 4, 2, 4, 2, 64),
    _config("cal_r2c8", 2, 8, 4, 2, 4, 2, 64),
    _config("cal_r2c2_k512", 2, 2, 4, 2, 4, 2, 512),
    _config("cal_r4c4_k512", 4, 4, 4, 2, 4, 2, 512),
    _config("cal_r4c4_h8", 4, 4, 4, 2, 8, 4, 128),
    _config("cal_r4c4_g1", 4, 4, 4, 1, 2, 1, 64),
    _config("cal_r8c4", 8, 4, 4, 2, 4, 2, 128),
    _config("cal_r4c8_g4", 4, 8, 4, 4, 8, 4, 256),
    # banks 32 deep (LUT RAM, two deep) and 64 deep (block RAM, see ``buffer_memory``)
    _config("cal_r4c2_k256", 4, 2, 4, 2, 4, 2, 256),
    _config("cal_r1c4_k256", 1, 4, 4, 4, 4, 2, 256),
    _config("cal_r2c1_k512", 2, 1, 4, 2, 4, 2, 512),
]}


def synthesis_counts(config, out_dir: Path, *, dsp: bool = False, timeout_s: float | None = None) -> dict:
    """Yosys alone on ``config``'s harnessed core: ``fpga.flow.synthesise`` up to its LUT check
    (the same top, script and cell classes), no nextpnr. Returns the cell counts and seconds."""
    from sparseloom.gen import emit

    from .flow import cell_classes, yosys_cells
    from .harness import Harness

    started = time.monotonic()
    script, cells = yosys_cells(Harness(emit.build(config)), TARGET, out_dir, dsp=dsp, timeout_s=timeout_s)
    return {"yosys_script": script, "cells": cells, **cell_classes(cells),
            "synth_s": round(time.monotonic() - started, 1)}


def measure_one(config, out_dir: Path, *, pnr: bool) -> dict:
    """One calibration point: synthesis counts, and with ``pnr`` the full ``fpga_report``."""
    from .flow import fpga_report, versions

    point = {"config": config.name, "parameters": config.parameters(), "target": TARGET, "dsp_inference": False,
             "date": datetime.date.today().isoformat(), "toolchain": versions()}
    if pnr:
        report = fpga_report(config, TARGET, out_dir, dsp=False)
        point |= {"source": "place-and-route", "command": report["command"] + " (with a --config JSON of these "
                  "parameters)", **{k: report[k] for k in ("logic_cells", "core_logic_cells", "luts", "ffs", "carry",
                                                          "lutrams", "brams", "dsps", "fmax_mhz", "synth_s",
                                                          "pnr_s")}}
    else:
        counts = synthesis_counts(config, out_dir / "core")
        point |= {"source": "synthesis", "command": f"python -m sparseloom.fpga.calibration measure --only "
                  f"{config.name}", **{k: counts[k] for k in ("luts", "ffs", "carry", "lutrams", "brams", "dsps",
                                                             "synth_s")}}
    return point


def load_points(path: Path = DATA) -> list[dict]:
    return json.loads(path.read_text())["points"] if path.exists() else []


def save_points(points: list[dict], path: Path = DATA) -> None:
    doc = {
        "what": "Logic cells of HighLight configurations on ECP5-85F with DSP inference off (fpga/calibration.py). "
                "source 'place-and-route': logic_cells is nextpnr's TRELLIS_COMB (harness included), as "
                "`sparseloom fpga` reports it; source 'synthesis': Yosys counts only (same harnessed top and "
                "script), logic cells estimated by the packing fit.",
        "command": "python -m sparseloom.fpga.calibration measure [--pnr]",
        "points": sorted(points, key=lambda p: (p["config"], p["source"])),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")


# ----- fitting ---------------------------------------------------------------------------

def _placed_runs() -> list[dict]:
    """Every placed-and-routed ECP5 DSP-off run we have: bench/results/fpga.json (all units)
    and the calibration points measured with ``--pnr``."""
    runs = []
    table = Path(__file__).resolve().parent.parent / "bench" / "results" / "fpga.json"
    if table.exists():
        for r in json.loads(table.read_text())["runs"]:
            if "error" not in r and r["target"] == TARGET and not r["dsp_inference"]:
                runs.append({"config": r["config"], "unit": r["unit"], "parameters": r["parameters"],
                             "source": "place-and-route (bench/results/fpga.json)",
                             **{k: r[k] for k in ("logic_cells", "luts", "carry", "lutrams")}})
    runs += [{"unit": "highlight", **p} for p in load_points() if p["source"] == "place-and-route"]
    return runs


PACKING = ("luts", "carry", "lutrams")


@cache
def packing() -> dict:
    """Logic cells from Yosys counts: least squares of nextpnr's logic cells on LUT4, CCU2C and
    TRELLIS_DPR16X4 over every placed-and-routed ECP5 DSP-off run (no constant: an empty design
    packs into nothing). Returns the coefficients and the fit's relative errors."""
    runs = _placed_runs()
    a = np.array([[r[k] for k in PACKING] for r in runs], dtype=float)
    y = np.array([r["logic_cells"] for r in runs], dtype=float)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    predicted = a @ coef
    return {"coefficients": dict(zip(PACKING, coef.tolist())),
            "points": [{"config": r["config"], "unit": r["unit"], "logic_cells": r["logic_cells"],
                        "predicted": float(p), "relative_error": float(p / r["logic_cells"] - 1)}
                       for r, p in zip(runs, predicted)]}


def estimated_logic_cells(counts: dict) -> float:
    """Logic cells that Yosys counts pack into (``packing``)."""
    return sum(coef * counts[k] for k, coef in packing()["coefficients"].items())


def points() -> list[dict]:
    """Every HighLight point of the fit: its configuration, its logic cells (measured, or
    estimated from synthesis counts) and where they come from. A configuration placed and
    routed is taken once, measured."""
    found: dict[tuple, dict] = {}
    for r in _placed_runs():
        if r["unit"] == "highlight":
            key = tuple(sorted((k, v) for k, v in r["parameters"].items() if k != "name"))
            found[key] = {"config": r["config"], "parameters": r["parameters"],
                          "logic_cells": float(r["logic_cells"]), "source": r["source"]}
    for p in load_points():
        key = tuple(sorted((k, v) for k, v in p["parameters"].items() if k != "name"))
        if p["source"] == "synthesis" and key not in found:
            found[key] = {"config": p["config"], "parameters": p["parameters"],
                          "logic_cells": estimated_logic_cells(p), "source": "synthesis (packing estimate)"}
    return sorted(found.values(), key=lambda p: p["config"])


def _solve(a: np.ndarray) -> dict[str, float]:
    """Non-negative least squares of ``a @ coef = 1`` (``a``: features over logic cells), by
    dropping the most negative coefficient's feature until none is negative."""
    used = list(range(len(FEATURES)))
    while True:
        coef, *_ = np.linalg.lstsq(a[:, used], np.ones(len(a)), rcond=None)
        if (coef >= 0).all():
            break
        used.pop(int(np.argmin(coef)))
    return dict.fromkeys(FEATURES, 0.0) | {FEATURES[i]: float(c) for i, c in zip(used, coef)}


def _design(pts: list[dict]) -> np.ndarray:
    configs = [HighLightConfig.from_dict(p["parameters"]) for p in pts]
    y = np.array([p["logic_cells"] for p in pts])
    return np.array([[features(c)[f] for f in FEATURES] for c in configs]) / y[:, None]


@cache
def fit() -> dict:
    """The fit of logic cells on ``features``: least squares of the *relative* error (each point
    weighed by 1 / its logic cells, so a small configuration counts as much as a large one), and
    no negative coefficient (hardware added never frees cells): a feature whose coefficient comes
    out negative is dropped (its coefficient 0) and the rest refitted. Returns the coefficients
    (logic cells per unit of each feature) and the points."""
    pts = points()
    if len(pts) < len(FEATURES):
        raise RuntimeError(f"the calibration has {len(pts)} points for {len(FEATURES)} features: measure more "
                           f"(python -m sparseloom.fpga.calibration measure)")
    return {"features": FEATURES, "coefficients": _solve(_design(pts)), "points": pts,
            "packing": packing()["coefficients"]}


def cross_validation() -> list[dict]:
    """Leave-one-out: each point predicted by the fit of all the others (how well the fit
    predicts a configuration it was not fitted on)."""
    pts = points()
    a = _design(pts)
    out = []
    for i, p in enumerate(pts):
        coef = _solve(np.delete(a, i, axis=0))
        f = features(HighLightConfig.from_dict(p["parameters"]))
        predicted = sum(c * f[name] for name, c in coef.items())
        out.append({"config": p["config"], "logic_cells": p["logic_cells"], "predicted": predicted,
                    "relative_error": predicted / p["logic_cells"] - 1})
    return out


def logic_cells(config: HighLightConfig) -> float:
    """Predicted ``logic_cells`` of ``sparseloom fpga highlight`` on ECP5-85F, DSPs off."""
    f = features(config)
    return float(sum(coef * f[name] for name, coef in fit()["coefficients"].items()))


def model_area_um2(config: HighLightConfig) -> float:
    """The analytical model's own area of ``config`` (um^2, ``sparseloom.model.energy``'s table:
    multipliers, adders, buffer and accumulators; no selection muxes), for comparison."""
    from sparseloom.gen.highlight.unit import lane_array

    return lane_array(config).area_um2


def residuals() -> list[dict]:
    """Each fitted point: its logic cells, the prediction, the relative error, and the model's
    area in um^2 beside them."""
    out = []
    for p in fit()["points"]:
        config = HighLightConfig.from_dict(p["parameters"])
        predicted = logic_cells(config)
        out.append({**p, "predicted": predicted, "relative_error": predicted / p["logic_cells"] - 1,
                    "model_area_um2": model_area_um2(config)})
    return out


# ----- command line ----------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sparseloom.fpga.calibration", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="measure the calibration configurations not yet in the JSON file")
    m.add_argument("--only", nargs="*", default=None, help="configuration names (default: every one)")
    m.add_argument("--pnr", action="store_true", help="place and route too (minutes each)")
    m.add_argument("--out", default="build/calibration", help="folder of the tool logs")
    m.add_argument("--data", default=str(DATA), help="the JSON file the points are appended to")
    sub.add_parser("fit", help="print the fit's coefficients and residuals")
    args = p.parse_args(argv)
    if args.command == "fit":
        f = fit()
        print(json.dumps({"coefficients": f["coefficients"], "packing": f["packing"]}, indent=2))
        print(f"{'config':>16} {'cells':>8} {'fit':>8} {'error':>7} {'LOO':>7} {'model um^2':>11}  source")
        for r, loo in zip(residuals(), cross_validation()):
            print(f"{r['config']:>16} {r['logic_cells']:8.0f} {r['predicted']:8.0f} {100 * r['relative_error']:+6.1f}% "
                  f"{100 * loo['relative_error']:+6.1f}% {r['model_area_um2']:11.0f}  {r['source']}")
        return 0
    data = Path(args.data)
    source = "place-and-route" if args.pnr else "synthesis"
    names = args.only or list(CALIBRATION_CONFIGS)
    unknown = [n for n in names if n not in CALIBRATION_CONFIGS]
    if unknown:
        p.error(f"unknown calibration configurations {unknown}; allowed: {', '.join(CALIBRATION_CONFIGS)}")
    for name in names:
        if any(q["config"] == name and q["source"] == source for q in load_points(data)):
            continue
        print(f"{name}: {source} ...", file=sys.stderr, flush=True)
        point = measure_one(CALIBRATION_CONFIGS[name], Path(args.out) / f"{name}-{source}", pnr=args.pnr)
        # another measuring process may append meanwhile
        with open(Path(tempfile.gettempdir()) / "sparseloom-calibration.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            save_points([q for q in load_points(data) if (q["config"], q["source"]) != (name, source)] + [point],
                        data)
        print(f"{name}: {json.dumps({k: v for k, v in point.items() if k not in ('parameters', 'toolchain')})}",
              file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
