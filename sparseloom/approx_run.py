"""``sparseloom approx``: neural approximate computing of one kernel, from training to the RTL.

The pipeline (``run``), for an AxBench kernel (``golden.axbench``) and a method of
``golden.approx`` (``single``, ``mcma`` with K approximators, ``axnet``):

1. ``dataset``: disjoint training and test inputs with their exact outputs. The image kernels
   (jpeg, kmeans, sobel) cut them from the offline photographs (``sparseloom.models.images``),
   the photos split first, so that no test window comes from a photo seen in training; the
   others draw them with ``axbench.sample`` from two different seeds, and no row may be shared.
2. ``golden.approx.train`` on the training set (timed: ``training_seconds``).
3. Quality on the test set, twice: in float (``approx.evaluate``: ``float.*``) and on the NPU's
   fixed-point model (``npu_program`` + ``Program.run``: the top-level ``invocation``,
   ``mean_error``, ``per_approximator``, what the hardware gives). The host standardises an
   input with the training set's statistics and quantises it to the act format; an output is
   the act codes' value, standardisation undone. An input's error is ``approx.input_error``:
   the mean over outputs of |approximation - exact| / sigma, sigma the per-output standard
   deviation of the exact training outputs (``approx.output_scale``); an input left to the
   exact function has error 0; ``mean_error`` is over every test input, ``mean_error_approximated``
   over the approximated ones, ``routed_within_bound`` the share of those within the bound.
4. NPU cycles: the unit ``npu``'s plan of the whole test set (``u.plan``), its golden checked
   against ``Program.run`` word for word, and its exact stall-free cycles (``u.cycles``, weights
   loading included); ``cycles_per_input`` = cycles / test inputs; per route
   (``cycles_per_input_by_route``, where the plan's report gives them), the cycles an approximated
   and an exact input hold the sequencer, first step to emit (the next input loads meanwhile;
   the run adds the weights' loading and the last results' beats).
5. The speed-up over running the exact kernel on a scalar core (``axbench.scalar_cycles``, an
   in-order core with an FPU), ``SPEEDUP_FORMULA``: the classifier runs on the NPU for every
   input, the approximated inputs' networks on the NPU, the others' exact function on the core,
   one after the other (no overlap of NPU and core, which is conservative).
6. ``rtl_check``: the first ``rtl_inputs`` test inputs through the Verilated NPU
   (``sparseloom.sim.fast.Driver``, no stalls): every word must equal ``plan.golden`` and the
   cycles the unit's cycle model, or a RuntimeError.

The error bound. The papers' own code (github.com/ACA-Lab-SJTU/approximate-computing, the
authors' lab) sets ``error_bound = 0.1`` in AXNet's example (``AXNet/example.ipynb``, inversek2j,
relative error) and ``"errorBound": 0.05`` in MCMA's configuration (``MCMA/configs/sample.json``,
RMSE; AXNet's ``multi-task-learning.ipynb`` uses 0.05 too; MCMA's data folder also lists three
bounds a kernel in the kernels' own units, ``MCMA/data/*_eb.csv``); the papers' text (ICCAD 2018)
was not at hand, only their abstracts. ``PAPER_BOUND`` = 0.1 is the default and ``STRICT_BOUND`` =
0.05 the stricter one. Their errors are in each kernel's own units (relative error, absolute
error on outputs scaled to [0, 1], RMSE); ours is normalised by sigma, so the same number is one
requirement across kernels: a bound B here is an absolute error of B * sigma (the report's
``bound_absolute``), and a relative bound B on outputs of typical magnitude |y| is B * |y| / sigma
in ours. For the image kernels (outputs in [0, 1], sigma below 1: sobel's about 0.3) the papers'
absolute 0.1 is looser than our 0.1. The scalar core's cycles leave out loads, stores and loop
overhead (``axbench.SCALAR_LATENCY``), which favours the core: the speed-ups are conservative.

Bad arguments are ValueErrors naming the flag and the values allowed, raised before any work
(``check_arguments``, ``npu_config``, ``check_fits``); the command writes its report with
``sparseloom.files.Outputs`` at the end, so a failed run leaves nothing.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import time
from dataclasses import dataclass, field

import numpy as np

from sparseloom.golden import axbench

#: AXNet's authors' example bound (see the module's docstring), the default.
PAPER_BOUND = 0.1
#: MCMA's authors' configured bound, the stricter one.
STRICT_BOUND = 0.05
BOUND_SOURCE = ("0.1: AXNet's authors' code (github.com/ACA-Lab-SJTU/approximate-computing, AXNet/example.ipynb, "
                "error_bound = 0.1); 0.05: MCMA's authors' configuration (MCMA/configs/sample.json, errorBound 0.05). "
                "Here in units of the exact output's standard deviation (golden.approx.input_error).")
ERROR_METRIC = ("per input: mean over outputs of |approximation - exact| / sigma, sigma the per-output standard "
                "deviation of the exact training outputs; 0 for an input left to the exact function")
SPEEDUP_FORMULA = ("speedup = scalar_cycles * N / (npu_cycles + (1 - invocation) * N * scalar_cycles): N test "
                   "inputs, npu_cycles the NPU's stall-free cycles for all of them (the classifier on every input, "
                   "the approximator on the approximated ones, weights loading included), scalar_cycles the exact "
                   "kernel on one input on the scalar core; the fallback inputs run the exact kernel on the core, "
                   "after the NPU (no overlap)")
DEFAULTS = {"approximators": 2, "error_bound": PAPER_BOUND, "n_train": 4000, "n_test": 1000, "seed": 0,
            "config": "npu_default", "rtl_inputs": 64, "epochs": 600, "rounds": 8}
#: Share of the photographs given to training (the rest are the test photos, at least one).
TRAIN_PHOTOS = 0.75
MAX_INPUTS = 1_000_000
MAX_SEED = 2**32 - 1
MAX_APPROXIMATORS = 64
#: The fixed-point formats when the configuration names none (npu_default's).
DEFAULT_BITS, DEFAULT_FRAC = 16, 10


# ----- arguments ----------------------------------------------------------------------------------

def _int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def check_arguments(benchmark, method, approximators=None, error_bound=PAPER_BOUND, n_train=DEFAULTS["n_train"],
                    n_test=DEFAULTS["n_test"], seed=0, rtl_inputs=DEFAULTS["rtl_inputs"], epochs=DEFAULTS["epochs"],
                    rounds=DEFAULTS["rounds"]) -> dict:
    """The arguments, checked (a ValueError naming the flag and what it allows), K filled in."""
    from sparseloom.golden.approx import METHODS

    if benchmark not in axbench.KERNELS:
        raise ValueError(f"--benchmark must be one of {', '.join(axbench.KERNELS)}, got {benchmark!r}")
    if method not in METHODS:
        raise ValueError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "mcma":
        k = DEFAULTS["approximators"] if approximators is None else approximators
        if not _int(k) or not 1 <= k <= MAX_APPROXIMATORS:
            raise ValueError(f"--approximators must be an integer in 1..{MAX_APPROXIMATORS} with --method mcma, "
                             f"got {approximators!r}")
    else:
        if approximators not in (None, 1):
            raise ValueError(f"--approximators is K of --method mcma; --method {method} has one approximator, "
                             f"got --approximators {approximators!r}")
        k = 1
    if isinstance(error_bound, bool) or not isinstance(error_bound, (int, float)) or not math.isfinite(error_bound) \
            or not error_bound > 0:
        raise ValueError(f"--error-bound must be a finite number > 0 (units of the output's standard deviation), "
                         f"got {error_bound!r}")
    for flag, v, lo in (("--train", n_train, 10), ("--test", n_test, 1)):
        if not _int(v) or not lo <= v <= MAX_INPUTS:
            raise ValueError(f"{flag} must be an integer in {lo}..{MAX_INPUTS}, got {v!r}")
    if not _int(seed) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"--seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    if not _int(rtl_inputs) or not 0 <= rtl_inputs <= n_test:
        raise ValueError(f"--rtl-inputs must be an integer in 0..{n_test} (--test), got {rtl_inputs!r}")
    for flag, v in (("--epochs", epochs), ("--rounds", rounds)):
        if not _int(v) or not 1 <= v <= 100_000:
            raise ValueError(f"{flag} must be an integer in 1..100000, got {v!r}")
    return {"benchmark": benchmark, "method": method, "approximators": int(k), "error_bound": float(error_bound),
            "n_train": int(n_train), "n_test": int(n_test), "seed": int(seed), "rtl_inputs": int(rtl_inputs),
            "epochs": int(epochs), "rounds": int(rounds)}


def npu_config(name: str):
    """``(unit, configuration)`` of the npu unit for ``--config`` (a preset or a JSON file)."""
    from sparseloom.units import all_units

    u = all_units().get("npu")
    if u is None:
        raise ValueError(f"--config {name!r}: there is no npu unit here (the generator gen/npu/ is not installed)")
    try:
        return u, u.load(name)
    except (ValueError, TypeError) as e:
        raise ValueError(f"--config: {e}") from None


def formats(config):
    """``(weight, act)`` ``Fixed`` formats of an npu configuration: its ``weight``/``act`` (or
    ``weight_format``/``act_format``) attributes, or ``weight_bits``/``weight_frac`` and
    ``act_bits``/``act_frac``; Fixed(16, 10) both (npu_default's) when it names none."""
    from sparseloom.golden.npu import Fixed

    for w, a in (("weight", "act"), ("weight_format", "act_format"), ("weight_fmt", "act_fmt")):
        fw, fa = getattr(config, w, None), getattr(config, a, None)
        if isinstance(fw, Fixed) and isinstance(fa, Fixed):
            return fw, fa
    bits = [getattr(config, f"{p}_{q}", None) for p in ("weight", "act") for q in ("bits", "frac")]
    if all(_int(b) for b in bits):
        return Fixed(int(bits[0]), int(bits[1])), Fixed(int(bits[2]), int(bits[3]))
    return Fixed(DEFAULT_BITS, DEFAULT_FRAC), Fixed(DEFAULT_BITS, DEFAULT_FRAC)


def topologies(method: str, topology: tuple, k: int) -> dict:
    """The networks the NPU holds for ``method``: what ``golden.approx.train`` builds."""
    if method == "axnet":
        return {"fused": (*topology[:-1], topology[-1] + 1)}
    return {"classifier": (*topology[:-1], k + 1), "approximator": tuple(topology), "approximators": k}


def _zero_program(method: str, topology: tuple, k: int, weight, act):
    from sparseloom.golden.npu import Layer, Mlp, Program

    def mlp(sizes):
        layers = tuple(Layer(np.zeros((b, a), np.int64), np.zeros(b, np.int64),
                             "linear" if i == len(sizes) - 2 else "sigmoid")
                       for i, (a, b) in enumerate(zip(sizes, sizes[1:])))
        return Mlp(layers, weight, act)

    t = topologies(method, topology, k)
    if method == "axnet":
        return Program("fused", (mlp(t["fused"]),))
    return Program("routed", (mlp(t["classifier"]), *(mlp(t["approximator"]) for _ in range(k))))


def check_fits(u, config, method: str, benchmark: str, k: int) -> None:
    """Refuse, before training, a method whose networks the configuration cannot hold: the
    unit's planner on a program of the same shape (zero weights)."""
    weight, act = formats(config)
    topology = axbench.KERNELS[benchmark].topology
    program = _zero_program(method, topology, k, weight, act)
    try:
        u.plan(config, None, program, np.zeros((2, topology[0]), np.int64))
    except ValueError as e:
        nets = ", ".join(f"{name} {'-'.join(map(str, t))}" if isinstance(t, tuple) else f"{name} {t}"
                         for name, t in topologies(method, topology, k).items())
        flag = "--approximators" if method == "mcma" else "--method"
        raise ValueError(f"{flag}: --method {method} on {benchmark} ({nets}) does not fit the npu configuration "
                         f"{getattr(config, 'name', config)!r}: {e}") from None


# ----- the data ------------------------------------------------------------------------------------

@dataclass
class Dataset:
    """Training and test inputs of one kernel with their exact outputs, and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta: dict = field(default_factory=dict)


_PHOTOS: dict = {}


def photographs() -> list[tuple[str, np.ndarray]]:
    """The offline photographs as (name, uint8 RGB array), loaded once; ImportError naming the
    extra to install when their packages are absent."""
    missing = [p for p in ("PIL", "skimage", "foolbox") if importlib.util.find_spec(p) is None]
    if missing:
        raise ImportError(f"the image kernels' inputs are cut from the offline photographs, which need the models "
                          f"extra: pip install '.[models]' (and `make models` for foolbox's ImageNet JPEGs); "
                          f"missing: {', '.join(missing)}")
    if not _PHOTOS:
        from sparseloom.models import ModelsMissing
        from sparseloom.models.images import load_rgb, offline_images

        try:
            photos = offline_images()
        except ModelsMissing as e:
            raise ImportError(f"{e}: pip install '.[models]'") from None
        _PHOTOS["all"] = [(p.name, load_rgb(p.path)) for p in photos]
    return _PHOTOS["all"]


def photo_split(n_photos: int, seed: int) -> tuple[list[int], list[int]]:
    """(training, test) photo indices: a seeded permutation, ``TRAIN_PHOTOS`` of them to
    training, at least one to each side."""
    if n_photos < 2:
        raise ValueError(f"splitting photos needs at least 2, got {n_photos}")
    order = np.random.default_rng(seed).permutation(n_photos).tolist()
    n_test = min(n_photos - 1, max(1, round(n_photos * (1 - TRAIN_PHOTOS))))
    return sorted(order[n_test:]), sorted(order[:n_test])


def _shared_rows(a: np.ndarray, b: np.ndarray) -> int:
    """Rows of ``b`` equal to some row of ``a``."""
    seen = {row.tobytes() for row in np.ascontiguousarray(a, dtype=np.float64)}
    return sum(row.tobytes() in seen for row in np.ascontiguousarray(b, dtype=np.float64))


def dataset(kernel: str, n_train: int, n_test: int, seed: int) -> Dataset:
    """``n_train`` training and ``n_test`` test inputs of ``kernel``, disjoint, and their exact
    outputs. Image kernels: cut (``axbench.image_inputs``) from the offline photographs, split
    by ``photo_split`` first (test windows only from photos never used for training; identical
    windows in two photos, flat black ones say, are counted in ``meta["test_rows_in_training"]``);
    the others: ``axbench.sample`` with seeds 2 * seed and 2 * seed + 1, no row shared."""
    check_arguments(kernel, "single", n_train=n_train, n_test=n_test, seed=seed, rtl_inputs=0)
    k = axbench.KERNELS[kernel]
    if kernel in axbench.IMAGE_KERNELS:
        photos = photographs()
        train_ids, test_ids = photo_split(len(photos), seed)
        x_train = axbench.image_inputs(kernel, [photos[i][1] for i in train_ids], n_train, 2 * seed)
        x_test = axbench.image_inputs(kernel, [photos[i][1] for i in test_ids], n_test, 2 * seed + 1)
        meta = {"source": "offline photographs, split by photo", "train_photos": [photos[i][0] for i in train_ids],
                "test_photos": [photos[i][0] for i in test_ids], "test_rows_in_training": _shared_rows(x_train, x_test)}
    else:
        x_train = axbench.sample(kernel, n_train, 2 * seed)
        x_test = axbench.sample(kernel, n_test, 2 * seed + 1)
        shared = _shared_rows(x_train, x_test)
        if shared:
            raise RuntimeError(f"{kernel}: {shared} test inputs are training inputs too (seeds {2 * seed}, "
                               f"{2 * seed + 1})")
        meta = {"source": f"axbench.sample, seeds {2 * seed} (training) and {2 * seed + 1} (test)",
                "test_rows_in_training": 0}
    return Dataset(x_train, k.function(x_train), x_test, k.function(x_test), meta)


# ----- quality, cycles, the RTL ---------------------------------------------------------------------

def fixed_point_quality(approx, program, x: np.ndarray, y: np.ndarray, scale: np.ndarray, act, bound: float):
    """``(codes, route, quality)`` of ``program`` (``npu_program`` of ``approx``) on ``x``: the
    host's input codes, each input's route (-1: the exact function) and the quality numbers."""
    from sparseloom.golden.approx import input_error
    from sparseloom.golden.npu import quantise

    codes = quantise(approx.xs.to(np.asarray(x, np.float64)), act)
    route, out = program.run(codes)
    used = route >= 0
    err = np.zeros(len(x))
    if used.any():
        err[used] = input_error(approx.ys.back(act.value(out[used])), y[used], scale)
    counts = np.bincount(route[used], minlength=program.approximators)
    return codes, route, {
        "invocation": float(used.mean()), "mean_error": float(err.mean()),
        "mean_error_approximated": float(err[used].mean()) if used.any() else 0.0,
        "routed_within_bound": float((err[used] <= bound).mean()) if used.any() else None,
        "per_approximator": (counts / len(x)).tolist(), "per_approximator_inputs": counts.tolist()}


def speedup(scalar_cycles: float, inputs: int, npu_cycles: float, invocation: float) -> float:
    """``SPEEDUP_FORMULA``: scalar_cycles * N / (npu_cycles + (1 - invocation) * N * scalar_cycles)."""
    if not scalar_cycles > 0 or not _int(inputs) or inputs < 1 or not npu_cycles >= 0 or not 0 <= invocation <= 1:
        raise ValueError(f"speedup needs scalar_cycles > 0, inputs >= 1, npu_cycles >= 0 and invocation in [0, 1], "
                         f"got {scalar_cycles!r}, {inputs!r}, {npu_cycles!r}, {invocation!r}")
    denominator = npu_cycles + (1 - invocation) * inputs * scalar_cycles
    if denominator <= 0:
        raise ValueError("speedup: no NPU cycles and every input approximated (an infinite speed-up)")
    return scalar_cycles * inputs / denominator


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def _first_difference(got: np.ndarray, want: np.ndarray) -> str:
    i, j = (int(a) for a in np.argwhere(got != want)[0])
    what = "the route" if j == 0 else f"output {j - 1}"
    return f"input {i}, {what}: expected {int(want[i, j])}, got {int(got[i, j])}"


def npu_cost(u, config, program, codes: np.ndarray) -> dict:
    """The npu unit's plan of every input of ``codes`` (its golden checked against
    ``Program.run``, RuntimeError if they differ) and its exact stall-free cycles."""
    plan = u.plan(config, None, program, codes)
    want = np.asarray(plan.golden(program, codes))
    route, out = program.run(codes)
    ours = np.concatenate([route[:, None], out], axis=1)
    if want.shape != ours.shape or not np.array_equal(want, ours):
        where = _first_difference(want, ours) if want.shape == ours.shape else f"shape {want.shape} vs {ours.shape}"
        raise RuntimeError(f"the npu unit's plan.golden and golden.npu.Program.run disagree ({where})")
    cycles = int(u.cycles(config, plan.shape, plan.encoding))
    report = _jsonable(dict(getattr(plan, "report", {}) or {}))
    result = {"config": getattr(config, "name", str(config)), "inputs": len(codes), "cycles": cycles,
              "cycles_per_input": cycles / len(codes), "plan_report": report}
    for key in ("cycles_per_input", "input_cycles"):   # per route: the plan's report's name for them
        if isinstance(report.get(key), dict):
            result["cycles_per_input_by_route"] = report[key]
            break
    return result


def rtl_check(u, config, program, codes: np.ndarray, seed: int = 1) -> dict:
    """``codes`` (act codes, N x inputs) through the Verilated NPU (``Driver.run_plan``, no
    stalls): every word must equal ``plan.golden`` and the cycles ``u.cycles``, else RuntimeError."""
    from sparseloom.sim.fast import Driver

    plan = u.plan(config, None, program, codes)
    want = np.asarray(plan.golden(program, codes))
    model = int(u.cycles(config, plan.shape, plan.encoding))
    started = time.perf_counter()
    y, cycles, _ = Driver(config).run_plan(plan, stall=0.0, rng=random.Random(seed))
    seconds = time.perf_counter() - started
    y = np.asarray(y)
    if y.shape != want.shape:
        raise RuntimeError(f"the RTL gave {y.shape} result words, the golden model {want.shape}")
    if not np.array_equal(y, want):
        raise RuntimeError(f"the RTL differs from plan.golden at {_first_difference(y, want)}")
    if int(cycles) != model:
        raise RuntimeError(f"the RTL took {cycles} cycles for {len(codes)} inputs, the cycle model says {model}")
    return {"rtl_inputs": len(codes), "rtl_cycles": int(cycles), "model_cycles": model, "golden_match": True,
            "sim_seconds": round(seconds, 3)}


# ----- the pipeline ------------------------------------------------------------------------------------

def run(benchmark: str, method: str, *, approximators=None, error_bound: float = PAPER_BOUND,
        n_train: int = DEFAULTS["n_train"], n_test: int = DEFAULTS["n_test"], seed: int = 0,
        config="npu_default", rtl_inputs: int = DEFAULTS["rtl_inputs"], epochs: int = DEFAULTS["epochs"],
        rounds: int = DEFAULTS["rounds"], data: Dataset | None = None) -> dict:
    """The report of the module's pipeline. ``config``: an npu preset or JSON file, a
    ``(unit, configuration)`` pair, or None (no NPU: quality only, no cycles, speed-up or RTL);
    ``data``: a ``dataset`` already drawn (its sizes must match); ``rtl_inputs`` 0 skips the RTL."""
    from sparseloom.golden import approx as ap

    if config is None:
        rtl_inputs = 0   # no NPU, no RTL
    a = check_arguments(benchmark, method, approximators, error_bound, n_train, n_test, seed, rtl_inputs, epochs,
                        rounds)
    k, bound = a["approximators"], a["error_bound"]
    u = cfg = None
    if config is not None:
        u, cfg = npu_config(config) if isinstance(config, str) else config
        check_fits(u, cfg, method, benchmark, k)
    if data is None:
        data = dataset(benchmark, n_train, n_test, seed)
    elif (len(data.x_train), len(data.x_test)) != (n_train, n_test):
        raise ValueError(f"data holds {len(data.x_train)} training and {len(data.x_test)} test inputs, "
                         f"not --train {n_train} and --test {n_test}")
    kernel = axbench.KERNELS[benchmark]
    weight, act = formats(cfg) if cfg is not None else formats(None)

    started = time.perf_counter()
    trained = ap.train(method, data.x_train, data.y_train, kernel.topology, bound, seed=seed, approximators=k,
                       epochs=epochs, rounds=rounds)
    training_seconds = time.perf_counter() - started

    scale = ap.output_scale(data.y_train)
    floating = ap.evaluate(trained, data.x_test, data.y_test, scale)
    floating["per_approximator_inputs"] = floating["per_approximator"]
    floating["per_approximator"] = [c / n_test for c in floating["per_approximator_inputs"]]
    program = ap.npu_program(trained, weight, act)
    codes, route, quality = fixed_point_quality(trained, program, data.x_test, data.y_test, scale, act, bound)
    scalar = axbench.scalar_cycles(benchmark)

    report = {
        "benchmark": benchmark, "method": method, "approximators": k, "error_bound": bound,
        "error_metric": ERROR_METRIC, "bound_source": BOUND_SOURCE,
        "bound_absolute": float(bound * scale.mean()), "output_sigma": float(scale.mean()),
        "train": n_train, "test": n_test, "seed": seed, "epochs": epochs,
        "rounds": rounds if method == "mcma" else None,
        "dataset": data.meta, "networks": {n: list(t) if isinstance(t, tuple) else t
                                           for n, t in topologies(method, kernel.topology, k).items()},
        "formats": {"weight": [weight.bits, weight.frac], "act": [act.bits, act.frac]},
        "training_seconds": round(training_seconds, 3), "trained_safe": trained.meta.get("trained_safe"),
        **quality,
        "float": floating,
        "scalar_cycles_per_input": scalar, "scalar_latency": axbench.SCALAR_LATENCY,
        "scalar_ops": axbench.SCALAR_OPS[benchmark],
        "speedup_formula": SPEEDUP_FORMULA,
    }
    if cfg is None:
        report.update(config=None, npu=None, npu_cycles_per_input=None, speedup=None,
                      note="no npu configuration: quality only (no NPU cycles, speed-up or RTL check)")
        return _jsonable(report)
    npu = npu_cost(u, cfg, program, codes)
    report.update(config=npu["config"], npu=npu, npu_cycles_per_input=npu["cycles_per_input"],
                  speedup=speedup(scalar, n_test, npu["cycles"], quality["invocation"]))
    if rtl_inputs:
        rtl = rtl_check(u, cfg, program, codes[:rtl_inputs], seed=seed + 1)
        report.update(rtl=rtl, rtl_cycles=rtl["rtl_cycles"], model_cycles=rtl["model_cycles"],
                      golden_match=rtl["golden_match"])
    else:
        report.update(rtl=None, rtl_cycles=None, model_cycles=None, golden_match=None)
    return _jsonable(report)


# ----- the command line -----------------------------------------------------------------------------

def add_parser(subparsers) -> argparse.ArgumentParser:
    """``sparseloom approx``: add it to the ``sparseloom`` command's subparsers."""
    from sparseloom.golden.approx import METHODS

    p = subparsers.add_parser("approx", help="neural approximate computing: a kernel's approximators and classifier "
                                             "trained, run on the NPU's fixed-point model and RTL, speed-up over a "
                                             "scalar core")
    p.add_argument("--benchmark", required=True, help=f"the kernel ({', '.join(axbench.KERNELS)})")
    p.add_argument("--method", required=True, help=f"{', '.join(METHODS)}")
    p.add_argument("--approximators", type=int, help=f"with --method mcma: K (default {DEFAULTS['approximators']})")
    p.add_argument("--error-bound", type=float, default=PAPER_BOUND,
                   help=f"an input's error bound, in units of the exact output's standard deviation "
                        f"(default {PAPER_BOUND}, AXNet's authors' example; {STRICT_BOUND}: MCMA's)")
    p.add_argument("--train", type=int, default=DEFAULTS["n_train"],
                   help=f"training inputs (default {DEFAULTS['n_train']})")
    p.add_argument("--test", type=int, default=DEFAULTS["n_test"], help=f"test inputs (default {DEFAULTS['n_test']})")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the training (default 0)")
    p.add_argument("--config", default=DEFAULTS["config"],
                   help=f"npu preset or JSON file (default {DEFAULTS['config']})")
    p.add_argument("--rtl-inputs", type=int, default=DEFAULTS["rtl_inputs"],
                   help=f"test inputs run through the Verilated NPU (default {DEFAULTS['rtl_inputs']}; 0: none)")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"],
                   help=f"training epochs of each network (default {DEFAULTS['epochs']})")
    p.add_argument("--rounds", type=int, default=DEFAULTS["rounds"],
                   help=f"with --method mcma: co-training rounds (default {DEFAULTS['rounds']})")
    p.add_argument("--report", required=True, help="JSON report (invocation, mean_error, per_approximator, "
                                                   "training_seconds, NPU cycles, speedup, rtl_cycles, ...)")
    p.set_defaults(func=cmd_approx)
    return p


def cmd_approx(args) -> None:
    """Every check first (arguments, --report, the npu configuration, the fit, the packages),
    then the pipeline; the report is written at the end and printed."""
    from sparseloom.files import Outputs, UsageError

    a = check_arguments(args.benchmark, args.method, args.approximators, args.error_bound, args.train, args.test,
                        args.seed, args.rtl_inputs, args.epochs, args.rounds)
    outputs = Outputs()
    report_path = outputs.add(args.report, "--report")
    u, config = npu_config(args.config)
    check_fits(u, config, a["method"], a["benchmark"], a["approximators"])
    if importlib.util.find_spec("torch") is None:
        raise UsageError("training approximators needs PyTorch (CPU): pip install '.[search]'")
    if args.benchmark in axbench.IMAGE_KERNELS:
        try:
            photographs()
        except ImportError as e:
            raise UsageError(f"--benchmark {args.benchmark}: {e}") from None
    report = run(a["benchmark"], a["method"], approximators=a["approximators"], error_bound=a["error_bound"],
                 n_train=a["n_train"], n_test=a["n_test"], seed=a["seed"], config=(u, config),
                 rtl_inputs=a["rtl_inputs"], epochs=a["epochs"], rounds=a["rounds"])
    text = json.dumps(report, indent=2) + "\n"
    outputs.write({report_path: text})
    print(text, end="")
