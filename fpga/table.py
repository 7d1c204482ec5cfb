"""``make fpga``: every default configuration on ECP5-85F (DSPs on and off), the small ones
also on iCE40 UP5K; a markdown table with the floor verdicts (``bench/results/fpga.md``) and
``bench/results/fpga.json``, both rewritten after every run. Progress on stderr.

    python -m sparseloom.fpga.table [--only NAME ...] [--targets ...] [--resume]

``--resume`` keeps the runs already in the JSON file and does only the missing ones.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sparseloom.units import all_units

from .flow import ToolError, fpga_report

COLUMNS = ("| config | target | DSP | logic cells | LUT4 | FFs | DSPs | BRAMs | Fmax MHz | eff. MACs/cycle "
           "| peak GMAC/s | eff. GMAC/s | eff. MMAC/s per 1k LC | harness LC/FF |")

def runs(only, targets, dsp_settings=(True, False)):
    """(config, target, dsp) in order: the presets small enough for the iCE40 first (also run
    there), then the others, each in unit order."""
    units = list(all_units().values())
    small = [(u.presets[name], True) for u in units for name in u.ice40_presets]
    large = [(c, False) for u in units for c in u.presets.values() if c.name not in u.ice40_presets]
    for config, on_ice40 in small + large:
        if only and config.name not in only:
            continue
        for target, dsp in [("ecp5-85f", True), ("ecp5-85f", False)] + ([("ice40-up5k", True)] if on_ice40 else []):
            if target in targets and dsp in dsp_settings:
                yield config, target, dsp


def row(r: dict) -> str:
    head = f"| {r['config']} | {r['target']} | {'on' if r['dsp_inference'] else 'off'} |"
    if "error" in r:
        return f"{head} {r['error'].splitlines()[0]} |"
    return (f"{head} {r['logic_cells']} | {r['luts']} | {r['ffs']} | {r['dsps']} | {r['brams']} | "
            f"{r['fmax_mhz']:.1f} | {r['effective_macs_per_cycle']:.1f} | {r['peak_macs_per_s'] / 1e9:.2f} | "
            f"{r['effective_macs_per_s'] / 1e9:.2f} | {r['effective_macs_per_s_per_1k_lc'] / 1e6:.1f} | "
            f"{r['harness']['logic_cells']}/{r['harness']['ffs']} |")


def per_lc(r: dict, workload: dict) -> float:
    """Effective MACs/s per 1k logic cells of ``r`` on one of its reference workloads."""
    return workload["effective_macs_per_cycle"] * r["fmax_mhz"] * 1e6 / (r["logic_cells"] / 1000)


def hardware(parameters: dict) -> tuple:
    """A configuration's parameters without its name: two presets with these equal are the same core."""
    return tuple(sorted((k, v) for k, v in parameters.items() if k != "name"))


def comparisons(results: list[dict]) -> list[dict]:
    """Each unit against its baseline (the record's ``Baseline``: the baseline core matching the
    unit's configuration) on the same target and DSP setting, one entry per reference workload,
    with the record's floors and whether each is met."""
    done = [r for r in results if "error" not in r]
    out = []
    for unit in done:
        u = all_units()[unit["unit"]]
        if u.baseline is None:
            continue
        matching = hardware(u.baseline.matching(u.config_class.from_dict(unit["parameters"])).parameters())
        for base in done:
            if (base["unit"], base["target"], base["dsp_inference"], hardware(base["parameters"])) != \
                    (u.baseline.unit, unit["target"], unit["dsp_inference"], matching):
                continue
            floors = () if unit["dsp_inference"] and u.baseline.dsp_off_only else u.baseline.floors
            for wu, wb in zip(unit["workloads"], base["workloads"]):
                c = {"unit": unit["config"], "baseline": base["config"], "target": unit["target"],
                     "dsp_inference": unit["dsp_inference"], "format": wu["format"], "workload": wu["workload"],
                     "logic_overhead": unit["logic_cells"] / base["logic_cells"] - 1,
                     "fmax_ratio": unit["fmax_mhz"] / base["fmax_mhz"],
                     "eff_per_lc_ratio": per_lc(unit, wu) / per_lc(base, wb)}
                c["verdicts"] = {f"{key} {op} {bound}": c[key] <= bound if op == "<=" else c[key] >= bound
                                 for key, op, bound in floors}
                out.append(c)
    return out


def markdown(results: list[dict]) -> str:
    lines = [COLUMNS, "|---|---|---|" + "---:|" * 11, *map(row, results), "",
             "| unit vs baseline | target | DSP | workload | logic overhead | Fmax ratio | eff./LC ratio | floors |",
             "|---|---|---|---|---:|---:|---:|---|"]
    for c in comparisons(results):
        verdicts = ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in c["verdicts"].items()) or "-"
        lines.append(f"| {c['unit']} vs {c['baseline']} | {c['target']} | {'on' if c['dsp_inference'] else 'off'} | "
                     f"{c['format']} | {100 * c['logic_overhead']:+.0f}% | {c['fmax_ratio']:.2f} | "
                     f"{c['eff_per_lc_ratio']:.2f}x | {verdicts} |")
    return "\n".join(lines) + "\n"


def write(results: list[dict], out_json: Path, out_md: Path) -> None:
    """Both files, the runs in the order ``runs`` makes them whatever order they were made in."""
    order = {(c.name, t, d): i for i, (c, t, d) in enumerate(runs(None, ("ecp5-85f", "ice40-up5k")))}
    results = sorted(results, key=lambda r: order.get((r["config"], r["target"], r["dsp_inference"]), len(order)))
    dates = sorted({r["measured"] for r in results if "measured" in r})
    out_json.write_text(json.dumps({"runs": results, "comparisons": comparisons(results)}, indent=2) + "\n")
    out_md.write_text(f"Measured {' to '.join(dict.fromkeys([dates[0], dates[-1]])) if dates else ''} with "
                      f"`make fpga` (each run's date is in the JSON).\n\n" + markdown(results))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="configuration names (default: all presets)")
    ap.add_argument("--targets", nargs="*", default=["ecp5-85f", "ice40-up5k"])
    ap.add_argument("--out", default="build/fpga")
    ap.add_argument("--json", default="bench/results/fpga.json")
    ap.add_argument("--markdown", default="bench/results/fpga.md")
    ap.add_argument("--dsp", choices=["on", "off", "both"], default="both", help="DSP inference settings to run")
    ap.add_argument("--timeout-min", type=float, default=30, help="limit per tool call; a run past it is recorded")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in --json, do the missing ones")
    args = ap.parse_args()
    out_json, out_md = Path(args.json), Path(args.markdown)
    results = json.loads(out_json.read_text())["runs"] if args.resume and out_json.exists() else []
    done = {(r["config"], r["target"], r["dsp_inference"]) for r in results}
    dsp_settings = {"on": (True,), "off": (False,), "both": (True, False)}[args.dsp]
    todo = [run for run in runs(args.only, args.targets, dsp_settings) if (run[0].name, run[1], run[2]) not in done]
    out_json.parent.mkdir(parents=True, exist_ok=True)
    for i, (config, target, dsp) in enumerate(todo):
        t0 = time.monotonic()
        tag = f"{config.name}-{target}{'' if dsp else '-nodsp'}"
        print(f"[{i + 1}/{len(todo)}] {tag} ...", file=sys.stderr, flush=True)
        try:
            result = fpga_report(config, target, Path(args.out) / tag, dsp=dsp, timeout_s=60 * args.timeout_min)
        except (ValueError, ToolError) as e:  # does not fit, or a tool failed: recorded, not fatal
            result = {"config": config.name, "target": target, "dsp_inference": dsp, "error": str(e)}
        results.append({**result, "measured": time.strftime("%Y-%m-%d")})
        print(f"    {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
        write(results, out_json, out_md)
    write(results, out_json, out_md)
    print(out_md.read_text())
    print(f"wrote {out_json} and {out_md}", file=sys.stderr)


if __name__ == "__main__":
    main()
