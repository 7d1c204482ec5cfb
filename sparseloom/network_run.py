"""A real network through the generated RTL: every linear layer's GEMMs on the compiled cores.

Three passes. (1) Capture: the network's own forward pass on its real inputs, every linear
layer compressed by the method (``sparseloom.execution``) and computed from the golden
integer products, which records each layer's GEMMs with the int8 activations it receives.
(2) Simulate: each layer's GEMMs on the fast driver of their unit's configuration, layers as
independent tasks (in this process, or on a Dask cluster: same seeds, same results); every
output word is compared with the golden product. (3) Replay: the forward pass again with each
layer's output made from the RTL's integer results (its activations checked equal to the
captured ones); the quality metric comes from that pass against the float network.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from sparseloom.units import load_config, unit

NETWORKS = ("minilm", "smollm2", "efficientnet-lite0", "mobilenet-v2")
CNN_DEFAULT_IMAGES = 8
METHODS = ("int8", "hss:G1:H1,G0:H0", "hss-wanda:G1:H1,G0:H0", "hss-sparsegpt:G1:H1,G0:H0", "tasd:N:M+N:M...",
           "sdq:N:M+WBgG", "sdq-gptq:N:M+WBgG", "q4_1 (smollm2)")
CALIBRATION_WINDOWS, CALIBRATION_SENTENCES = 8, 128


@dataclass
class Network:
    """A network on its real inputs: its linear weights, a forward pass taking a matmul hook, and
    its quality metric (``quality(outputs)`` against the float network on the same inputs)."""

    name: str
    inputs: str                                   # what the inputs are, for the report
    weights: dict[str, np.ndarray]                # linear layer -> float32 (out x in)
    forward: Callable                             # matmul hook (or None: float) -> outputs
    quality: Callable[[np.ndarray], dict]
    model: object = None
    host: dict = field(default_factory=dict)      # work that stays on the host, for the report
    calibrate: Callable | None = None             # act hook -> runs the float network on calibration inputs


def load_network(name: str, inputs: int | None) -> Network:
    """The network ``name`` on its first ``inputs`` evaluation inputs (sentences, tokens)."""
    from sparseloom.models import ModelsMissing  # noqa: F401 (raised by the loaders below)

    if name == "minilm":
        from sparseloom.models.minilm import MiniLM, l2_normalize

        model = MiniLM.load()
        n = len(model.sentences) if inputs is None else inputs
        if not 1 <= n <= len(model.sentences):
            raise ValueError(f"--inputs must be in 1..{len(model.sentences)} for minilm (its evaluation "
                             f"sentences), got {n}")
        sentences = model.sentences[:n]
        reference = model.embed(sentences)

        def quality(out):
            cosine = (l2_normalize(out) * reference).sum(axis=1)
            return {"cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min())}
        def calibrate(hook):
            from sparseloom.models import wikipedia

            texts = [text for _, text in wikipedia.split("calibration")]
            model.embed(wikipedia.sentences(texts, CALIBRATION_SENTENCES), act=hook)
        return Network("minilm", f"{n} evaluation sentences", model.linear_weights(),
                       lambda mm: model.embed(sentences, matmul=mm), quality, model, calibrate=calibrate)
    if name == "smollm2":
        from sparseloom.models.smollm2 import SmolLM2

        n = 16 if inputs is None else inputs
        if not 2 <= n <= 256:
            raise ValueError(f"--inputs must be in 2..256 for smollm2 (tokens of its evaluation text), got {n}")
        model = SmolLM2.load(n_tokens=n)
        reference = model.forward(model.tokens)

        def quality(out):
            ppl, ref = model.perplexity(out), model.perplexity(reference)
            return {"perplexity": ppl, "perplexity_reference": ref, "perplexity_increase_pct": 100 * (ppl / ref - 1),
                    "top1_agreement": float(np.mean(out.argmax(-1) == reference.argmax(-1)))}
        def calibrate(hook):
            from sparseloom.models import wikipedia

            texts = [text for _, text in wikipedia.split("calibration")]
            for window in wikipedia.token_windows(model.encode, texts, CALIBRATION_WINDOWS, 256):
                model.forward(window, act=hook)
        return Network("smollm2", f"the first {n} tokens of the evaluation text", model.linear_weights(),
                       lambda mm: model.forward(model.tokens, matmul=mm), quality, model, calibrate=calibrate)
    if name in ("efficientnet-lite0", "mobilenet-v2"):
        from sparseloom.models.images import class_names, offline_images
        from sparseloom.models.mobile import LOADERS, classification_quality

        photos = offline_images()
        n = min(CNN_DEFAULT_IMAGES, len(photos)) if inputs is None else inputs
        if not 1 <= n <= len(photos):
            raise ValueError(f"--inputs must be in 1..{len(photos)} for {name} (its offline images), got {n}")
        net = LOADERS[name]()
        x = net.images(photos[:n])
        reference = net.forward(x)
        labels = [p.label for p in photos[:n]]
        labelled = sum(label is not None for label in labels)
        names = class_names()

        def quality(out):
            per_image = [{"image": p.name, "label": None if p.label is None else names[p.label],
                          "float": names[int(r)], "rtl": names[int(o)]}
                         for p, r, o in zip(photos, reference.argmax(1), out.argmax(1))]
            return classification_quality(out, reference, labels) | {"predictions": per_image}
        return Network(name, f"the first {n} offline images ({labelled} labelled ImageNet validation JPEGs)",
                       net.linear_weights(), lambda mm: net.forward(x, matmul=mm), quality, net,
                       {"host_layers": "depthwise convolutions (float32)",
                        "host_macs": net.host_macs() * n, "gemm_macs": net.gemm_macs() * n})
    raise ValueError(f"--network must be one of {', '.join(NETWORKS)}, got {name!r}")


def parse_method(text: str, network: str, unit_name: str | None):
    """The ``sparseloom.execution`` method named by ``text`` (on ``unit_name`` where it has a choice)."""
    from sparseloom.execution.pruned import HssMethod, Int8Method

    kind, _, arg = text.partition(":")
    if kind == "int8" and not arg:
        return Int8Method(unit_name or "dense")
    if kind == "hss" and arg:
        return HssMethod(arg)
    if kind in ("hss-wanda", "hss-sparsegpt", "sdq-gptq") and arg:
        from sparseloom.execution import calibrated

        return {"hss-wanda": calibrated.HssWandaMethod, "hss-sparsegpt": calibrated.HssSparseGptMethod,
                "sdq-gptq": calibrated.SdqGptqMethod}[kind](arg)
    if kind == "tasd" and arg:
        from sparseloom.execution.tasd import TasdMethod

        return TasdMethod(arg)
    if kind == "sdq" and arg:
        from sparseloom.execution.sdq import SdqMethod

        return SdqMethod(arg)
    if kind == "q4_1" and not arg:
        if network != "smollm2":
            raise ValueError(f"--method q4_1 runs SmolLM2's own Q4_1 weights; it needs --network smollm2, "
                             f"not {network}")
        from sparseloom.execution.q4_1 import Q4_1Method
        from sparseloom.models.smollm2 import GGUF_PATH

        return Q4_1Method.from_gguf(GGUF_PATH)
    raise ValueError(f"--method must be one of {', '.join(METHODS)}, got {text!r}")


def method_configs(method, unit_name: str | None, config_names: list[str]) -> dict:
    """Unit name -> configuration for every unit the method runs on: the ``--config`` given for
    it, else that unit's default preset."""
    if unit_name is not None and unit_name not in method.units:
        raise ValueError(f"--unit {unit_name}: method {method.text} runs on {' and '.join(method.units)}")
    chosen = {}
    for name in config_names:
        u, config = load_config(name)
        if u.name not in method.units:
            raise ValueError(f"--config {name} is a {u.name} configuration; method {method.text} runs on "
                             f"{' and '.join(method.units)}")
        if u.name in chosen:
            raise ValueError(f"--config names two {u.name} configurations ({chosen[u.name].name}, {config.name})")
        chosen[u.name] = config
    return {name: chosen.get(name) or unit(name).presets[unit(name).default_preset] for name in method.units}


def capture(network: Network, method, configs: dict) -> tuple[dict, dict]:
    """Forward pass (1): layer -> its LayerProgram, and layer -> the activations it received. A calibrated
    method first gets its statistics from the float network on the network's calibration inputs."""
    if hasattr(method, "calibrate"):
        from sparseloom.models.evaluation import Hessians

        if network.calibrate is None:
            raise ValueError(f"method {method.text} needs calibration data, which network {network.name} lacks")
        hessians = Hessians()
        network.calibrate(hessians.hook)
        method.calibrate(hessians)
    programs, inputs = {}, {}

    def matmul(name, x):
        program = method.program(name, network.weights[name], x, configs if len(configs) > 1 else
                                 next(iter(configs.values())))
        for g in program.gemms:  # every planner check, before any simulation starts
            unit(g.unit).plan(configs[g.unit], g.setting, g.w, g.x)
        programs[name], inputs[name] = program, x.copy()
        return program.golden_output()
    network.forward(matmul)
    return programs, inputs


def replay(network: Network, programs: dict, inputs: dict, results: dict) -> np.ndarray:
    """Forward pass (3): every layer's output from the RTL's integer results."""
    def matmul(name, x):
        if not np.array_equal(x, inputs[name]):
            raise RuntimeError(f"layer {name} received other activations than in the capture pass")
        return programs[name].combine(results[name]["ys"])
    return network.forward(matmul)


_DRIVERS: dict = {}


def _driver(config):
    from sparseloom.sim.fast import Driver

    key = (type(config).__name__, config.name, repr(config.parameters()))
    if key not in _DRIVERS:
        _DRIVERS[key] = Driver(config)
    return _DRIVERS[key]


def simulate_layer(task) -> dict:
    """Simulation (2) of one layer: its GEMMs grouped by unit, one driver run per unit; the
    result words, cycles, the exact cycle model and the model's energy of every GEMM."""
    from sparseloom.sim.run import plan_plays, plan_result

    name, gemms, configs, stall, seed = task
    started = time.perf_counter()
    plans = [unit(g.unit).plan(configs[g.unit], g.setting, g.w, g.x) for g in gemms]
    out = [None] * len(gemms)
    for unit_name in dict.fromkeys(g.unit for g in gemms):
        index = [i for i, g in enumerate(gemms) if g.unit == unit_name]
        plays = [plan_plays(plans[i]) for i in index]
        outcomes = _driver(configs[unit_name]).play([p for ps in plays for p in ps], stall=stall,
                                                    rng=random.Random(f"{seed}/{name}/{unit_name}"))
        at = 0
        for i, ps in zip(index, plays):
            y, cycles, _ = plan_result(plans[i], outcomes[at:at + len(ps)])
            at += len(ps)
            u, plan = unit(unit_name), plans[i]
            out[i] = {"y": y, "cycles": cycles, "model_cycles": u.cycles(configs[unit_name], plan.shape, plan.encoding),
                      "useful_ops": plan.useful_ops, "peak_ops": plan.peak_ops_per_cycle * cycles,
                      "energy_pj": _energy(u, configs[unit_name], plan), "unit": unit_name,
                      "config": configs[unit_name].name, "shape": list(plan.shape)}
    return {"name": name, "gemms": out, "seconds": time.perf_counter() - started}


def _energy(u, config, plan) -> float | None:
    if u.model is None:
        return None
    return float(u.evaluate(config, plan.shape, plan.encoding).energy_pj)


def simulate(programs: dict, configs: dict, *, stall: float, seed: int, pool, progress=None) -> dict:
    """Every layer's simulation, on ``pool`` (a ``model.pool`` pool); layer -> its result."""
    for config in configs.values():
        _driver(config)  # built once here, before any worker asks for it
    tasks = [(name, p.gemms, configs, stall, seed) for name, p in programs.items()]
    if hasattr(pool, "client"):
        client = pool.client
        futures = [client.submit(simulate_layer, t, pure=False) for t in tasks]
        from dask.distributed import as_completed

        done = {}
        for future in as_completed(futures):
            r = future.result()
            done[r["name"]] = r
            if progress:
                progress(r["name"])
        return {name: done[name] for name in programs}
    results = {}
    for t in tasks:
        results[t[0]] = simulate_layer(t)
        if progress:
            progress(t[0])
    return results


def check(programs: dict, results: dict) -> list[str]:
    """Layers (and GEMMs) whose RTL words differ from the golden products, each with its first mismatch."""
    bad = []
    for name, program in programs.items():
        for g, r in zip(program.gemms, results[name]["gemms"]):
            want, got = g.golden(), r["y"]
            if got.shape != want.shape:
                bad.append(f"{name} {g.label}: Y has shape {got.shape}, expected {want.shape}")
            elif not np.array_equal(got.astype(np.int64), want):
                i, j = map(int, np.argwhere(got != want)[0])
                bad.append(f"{name} {g.label}: Y[{i}, {j}] expected {want[i, j]}, got {got[i, j]}")
        results[name]["ys"] = [r["y"] for r in results[name]["gemms"]]
    return bad


def report(network: Network, method, configs: dict, programs: dict, results: dict, quality: dict | None,
           bad: list[str], settings: dict) -> dict:
    """The JSON report: per layer and in total, cycles against the model, utilisation, energy."""
    layers, total = [], {"cycles": 0, "model_cycles": 0, "useful_ops": 0, "peak_ops": 0, "energy_pj": 0.0,
                         "gemms": 0, "simulated_seconds": 0.0}
    for name, program in programs.items():
        r = results[name]
        gemms = r["gemms"]
        row = {"layer": name, "gemms": len(gemms), "cycles": sum(g["cycles"] for g in gemms),
               "model_cycles": sum(g["model_cycles"] for g in gemms),
               "utilization": sum(g["useful_ops"] for g in gemms) / max(1, sum(g["peak_ops"] for g in gemms)),
               "energy_pj": sum(g["energy_pj"] or 0.0 for g in gemms),
               "shapes": [{"unit": g["unit"], "config": g["config"], "mnk": g["shape"], "label": pg.label}
                          for g, pg in zip(gemms, program.gemms)],
               **program.report}
        layers.append(row)
        for key in ("cycles", "model_cycles", "energy_pj"):
            total[key] += row[key]
        total["useful_ops"] += sum(g["useful_ops"] for g in gemms)
        total["peak_ops"] += sum(g["peak_ops"] for g in gemms)
        total["gemms"] += len(gemms)
        total["simulated_seconds"] += r["seconds"]
    useful, peak = total.pop("useful_ops"), total.pop("peak_ops")
    return {"network": network.name, "inputs": network.inputs, "method": method.text,
            "units": {u: c.name for u, c in configs.items()}, **settings,
            "golden_match": not bad, "mismatches": bad[:20],
            "cycles": total["cycles"], "model_cycles": total["model_cycles"],
            "cycles_vs_model": total["cycles"] / total["model_cycles"] if total["model_cycles"] else None,
            "utilization": useful / peak if peak else 0.0, "energy_pj": total["energy_pj"],
            "gemms": total["gemms"], "simulated_seconds": round(total["simulated_seconds"], 2),
            **network.host, **(quality or {}), "layers": layers}
