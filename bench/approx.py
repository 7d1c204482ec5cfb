"""Neural approximate computing on the NPU: single, MCMA and AXNet on every AxBench kernel.

For every kernel of ``golden.axbench.KERNELS``, at the papers' error bound (0.1, AXNet's
authors' example) and a stricter one (0.05, MCMA's authors' configuration; both in units of the
exact output's standard deviation, see ``sparseloom.approx_run``), each method of
``golden.approx``: the single approximator with its separately trained classifier, MCMA with
K = 2, 4 and 8 approximators, and AXNet. Per point (``approx_run.run``, the pipeline behind
``sparseloom approx``): the invocation and mean error on the NPU's fixed-point model (the float
ones beside them), the share of approximated inputs within the bound, the training seconds, the
NPU's cycles per input from the npu unit's exact cycle model on the whole test set, the speed-up
over the exact kernel on a scalar core (``approx_run.SPEEDUP_FORMULA``, ``axbench.scalar_cycles``),
and a few test inputs through the Verilated NPU (word for word and cycle for cycle against the
golden model and the cycle model; the bench stops otherwise). A program the configuration cannot
hold (AXNet's fused 64-16-65 network for jpeg on npu_default, 64 neurons wide at most) gets its
quality without cycles.

Then the papers' claims from our numbers: MCMA's, more invocation than one approximator (the
ratio of mean invocations over the kernels, and on how many kernels it holds), and AXNet's,
+50.7% invocation over the separately trained approximator and classifier; and a sweep of
bounds for two kernels, the plot of invocation against the bound per method.

Prints markdown tables, writes JSON and the plot.

    python bench/approx.py [--quick] [--benchmarks sobel fft] [--no-rtl] [--json ...] [--plot ...]

Full: 4000 training and 1000 test inputs, 600 epochs, MCMA 8 rounds, 8 inputs per point on the
RTL; ``--quick``: 800 and 200, 150 epochs, 3 rounds, 4 inputs, written to approx_quick.json/.png
(too little training for AXNet, which then approximates nothing). On one core (PyTorch's
threads: ``--threads``, default 1) the full run took 9.7 minutes, ``--quick`` 1.5, the npu_default
driver's Verilator build cached.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import date
from pathlib import Path

from sparseloom import approx_run as ar
from sparseloom.benchkit import markdown_table, write_json
from sparseloom.golden import axbench

METHODS = (("single", 1), ("mcma", 2), ("mcma", 4), ("mcma", 8), ("axnet", 1))
BOUNDS = (ar.PAPER_BOUND, ar.STRICT_BOUND)
#: The plot's sweep: these bounds, these kernels, these methods.
SWEEP = (0.02, 0.05, 0.1, 0.2, 0.3)
SWEEP_BENCHMARKS = ("inversek2j", "sobel")
SWEEP_METHODS = (("single", 1), ("mcma", 4), ("axnet", 1))
AXNET_CLAIM = 0.507      # AXNet: 50.7% more invocation than a separately trained approximator + predictor
FULL = {"train": 4000, "test": 1000, "epochs": 600, "rounds": 8, "rtl_inputs": 8}
QUICK = {"train": 800, "test": 200, "epochs": 150, "rounds": 3, "rtl_inputs": 4}


def label(method: str, k: int) -> str:
    return f"mcma K={k}" if method == "mcma" else method


def npu_or_note(name: str):
    """``(unit, configuration)`` of the npu preset, or None with a printed note."""
    try:
        return ar.npu_config(name)
    except ValueError as e:
        print(f"note: {e}; NPU cycles, speed-ups and the RTL checks are skipped", file=sys.stderr)
        return None


def point(benchmark, method, k, bound, data, npu, s, seed, rtl: bool) -> dict:
    """One run of the pipeline, summarised as a row."""
    config, note = None, None
    if npu is not None:
        try:
            ar.check_fits(*npu, method, benchmark, k)
            config = npu
        except ValueError as e:
            note = str(e)
    t0 = time.monotonic()
    r = ar.run(benchmark, method, approximators=k if method == "mcma" else None, error_bound=bound,
               n_train=s["train"], n_test=s["test"], seed=seed, config=config,
               rtl_inputs=s["rtl_inputs"] if rtl and config is not None else 0, epochs=s["epochs"],
               rounds=s["rounds"], data=data)
    row = {"benchmark": benchmark, "bound": bound, "method": method, "approximators": k, "label": label(method, k),
           "invocation": r["invocation"], "mean_error": r["mean_error"],
           "mean_error_approximated": r["mean_error_approximated"], "routed_within_bound": r["routed_within_bound"],
           "per_approximator": r["per_approximator"], "invocation_float": r["float"]["invocation"],
           "mean_error_float": r["float"]["mean_error"], "training_seconds": r["training_seconds"],
           "scalar_cycles": r["scalar_cycles_per_input"], "npu_cycles_per_input": r["npu_cycles_per_input"],
           "npu_cycles_by_route": (r["npu"] or {}).get("cycles_per_input_by_route"), "speedup": r["speedup"],
           "rtl": r.get("rtl"), "note": note or r.get("note"), "wall_s": round(time.monotonic() - t0, 1)}
    rtl_text = (f", RTL {row['rtl']['rtl_cycles']} cycles = model" if row["rtl"] else "")
    print(f"  {benchmark} {bound:g} {row['label']}: invocation {row['invocation']:.3f}, error "
          f"{row['mean_error']:.4f}{rtl_text} ({row['wall_s']} s)", file=sys.stderr, flush=True)
    return row


def mean(values) -> float:
    return sum(values) / len(values) if values else float("nan")


def claims(rows: list[dict], bounds) -> list[dict]:
    """Per bound: MCMA (each K) and AXNet against the single approximator, from our numbers."""
    out = []
    for bound in bounds:
        at = [r for r in rows if r["bound"] == bound]
        single = {r["benchmark"]: r["invocation"] for r in at if r["method"] == "single"}
        base = mean(list(single.values()))
        for method, k in METHODS[1:]:
            mine = {r["benchmark"]: r["invocation"] for r in at if (r["method"], r["approximators"]) == (method, k)}
            common = sorted(set(mine) & set(single))
            ratio = mean([mine[b] for b in common]) / base if base > 0 else None
            claim = ("more invocation than one approximator" if method == "mcma"
                     else f"+{AXNET_CLAIM:.1%} invocation over single (ratio {1 + AXNET_CLAIM:.3f})")
            out.append({"bound": bound, "method": label(method, k), "paper_claim": claim,
                        "mean_invocation": mean([mine[b] for b in common]), "single_mean_invocation": base,
                        "ratio_of_means": ratio,
                        "more_than_single": sum(mine[b] > single[b] for b in common), "benchmarks": len(common),
                        "per_benchmark_ratio": {b: (mine[b] / single[b] if single[b] > 0 else None) for b in common}})
    return out


def fmt(v, spec=".3f", none="-") -> str:
    return none if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def plot(sweep: list[dict], claim_rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    benches = sorted({r["benchmark"] for r in sweep}, key=list(axbench.KERNELS).index)
    fig, axes = plt.subplots(1, len(benches), figsize=(5 * len(benches), 4.2), squeeze=False)
    for ax, b in zip(axes[0], benches):
        for method, k in SWEEP_METHODS:
            pts = sorted((r["bound"], r["invocation"]) for r in sweep
                         if r["benchmark"] == b and (r["method"], r["approximators"]) == (method, k))
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=4, label=label(method, k))
        ax.axvline(ar.PAPER_BOUND, ls="--", c="0.5", lw=0.8, label=f"papers' bound {ar.PAPER_BOUND:g}")
        ax.axvline(ar.STRICT_BOUND, ls=":", c="0.5", lw=0.8, label=f"stricter {ar.STRICT_BOUND:g}")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(SWEEP, [f"{b:g}" for b in SWEEP])
        ax.set_xlabel("error bound (units of the output's std)")
        ax.set_ylabel("invocation (NPU fixed point)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(b)
        ax.legend(fontsize=8)
    at = {c["method"]: c for c in claim_rows if c["bound"] == ar.PAPER_BOUND}
    text = (f"at bound {ar.PAPER_BOUND:g}, all kernels, mean invocation over single's: "
            + "; ".join(f"{m} {fmt(at[m]['ratio_of_means'], '.2f')}x ({at[m]['more_than_single']}/"
                        f"{at[m]['benchmarks']} above)" for m in at)
            + f". Papers: MCMA > 1x; AXNet {1 + AXNET_CLAIM:.3f}x")
    fig.text(0.5, 0.005, text, ha="center", va="bottom", fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def grids(rows: list[dict]) -> str:
    """Per bound, a kernel x method grid of invocation / mean error (fixed point), and one of NPU
    cycles per input / speed-up: the README's tables."""
    out = []
    labels = [label(m, k) for m, k in METHODS]
    for bound in sorted({r["bound"] for r in rows}, reverse=True):
        at = {(r["benchmark"], r["label"]): r for r in rows if r["bound"] == bound}
        kernels = [b for b in axbench.KERNELS if any((b, lab) in at for lab in labels)]
        for title, cell in (("invocation / mean error", lambda r: f"{r['invocation']:.3f} / {r['mean_error']:.3f}"),
                            ("NPU cycles per input / speed-up",
                             lambda r: "does not fit" if r["npu_cycles_per_input"] is None else
                             f"{r['npu_cycles_per_input']:.1f} / {r['speedup']:.2f}x")):
            out.append(f"\nBound {bound:g}: {title}\n")
            out.append(markdown_table(["kernel", *labels],
                                      [[b, *(cell(at[(b, lab)]) if (b, lab) in at else "-" for lab in labels)]
                                       for b in kernels]))
    return "\n".join(out)


def swap_cost(npu) -> dict:
    """The swap measured on the Verilated NPU. A one-layer selector classifier (class c is input c)
    and two jmeint-shaped approximators 18-32-8-2; 32 and 64 inputs left to the exact function,
    all sent to approximator 0, and sent to approximators 0 and 1 in turn. An input's cycles are
    the difference of the two runs over 32 (the weights' loading cancels); an approximated input
    costs the exact one's plus the swap plus the approximator's pass (its steps and gaps, from the
    cycle model): what is left is the swap."""
    import random

    import numpy as np

    from sparseloom.gen.npu.plan import NetShape
    from sparseloom.golden.npu import Program
    from sparseloom.sim.fast import Driver
    from sparseloom.testbenches.npu_tb import mlp, routed_inputs, selector

    u, config = npu
    rng = np.random.default_rng(0)
    topology = (18, 32, 8, 2)
    program = Program("routed", (selector(config, 3, 18),
                                 *(mlp(config, rng, topology, 1.0, ["sigmoid", "sigmoid", "linear"]) for _ in range(2))))
    driver, n = Driver(config), 32

    def per_input(routes):
        cycles = []
        for count in (n, 2 * n):
            x = routed_inputs(config, (routes * count)[:count], 18, 3)
            plan = u.plan(config, None, program, x)
            y, c, _ = driver.run_plan(plan, stall=0.0, rng=random.Random(0))
            if not (y == plan.golden(program, x)).all() or c != u.cycles(config, plan.shape, plan.encoding):
                raise RuntimeError("the swap measurement's run differs from the golden or the cycle model")
            cycles.append(c)
        return (cycles[1] - cycles[0]) / n

    exact, kept, swapped = per_input([-1]), per_input([0]), per_input([0, 1])
    approximator_pass = NetShape(tuple(zip(topology, topology[1:]))).pass_cycles(config.pes)
    return {"topology": "-".join(map(str, topology)), "exact_cycles_per_input": exact,
            "approximated_cycles_per_input": kept, "swapping_every_input_cycles_per_input": swapped,
            "approximator_pass_cycles": approximator_pass, "swap_cycles": kept - exact - approximator_pass}


def fpga_area(config_name: str, path: str = "bench/results/fpga.json") -> list[dict]:
    """The preset's runs in the FPGA table (``make fpga``), if it has them."""
    import json

    if not Path(path).exists():
        return []
    keys = ("target", "dsp_inference", "logic_cells", "luts", "ffs", "dsps", "brams", "fmax_mhz")
    return [{k: r.get(k) for k in keys} for r in json.loads(Path(path).read_text())["runs"]
            if r.get("config") == config_name and "error" not in r]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small data and short training (about 2 minutes)")
    ap.add_argument("--benchmarks", nargs="*", choices=list(axbench.KERNELS), help="default: all")
    ap.add_argument("--config", default="npu_default", help="npu preset (default npu_default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-rtl", action="store_true", help="skip the RTL checks")
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1)")
    for key in FULL:
        ap.add_argument(f"--{key.replace('_', '-')}", type=int, help=f"default {FULL[key]}, --quick {QUICK[key]}")
    ap.add_argument("--json", help="default bench/results/approx.json (--quick: approx_quick.json)")
    ap.add_argument("--plot", help="default bench/results/approx.png (--quick: approx_quick.png)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    s = {key: getattr(args, key) if getattr(args, key) is not None else (QUICK if args.quick else FULL)[key]
         for key in FULL}
    stem = "approx_quick" if args.quick else "approx"
    json_path, plot_path = args.json or f"bench/results/{stem}.json", args.plot or f"bench/results/{stem}.png"
    benchmarks = args.benchmarks or list(axbench.KERNELS)
    npu = npu_or_note(args.config)
    rtl = not args.no_rtl and npu is not None
    if npu is not None and args.no_rtl:
        print("note: --no-rtl: the RTL checks are skipped", file=sys.stderr)
    started = time.monotonic()

    rows, sweep, done = [], [], {}
    for b in benchmarks:
        data = ar.dataset(b, s["train"], s["test"], args.seed)
        for bound in BOUNDS:
            for method, k in METHODS:
                row = point(b, method, k, bound, data, npu, s, args.seed, rtl)
                rows.append(row)
                done[(b, bound, method, k)] = row
        if b in SWEEP_BENCHMARKS:
            for bound in SWEEP:
                for method, k in SWEEP_METHODS:
                    row = done.get((b, bound, method, k)) or point(b, method, k, bound, data, None, s, args.seed,
                                                                    False)
                    sweep.append(row)
    claim_rows = claims(rows, BOUNDS)
    swap = swap_cost(npu) if rtl else None
    area = fpga_area(args.config)
    elapsed = time.monotonic() - started

    print(f"\nNeural approximate computing on {args.config} ({s['train']} training / {s['test']} test inputs, "
          f"{s['epochs']} epochs, MCMA {s['rounds']} rounds, seed {args.seed}); error = mean |err| / output std, "
          f"invocation and error on the NPU's fixed-point model (float in brackets)\n")
    print(markdown_table(
        ["benchmark", "bound", "method", "invocation", "mean error", "within bound", "training s",
         "NPU cycles/input", "scalar cycles", "speed-up", "RTL"],
        [[r["benchmark"], f"{r['bound']:g}", r["label"], f"{r['invocation']:.3f} ({r['invocation_float']:.3f})",
          f"{r['mean_error']:.4f} ({r['mean_error_float']:.4f})", fmt(r["routed_within_bound"], ".2f"),
          f"{r['training_seconds']:.1f}", fmt(r["npu_cycles_per_input"], ".1f", "does not fit" if r["note"] and
                                              "does not fit" in r["note"] else "-"),
          r["scalar_cycles"], fmt(r["speedup"], ".2f"),
          (f"{r['rtl']['rtl_inputs']} inputs, {r['rtl']['rtl_cycles']} cycles = model" if r["rtl"] else "-")]
         for r in rows]))
    print(grids(rows))
    print("\nThe papers' claims against our numbers (mean invocation over the kernels, ratio to single's)\n")
    print(markdown_table(
        ["bound", "method", "paper's claim", "mean invocation", "single's", "ratio", "kernels above single"],
        [[f"{c['bound']:g}", c["method"], c["paper_claim"], fmt(c["mean_invocation"]),
          fmt(c["single_mean_invocation"]), fmt(c["ratio_of_means"], ".2f"),
          f"{c['more_than_single']} of {c['benchmarks']}"] for c in claim_rows]))
    if swap:
        print(f"\nThe swap on the RTL ({args.config}, {swap['topology']} approximators): an input left to the exact "
              f"function {swap['exact_cycles_per_input']:g} cycles, an approximated one "
              f"{swap['approximated_cycles_per_input']:g} ({swap['swapping_every_input_cycles_per_input']:g} when "
              f"every input swaps approximator); less the approximator's pass of {swap['approximator_pass_cycles']} "
              f"cycles, the swap costs {swap['swap_cycles']:g} cycle(s)")
    if area:
        print(f"\n{args.config} on the FPGA flow (bench/results/fpga.json)\n")
        print(markdown_table(["target", "DSP", "logic cells", "LUT4", "FFs", "DSPs", "BRAMs", "Fmax MHz"],
                             [[a["target"], "on" if a["dsp_inference"] else "off", a["logic_cells"], a["luts"],
                               a["ffs"], a["dsps"], a["brams"], fmt(a["fmax_mhz"], ".1f")] for a in area]))
    print(f"\nspeed-up: {ar.SPEEDUP_FORMULA}\nbounds: {ar.BOUND_SOURCE}\n"
          f"elapsed {elapsed / 60:.1f} min", file=sys.stderr)
    write_json(json_path, {"date": date.today().isoformat(),
                           "command": "python bench/approx.py" + (" --quick" if args.quick else ""),
                           "config": args.config, "settings": {**s, "seed": args.seed, "rtl": rtl},
                           "bounds": list(BOUNDS), "bound_source": ar.BOUND_SOURCE, "error_metric": ar.ERROR_METRIC,
                           "speedup_formula": ar.SPEEDUP_FORMULA, "scalar_latency": axbench.SCALAR_LATENCY,
                           "scalar_cycles": {b: axbench.scalar_cycles(b) for b in benchmarks},
                           "rows": rows, "sweep": sweep, "claims": claim_rows, "swap": swap, "fpga": area,
                           "elapsed_s": round(elapsed, 1)})
    if sweep:
        plot(sweep, claim_rows, plot_path)
        print(f"wrote {plot_path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
