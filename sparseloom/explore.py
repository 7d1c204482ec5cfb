"""Hardware/mapping co-design: the generator parameters and every layer's mapping searched together.

``explore(generator="highlight", network="minilm", area_budget=...)`` searches HighLight
configurations (``rows``, ``cols``, ``g0_max`` = multipliers per PE, ``h1_max`` and ``g1_max``
= the rank-1 patterns the sequencer provisions, ``k_max`` = the activation buffer's depth; ``h0``
is the block size of the weights' compression, ``method``) under an **area budget in logic
cells**: the calibrated ``logic_cells`` of ``sparseloom.fpga.calibration`` (what ``sparseloom fpga
highlight --target ecp5-85f --no-dsp`` reports, LUT positions of logic, carry and LUT RAM, its
harness included). Every configuration of the space that the generator accepts and the budget
allows is a candidate; each candidate is scored by the network's **EDP** (its total energy x its
total cycles, the layers one after another, ``sparseloom.network_model``'s convention), each GEMM
layer on its best mapping of the unit's map space (``Unit.mappings``) found by a mapper of
``model.mappers.MAPPERS`` minimising that layer's EDP. Layers of one GEMM shape are searched once.

The outer search: every candidate when ``budget`` (hardware configurations evaluated) covers
them; otherwise batches of ``BATCH``: first a random sample (``seed``), then the unevaluated
neighbours (one parameter moved to its next value, below or above, that gives a valid
configuration within the budget) of the best ``ELITE`` so far, topped up at random. Candidates are evaluated a batch at a time through ``pool`` (``SerialPool``
or ``DaskPool``, results in order), so one seed gives one result on one worker or many.

Outputs in ``out``: ``pareto.json`` and ``pareto.md`` (logic cells, the model's own area in um^2,
cycles, energy and EDP of every evaluated configuration, the Pareto front of logic cells vs EDP
marked), ``pareto.png`` (when matplotlib is installed), ``best.json`` (the winner: parameters,
EDP, cycles, energy, each layer's mapping), ``config.json`` (its parameters: ``sim --config``,
``fpga --config``), ``rtl/<name>.v`` and ``rtl/<name>.json`` (``emit.render``, what ``sparseloom
verilog`` writes); then, unless ``rtl=False``, ``rtl_check.json``: the largest layer (by MACs) run
through ``sparseloom sim`` on the Verilated winner with its chosen mapping, bit-exact against the
golden model and in exactly the model's cycles (a GEMM of the layer's K with M and N cut to two
row batches and two column tiles, the same K tiling and loop order, when the whole layer would
take over ``RTL_FULL_CYCLES`` cycles: said in the file; the row batches doubled while the cut
stays within ``RTL_CUT_CYCLES``), with its inputs, mapping, result and ``sim`` report in
``rtl_check/`` (the command in the file reruns it); and unless ``fpga=False``,
``fpga/report.json``: the flow of ``sparseloom fpga`` on the winner (ECP5-85F, DSPs off, the
calibration's setting), with the calibrated prediction beside the measurement. Bad input is a
``ValueError`` before any file is written; the search's files are written together, then
``rtl_check.json``, then the FPGA report, each when its step is done.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GENERATORS = ("highlight",)
DEFAULT_METHOD = "hss:2:4,2:4"
#: Each searched parameter's values, smallest first (``h0`` comes from the method's pattern).
DEFAULT_SPACE = {"rows": (1, 2, 4, 8), "cols": (1, 2, 4, 8), "g0_max": (1, 2, 4), "h1_max": (2, 4, 8),
                 "g1_max": (1, 2, 4), "k_max": (64, 128, 256, 512)}
BATCH = 16        # configurations drawn before any of them is evaluated
ELITE = 4         # best configurations whose neighbours the next batch explores
RTL_FULL_CYCLES = 20_000   # a layer longer than this is simulated on a GEMM of its K, M and N cut
RTL_CUT_CYCLES = 5_000     # the cut's row batches double while it stays within this
TARGET = "ecp5-85f"


# ----- the space --------------------------------------------------------------------------

def config_name(p: dict) -> str:
    """A preset's name where ``p`` is a preset's hardware (its Verilator build is shared), else
    one that spells the parameters."""
    from sparseloom.gen.highlight.config import HIGHLIGHT_PRESETS

    for name, preset in HIGHLIGHT_PRESETS.items():
        if {k: v for k, v in preset.parameters().items() if k != "name"} == {"data_width": 8, "acc_width": 32, **p}:
            return name
    return (f"hl_r{p['rows']}_c{p['cols']}_h0_{p['h0']}_g0_{p['g0_max']}_h1_{p['h1_max']}_g1_{p['g1_max']}"
            f"_k{p['k_max']}")


def make_config(p: dict):
    """The HighLightConfig of parameters ``p`` (named by them); ValueError/TypeError if invalid."""
    from sparseloom.gen.highlight.config import HighLightConfig

    return HighLightConfig(config_name(p), **p)


def pattern_of(method: str):
    from sparseloom.golden.hss import HSSPattern

    if not isinstance(method, str) or not method.startswith("hss:"):
        raise ValueError(f"method must be hss:G1:H1,G0:H0 for HighLight (the weights' compression, whose pattern "
                         f"the array runs), got {method!r}")
    return HSSPattern.parse(method[len("hss:"):])


def check_space(space: dict) -> dict:
    unknown = set(space) - set(DEFAULT_SPACE)
    if unknown:
        raise ValueError(f"space: unknown parameters {sorted(unknown)}; allowed: {', '.join(DEFAULT_SPACE)}")
    space = {**DEFAULT_SPACE, **space}
    for k, values in space.items():
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError(f"space: {k} must be a non-empty list of integers, got {values!r}")
        space[k] = tuple(sorted(set(values)))
    return space


def candidates(space: dict, pattern) -> list[dict]:
    """Every valid configuration of ``space`` that can run ``pattern`` (parameters, ``h0`` the
    pattern's), in grid order; the generator's invalid ones are skipped."""
    found = []
    for values in itertools.product(*space.values()):
        p = dict(zip(space, values), h0=pattern.h0)
        try:
            make_config(p).check_pattern(pattern)
        except (ValueError, TypeError):
            continue
        found.append(p)
    return found


def neighbours(p: dict, space: dict, allowed: set) -> list[dict]:
    """``p`` with one parameter moved to the nearest value below or above along its list that
    gives an ``allowed`` configuration (valid, within the budget): values that do not are skipped."""
    out = []
    for k, values in space.items():
        i = values.index(p[k])
        for step in (-1, 1):
            j = i + step
            while 0 <= j < len(values):
                q = {**p, k: values[j]}
                if key(q) in allowed:
                    out.append(q)
                    break
                j += step
    return out


def key(p: dict) -> tuple:
    return tuple(sorted(p.items()))


# ----- one configuration on the network ----------------------------------------------------

def gemm_groups(network: str, tokens) -> list[dict]:
    """The network's GEMM layers grouped by shape: names, total runs and (m, k, n); and the others."""
    from sparseloom.model import networks

    groups, skipped = {}, []
    for layer in networks.layers(network, tokens):
        shape = networks.gemm_shape(layer)
        if shape is None:
            skipped.append({"name": layer.name, "count": layer.count, "mapped": "no single GEMM"})
            continue
        g = groups.setdefault(shape, {"m": shape[0], "k": shape[1], "n": shape[2], "layers": [], "count": 0})
        g["layers"].append({"name": layer.name, "count": layer.count})
        g["count"] += layer.count
    return list(groups.values()), skipped


@dataclass(frozen=True)
class NetworkOnConfig:
    """A configuration's network EDP, each GEMM shape on its best mapping (``mapper`` within
    ``mapping_budget`` evaluations, None: the whole map space). A dataclass, so Dask takes it."""
    generator: str
    groups: tuple          # of dicts from ``gemm_groups`` (as JSON text, hashable)
    pattern: object
    mapper: str = "exhaustive"
    mapping_budget: int | None = None
    seed: int = 0
    objective: str = "edp"

    def __call__(self, p: dict) -> dict:
        from sparseloom.fpga.calibration import block_rams, logic_cells
        from sparseloom.gen.unit import GemmShape
        from sparseloom.model.mappers import MAPPERS
        from sparseloom.model.mapspace import Candidates
        from sparseloom.network_search import OnUnit, layer_seed
        from sparseloom.units import unit

        u, config = unit(self.generator), make_config(p)
        layers, cycles, energy = [], 0.0, 0.0
        for i, g in enumerate(json.loads(text) for text in self.groups):
            shape = GemmShape(g["m"], g["n"], g["k"])
            space = Candidates(u.mappings(config, shape, self.pattern))
            budget = space.size() if self.mapping_budget is None else self.mapping_budget
            found = MAPPERS[self.mapper](space, OnUnit(u.name, config, shape, self.pattern), budget,
                                         layer_seed(self.seed, i), self.objective)
            r = found.best_result
            layers.append({**g, "space_size": space.size(), "evaluations": len(found.convergence),
                           "cycles": r.cycles, "energy_pj": r.energy_pj, "edp": r.edp,
                           "utilization": r.utilization, "mapping": found.best_mapping.to_dict()["mapping"]})
            cycles += g["count"] * r.cycles
            energy += g["count"] * r.energy_pj
        return {"name": config.name, "parameters": config.parameters(), "logic_cells": logic_cells(config),
                "block_rams": block_rams(config), "area_um2": u.architecture(config).area_um2,
                "multipliers": config.multipliers, "cycles": cycles, "energy_pj": energy, "edp": cycles * energy, "layers": layers}


def pareto(points: list[dict]) -> list[bool]:
    """Whether each point is on the front of (logic cells, EDP): no other point is as small in
    both and smaller in one."""
    return [not any(q["logic_cells"] <= p["logic_cells"] and q["edp"] <= p["edp"]
                    and (q["logic_cells"] < p["logic_cells"] or q["edp"] < p["edp"]) for q in points)
            for p in points]


def search_configs(pool_, evaluate, found: list[dict], space: dict, budget: int, seed: int,
                   progress: bool = False) -> list[dict]:
    """The evaluated configurations, in evaluation order (see the module's outer search)."""
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=min(budget, len(found)), unit="config", desc="explore", leave=False, disable=None)
    done: dict[tuple, dict] = {}
    order: list[dict] = []

    def run(batch):
        for p, r in zip(batch, pool_.map(evaluate, batch)):
            done[key(p)] = r
            order.append(r)
        if bar is not None:
            bar.update(len(batch))
            bar.set_postfix(best=f"{min(r['edp'] for r in order):.4g}")

    if len(found) <= budget:
        for i in range(0, len(found), BATCH):
            run(found[i:i + BATCH])
    else:
        rng = np.random.default_rng(seed)
        allowed = {key(p) for p in found}
        while len(order) < budget:
            want = min(BATCH, budget - len(order))
            batch, seen = [], set()
            if order:
                best = sorted(order, key=lambda r: (r["edp"], r["logic_cells"], r["name"]))[:ELITE]
                for r in best:
                    p = {k: v for k, v in r["parameters"].items() if k in space or k == "h0"}
                    for q in neighbours(p, space, allowed):
                        if key(q) in allowed and key(q) not in done and key(q) not in seen and len(batch) < want:
                            batch.append(q)
                            seen.add(key(q))
            left = [p for p in found if key(p) not in done and key(p) not in seen]
            for i in rng.permutation(len(left))[:want - len(batch)]:
                batch.append(left[int(i)])
            if not batch:
                break
            run(batch)
    if bar is not None:
        bar.close()
    return order


# ----- outputs ------------------------------------------------------------------------------

def pareto_md(rows: list[dict], summary: dict) -> str:
    lines = [f"# explore: {summary['generator']} on {summary['network']} ({summary['method']}, "
             f"{summary['tokens'] or 'default'} tokens)", "",
             f"Area budget {summary['area_budget']:g} logic cells (calibrated ECP5-85F logic cells, DSPs off, "
             f"sparseloom.fpga.calibration); {len(rows)} configurations evaluated of {summary['candidates']} within "
             f"the budget ({summary['valid']} valid in the space); objective: network EDP = total energy x total "
             f"cycles. Front: * = on the Pareto front of logic cells vs EDP; the winner is **bold**.", "",
             "| config | rows x cols x lanes | h1_max | g1_max | k_max | logic cells | block RAMs | model area (mm^2) | "
             "cycles | energy (uJ) | EDP (pJ*cycles) | front |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|"]
    for r in sorted(rows, key=lambda r: (r["logic_cells"], r["edp"])):
        p = r["parameters"]
        name = f"**{r['name']}**" if r["name"] == summary["winner"] else r["name"]
        lines.append(f"| {name} | {p['rows']} x {p['cols']} x {p['g0_max']} | {p['h1_max']} | {p['g1_max']} | "
                     f"{p['k_max']} | {r['logic_cells']:.0f} | {r['block_rams']} | {r['area_um2'] / 1e6:.4f} | "
                     f"{r['cycles']:.0f} | "
                     f"{r['energy_pj'] / 1e6:.4g} | {r['edp']:.4g} | {'*' if r['pareto'] else ''} |")
    if summary.get("plot_note"):
        lines += ["", summary["plot_note"]]
    return "\n".join(lines) + "\n"


def pareto_png(rows: list[dict], summary: dict) -> bytes | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import io

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([r["logic_cells"] for r in rows], [r["edp"] for r in rows], s=12, c="0.6", label="evaluated")
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["logic_cells"])
    ax.plot([r["logic_cells"] for r in front], [r["edp"] for r in front], "o-", c="C0", ms=4, label="Pareto front")
    win = next(r for r in rows if r["name"] == summary["winner"])
    ax.scatter([win["logic_cells"]], [win["edp"]], marker="*", s=120, c="C3", zorder=3, label=win["name"])
    ax.axvline(summary["area_budget"], ls="--", c="0.3", lw=0.8, label="area budget")
    ax.set_xlabel("calibrated logic cells (ECP5, DSPs off)")
    ax.set_ylabel("network EDP (pJ x cycles)")
    ax.set_yscale("log")
    ax.set_title(f"{summary['generator']} on {summary['network']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return buf.getvalue()


def per_layer(best: dict) -> list[dict]:
    """Each GEMM layer of the network with its shape's mapping."""
    return [{"name": layer["name"], "count": layer["count"], "gemm": {k: g[k] for k in ("m", "k", "n")},
             "cycles": g["cycles"], "energy_pj": g["energy_pj"], "edp": g["edp"], "mapping": g["mapping"]}
            for g in best["layers"] for layer in g["layers"]]


# ----- the RTL check --------------------------------------------------------------------------

def rtl_check(config, pattern, best: dict, seed: int, work: Path, keep: Path) -> tuple[dict, dict]:
    """The largest layer of ``best`` on the Verilated ``config`` through ``sparseloom sim`` with
    its chosen mapping (cut as the module says when too long): bit-exact and in the model's cycles.
    Runs in ``work``; returns the check and its files (name -> path in ``work``), whose command
    names them in ``keep`` (where the caller puts them)."""
    from sparseloom.gen.highlight.plan import highlight_tiling
    from sparseloom.gen.tiles import Tiling
    from sparseloom.gen.unit import GemmShape
    from sparseloom.golden import hss
    from sparseloom.model.mapping import Mapping
    from sparseloom.units import unit

    u = unit("highlight")
    g = max(best["layers"], key=lambda g: (g["m"] * g["k"] * g["n"], -best["layers"].index(g)))
    full = GemmShape(g["m"], g["n"], g["k"])
    mapping = Mapping.from_dict({"mapping": g["mapping"]})
    full_cycles = u.cycles(config, full, pattern, mapping)
    t = highlight_tiling(config, full, pattern, mapping)
    if full_cycles <= RTL_FULL_CYCLES:
        shape, sim_mapping, cut = full, mapping, None
    else:
        def cut_to(batches):
            n_tiles = min(t.n_tiles, 2)
            order = t.order if n_tiles > 1 and t.k_tiles > 1 else "KN"
            tiling = Tiling(batches, n_tiles, t.k_tiles, t.groups, t.group_len, order)
            shape = GemmShape(min(full.m, batches * config.rows), min(full.n, n_tiles * config.cols), full.k)
            return shape, tiling.mapping(config, config.lanes), tiling

        def cut_cycles(batches):
            shape, mapping, _ = cut_to(batches)
            return u.cycles(config, shape, pattern, mapping)

        batches = min(t.batches, 2)
        while batches * 2 <= t.batches and cut_cycles(batches * 2) <= RTL_CUT_CYCLES:
            batches *= 2
        shape, sim_mapping, tiling = cut_to(batches)
        cut = (f"the whole layer takes {full_cycles} cycles (> {RTL_FULL_CYCLES}): simulated its K={full.k} with M "
               f"and N cut to {shape.m} and {shape.n} ({tiling.batches} row batch(es) x {tiling.n_tiles} column "
               f"tile(s)), on the chosen mapping's K tiling ({t.k_tiles} K tile(s) of {t.groups} group(s)) and host "
               f"loop order {tiling.order}")
    model_cycles = u.cycles(config, shape, pattern, sim_mapping)
    rng = np.random.default_rng(seed)
    w = hss.prune(rng.integers(-128, 128, size=(shape.m, -(-shape.k // pattern.group_size) * pattern.group_size),
                               dtype=np.int8), pattern)[:, :shape.k]
    w = np.ascontiguousarray(w)
    x = rng.integers(-128, 128, size=(shape.k, shape.n), dtype=np.int8)
    names = ("w.npy", "x.npy", "config.json", "mapping.json", "y.npy", "sim_report.json")
    files = {name: work / name for name in names}
    np.save(files["w.npy"], w)
    np.save(files["x.npy"], x)
    files["config.json"].write_text(json.dumps(config.parameters(), indent=2) + "\n")
    files["mapping.json"].write_text(json.dumps(sim_mapping.to_dict(), indent=2) + "\n")
    def sim_args(at):
        return ["sim", "highlight", "--config", str(at / "config.json"), "--pattern", str(pattern),
                "--weights", str(at / "w.npy"), "--inputs", str(at / "x.npy"), "--out", str(at / "y.npy"),
                "--report", str(at / "sim_report.json"), "--mapping", str(at / "mapping.json")]

    run = subprocess.run([sys.executable, "-m", "sparseloom", *sim_args(work)], capture_output=True, text=True)
    check = {"layer": [layer["name"] for layer in g["layers"]], "full_gemm": {"m": full.m, "k": full.k, "n": full.n},
             "full_layer_model_cycles": full_cycles, "layer_mapping": g["mapping"],
             "simulated_gemm": {"m": shape.m, "k": shape.k, "n": shape.n}, "scaled_down": cut is not None,
             "why": cut or "the whole layer", "simulated_mapping": sim_mapping.to_dict()["mapping"],
             "pattern": str(pattern), "weights": f"random int8 pruned to {pattern} (seed {seed})",
             "model_cycles": model_cycles, "command": "sparseloom " + " ".join(sim_args(keep))}
    made = {name: path for name, path in files.items() if path.exists()}
    if run.returncode != 0:
        return {**check, "passed": False, "error": (run.stderr or run.stdout).strip().splitlines()[-1:]}, made
    report = json.loads(files["sim_report.json"].read_text())
    y = np.load(files["y.npy"])
    exact = bool(np.array_equal(y, w.astype(np.int64) @ x.astype(np.int64)))
    return {**check, "rtl_cycles": report["cycles"], "sim_model_cycles": report["model_cycles"],
            "bit_exact": exact and report["golden_match"], "cycles_equal": report["cycles"] == model_cycles,
            "passed": exact and report["cycles"] == model_cycles == report["model_cycles"],
            "utilization": report["utilization"]}, made


# ----- the search ------------------------------------------------------------------------------

def explore(generator: str = "highlight", network: str = "minilm", area_budget: float | None = None,
            out: Path | str | None = None, budget: int = 128, seed: int = 0, pool=None, tokens: int | None = None,
            method: str = DEFAULT_METHOD, progress: bool = False, *, mapper: str = "exhaustive",
            mapping_budget: int | None = None, space: dict | None = None, rtl: bool = True, fpga: bool = True,
            fpga_timeout_s: float | None = None, dry_run: bool = False) -> dict | None:
    """Search ``generator``'s configurations within ``area_budget`` logic cells for the least EDP
    of ``network``, write the outputs in ``out`` (the module says which) and return the summary
    (with ``dry_run``: only the checks of the arguments, nothing searched or written)."""
    from sparseloom.files import Outputs, check_folder
    from sparseloom.fpga.calibration import logic_cells
    from sparseloom.gen import emit
    from sparseloom.model.mappers import MAPPERS
    from sparseloom.model.networks import NETWORKS
    from sparseloom.model.pool import SerialPool

    # ---- every check before any work
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}; explore takes: {', '.join(GENERATORS)} (the units "
                         f"with a logic-cell calibration)")
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; allowed: {', '.join(NETWORKS)}")
    for name, value in (("budget", budget), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if budget < 1:
        raise ValueError(f"budget must be an integer >= 1 (hardware configurations evaluated), got {budget}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if mapper not in MAPPERS:
        raise ValueError(f"mapper must be one of {', '.join(MAPPERS)}, got {mapper!r}")
    if mapping_budget is not None and (not isinstance(mapping_budget, int) or mapping_budget < 1):
        raise ValueError(f"mapping_budget must be an integer >= 1 (model evaluations per layer), got {mapping_budget!r}")
    if (isinstance(area_budget, bool) or not isinstance(area_budget, (int, float))
            or not math.isfinite(area_budget)):
        raise ValueError(f"area_budget must be a number of logic cells, got {area_budget!r}")
    if out is None:
        raise ValueError("out must name the folder of the outputs")
    pattern = pattern_of(method)
    space = check_space(space or {})
    groups, skipped = gemm_groups(network, tokens)     # checks tokens
    if not groups:
        raise ValueError(f"{network} has no GEMM layer the {generator} unit can run")
    valid = candidates(space, pattern)
    if not valid:
        raise ValueError(f"no configuration of the space can run pattern {pattern} (h0={pattern.h0}, g0 <= g0_max, "
                         f"g1 <= g1_max, h1 <= h1_max)")
    cells = {key(p): logic_cells(make_config(p)) for p in valid}
    smallest = min(valid, key=lambda p: cells[key(p)])
    if area_budget < cells[key(smallest)]:
        raise ValueError(f"area budget {area_budget:g} logic cells is below the smallest configuration of the space: "
                         f"{config_name(smallest)} needs {cells[key(smallest)]:.0f} (calibrated ECP5 logic cells)")
    found = [p for p in valid if cells[key(p)] <= area_budget]
    out = Path(out)
    check_folder(out, "--out")
    search_files = Outputs()
    paths = {name: search_files.add(out / name, "--out") for name in ("pareto.json", "pareto.md", "best.json",
                                                                       "config.json")}
    try:
        import matplotlib  # noqa: F401
        paths["pareto.png"] = search_files.add(out / "pareto.png", "--out")
        plot_note = None
    except ImportError:
        plot_note = "pareto.png not drawn: matplotlib is not installed (pip install matplotlib)."
    if rtl:
        Outputs().add(out / "rtl_check.json", "--out")
        rtl_path = out / "rtl_check.json"
    fpga_out = Outputs()
    fpga_path = fpga_out.add(out / "fpga" / "report.json", "--out") if fpga else None
    if dry_run:   # the checks alone (the command line's, before it starts a cluster)
        return None

    # ---- the search
    evaluate = NetworkOnConfig(generator, tuple(json.dumps(g, sort_keys=True) for g in groups), pattern, mapper,
                               mapping_budget, seed)
    pool_ = pool or SerialPool()
    rows = search_configs(pool_, evaluate, found, space, budget, seed, progress)
    for r, on_front in zip(rows, pareto(rows)):
        r["pareto"] = on_front
    winner = min(rows, key=lambda r: (r["edp"], r["logic_cells"], r["name"]))
    config = make_config({k: v for k, v in winner["parameters"].items() if k in space or k == "h0"})
    summary = {"generator": generator, "network": network, "method": method, "pattern": str(pattern),
               "tokens": tokens, "area_budget": area_budget, "area_unit": "calibrated ECP5-85F logic cells, DSPs off "
               "(sparseloom.fpga.calibration.logic_cells)", "objective": "network EDP (total energy x total cycles)",
               "budget": budget, "seed": seed, "mapper": mapper, "mapping_budget": mapping_budget,
               "space": {k: list(v) for k, v in space.items()} | {"h0": [pattern.h0]},
               "valid": len(valid), "candidates": len(found), "evaluated": len(rows), "winner": winner["name"],
               "not_mapped": skipped, "plot_note": plot_note}
    best = {**{k: v for k, v in summary.items() if k != "plot_note"},
            "parameters": winner["parameters"], "logic_cells": winner["logic_cells"],
            "block_rams": winner["block_rams"], "area_um2": winner["area_um2"],
            "multipliers": winner["multipliers"], "edp": winner["edp"], "cycles": winner["cycles"],
            "energy_pj": winner["energy_pj"], "pareto": winner["pareto"], "layers": per_layer(winner),
            "shapes": winner["layers"]}
    files = {paths["pareto.json"]: json.dumps({**summary, "configs": rows}, indent=2) + "\n",
             paths["pareto.md"]: pareto_md(rows, summary), paths["best.json"]: json.dumps(best, indent=2) + "\n",
             paths["config.json"]: json.dumps(config.parameters(), indent=2) + "\n"}
    if "pareto.png" in paths:
        files[paths["pareto.png"]] = pareto_png(rows, summary)
    rendered = emit.render(config)
    for name, text in rendered.items():
        files[search_files.add(out / "rtl" / name, "--out")] = text
    search_files.write(files)
    result = {**best, "out": str(out), "files": sorted(str(p) for p in files)}

    # ---- the winner on the RTL and on the FPGA
    if rtl:
        with tempfile.TemporaryDirectory(prefix="sparseloom-explore-") as work:
            check, made = rtl_check(config, pattern, winner, seed, Path(work), out / "rtl_check")
            rtl_out = Outputs()
            rtl_out.write({rtl_out.add(out / "rtl_check.json", "--out"): json.dumps(check, indent=2) + "\n",
                           **{rtl_out.add(out / "rtl_check" / name, "--out"): path for name, path in made.items()}})
        result["rtl_check"] = check
        if not check["passed"]:
            raise RuntimeError(f"the winner {config.name} failed its RTL check ({rtl_path}): "
                               f"{check.get('error') or check}")
    if fpga:
        from sparseloom.fpga.flow import ToolError, fpga_report

        try:
            report = fpga_report(config, TARGET, out / "fpga", dsp=False, timeout_s=fpga_timeout_s)
        except ToolError as e:
            raise RuntimeError(str(e)) from None
        report |= {"calibrated_logic_cells": winner["logic_cells"], "area_budget": area_budget,
                   "within_budget_measured": report["logic_cells"] <= area_budget}
        fpga_out.write({fpga_path: json.dumps(report, indent=2) + "\n"})
        result["fpga"] = {k: report[k] for k in ("logic_cells", "calibrated_logic_cells", "luts", "ffs", "fmax_mhz",
                                                 "within_budget_measured")}
    return result


# ----- command line ----------------------------------------------------------------------------

def add_parser(subparsers) -> argparse.ArgumentParser:
    """``sparseloom explore``: add it to the ``sparseloom`` command's subparsers."""
    from sparseloom.model.mappers import MAPPERS
    from sparseloom.model.networks import NETWORKS

    e = subparsers.add_parser("explore", help="co-design: generator parameters and every layer's mapping under an "
                                              "area budget (calibrated logic cells), least network EDP")
    e.add_argument("--generator", default="highlight", help=f"generator ({', '.join(GENERATORS)})")
    e.add_argument("--network", required=True, help=f"network ({', '.join(NETWORKS)})")
    e.add_argument("--area-budget", required=True, type=float,
                   help="logic cells: calibrated ECP5-85F logic cells with DSPs off (sparseloom.fpga.calibration)")
    e.add_argument("--out", required=True, help="folder of pareto.json/.md/.png, best.json, config.json, rtl/, "
                                                "rtl_check.json, fpga/report.json")
    e.add_argument("--budget", type=int, default=128, help="hardware configurations evaluated (default 128)")
    e.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    e.add_argument("--method", default=DEFAULT_METHOD, help=f"the weights' compression (default {DEFAULT_METHOD})")
    e.add_argument("--tokens", type=int, help="with minilm or smollm2: tokens per run (default 32)")
    e.add_argument("--mapper", default="exhaustive", choices=list(MAPPERS), help="each layer's mapper "
                                                                                 "(default exhaustive)")
    e.add_argument("--mapping-budget", type=int, help="model evaluations per layer (default: the whole map space)")
    e.add_argument("--workers", type=int, help="Dask workers of a local cluster evaluating configurations "
                                                "(default: one per CPU; 1 evaluates in this process)")
    e.add_argument("--no-rtl", dest="rtl", action="store_false", help="skip the winner's RTL check")
    e.add_argument("--no-fpga", dest="fpga", action="store_false", help="skip the winner's FPGA flow")
    e.set_defaults(func=run)
    return e


def run(args) -> None:
    from sparseloom.files import UsageError
    from sparseloom.model.pool import local_workers, pool as make_pool

    args.workers = local_workers() if args.workers is None else args.workers
    if args.workers < 1:
        raise UsageError(f"--workers must be an integer >= 1, got {args.workers}")
    common = dict(generator=args.generator, network=args.network, area_budget=args.area_budget, out=Path(args.out),
                  budget=args.budget, seed=args.seed, tokens=args.tokens, method=args.method, mapper=args.mapper,
                  mapping_budget=args.mapping_budget, rtl=args.rtl, fpga=args.fpga)
    try:   # every check before a cluster starts
        explore(**common, dry_run=True)
    except ValueError as e:
        raise UsageError(str(e)) from None
    with make_pool(args.workers) as pool:
        result = explore(**common, pool=pool, progress=True)
    print(f"explore: {result['evaluated']} of {result['candidates']} configurations within {args.area_budget:g} "
          f"logic cells; best {result['winner']} ({result['logic_cells']:.0f} LC): EDP {result['edp']:.4g}, "
          f"{result['cycles']:.0f} cycles, {result['energy_pj'] / 1e6:.4g} uJ"
          + (f"; RTL {result['rtl_check']['rtl_cycles']} cycles = model" if "rtl_check" in result else "")
          + (f"; FPGA {result['fpga']['logic_cells']} LC" if "fpga" in result else "") + f"; wrote {args.out}")
