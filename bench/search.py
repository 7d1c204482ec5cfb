"""Mapper comparison: our map-space searches against each other, and against ZigZag's own
temporal-mapping searches (LOMA, SALSA) on the same problems, by EDP after equal evaluations and
after equal wall time.

Problems: three EfficientNet-lite0 layers (the 3x3 stem and a pointwise projection as the
im2col GEMMs the dense array runs; a 5x5 depthwise convolution, which it cannot run), two linear
layers each of MiniLM and SmolLM2 (32 tokens) and one MTTKRP. A GEMM runs on the dense array as
our model sees it (``sparseloom.peers.zigzag_search.problem``: ``DENSE.architecture``, its
spatial mapping fixed, every temporal choice free; the map space ZigZag's engines search too);
the depthwise convolution and the MTTKRP (three operands) on a 16 x 16 output-stationary
``Systolic`` template with the same 256 multipliers, spatial and temporal mapping free (the
MTTKRP's output renamed ``Outputs`` so that the PE registers hold it). The table says which.

Every mapper of ``model.mappers.MAPPERS`` but ``exhaustive`` (one that raises ImportError is
skipped with a note), and Mind Mappings (``model.mindmappings``; with torch installed, its
surrogate trained first on ``--train-samples`` mappings of each problem, the training time and
held-out error reported, not counted in its wall time: it is trained once per architecture) runs ``--evals`` evaluations once per seed (``--seeds``), on the EDP of our
model; its best so far is read at 100, 1,000 and 10,000 evaluations (the median over seeds).
Each evaluation is timestamped from the mapper's start, so a run's best at any wall time is
known: "equal time" is the median wall time of the fastest mapper's full run on that problem,
and every mapper's best at the evaluation it had reached by then. A run stops at
``--time-limit`` seconds (its best up to there still counts; a mark it did not reach shows
"-"). Runs go ``--jobs`` at a time in worker processes, one (problem, mapper, seed) each: a
model evaluation takes about a millisecond, as long as a Dask round trip, so evaluating one
run's batches on ``pool.DaskPool`` would not help, and random search spends most of its time
sampling, not evaluating. Wall times therefore include the mapper's own work (sampling,
neighbours, TPE's model) and whatever else shares the cores.

``SA/x`` and ``GA/x`` are the ratios of simulated annealing's and the genetic algorithm's best
EDP to mapper x's (above 1: x found a better mapping), as Mind Mappings (Hegde et al., ASPLOS
2021) reports them for its gradient search: 1.40x over SA and 1.76x over GA at equal steps,
3.16x and 4.19x at equal wall time (published numbers, on their own problems, shown beside for
reference only).

ZigZag (``peers`` extra): LOMA (``--lpf-limit``, once: it is deterministic) and SALSA
(``--salsa-iterations``, once per seed) on each dense-array problem, their best by ZigZag's EDP
(its latency includes port stalls, the first load and the last write-back; ours is
compute-bound), with evaluations and time, beside ours: ZigZag's best mapping re-evaluated in
our model, and our best mapping in ZigZag's cost model.

Prints markdown tables, writes ``--out`` (JSON) and, with matplotlib, one convergence plot per
problem beside it (``search_<problem>.png``: best EDP against evaluations and against wall time,
log x, median over seeds, relative to the best mapping our mappers found; ZigZag's curves
relative to that mapping's EDP in ZigZag's model).

    python bench/search.py [--quick] [--evals 10000] [--seeds 3] [--out bench/results/search.json]

Measured (2 cores shared with other work): one evaluation of our model takes 0.15-0.5 ms, a
mapper's step 0.4-0.6 ms with its own work (SA's 10,000 in 4-6 s), random search 2-4 ms (its
rejection sampling), TPE 60-120 ms (it stops at the 30 s limit after 240-510); ZigZag's cost
model 2-3 ms an evaluation under LOMA, 6 ms under SALSA (its states are deep-copied). The default
run took 14.8 minutes (``--quick``: under a minute).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import multiprocessing
import re
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sparseloom.benchkit import write_json
from sparseloom.gen.highlight.unit import DENSE
from sparseloom.model import networks
from sparseloom.model.analysis import analyse
from sparseloom.model.arch import Architecture
from sparseloom.model.mappers import MAPPERS
from sparseloom.model.mapspace import MapSpace
from sparseloom.model.templates import Systolic
from sparseloom.model.workload import Workload
from sparseloom.models import ModelsMissing
from sparseloom.peers import PeerMissing, zigzag_search

MARKS = (100, 1000, 10000)
MIND_MAPPINGS = {"steps": {"sa": 1.40, "ga": 1.76}, "time": {"sa": 3.16, "ga": 4.19}}   # SA/MM, GA/MM (published)
SYSTOLIC = Systolic("systolic_16x16_os", 16, 16, dataflow="output_stationary")
# EfficientNet-lite0's layers from its published block table, where the weights are not installed
EFFICIENTNET = {
    "_conv_stem": Workload.conv2d(1, 32, 3, 112, 112, 3, 3, stride=2, name="_conv_stem"),
    "_blocks.3._depthwise_conv": Workload.conv2d(1, 144, 144, 28, 28, 5, 5, stride=2, depthwise=True,
                                                 name="_blocks.3._depthwise_conv"),
    "_blocks.5._project_conv": Workload.conv2d(1, 80, 240, 14, 14, 1, 1, name="_blocks.5._project_conv"),
}
LAYERS = [  # (problem, network, layer)
    ("EfficientNet stem 3x3", "efficientnet_lite0", "_conv_stem"),
    ("EfficientNet dw 5x5", "efficientnet_lite0", "_blocks.3._depthwise_conv"),
    ("EfficientNet pw project", "efficientnet_lite0", "_blocks.5._project_conv"),
    ("MiniLM query", "minilm", "encoder.layer.*.attention.self.query"),
    ("MiniLM FFN down", "minilm", "encoder.layer.*.output.dense"),
    ("SmolLM2 q", "smollm2", "blk.*.attn_q"),
    ("SmolLM2 FFN gate", "smollm2", "blk.*.ffn_gate"),
]
QUICK = ("MiniLM query", "MTTKRP")


@dataclass(frozen=True)
class Case:
    """One problem: what our mappers search (``workload`` on ``arch`` under ``constraints``), and
    what ZigZag gets (``zigzag``: the layer's workload for ``zigzag_search``, or None and why)."""
    name: str
    source: str
    workload: Workload
    arch: Architecture
    constraints: dict | None
    arch_note: str
    zigzag: Workload | None
    no_zigzag: str = ""

    def space(self) -> MapSpace:
        return MapSpace(self.workload, self.arch, self.constraints)


def cases(config, names) -> list[Case]:
    """The problems named (``LAYERS`` and the MTTKRP) on the dense array ``config`` or ``SYSTOLIC``."""
    found, loaded = [], {}
    for name, network, layer_name in LAYERS:
        if name not in names:
            continue
        if network not in loaded:
            try:
                loaded[network] = {layer.name: layer.workload for layer in networks.layers(network)}, "weights"
            except ModelsMissing:
                loaded[network] = dict(EFFICIENTNET), "published block table"
        layers, origin = loaded[network]
        workload = layers[layer_name]
        source = f"{network} {layer_name} ({origin})" if network == "efficientnet_lite0" else f"{network} {layer_name}"
        try:
            p = zigzag_search.problem(config, workload)
        except ValueError as e:
            found.append(Case(name, source, workload, SYSTOLIC.architecture(), None,
                              f"Systolic 16x16 OS ({SYSTOLIC.macs} MACs), spatial free", None, str(e)))
            continue
        dims = p.workload.dims
        note = (f"{config.name} ({config.rows}x{config.cols} PEs x {config.lanes} lanes), spatial fixed"
                + (f"; im2col GEMM {dims['M']}x{dims['K']}x{dims['N']}" if "C" in workload.dims else ""))
        found.append(Case(name, source, p.workload, p.arch, p.constraints, note, workload))
    if "MTTKRP" in names:
        mttkrp = Workload.mttkrp(128, 32, 64, 64, name="mttkrp")
        outputs = dataclasses.replace(mttkrp, tensors=tuple(dataclasses.replace(t, name="Outputs") if t.output else t
                                                            for t in mttkrp.tensors))
        try:
            zigzag_search.problem(config, mttkrp)
        except ValueError as e:
            why = str(e)
        else:
            raise AssertionError("ZigZag was not expected to express an MTTKRP")
        found.append(Case("MTTKRP", "I=128 J=32 K=64 L=64", outputs, SYSTOLIC.architecture(), None,
                          f"Systolic 16x16 OS ({SYSTOLIC.macs} MACs), spatial free", None, why))
    return found


# ----- one run, in a worker process ------------------------------------------------------------
class OutOfTime(Exception):
    """A run went past its time limit."""


class Recorder:
    """Our model on a mapping, each evaluation's best-so-far EDP and time since the start kept."""

    def __init__(self, evaluate, limit: float):
        self.evaluate, self.limit = evaluate, limit
        self.best, self.times, self.best_mapping, self.value = [], [], None, math.inf
        self.start = time.perf_counter()

    def __call__(self, mapping):
        if time.perf_counter() - self.start > self.limit:
            raise OutOfTime
        result = self.evaluate(mapping)
        if result.edp < self.value:
            self.value, self.best_mapping = result.edp, mapping
        self.best.append(self.value)
        self.times.append(time.perf_counter() - self.start)
        return result


def run_mapper(case: Case, mapper: str, seed: int, evals: int, limit: float, surrogate: str | None = None) -> dict:
    space = case.space()
    recorder = Recorder(functools.partial(analyse, case.workload, case.arch), limit)
    capped, error = False, ""
    try:
        if mapper == "mindmappings":
            from sparseloom.model.mindmappings import Surrogate, mind_mappings_for

            search = mind_mappings_for(Surrogate.load(surrogate))
        else:
            search = MAPPERS[mapper]
        search(space, recorder, evals, seed, "edp")
    except OutOfTime:
        capped = True
    except ImportError as e:
        return {"skipped": f"{type(e).__name__}: {e}"}
    except Exception as e:   # noqa: BLE001 (a mapper's failure is reported, the bench goes on)
        error = f"{type(e).__name__}: {e}"
    return {"best": np.array(recorder.best), "times": np.array(recorder.times), "mapping": recorder.best_mapping,
            "value": recorder.value, "seconds": time.perf_counter() - recorder.start, "capped": capped,
            "error": error}


def train_surrogates(problems, samples: int, folder: Path = Path("build/surrogates")) -> dict:
    """Mind Mappings' surrogate of each problem (its architecture and family, trained once on
    ``samples`` mappings around its shape, saved in ``folder``): name -> (file, what training
    took and how well it predicts held-out mappings). Empty without torch."""
    try:
        from sparseloom.model import mindmappings
        import torch  # noqa: F401
    except ImportError as e:
        print(f"Mind Mappings skipped: {e}", file=sys.stderr)
        return {}
    found = {}
    folder.mkdir(parents=True, exist_ok=True)
    for case in problems:
        surrogate = mindmappings.train(case.arch, [case.workload], samples, 0)
        path = folder / f"{slug(case.name)}.pt"
        surrogate.save(path)
        found[case.name] = (str(path), surrogate.meta)
        held = surrogate.meta["held_out"]
        print(f"  {case.name}: surrogate trained in {surrogate.meta['evaluate_seconds']:.1f} + "
              f"{surrogate.meta['train_seconds']:.1f} s (sampling + training), held-out EDP error "
              f"{held['edp_median_relative_error']:.3f}, Spearman {held['edp_spearman']:.3f}", file=sys.stderr, flush=True)
    return found


def run_zigzag(case: Case, config, engine: str, seed: int, lpf_limit: int, iterations: int) -> dict:
    try:
        found = zigzag_search.search(config, case.zigzag, engine, lpf_limit=lpf_limit, iterations=iterations,
                                     seed=seed)
    except (PeerMissing, ImportError) as e:
        return {"skipped": str(e)}
    return {"found": found}


def time_analyse(case: Case, samples: int = 200) -> float:
    """Seconds per evaluation of our model on random mappings of the case (sampling not counted)."""
    rng = np.random.default_rng(0)
    space = case.space()
    mappings = [space.sample(rng) for _ in range(samples)]
    evaluate = functools.partial(analyse, case.workload, case.arch)
    start = time.perf_counter()
    for m in mappings:
        evaluate(m)
    return (time.perf_counter() - start) / samples


# ----- reading the runs ------------------------------------------------------------------------
def at_evals(run: dict, n: int) -> float | None:
    return float(run["best"][n - 1]) if len(run["best"]) >= n else None


def at_time(run: dict, t: float) -> tuple[float | None, int]:
    """The best after the evaluations done by ``t`` seconds, and how many there were."""
    reached = int(np.searchsorted(run["times"], t, side="right"))
    return (float(run["best"][reached - 1]) if reached else None), reached


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def curve(run: dict, points: int = 60) -> list[list[float]]:
    """(evaluations, best EDP, seconds) at log-spaced evaluation counts and the marks."""
    n = len(run["best"])
    if not n:
        return []
    at = sorted({int(x) for x in np.geomspace(1, n, points)} | {m for m in MARKS if m <= n} | {n})
    return [[i, float(run["best"][i - 1]), round(float(run["times"][i - 1]), 4)] for i in at]


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def fmt(x, spec: str = ".4g") -> str:
    return "-" if x is None else format(x, spec)


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"a smoke run: {', '.join(QUICK)}; 300 evaluations, 2 seeds, SALSA 100 iterations")
    ap.add_argument("--evals", type=int, help="evaluations per run (default 10000; --quick 300)")
    ap.add_argument("--seeds", type=int, help="seeds per mapper (default 3; --quick 2)")
    ap.add_argument("--out", help="JSON output; plots beside it (default bench/results/search.json; "
                                  "--quick: bench/results/search_quick.json)")
    ap.add_argument("--config", default="dense_default", help="the dense array's preset")
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (worker processes)")
    ap.add_argument("--time-limit", type=float, help="seconds one run may take (default 30; --quick 20)")
    ap.add_argument("--lpf-limit", type=int, default=6,
                    help="ZigZag LOMA's loop prime factor limit (its API's default)")
    ap.add_argument("--salsa-iterations", type=int,
                    help="ZigZag SALSA's iterations (default 1000, its own; --quick 100)")
    ap.add_argument("--no-zigzag", action="store_true", help="leave ZigZag out")
    ap.add_argument("--train-samples", type=int, default=2000,
                    help="mappings each problem's Mind Mappings surrogate is trained on (0: no Mind Mappings)")
    ap.add_argument("--problems", nargs="*", help="problem names to run (default: all, or --quick's)")
    args = ap.parse_args()
    evals = args.evals or (300 if args.quick else 10000)
    seeds = args.seeds or (2 if args.quick else 3)
    limit = args.time_limit or (20.0 if args.quick else 30.0)
    iterations = args.salsa_iterations or (100 if args.quick else 1000)
    out = Path(args.out or ("bench/results/search_quick.json" if args.quick else "bench/results/search.json"))
    marks = sorted({m for m in MARKS if m <= evals} | {evals})
    names = args.problems or (QUICK if args.quick else [n for n, _, _ in LAYERS] + ["MTTKRP"])
    config = DENSE.presets[args.config]
    started = time.perf_counter()

    problems = cases(config, names)
    mappers = [m for m in MAPPERS if m != "exhaustive"]
    surrogates = train_surrogates(problems, args.train_samples) if args.train_samples else {}
    if surrogates:
        mappers.append("mindmappings")
    print(f"{len(problems)} problems x {len(mappers)} mappers ({', '.join(mappers)}) x {seeds} seeds x {evals} "
          f"evaluations, {args.jobs} jobs, {limit:g} s a run", file=sys.stderr, flush=True)
    info = {}
    for case in problems:
        space = case.space()
        info[case.name] = {"analyse_ms": 1e3 * time_analyse(case), "space_size": space.size(),
                           **({"surrogate": surrogates[case.name][1]} if case.name in surrogates else {})}
        print(f"  {case.name}: map space {info[case.name]['space_size']:.3g} candidates, one evaluation "
              f"{info[case.name]['analyse_ms']:.2f} ms", file=sys.stderr, flush=True)

    runs, zz, notes = {}, {}, []
    slow_first = {"tpe": 0, "random": 1}
    jobs = sorted(((c, m, s) for c in problems for m in mappers for s in range(seeds)),
                  key=lambda j: (slow_first.get(j[1], 2), "Systolic" not in j[0].arch_note))
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("fork")) as ex:
        futures = {ex.submit(run_mapper, c, m, s, evals, limit, surrogates.get(c.name, (None,))[0]): (c.name, m, s)
                   for c, m, s in jobs}
        if not args.no_zigzag:
            for c in problems:
                if c.zigzag is None:
                    continue
                futures[ex.submit(run_zigzag, c, config, "loma", 0, args.lpf_limit, iterations)] = (c.name, "loma", 0)
                for s in range(seeds):
                    futures[ex.submit(run_zigzag, c, config, "salsa", s, args.lpf_limit, iterations)] = (
                        c.name, "salsa", s)
        for f in as_completed(futures):
            key = futures[f]
            r = f.result()
            (zz if key[1] in ("loma", "salsa") else runs)[key] = r
            what = (r.get("skipped") or r.get("error") or
                    (f"{r['found'].evaluations} evaluations, {r['found'].seconds:.1f} s" if "found" in r else
                     f"{len(r['best'])} evaluations, {r['seconds']:.1f} s" + (" (time limit)" if r["capped"] else "")))
            print(f"  {key[0]} / {key[1]} / seed {key[2]}: {what}", file=sys.stderr, flush=True)

    skipped = {m: r["skipped"] for (_, m, _), r in runs.items() if "skipped" in r}
    for m, why in skipped.items():
        notes.append(f"{m} skipped: {why}")
    mappers = [m for m in mappers if m not in skipped]
    for (c, m, s), r in runs.items():
        if r.get("error"):
            notes.append(f"{c} / {m} / seed {s}: {r['error']}")
    zz_skipped = {r["skipped"] for r in zz.values() if "skipped" in r}
    notes += [f"ZigZag skipped: {why}" for why in zz_skipped]

    rows, ratios_by_case = [], {}
    for case in problems:
        mine = {m: [runs[case.name, m, s] for s in range(seeds)] for m in mappers}
        best_value, best_mapping = math.inf, None
        for rs in mine.values():
            for r in rs:
                if r["value"] < best_value:
                    best_value, best_mapping = r["value"], r["mapping"]
        full = {m: median(r["times"][-1] if len(r["best"]) >= evals else None for r in rs) for m, rs in mine.items()
                if all(len(r["best"]) >= evals for r in rs)}
        fastest = min(full, key=full.get) if full else None
        equal_time = full[fastest] if fastest else None
        per_mapper = {}
        for m, rs in mine.items():
            # a mark counts where every seed reached it
            at = {str(n): median(at_evals(r, n) for r in rs) if all(len(r["best"]) >= n for r in rs) else None
                  for n in marks}
            timed = [at_time(r, equal_time) for r in rs] if equal_time else []
            per_mapper[m] = {
                "best": at, "reached": {str(n): sum(len(r["best"]) >= n for r in rs) for n in marks},
                "at_equal_time": median(v for v, _ in timed) if timed else None,
                "evals_at_equal_time": median(n for _, n in timed) if timed else None,
                "seconds": median(r["seconds"] for r in rs), "evaluations": median(len(r["best"]) for r in rs),
                "capped": sum(r["capped"] for r in rs), "best_value": min(r["value"] for r in rs),
                "seed_best": [r["value"] for r in rs], "curves": [curve(r) for r in rs]}
        ratios = {}
        for base in ("sa", "ga"):
            if base not in per_mapper:
                continue
            for m, v in per_mapper.items():
                for n in marks:
                    a, b = per_mapper[base]["best"][str(n)], v["best"][str(n)]
                    ratios[f"{base}/{m}@{n}"] = a / b if a and b else None
                a, b = per_mapper[base]["at_equal_time"], v["at_equal_time"]
                ratios[f"{base}/{m}@time"] = a / b if a and b else None
        ratios_by_case[case.name] = ratios
        row = {"problem": case.name, "source": case.source, "dims": dict(case.workload.dims),
               "architecture": case.arch_note, **info[case.name], "best_edp": best_value,
               "best_mapping": best_mapping.to_dict() if best_mapping else None,
               "equal_time_s": equal_time, "fastest": fastest, "mappers": per_mapper, "ratios": ratios,
               "zigzag": None if case.zigzag is not None else f"not expressible: {case.no_zigzag}"}
        if case.zigzag is not None and not zz_skipped and not args.no_zigzag:
            row["zigzag"] = zigzag_row(case, config, zz, seeds, best_mapping)
        rows.append(row)

    wall = time.perf_counter() - started
    report(rows, mappers, marks, evals, seeds, config, wall, notes)
    payload = {"command": " ".join(["python", "bench/search.py", *sys.argv[1:]]), "wall_s": round(wall, 1),
               "evals": evals, "seeds": seeds, "marks": marks, "time_limit_s": limit, "jobs": args.jobs,
               "config": config.name, "mappers": mappers, "notes": notes, "lpf_limit": args.lpf_limit,
               "salsa_iterations": iterations, "mind_mappings_published": MIND_MAPPINGS,
               "geomean_ratios": summary(ratios_by_case, mappers, marks), "rows": rows}
    write_json(str(out), payload)
    plot(rows, mappers, out)


def zigzag_row(case: Case, config, zz: dict, seeds: int, ours) -> dict:
    """LOMA's and SALSA's best (ZigZag's EDP), in our model, and our best in ZigZag's."""
    p = zigzag_search.problem(config, case.zigzag)
    cme = zigzag_search.evaluate_loops(config, case.zigzag, zigzag_search.from_mapping(p, ours))
    ours_in_zz = cme.energy_total * cme.latency_total2

    def engine(found: list) -> dict:
        best = min(found, key=lambda f: f.edp)
        in_ours = [analyse(p.workload, p.arch, f.mapping).edp if f.mapping is not None else None for f in found]
        return {"edp": median(f.edp for f in found), "best_edp": best.edp, "energy_pj": best.energy_pj,
                "cycles": best.cycles, "ideal_cycles": best.ideal_cycles,
                "evaluations": median(f.evaluations for f in found), "orderings": median(f.orderings for f in found),
                "lpfs": len(best.lpfs), "seconds": median(f.seconds for f in found),
                "seconds_per_eval": median(f.seconds / f.evaluations for f in found),
                "in_our_model": median(in_ours), "notes": sorted({f.mapping_note for f in found if f.mapping_note}),
                "loops": best.loops, "curves": [[list(pt) for pt in f.convergence[:: max(1, len(f.convergence) // 60)]]
                                                + [list(f.convergence[-1])] for f in found]}
    return {"ours_in_zigzag": ours_in_zz, "ours_in_zigzag_cycles": cme.latency_total2,
            "ours_in_zigzag_energy_pj": cme.energy_total,
            "loma": engine([zz[case.name, "loma", 0]["found"]]),
            "salsa": engine([zz[case.name, "salsa", s]["found"] for s in range(seeds)])}


def summary(ratios_by_case: dict, mappers, marks) -> dict:
    out = {}
    for base in ("sa", "ga"):
        for m in mappers:
            for n in [*marks, "time"]:
                key = f"{base}/{m}@{n}"
                out[key] = geomean(r.get(key) for r in ratios_by_case.values())
    return out


def report(rows, mappers, marks, evals, seeds, config, wall, notes) -> None:
    print(f"\n{len(rows)} problems, {seeds} seeds, {evals} evaluations a run; wall time {wall / 60:.1f} min\n")
    print("| problem | layer | architecture | map space | one evaluation | best EDP (pJ x cycles) | equal time |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['problem']} | {r['source']} | {r['architecture']} | {r['space_size']:.3g} | "
              f"{r['analyse_ms']:.2f} ms | {r['best_edp']:.4g} | {fmt(r['equal_time_s'], '.1f')} s "
              f"({r['fastest'] or '-'}) |")
    heads = " | ".join(f"@{n:,}" for n in marks)
    print(f"\nBest EDP relative to the problem's best (median of {seeds} seeds; '-': not every seed reached it in "
          f"the time limit); "
          f"evaluations done at equal time; time of the whole run\n")
    print(f"| problem | mapper | {heads} | @ equal time (evals) | run s |")
    print("|---|---|" + "---:|" * (len(marks) + 2))
    for r in rows:
        for m in mappers:
            v = r["mappers"][m]
            rel = " | ".join(fmt(v["best"][str(n)] and v["best"][str(n)] / r["best_edp"], ".3f") for n in marks)
            eq = v["at_equal_time"] and v["at_equal_time"] / r["best_edp"]
            capped = f" ({v['capped']} capped)" if v["capped"] else ""
            print(f"| {r['problem']} | {m} | {rel} | {fmt(eq, '.3f')} ({fmt(v['evals_at_equal_time'], '.0f')}) | "
                  f"{v['seconds']:.1f}{capped} |")
    sums = summary({r["problem"]: r["ratios"] for r in rows}, mappers, marks)
    print("\nSA/x and GA/x: SA's (GA's) best EDP over x's, geometric mean over the problems (above 1: x is better)\n")
    cols = [f"@{n:,}" for n in marks] + ["@ equal time"]
    print("| x | " + " | ".join(f"SA/x {c}" for c in cols) + " | " + " | ".join(f"GA/x {c}" for c in cols) + " |")
    print("|---|" + "---:|" * (2 * len(cols)))
    for m in mappers:
        vals = [fmt(sums.get(f"{b}/{m}@{n}"), ".3f") for b in ("sa", "ga") for n in [*marks, "time"]]
        print(f"| {m} | " + " | ".join(vals) + " |")
    mm = MIND_MAPPINGS
    ref = ([""] * (len(marks) - 1) + [f"{mm['steps']['sa']:.2f}", f"{mm['time']['sa']:.2f}"]
           + [""] * (len(marks) - 1) + [f"{mm['steps']['ga']:.2f}", f"{mm['time']['ga']:.2f}"])
    print("| Mind Mappings (published; equal steps, equal time) | " + " | ".join(ref) + " |")
    zrows = [r for r in rows if isinstance(r["zigzag"], dict)]
    if zrows:
        print("\nZigZag's searches on the dense array (EDP in ZigZag's cost model unless said; in parentheses: "
              "relative to our best mapping in ZigZag's model)\n")
        print("| problem | our best (our model) | our best (ZigZag) | LOMA EDP | LOMA in our model | LOMA evals "
              "(lpfs) | LOMA s | SALSA EDP (median) | SALSA in our model | SALSA evals (lpfs) | SALSA s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in zrows:
            z, o = r["zigzag"], r["zigzag"]["ours_in_zigzag"]
            lo, sa = z["loma"], z["salsa"]
            print(f"| {r['problem']} | {r['best_edp']:.4g} | {o:.4g} | {lo['edp']:.4g} ({lo['edp'] / o:.3f}) | "
                  f"{fmt(lo['in_our_model'])} | {lo['evaluations']:.0f} ({lo['lpfs']}) | {lo['seconds']:.1f} | "
                  f"{sa['edp']:.4g} ({sa['edp'] / o:.3f}) | {fmt(sa['in_our_model'])} | {sa['evaluations']:.0f} "
                  f"({sa['lpfs']}) | {sa['seconds']:.1f} |")
        for r in zrows:
            for engine in ("loma", "salsa"):
                e = r["zigzag"][engine]
                if e["notes"]:
                    print(f"\n{r['problem']}, {engine.upper()}'s best in our model: {'; '.join(e['notes'])}", end="")
        print()
    for r in rows:
        if not isinstance(r["zigzag"], dict):
            print(f"\n{r['problem']}: ZigZag {r['zigzag'] or 'left out'}", end="")
    print()
    for n in notes:
        print(f"\nnote: {n}")


def plot(rows, mappers, out: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plots", file=sys.stderr)
        return
    for r in rows:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for m in mappers:
            curves = [c for c in r["mappers"][m]["curves"] if c]
            if not curves:
                continue
            for ax, x in zip(axes, (0, 2)):
                line = _median_curve(curves, x, r["best_edp"])
                ax.plot(*line, label=m, drawstyle="steps-post")
        z = r["zigzag"]
        if isinstance(z, dict):
            for engine, style in (("loma", ":"), ("salsa", "--")):
                e = z[engine]
                curves = [[[ev, v, ev * e["seconds_per_eval"]] for ev, v in c] for c in e["curves"]]
                for ax, x in zip(axes, (0, 2)):
                    line = _median_curve(curves, x, z["ours_in_zigzag"])
                    ax.plot(*line, linestyle=style, label=f"ZigZag {engine.upper()} (its model)",
                            drawstyle="steps-post")
        for ax, label in zip(axes, ("evaluations", "wall time (s)")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel("best EDP / best mapping's EDP")
            ax.grid(True, which="both", alpha=0.3)
        if r["equal_time_s"]:
            axes[1].axvline(r["equal_time_s"], color="grey", linewidth=0.8)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{r['problem']}: {r['architecture']}", fontsize=10)
        fig.tight_layout()
        path = out.with_name(f"{out.stem}_{slug(r['problem'])}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print(f"wrote {path}", file=sys.stderr)


def _median_curve(curves, x: int, scale: float):
    """The median over seeds of best EDP / ``scale`` at each x (evaluations: 0, seconds: 2) any seed
    has, from where every seed has one."""
    start = max(c[0][x] for c in curves)
    xs = sorted({pt[x] for c in curves for pt in c if pt[x] >= start})
    ys = []
    for at in xs:
        vals = []
        for c in curves:
            before = [pt[1] for pt in c if pt[x] <= at]
            if before:
                vals.append(before[-1])
        ys.append(statistics.median(vals) / scale)
    return xs, ys


if __name__ == "__main__":
    main()
