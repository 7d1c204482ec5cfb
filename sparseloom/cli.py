"""The ``sparseloom`` command: generate Verilog, prune weights, simulate GEMMs on the RTL.

Every input is validated before anything is written; outputs are written to a
temporary name and renamed, so a failed run leaves no half-written file.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from sparseloom.units import all_units, presets, unit


class UsageError(Exception):
    """A bad argument or input file; printed as one line, exit status 2."""


def _load_array(path: str, what: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--{what}: no such file {path!r}")
    try:
        return np.load(p, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UsageError(f"--{what}: {path!r} is not a .npy array file ({e})") from None


def _write_atomically(outputs: dict[Path, object]) -> None:
    """Write every output under a temporary name first, then rename them all."""
    staged = []
    for path, content in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        if isinstance(content, np.ndarray):
            with open(tmp, "wb") as fd:
                np.save(fd, content)
        elif isinstance(content, Path):
            shutil.copyfile(content, tmp)
        else:
            tmp.write_text(content)
        staged.append((tmp, path))
    for tmp, path in staged:
        os.replace(tmp, path)


def cmd_verilog(args) -> None:
    from sparseloom.gen import emit

    configs = presets()
    if args.names:
        known = {c.name: c for c in configs}
        missing = [n for n in args.names if n not in known]
        if missing:
            raise UsageError(f"unknown configuration {missing}; allowed: {', '.join(known)}")
        configs = [known[n] for n in args.names]
    for config in configs:
        v, j = emit.write(config, args.out)
        print(f"wrote {v} and {j}")


def cmd_prune(args) -> None:
    from sparseloom.golden import hss

    pattern = hss.HSSPattern.parse(args.pattern)
    w = _load_array(args.weights, "weights")
    pruned = hss.prune(w, pattern)
    _write_atomically({Path(args.out): pruned})
    print(f"kept {np.count_nonzero(pruned)} of {pruned.size} weights ({pattern}, density {pattern.density})")


def cmd_sim(args) -> None:
    from sparseloom import verilate

    u = unit(args.unit)
    config = u.load(args.config)
    text = getattr(args, u.setting.dest) if u.setting else None
    setting = u.setting.parse(text) if u.setting else None
    w = _load_array(args.weights, "weights")
    x = _load_array(args.inputs, "inputs")
    if not 0.0 <= args.stall < 1.0:
        raise UsageError(f"--stall must be in [0, 1), got {args.stall}")
    plan = u.plan(config, setting, w, x)  # every input check happens here
    expected = plan.golden(w, x)
    model_cycles = u.cycles(config, plan.shape, plan.encoding)

    with tempfile.TemporaryDirectory(prefix="sparseloom-sim-") as tmp:
        tmp = Path(tmp)
        job, result = tmp / "job.npz", tmp / "result.npz"
        np.savez(job, weights=w, inputs=x)
        env = {"SPARSELOOM_JOB": str(job), "SPARSELOOM_RESULT": str(result), "SPARSELOOM_SETTING": text or "",
               "SPARSELOOM_STALL": str(args.stall), "COCOTB_LOG_LEVEL": "WARNING", "GPI_LOG_LEVEL": "WARNING"}
        from cocotb_tools.check_results import get_results

        xml = verilate.run(config, "sparseloom.sim.job", test_dir=tmp, env=env, waves=args.waves, seed=args.seed)
        tests, failed = get_results(xml)
        if failed or not result.exists():
            raise RuntimeError(f"simulation failed ({failed} of {tests} cocotb tests); see the log above")
        out = np.load(result)
        y, cycles = out["y"], int(out["cycles"])
        if not np.array_equal(y, expected):
            bad = tuple(np.argwhere(y != expected)[0])
            raise RuntimeError(f"RTL result differs from the golden model at Y[{bad[0]},{bad[1]}]: "
                               f"expected {expected[bad]}, got {y[bad]}")
        m, n, k = plan.shape
        outputs = {Path(args.out): y}
        report = {
            "unit": u.name, "config": config.name, "m": m, "n": n, "k": k,
            "cycles": cycles, "model_cycles": model_cycles, **plan.report,
            "utilization": plan.utilization(cycles), "macs_per_cycle": m * n * k / cycles if cycles else 0.0,
            "stall": args.stall, "seed": args.seed, "golden_match": True,
        }
        if verilate.waves_requested(args.waves):
            waves = Path(args.out).with_suffix(".fst")
            outputs[waves] = tmp / "dump.fst"
            report["waves"] = str(waves)
        outputs[Path(args.report)] = json.dumps(report, indent=2) + "\n"
        _write_atomically(outputs)
    print(json.dumps(report, indent=2))


def cmd_fpga(args) -> None:
    from sparseloom.fpga.flow import TARGETS, ToolError, fpga_report

    if args.target not in TARGETS:
        raise UsageError(f"--target must be one of {', '.join(TARGETS)}, got {args.target!r}")
    u = unit(args.unit)
    config = u.load(args.config or next(iter(u.presets)))
    out = Path(args.out or f"build/fpga/{config.name}-{args.target}{'' if args.dsp else '-nodsp'}")
    try:
        report = fpga_report(config, args.target, out, dsp=args.dsp)
    except ToolError as e:
        raise RuntimeError(str(e)) from None
    path = out / "report.json"
    _write_atomically({path: json.dumps(report, indent=2) + "\n"})
    print(json.dumps({k: v for k, v in report.items() if k not in ("cells", "parameters", "utilization")}, indent=2))
    print(f"wrote {path}", file=sys.stderr)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sparseloom", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("verilog", help="write Verilog + JSON description of default configurations")
    v.add_argument("names", nargs="*", help="configurations (default: all presets)")
    v.add_argument("--out", default="rtl", help="output folder (default: rtl)")
    v.set_defaults(func=cmd_verilog)

    pr = sub.add_parser("prune", help="magnitude-prune an int weight matrix to an HSS pattern")
    pr.add_argument("--pattern", required=True, help="G1:H1,G0:H0, e.g. 2:4,2:4")
    pr.add_argument("--weights", required=True, help="input .npy (M x K, integer)")
    pr.add_argument("--out", required=True, help="output .npy")
    pr.set_defaults(func=cmd_prune)

    f = sub.add_parser("fpga", help="synthesise a core in a pin-saving harness: cells, Fmax, MACs/s per LUT")
    f.add_argument("unit", choices=list(all_units()))
    f.add_argument("--config", help="preset name or JSON file (default: the unit's first preset)")
    f.add_argument("--target", required=True, help="ice40-up5k or ecp5-85f")
    f.add_argument("--no-dsp", dest="dsp", action="store_false", help="disable DSP inference (fair LUT comparison)")
    f.add_argument("--out", help="folder for logs and report.json (default build/fpga/<config>-<target>)")
    f.set_defaults(func=cmd_fpga)

    sim = sub.add_parser("sim", help="run a GEMM through a Verilated core")
    units = sim.add_subparsers(dest="unit", required=True)
    for u in all_units().values():
        sp = units.add_parser(u.name, help=u.summary)
        if u.setting:
            sp.add_argument(u.setting.flag, required=u.setting.default is None, default=u.setting.default,
                           choices=u.setting.choices, help=u.setting.help)
        sp.add_argument("--weights", required=True, help="W: int8 .npy, M x K")
        sp.add_argument("--inputs", required=True, help="X: int8 .npy, K x N")
        sp.add_argument("--out", required=True, help="Y: int32 .npy, M x N")
        sp.add_argument("--report", required=True, help="JSON report (cycles, utilization, ...)")
        sp.add_argument("--config", default=u.default_preset,
                        help=f"preset name or JSON file (default {u.default_preset})")
        sp.add_argument("--seed", type=int, default=1, help="seed of the random stalls")
        sp.add_argument("--stall", type=float, default=0.0, help="probability of a stall per stream per cycle")
        sp.add_argument("--waves", action="store_true", help="also write an FST waveform next to --out")
        sp.set_defaults(func=cmd_sim)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (UsageError, ValueError, TypeError) as e:
        print(f"sparseloom: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"sparseloom: failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
