"""The ``sparseloom`` command: generate Verilog, prune weights, simulate GEMMs on the RTL, synthesise.

The promise for bad input: every argument, input file and output location is checked before
any work starts; a bad one is one line on stderr naming it, exit status 2, and nothing is
written or changed. A command's outputs are written together at the end
(``sparseloom.files``). Exit status 1 is a fault of the tool itself (a simulator or synthesis
tool that failed), named with its log.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sparseloom import approx_run, explore
from sparseloom.files import Outputs, UsageError, check_folder, load_matrix
from sparseloom.model.mappers import MAPPERS, OBJECTIVES
from sparseloom.model.networks import NETWORKS
from sparseloom.units import all_units, presets, unit

#: cocotb takes a 32-bit seed.
MAX_SEED = 2**32 - 1
#: Most GEMMs ``sim --repeat`` runs back to back.
MAX_REPEAT = 1000
#: Mappings a Mind Mappings surrogate is trained on, unless --train-samples says otherwise.
TRAIN_SAMPLES = 2000


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with its errors as one-line ``UsageError``s instead of usage and exit."""

    def error(self, message):
        raise UsageError(f"{self.prog.removeprefix('sparseloom ')}: {message}")


def cmd_verilog(args) -> None:
    from sparseloom.gen import emit

    configs = presets()
    if args.names:
        known = {c.name: c for c in configs}
        missing = [n for n in args.names if n not in known]
        if missing:
            raise UsageError(f"unknown configuration {missing}; allowed: {', '.join(known)}")
        configs = [known[n] for n in args.names]
    out = Path(args.out)
    check_folder(out, "--out")
    outputs = Outputs()
    files = {outputs.add(out / name, "--out"): text for config in configs for name, text in emit.render(config).items()}
    outputs.write(files)
    for path in files:
        print(f"wrote {path}")


def cmd_prune(args) -> None:
    from sparseloom.golden import hss

    pattern = hss.HSSPattern.parse(args.pattern)
    w = load_matrix(args.weights, "--weights")
    outputs = Outputs()
    out = outputs.add(args.out, "--out")
    pruned = hss.prune(w, pattern)
    outputs.write({out: pruned})
    print(f"kept {np.count_nonzero(pruned)} of {pruned.size} weights ({pattern}, density {pattern.density})")


def cmd_sim(args) -> None:
    from sparseloom import verilate

    u = unit(args.unit)
    config = u.load(args.config)
    text = getattr(args, u.setting.dest) if u.setting else None
    setting = u.setting.parse(text) if u.setting else None
    operands = u.operands
    w = (operands.load or load_matrix)(getattr(args, operands.dest), operands.flag)
    x = load_matrix(args.inputs, "--inputs")
    if not 0.0 <= args.stall < 1.0:
        raise UsageError(f"--stall must be in [0, 1), got {args.stall}")
    if not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be in 0..{MAX_SEED}, got {args.seed}")
    if not 1 <= args.repeat <= MAX_REPEAT:
        raise UsageError(f"--repeat must be in 1..{MAX_REPEAT}, got {args.repeat}")
    outputs = Outputs()
    out, report_path = outputs.add(args.out, "--out"), outputs.add(args.report, "--report")
    if args.engine == "fast" and args.waves:
        raise UsageError("--waves needs --engine cocotb (the fast driver records no waveform)")
    waves = (outputs.add(out.with_suffix(".fst"), "--waves")
             if args.engine == "cocotb" and verilate.waves_requested(args.waves) else None)
    mapping = model_mapping(args.mapping)
    plan = u.plan(config, setting, w, x, mapping)  # every check of the data against the unit happens here
    expected = plan.golden(w, x)
    model_cycles = u.cycles(config, plan.shape, plan.encoding, mapping)
    if args.repeat > 1:
        if mapping is not None:
            raise UsageError("--repeat runs the planner's own mapping; leave out --mapping")
        model_cycles = u.back_to_back_cycles(config, [(plan.shape, plan.encoding)] * args.repeat)

    run_dir = Path(tempfile.mkdtemp(prefix="sparseloom-sim-"))
    keep = False
    try:
        if args.engine == "fast":
            ys, cycles, seconds = simulate_fast(config, plan, args)
        else:
            ys, cycles, seconds = simulate_cocotb(u, config, w, x, text, mapping, args, run_dir)
        for i, y in enumerate(ys):
            if not np.array_equal(y, expected):
                bad = tuple(np.argwhere(y != expected)[0])
                which = f" (GEMM {i + 1} of {len(ys)})" if len(ys) > 1 else ""
                raise RuntimeError(f"RTL result differs from the golden model at Y[{bad[0]},{bad[1]}]{which}: "
                                   f"expected {expected[bad]}, got {y[bad]} (files in {run_dir})")
        y = ys[0]
        m, n, k = plan.shape
        report = {
            "unit": u.name, "config": config.name, "m": m, "n": n, "k": k,
            "cycles": cycles, "model_cycles": model_cycles, **plan.report,
            "utilization": plan.utilization(cycles / args.repeat),
            **plan.cycle_report(cycles / args.repeat),
            "macs_per_cycle": args.repeat * plan.report.get("useful_macs", m * n * k) / cycles if cycles else 0.0,
            **({"back_to_back": args.repeat,
                "one_at_a_time_cycles": args.repeat * u.cycles(config, plan.shape, plan.encoding)}
               if args.repeat > 1 else {}),
            "stall": args.stall, "seed": args.seed, "engine": args.engine, "sim_seconds": seconds,
            "golden_match": True,
            **({"mapping": mapping.to_dict()["mapping"]} if mapping else {}),
        }
        files = {out: y}
        if waves is not None:
            files[waves] = run_dir / "dump.fst"
            report["waves"] = str(waves)
        files[report_path] = json.dumps(report, indent=2) + "\n"
        outputs.write(files)
    except RuntimeError:
        keep = True  # a failed simulation or a wrong result: its files stay for a look
        raise
    finally:
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    print(json.dumps(report, indent=2))


def simulate_fast(config, plan, args) -> tuple[list, int, float]:
    """Every Y, the cycles and the seconds of ``plan`` (``args.repeat`` times back to back) on the
    compiled driver (seconds: its run, the stream files included, not its build)."""
    from sparseloom.sim.fast import Driver

    driver, rng = Driver(config), random.Random(args.seed)
    started = time.perf_counter()
    if args.repeat > 1:
        ys, cycles, _ = driver.run_back_to_back([plan] * args.repeat, stall=args.stall, rng=rng)
    else:
        y, cycles, _ = driver.run_plan(plan, stall=args.stall, rng=rng)
        ys = [y]
    return ys, cycles, time.perf_counter() - started


def simulate_cocotb(u, config, w, x, setting_text, mapping, args, run_dir: Path) -> tuple[list, int, float]:
    """Every Y, the cycles and the seconds of the same GEMM played by the cocotb engine
    (``sparseloom.sim.job``; seconds: its play, not the simulator's start). A unit whose first
    operand is not a matrix has the simulator read its file again (``SPARSELOOM_OPERAND``)."""
    from cocotb_tools.check_results import get_results

    from sparseloom import verilate

    job, result = run_dir / "job.npz", run_dir / "result.npz"
    np.savez(job, inputs=x, **({"weights": w} if u.operands.load is None else {}))
    operand = str(Path(getattr(args, u.operands.dest)).absolute()) if u.operands.load else ""
    env = {"SPARSELOOM_OPERAND": operand, "SPARSELOOM_JOB": str(job), "SPARSELOOM_RESULT": str(result), "SPARSELOOM_SETTING": setting_text or "",
           "SPARSELOOM_STALL": str(args.stall), "SPARSELOOM_REPEAT": str(args.repeat),
           "SPARSELOOM_SEED": str(args.seed), "COCOTB_LOG_LEVEL": "WARNING", "GPI_LOG_LEVEL": "WARNING",
           "SPARSELOOM_MAPPING": json.dumps(mapping.to_dict()) if mapping else ""}
    xml = verilate.run(config, "sparseloom.sim.job", test_dir=run_dir, env=env, waves=args.waves, seed=args.seed)
    tests, failed = get_results(xml)
    if failed or not result.exists():
        raise RuntimeError(f"simulation failed ({failed} of {tests} cocotb tests); its output is above, "
                        f"its files in {run_dir}")
    out_arrays = np.load(result)
    return list(out_arrays["y"]), int(out_arrays["cycles"]), float(out_arrays["seconds"])


def cmd_run(args) -> None:
    from sparseloom import network_run as nr
    from sparseloom.model.pool import pool

    if args.network not in nr.NETWORKS:
        raise UsageError(f"--network must be one of {', '.join(nr.NETWORKS)}, got {args.network!r}")
    if not 0.0 <= args.stall < 1.0:
        raise UsageError(f"--stall must be in [0, 1), got {args.stall}")
    workers = cluster_size(args)
    if args.inputs is not None and args.inputs < 1:
        raise UsageError(f"--inputs must be >= 1, got {args.inputs}")
    method = nr.parse_method(args.method, args.network, args.unit)
    configs = nr.method_configs(method, args.unit, args.config or [])
    outputs = Outputs()
    report_path = outputs.add(args.report, "--report")
    network = nr.load_network(args.network, args.inputs)
    programs, inputs = nr.capture(network, method, configs)  # every check of the layers happens here

    from tqdm import tqdm

    bar = tqdm(total=len(programs), unit="layer", desc=f"{network.name} {method.text}", disable=None)

    def progress(name):
        bar.set_postfix_str(name, refresh=False)
        bar.update()

    started = time.perf_counter()
    with pool(workers, args.scheduler) as p:
        results = nr.simulate(programs, configs, stall=args.stall, seed=args.seed, pool=p, progress=progress)
        workers = p.workers
    bar.close()
    bad = nr.check(programs, results)
    quality = None if bad else network.quality(nr.replay(network, programs, inputs, results))
    settings = {"stall": args.stall, "seed": args.seed, "workers": workers,
                "wall_seconds": round(time.perf_counter() - started, 1)}
    report = nr.report(network, method, configs, programs, results, quality, bad, settings)
    outputs.write({report_path: json.dumps(report, indent=2) + "\n"})
    summary = {k: v for k, v in report.items() if k not in ("layers", "predictions")}
    print(json.dumps(summary, indent=2))
    if bad:
        raise RuntimeError(f"{len(bad)} GEMMs differ from the golden model, e.g. {bad[0]} (report in {report_path})")


def cmd_fpga(args) -> None:
    from sparseloom.fpga.flow import TARGETS, ToolError, fpga_report

    if args.target not in TARGETS:
        raise UsageError(f"--target must be one of {', '.join(TARGETS)}, got {args.target!r}")
    u = unit(args.unit)
    config = u.load(args.config or next(iter(u.presets)))
    out = Path(args.out or f"build/fpga/{config.name}-{args.target}{'' if args.dsp else '-nodsp'}")
    check_folder(out, "--out")
    outputs = Outputs()
    path = outputs.add(out / "report.json", "--out")
    try:
        report = fpga_report(config, args.target, out, dsp=args.dsp)
    except ToolError as e:
        raise RuntimeError(str(e)) from None
    outputs.write({path: json.dumps(report, indent=2) + "\n"})
    print(json.dumps({k: v for k, v in report.items() if k not in ("cells", "parameters", "utilization")}, indent=2))
    print(f"wrote {path}", file=sys.stderr)


def parse_gemm(text: str):
    from sparseloom.gen.unit import GemmShape

    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        raise UsageError(f"--gemm must be M,K,N: three integers >= 1, got {text!r}")
    m, k, n = map(int, parts)
    return GemmShape(m, n, k)


def cmd_model(args) -> None:
    from sparseloom.units import load_config

    if args.arch or args.problem:
        if args.energy:
            raise UsageError("--energy applies to --config: an --arch file carries its own energies")
        return model_described(args)
    if args.ert:
        raise UsageError("--ert applies to a Timeloop --arch")
    if args.config is None:
        raise UsageError("model takes --config NAME_OR_FILE (a unit), or --arch, --problem and --mapping files")
    u, config = load_config(args.config)
    if (args.gemm is None) == (args.network is None):
        raise UsageError("model takes one of --gemm M,K,N or --network NAME")
    if args.network is None and (args.method or args.tokens is not None):
        raise UsageError("--method and --tokens apply to --network")
    text = model_setting(u, args)
    encoding = u.setting.parse(text) if u.setting else None
    table = energy_table(args.energy)
    outputs = Outputs()
    report_path = outputs.add(args.report, "--report")
    if args.network is not None:
        from sparseloom import network_model

        if args.mapping:
            raise UsageError("--mapping applies to --gemm: a network's layers run the unit's default mappings")
        report = {"unit": u.name, "config": config.name, "setting": text,
                  **network_model.evaluate(u, config, encoding, args.network, args.method or "dense", args.tokens,
                                           table)}
        outputs.write({report_path: json.dumps(report, indent=2) + "\n"})
        print(network_model.table(report))
        return
    shape, mapping = parse_gemm(args.gemm), model_mapping(args.mapping)
    result = u.evaluate(config, shape, encoding, mapping, table)
    used = mapping or u.model(config, shape, encoding, None)[1]
    report = {"unit": u.name, "config": config.name, "gemm": {"m": shape.m, "k": shape.k, "n": shape.n},
              "setting": text, **result.to_dict(), "mapping": used.to_dict()["mapping"]}
    outputs.write({report_path: json.dumps(report, indent=2) + "\n"})
    print(model_table(report))


def model_described(args) -> None:
    """``model --arch A --problem P --mapping M``: any architecture, workload and mapping, ours
    or Timeloop's files."""
    from sparseloom.model.analysis import analyse

    arch, workload = described_design(args, "--mapping")
    mapping = model_mapping(args.mapping, arch)
    outputs = Outputs()
    report_path = outputs.add(args.report, "--report")
    result = analyse(workload, arch, mapping)
    report = {"unit": arch.name, "config": "(files)", "gemm": None, "setting": None, **result.to_dict(),
              "mapping": mapping.to_dict()["mapping"]}
    outputs.write({report_path: json.dumps(report, indent=2) + "\n"})
    print(model_table(report))


def described_design(args, *needed: str):
    """The (architecture, workload) of ``--arch`` and ``--problem`` (and ``--ert``), with the
    flags of a unit refused and the ``needed`` ones required."""
    from sparseloom.model.workload import Workload

    given = {"--config": args.config, "--gemm": args.gemm, "--network": args.network}
    clash = [flag for flag, value in given.items() if value is not None]
    if clash:
        raise UsageError(f"--arch, --problem and --mapping describe the design themselves; drop {', '.join(clash)}")
    missing = [flag for flag in ("--arch", "--problem", *needed) if not getattr(args, flag[2:])]
    if missing:
        raise UsageError(f"{args.command} with --arch and --problem also needs {', '.join(missing)}")
    arch = described_arch(args)
    problem = load_description(args.problem, "--problem")
    try:
        workload = Workload.from_dict(problem)
    except (KeyError, AttributeError, TypeError) as e:
        raise UsageError(f"--problem: {args.problem!r} is not a workload ({type(e).__name__}: {e})") from None
    return arch, workload


def cmd_search(args) -> None:
    """The best mapping of a GEMM or of a network's layers on a unit, or on any described
    architecture, within a budget; candidates evaluated on a Dask cluster."""
    from sparseloom import network_search as ns
    from sparseloom.model.mapspace import Candidates, MapSpace
    from sparseloom.model.pool import pool as make_pool
    from sparseloom.units import load_config

    if args.budget < 1:
        raise UsageError(f"--budget must be an integer >= 1 (model evaluations), got {args.budget}")
    workers = cluster_size(args)
    if args.network is None and (args.layer is not None or args.method or args.tokens is not None):
        raise UsageError("--layer, --method and --tokens apply to --network")
    if args.network is None and args.warm_start:
        raise UsageError("--warm-start applies to --network: it starts each layer from the layers searched before")
    densities = parse_densities(args.densities)
    sparsity_aware = args.sparsity_aware or bool(densities)
    described = bool(args.arch or args.problem)
    if sparsity_aware and (not described or args.network is None):
        raise UsageError("--sparsity-aware and --densities apply to --network on an --arch (a unit's candidates "
                         "are always evaluated under its setting, e.g. the HSS pattern)")
    if args.network is not None:
        jobs, skipped = network_jobs(args, described, sparsity_aware, densities)
    elif described:
        arch, workload = described_design(args)
        jobs, skipped = [ns.LayerJob(workload.name, 1, dict(workload.dims), MapSpace(workload, arch),
                                     ns.OnArchitecture(workload, arch), args.seed)], []
    else:
        if args.config is None or args.gemm is None:
            raise UsageError("search takes --config NAME_OR_FILE and --gemm M,K,N or --network NAME (a unit), or "
                             "--arch and --problem or --network NAME")
        u, config = load_config(args.config)
        text = model_setting(u, args)
        encoding, shape = (u.setting.parse(text) if u.setting else None), parse_gemm(args.gemm)
        if u.mappings is None:
            raise UsageError(f"the {u.name} unit runs one schedule, its planner's: it has no map space to search")
        jobs, skipped = [ns.LayerJob("gemm", 1, {"m": shape.m, "k": shape.k, "n": shape.n},
                                     Candidates(u.mappings(config, shape, encoding)),
                                     ns.OnUnit(u.name, config, shape, encoding), args.seed)], []
    outputs, out = Outputs(), Path(args.out)
    best_path, convergence_path = outputs.add(out / "best.json", "--out"), outputs.add(out / "convergence.json", "--out")
    per_layer = ({outputs.add(out / "layers" / f"{i:03d}_{safe_name(j.name)}.json", "--out"): j for i, j in enumerate(jobs)}
                 if len(jobs) > 1 else {})
    settings = {"mapper": args.mapper, "objective": args.objective, "seed": args.seed, "budget": args.budget}
    mapper_options(args, jobs)
    with make_pool(workers, args.scheduler) as pool:
        mapper, trained = args.mapper, []
        if args.mapper == "mindmappings":
            from sparseloom.model.mindmappings import mind_mappings_for

            found, trained = ns.surrogates(jobs, args.surrogate, args.train_samples, args.seed, pool)
            for t in trained:
                print(f"surrogate {t['file']}: {'trained' if t['trained_now'] else 'loaded'}, {t['samples']} samples, "
                      f"{t['evaluate_seconds'] + t['train_seconds']:.1f} s to sample and train, held-out EDP error "
                      f"{t['held_out']['edp_median_relative_error']:.3f} (median relative)", file=sys.stderr)
            mapper = lambda job: mind_mappings_for(found[tuple(job.dims)])
            settings["surrogates"] = trained
        found = ns.search_layers(jobs, mapper, args.budget, args.objective, pool, args.warm_start, progress=True)
    rows = [ns.layer_report(j, f) for j, f in zip(jobs, found)]
    if len(jobs) == 1 and args.network is None:
        best = {**settings, "space_size": rows[0]["space_size"], "evaluations": rows[0]["evaluations"],
                **{k: rows[0][k] for k in ("edp", "energy_pj", "cycles", "utilization", "mapping")}}
        convergence = {"objective": args.objective, "best_so_far": [[n, v] for n, v in found[0].convergence]}
    else:
        best = {**settings, "network": args.network, "method": args.method or "dense", "tokens": args.tokens,
                "warm_start": args.warm_start, "sparsity_aware": sparsity_aware, "densities": list(densities),
                **ns.network_report(jobs, found, skipped)}
        if len(jobs) == 1:   # one layer: best.json is also a --mapping for it
            best |= {k: rows[0][k] for k in ("space_size", "evaluations", "mapping")}
        convergence = {"objective": args.objective,
                       "layers": {j.name: [[n, v] for n, v in f.convergence] for j, f in zip(jobs, found)}}
    files = {best_path: json.dumps(best, indent=2) + "\n", convergence_path: json.dumps(convergence) + "\n"}
    files |= {path: json.dumps({**settings, **row}, indent=2) + "\n"
              for (path, _), row in zip(per_layer.items(), rows)}
    outputs.write(files)
    evaluations = sum(r["evaluations"] for r in rows)
    what = (f"{len(jobs)} layers of {args.network}" if len(jobs) > 1 else
            f"a space of {rows[0]['space_size']}")
    print(f"{args.mapper}: best {args.objective} {best[args.objective if args.objective != 'energy' else 'energy_pj']:.6g} "
          f"after {evaluations} evaluations of {what}: {best['cycles']:.0f} cycles, {best['energy_pj'] / 1e6:.4g} uJ; "
          f"wrote {best_path}")


def mapper_options(args, jobs) -> None:
    """Refuse what the chosen mapper cannot do, before any work."""
    from sparseloom.model.mapspace import MapSpace

    if args.mapper == "mindmappings":
        if not all(isinstance(j.space, MapSpace) for j in jobs):
            raise UsageError("--mapper mindmappings searches a free map space (gradients on its factors): give "
                             "--arch, not a unit's --config")
        if not args.surrogate:
            raise UsageError("--mapper mindmappings needs --surrogate FOLDER (its trained surrogates are kept there)")
        check_folder(Path(args.surrogate), "--surrogate")
        needs = "torch"
    elif args.surrogate or args.train_samples != TRAIN_SAMPLES:
        raise UsageError("--surrogate and --train-samples apply to --mapper mindmappings")
    else:
        needs = "optuna" if args.mapper == "tpe" else None
    if args.train_samples < 2:
        raise UsageError(f"--train-samples must be an integer >= 2, got {args.train_samples}")
    if needs:
        import importlib.util

        if importlib.util.find_spec(needs) is None:
            raise UsageError(f"--mapper {args.mapper} needs {needs}: pip install 'sparseloom[search]'")


def network_jobs(args, described: bool, sparsity_aware: bool, densities: tuple):
    """The layers of ``--network`` to search (``--layer``: one of them), on the unit or the
    described architecture."""
    from sparseloom import network_search as ns
    from sparseloom.units import load_config

    method = args.method or "dense"
    if described:
        if args.problem or args.config or args.gemm:
            raise UsageError("--network with --arch takes its workloads from the network; drop --problem, --config "
                             "and --gemm")
        arch = described_arch(args)
        jobs, skipped = ns.described_jobs(arch, args.network, method, args.tokens, args.seed, sparsity_aware,
                                          densities)
    else:
        if args.config is None or args.gemm is not None:
            raise UsageError("search --network takes --config NAME_OR_FILE (a unit) or --arch, and no --gemm")
        u, config = load_config(args.config)
        text = model_setting(u, args)
        if u.mappings is None:
            raise UsageError(f"the {u.name} unit runs one schedule, its planner's: it has no map space to search")
        encoding = u.setting.parse(text) if u.setting else None
        jobs, skipped = ns.unit_jobs(u, config, encoding, args.network, method, args.tokens, None, args.seed)
    if args.layer is not None:
        names = [j.name for j in jobs]
        chosen = [j for i, j in enumerate(jobs) if args.layer in (j.name, str(i))]
        if not chosen:
            raise UsageError(f"--layer must name a searchable layer of {args.network} or give its index 0..{len(jobs) - 1}; "
                             f"got {args.layer!r} (layers: {', '.join(names[:6])}{', ...' if len(names) > 6 else ''})")
        jobs, skipped = chosen, []
    if not jobs:
        raise UsageError(f"{args.network} has no layer this design can run")
    return jobs, skipped


def described_arch(args):
    """The ``--arch`` (and ``--ert``) file's architecture."""
    from sparseloom.model.arch import Architecture

    arch = load_description(args.arch, "--arch")
    try:
        return (Architecture.from_timeloop(arch, load_description(args.ert, "--ert")) if args.ert
                else Architecture.from_dict(arch))
    except (KeyError, AttributeError, TypeError) as e:
        raise UsageError(f"--arch: {args.arch!r} is not an architecture ({type(e).__name__}: {e})") from None


def parse_densities(text: str | None) -> tuple:
    if not text:
        return ()
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(0 < v <= 1 for v in values):
        raise UsageError(f"--densities must be a comma-separated list of weight densities in (0, 1], got {text!r}")
    return values


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80]


def model_setting(u, args) -> str | None:
    """The unit's setting (--pattern, --wbits, ...) as text: its flag, or for HighLight on a
    network the pattern of ``--method hss:...``, or the setting's default."""
    for setting in unit_settings():
        dest = setting.dest
        if getattr(args, dest) is not None and (u.setting is None or u.setting.dest != dest):
            raise UsageError(f"{setting.flag} is not a setting of the {u.name} unit"
                             + (f"; it takes {u.setting.flag}" if u.setting else "; it takes none"))
    if u.setting is None:
        return None
    text = getattr(args, u.setting.dest)
    method = args.method or ""
    if text is None and u.setting.flag == "--pattern" and method.startswith("hss:"):
        text = method[len("hss:"):]
    if text is None:
        if u.setting.default is None:
            hint = " or --method hss:G1:H1,G0:H0" if args.network is not None and u.setting.flag == "--pattern" else ""
            raise UsageError(f"the {u.name} unit needs {u.setting.flag}{hint} ({u.setting.help})")
        text = u.setting.default
    if u.setting.choices and text not in u.setting.choices:
        raise UsageError(f"{u.setting.flag} must be one of {', '.join(u.setting.choices)}, got {text!r}")
    return text


def energy_table(path: str | None):
    """The ``--energy`` file's table, or None (the defaults)."""
    from sparseloom.model.energy import EnergyTable

    if not path:
        return None
    try:
        return EnergyTable.from_dict(load_description(path, "--energy"), path)
    except (TypeError, AttributeError, ValueError) as e:
        raise UsageError(f"--energy: {e}") from None


def model_mapping(path: str | None, arch=None):
    """The ``--mapping`` file's mapping (a Timeloop one's levels named by ``arch``), or None."""
    from sparseloom.model.mapping import Mapping

    return Mapping.from_dict(load_description(path, "--mapping"), arch) if path else None


def load_description(path: str, flag: str):
    """The data of the YAML or JSON file ``flag`` names."""
    from sparseloom.model import files as model_files

    try:
        return model_files.load(load_file(path, flag))
    except (OSError, UnicodeDecodeError, model_files.yaml.YAMLError, json.JSONDecodeError) as e:
        raise UsageError(f"{flag}: {path!r} is not a YAML or JSON file ({type(e).__name__})") from None


def load_file(path: str, flag: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{flag}: no such file {path!r}")
    return p


def model_table(report: dict) -> str:
    """The report's numbers as a markdown table, a row per level and tensor."""
    g = report["gemm"]
    what = f"GEMM M={g['m']} K={g['k']} N={g['n']}" if g else f"workload {report['workload']}"
    lines = [f"{report['unit']} {report['config']}, {what}{' ' + report['setting'] if report['setting'] else ''}: "
             f"{report['cycles']:.0f} cycles (ideal {report['ideal_cycles']:.0f}), {report['energy_pj'] / 1e6:.4g} uJ, "
             f"EDP {report['edp']:.4g} pJ*cycles, utilisation {report['utilization']:.3f}, "
             f"area {report['area_um2'] / 1e6:.3g} mm^2", "",
             "| level | tensor | instances | tile | reads | fills | updates | level energy (pJ) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for lv in report["levels"]:
        for i, (t, a) in enumerate(lv["actions"].items()):
            energy = f"{lv['energy_pj']:.4g}" if i == 0 else ""
            lines.append(f"| {lv['name']} | {t} | {lv['instances']} | {a['tile']} | {a['total_reads']} | "
                         f"{a['total_fills']} | {a['total_updates']} | {energy} |")
    lines.append(f"| compute | | {report['computes']} computes | | | | | {report['compute_energy_pj']:.4g} |")
    return "\n".join(lines)


def unit_settings() -> list:
    """Each run-time setting any unit takes (``--pattern``, ``--wbits``, ...), once."""
    return list({s.dest: s for s in (u.setting for u in all_units().values()) if s}.values())


def design_arguments(p: argparse.ArgumentParser) -> None:
    """What ``model`` and ``search`` evaluate: a unit's GEMM (``--config``, ``--gemm``, its setting)
    or a described design (``--arch``, ``--problem``, ``--ert``)."""
    p.add_argument("--config", help="preset name or JSON file of any unit")
    p.add_argument("--gemm", help="M,K,N (with --config)")
    for setting in unit_settings():
        p.add_argument(setting.flag, help=f"{setting.help} (units that take it)")
    p.add_argument("--arch", help="instead of --config: an architecture file (YAML/JSON, ours or Timeloop's)")
    p.add_argument("--problem", help="with --arch: a workload file (ours or a Timeloop problem)")
    p.add_argument("--ert", help="with a Timeloop --arch: its energy reference table summary (ERT_summary.yaml)")


def cluster_arguments(p: argparse.ArgumentParser, work: str) -> None:
    """``--workers`` (a local Dask cluster's size) and ``--scheduler`` (an existing cluster)."""
    p.add_argument("--workers", type=int, help=f"Dask workers of a local cluster (default: one per CPU; 1 {work} "
                                               f"in this process)")
    p.add_argument("--scheduler", help="an existing Dask scheduler instead, e.g. tcp://HOST:8786")


def cluster_size(args) -> int:
    """The workers of a new local cluster (``--workers``, default one per CPU; unused with
    ``--scheduler``), after refusing a bad count or one given beside ``--scheduler``."""
    from sparseloom.model.pool import local_workers

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be an integer >= 1, got {args.workers}")
    if args.scheduler is not None and args.workers is not None:
        raise UsageError("--workers sizes a local cluster; --scheduler names an existing one: give one of them")
    return args.workers or local_workers()


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="sparseloom", description=__doc__.splitlines()[0])
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

    mo = sub.add_parser("model", help="the analytical model of a GEMM or a network on a unit: accesses, cycles, "
                                      "energy, EDP")
    design_arguments(mo)
    mo.add_argument("--network", choices=NETWORKS, help="a real network, layer by layer")
    mo.add_argument("--method", help="with --network: the weights' compression, dense or hss:G1:H1,G0:H0 "
                                     "(HighLight's pattern unless --pattern is given)")
    mo.add_argument("--tokens", type=int, help="with --network minilm or smollm2: tokens per run (default 32)")
    mo.add_argument("--mapping", help="YAML or JSON mapping (default: the one sim runs)")
    mo.add_argument("--energy", help="YAML or JSON energy and area table replacing the defaults' entries "
                                     "(fields of sparseloom.model.energy.EnergyTable)")
    mo.add_argument("--report", required=True, help="JSON report (cycles, energy_pj, edp, utilization, actions)")
    mo.set_defaults(func=cmd_model)

    se = sub.add_parser("search", help="the best mapping of a GEMM or a network's layers on a unit, or of any "
                                       "design, within a budget")
    design_arguments(se)
    se.add_argument("--network", choices=NETWORKS, help="a real network's layers, one search each (with --config "
                                                        "or --arch)")
    se.add_argument("--layer", help="with --network: only this layer (its name or index)")
    se.add_argument("--method", help="with --network: the weights' compression, dense or hss:G1:H1,G0:H0")
    se.add_argument("--tokens", type=int, help="with --network minilm or smollm2: tokens per run (default 32)")
    se.add_argument("--mapper", required=True, choices=[*MAPPERS, "mindmappings"],
                    help="search method (tpe and mindmappings need the search extra)")
    se.add_argument("--surrogate", help="with --mapper mindmappings: folder of its surrogates, one per "
                                        "architecture and workload family (trained there when missing)")
    se.add_argument("--train-samples", type=int, default=TRAIN_SAMPLES,
                    help=f"mappings a new surrogate is trained on (default {TRAIN_SAMPLES})")
    se.add_argument("--budget", required=True, type=int, help="model evaluations (per layer)")
    se.add_argument("--objective", default="edp", choices=list(OBJECTIVES), help="what to minimise (default edp)")
    se.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    se.add_argument("--warm-start", action="store_true", help="with --network: start each layer's search from "
                                                               "the best mappings of the nearest layers searched")
    se.add_argument("--sparsity-aware", action="store_true", help="with --network on an --arch: evaluate under "
                                                                   "each layer's weight density")
    se.add_argument("--densities", help="with --sparsity-aware: the mapping best across these weight densities "
                                        "(geometric mean), e.g. 0.25,0.5,1")
    cluster_arguments(se, "evaluates")
    se.add_argument("--out", required=True, help="folder for best.json (its mapping is --mapping's form), "
                                                 "convergence.json and, for a network, layers/*.json")
    se.set_defaults(func=cmd_search)

    explore.add_parser(sub)
    approx_run.add_parser(sub)

    rn = sub.add_parser("run", help="a real network through the RTL: every linear layer's GEMMs on the compiled "
                                    "cores, checked word for word, quality from the RTL's outputs")
    rn.add_argument("--network", required=True, help="minilm, smollm2, efficientnet-lite0 or mobilenet-v2")
    rn.add_argument("--method", required=True, help="int8, hss:G1:H1,G0:H0, tasd:N:M+N:M..., sdq:N:M+WBgG, or "
                                                   "q4_1 (smollm2's own 4-bit weights on the LUT core); calibrated "
                                                   "on held-out text (minilm, smollm2): hss-wanda:P, hss-sparsegpt:P, "
                                                   "sdq-gptq:N:M+WBgG")
    rn.add_argument("--unit", help="with --method int8: dense (default) or highlight")
    rn.add_argument("--config", action="append", help="a preset or JSON file for one of the method's units "
                                                      "(repeat for sdq's two; default: each unit's default preset)")
    rn.add_argument("--inputs", type=int, help="minilm: sentences (default all 60); smollm2: tokens (default 16); the CNNs: offline images (default 8)")
    rn.add_argument("--stall", type=float, default=0.0, help="probability of a stall per stream per cycle")
    rn.add_argument("--seed", type=int, default=1, help="seed of the random stalls (each layer its own stream)")
    cluster_arguments(rn, "simulates")
    rn.add_argument("--report", required=True, help="JSON report (cycles and model_cycles per layer and in total, "
                                                    "golden_match, utilization, energy, the quality metric)")
    rn.set_defaults(func=cmd_run)

    sim = sub.add_parser("sim", help="run a GEMM through a Verilated core")
    units = sim.add_subparsers(dest="unit", required=True)
    for u in all_units().values():
        sp = units.add_parser(u.name, help=u.summary)
        if u.setting:
            sp.add_argument(u.setting.flag, required=u.setting.default is None, default=u.setting.default,
                            choices=u.setting.choices, help=u.setting.help)
        sp.add_argument(u.operands.flag, required=True, help=u.operands.help)
        sp.add_argument("--inputs", required=True, help=u.operands.inputs_help)
        sp.add_argument("--out", required=True, help=u.operands.out_help)
        sp.add_argument("--report", required=True, help="JSON report (cycles, utilization, ...)")
        sp.add_argument("--config", default=u.default_preset,
                        help=f"preset name or JSON file (default {u.default_preset})")
        sp.add_argument("--seed", type=int, default=1, help="seed of the random stalls")
        sp.add_argument("--stall", type=float, default=0.0, help="probability of a stall per stream per cycle")
        sp.add_argument("--engine", choices=("fast", "cocotb"), default="fast",
                        help="fast: the compiled Verilator driver (default); cocotb: the cocotb engine, "
                             "cycle-identical and needed for --waves")
        sp.add_argument("--waves", action="store_true", help="also write an FST waveform next to --out "
                                                             "(with --engine cocotb)")
        sp.add_argument("--mapping", help="YAML or JSON mapping, e.g. a search's best.json (default: the planner's)")
        if getattr(u.component, "overlapped", False):
            sp.add_argument("--repeat", type=int, default=1,
                            help="run the GEMM this many times back to back (cycles and utilisation of all)")
        else:
            sp.set_defaults(repeat=1)
        sp.set_defaults(func=cmd_sim)
    return p


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line."""
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


def main(argv=None) -> int:
    try:
        args = parser().parse_args(argv)
        args.func(args)
    except (UsageError, ValueError, TypeError) as e:
        print(f"sparseloom: error: {one_line(e)}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"sparseloom: failed: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sparseloom: interrupted; nothing was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
