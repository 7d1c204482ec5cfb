"""SME orchestration of a real CNN: per-layer choices that save crossbars, and their accuracy.

Every GEMM layer of the network (batch norm folded, int8 per output channel) gets a curve of
(crossbars, cost) points from ``golden.sme_orchestration``: for each (terms, low_bit) setting of
(a), the cumulation (c), then crossbars dropped one by one (b). A cost is the layer's output
error relative to its output power under a diagonal model of its inputs, E[x_k^2] measured on
calibration images. One multiplier mu picks, per layer, the point minimising
crossbars + mu * sensitivity * cost (a Lagrangian allocation of one error budget over the layers,
the sensitivity of each layer measured once on the calibration images); a sweep of mu
traces crossbar reduction against accuracy, which is measured by the network's own forward pass
with the chosen weights on every offline image (``classification_quality``). Activations stay
float32 in these accuracy runs: the question is what the weights' re-encoding costs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparseloom.golden import sme
from sparseloom.golden import sme_orchestration as so
from sparseloom.golden.quant import per_channel_int8

#: (terms, low_bit) settings of (a) tried on every layer; (8, 0) is the int8 codes as they are.
SETTINGS = ((8, 0), (3, 0), (8, 1), (3, 1), (8, 2))
#: A layer's curve stops at this relative cost: beyond it no accuracy floor is met.
MAX_COST = 0.05
#: Cost at which ``sensitivities`` probes each layer.
PROBE_COST = 0.01


@dataclass
class Point:
    """One way to map a layer: setting (a), ``drops`` crossbars emptied by (b), the result."""

    setting: tuple[int, int]
    drops: int
    crossbars: int
    cost: float


@dataclass
class LayerCurve:
    """A layer's int8 codes, scales, input powers and its (crossbars, cost) points."""

    name: str
    q: np.ndarray
    scale: np.ndarray
    x_power: np.ndarray
    counts: dict                  # crossbars_dense, crossbars_squeezed (int8 as is)
    points: list[Point]
    plans: dict                   # setting -> (codes after (a), permutation, drops)

    def codes(self, point: Point) -> np.ndarray:
        """The layer's int8 codes under ``point``, in the network's own output order."""
        coded, perm, drops = self.plans[point.setting]
        out = np.empty_like(coded)
        out[perm] = so.apply_drops(coded[perm], drops[:point.drops])
        return out


def calibrate(net, x: np.ndarray) -> dict[str, np.ndarray]:
    """E[x_k^2] of every GEMM layer's input on the NHWC batch ``x`` (the float network)."""
    weights, power = net.linear_weights(), {}

    def hook(name, a):
        power[name] = (a.astype(np.float64) ** 2).mean(axis=0)
        return a @ weights[name].T
    net.forward(x, matmul=hook)
    return power


def layer_curve(name: str, w: np.ndarray, x_power: np.ndarray, config: sme.CrossbarSpec,
                settings=SETTINGS, max_cost: float = MAX_COST) -> LayerCurve:
    """Every point of one layer (float weight ``w``, out x in) up to ``max_cost``."""
    q, scale = per_channel_int8(w)
    scale = scale.reshape(-1)
    norm = so.output_power(q, scale, x_power) or 1.0
    plain = sme.squeeze(q, config)
    points, plans = [], {}
    for terms, low_bit in settings:
        coded = so.power_terms(q, terms, low_bit)
        base = float(((scale[:, None] * (coded.astype(np.float64) - q)) ** 2 @ x_power).sum()) / norm
        if base > max_cost:
            continue
        perm = so.cumulate(coded, config)
        drops = so.drop_rows(coded[perm], config, terms, scale[perm], x_power, max_cost=(max_cost - base) * norm,
                             reference=q[perm])
        plans[(terms, low_bit)] = (coded, perm, drops)
        points.append(Point((terms, low_bit), 0, so.crossbars(coded[perm], config), base))
        total = base
        for i, d in enumerate(drops):
            total += d.cost / norm
            points.append(Point((terms, low_bit), i + 1, d.crossbars, total))
    counts = {"crossbars_dense": plain.crossbars_dense, "crossbars_squeezed": plain.crossbars_physical}
    return LayerCurve(name, q, scale, x_power, counts, points, plans)


def choose(curves: list[LayerCurve], mu: float, sensitivity: dict[str, float] | None = None) -> dict[str, Point]:
    """Per layer, the point minimising crossbars + mu * sensitivity * cost (ties: fewer crossbars,
    then cheaper); without ``sensitivity`` every layer's cost counts alike."""
    weight = sensitivity or {}
    return {c.name: min(c.points, key=lambda p: (p.crossbars + mu * weight.get(c.name, 1.0) * p.cost,
                                                 p.crossbars, p.cost)) for c in curves}


def sensitivities(net, x: np.ndarray, curves: list[LayerCurve], probe: float = PROBE_COST) -> dict[str, float]:
    """Per layer, mean softmax KL (against the int8 network, on ``x``) per unit of cost, measured with
    that layer alone at its point of cost nearest ``probe``: how much the network minds the layer."""
    from sparseloom.models.mobile import classification_quality

    base_weights = int8_weights(curves)
    base = forward_with(net, x, base_weights)
    out = {}
    for c in curves:
        costly = [p for p in c.points if p.cost > 0]
        if not costly:
            out[c.name] = 1.0
            continue
        point = min(costly, key=lambda p: abs(np.log(p.cost / probe)))
        weights = dict(base_weights)
        weights[c.name] = (c.codes(point) * c.scale[:, None]).astype(np.float32)
        kl = classification_quality(forward_with(net, x, weights), base, [None] * len(x))["kl_mean"]
        out[c.name] = max(kl, 1e-12) / point.cost
    return out


def breakdown(curve: LayerCurve, point: Point, config: sme.CrossbarSpec) -> dict:
    """Crossbars of one layer at each stage: dense, after (a) (occupied dense crossbars), after
    (c) (occupied, channels permuted), after squeeze-out (rows, then (b)'s crossbars); weight error."""
    coded, perm, _ = curve.plans[point.setting]
    final = curve.codes(point)
    error = sme.orchestration_error(curve.q, final)
    return {"layer": curve.name, "m": int(curve.q.shape[0]), "k": int(curve.q.shape[1]),
            "setting": {"terms": point.setting[0], "low_bit": point.setting[1]}, "drops": point.drops,
            "crossbars_dense": curve.counts["crossbars_dense"],
            "crossbars_after_orchestration": sme.squeeze(coded, config).crossbars_occupied,
            "crossbars_after_cumulation": sme.squeeze(coded[perm], config).crossbars_occupied,
            "crossbars_final": point.crossbars, "cost": point.cost, "weight_error": error}


def weights_for(curves: list[LayerCurve], chosen: dict[str, Point]) -> dict[str, np.ndarray]:
    """Float32 (out x in) weights of every layer under ``chosen``: the codes times their scales."""
    return {c.name: (c.codes(chosen[c.name]) * c.scale[:, None]).astype(np.float32) for c in curves}


def int8_weights(curves: list[LayerCurve]) -> dict[str, np.ndarray]:
    """The dense-bit-slicing network: every layer's int8 codes as they are, times their scales."""
    return {c.name: (c.q * c.scale[:, None]).astype(np.float32) for c in curves}


def forward_with(net, x: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """Logits of ``net`` on ``x`` with every GEMM weight replaced."""
    return net.forward(x, matmul=lambda name, a: a @ weights[name].T)
