"""Golden model of the NPU: a small fixed-point MLP exactly as the hardware computes it.

Formats.  ``Fixed(bits, frac)``: a code c in [-2^(bits-1), 2^(bits-1) - 1] stands for c / 2^frac.
Weights and biases use the ``weight`` format, activations (the inputs and every layer's
outputs) the ``act`` format.

A layer, per neuron.  acc = sum_i w_i x_i + (b << act.frac), exact in int64 (a product carries
weight.frac + act.frac fractional bits; the bias is aligned to them). Then the one rounding and
the one saturation of a layer: acc is shifted right by weight.frac, rounding half up
((acc + 2^(weight.frac - 1)) >> weight.frac, an arithmetic shift), and clipped to the act
range. Then the activation, on the code:

* ``linear``: none; ``relu``: max(c, 0);
* ``sigmoid``: PLAN (Amin, Curtis and Hayes-Gill, 1997), piecewise linear with power-of-two
  slopes, so shifts and adds: y(|x|) = 1 for |x| >= 5, |x|/32 + 27/32 for 2.375 <= |x| < 5,
  |x|/8 + 5/8 for 1 <= |x| < 2.375, |x|/4 + 1/2 below 1, and y(x) = 1 - y(|x|) for x < 0. On
  codes the slopes are right shifts of |c| that truncate (floor); the breakpoints and offsets are
  exact for act.frac >= 5, which a sigmoid layer requires. PLAN is within 0.0189 of the
  logistic function; the truncation adds less than 2^-act.frac.

Inputs are quantised by ``quantise``: round half to even, then clipped (the host's step).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import is_int

ACTIVATIONS = ("linear", "relu", "sigmoid")


@dataclass(frozen=True)
class Fixed:
    """A signed fixed-point format: ``bits`` in all, ``frac`` of them fractional."""

    bits: int
    frac: int

    def __post_init__(self):
        if not is_int(self.bits) or not 2 <= self.bits <= 32:
            raise ValueError(f"bits must be an integer in 2..32, got {self.bits!r}")
        if not is_int(self.frac) or not 0 <= self.frac < self.bits:
            raise ValueError(f"frac must be an integer in 0..{self.bits - 1} (bits={self.bits}), got {self.frac!r}")

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1

    def value(self, codes) -> np.ndarray:
        """The real numbers the codes stand for."""
        return np.asarray(codes, dtype=np.float64) / (1 << self.frac)


def quantise(x, fmt: Fixed) -> np.ndarray:
    """Float ``x`` to int64 codes of ``fmt``: round half to even, then clip to the range."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * (1 << fmt.frac)), fmt.lo, fmt.hi).astype(np.int64)


def _check_codes(codes, fmt: Fixed, what: str) -> np.ndarray:
    a = np.asarray(codes)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integer codes, got dtype {a.dtype}")
    if a.size and (a.min() < fmt.lo or a.max() > fmt.hi):
        raise ValueError(f"{what} must lie in {fmt.lo}..{fmt.hi} ({fmt.bits}-bit codes), "
                         f"got {int(a.min())}..{int(a.max())}")
    return a.astype(np.int64)


def requantise(acc: np.ndarray, shift: int, fmt: Fixed) -> np.ndarray:
    """int64 ``acc`` >> ``shift`` rounding half up, clipped to ``fmt``: the layer's one rounding
    and one saturation."""
    acc = np.asarray(acc, dtype=np.int64)
    rounded = (acc + (1 << (shift - 1))) >> shift if shift else acc
    return np.clip(rounded, fmt.lo, fmt.hi)


def plan_sigmoid(codes: np.ndarray, fmt: Fixed) -> np.ndarray:
    """PLAN's sigmoid of act codes (module docstring), as codes of the same format."""
    if fmt.frac < 5:
        raise ValueError(f"a sigmoid layer needs act frac >= 5 (PLAN's breakpoints and offsets exact), got {fmt.frac}")
    if fmt.hi < 1 << fmt.frac:
        raise ValueError(f"a sigmoid layer needs 1.0 representable: act bits > frac + 1, got {fmt}")
    c = np.asarray(codes, dtype=np.int64)
    mag = np.abs(c)
    one = 1 << fmt.frac
    y = np.where(mag >= 40 << (fmt.frac - 3), one,
                 np.where(mag >= 19 << (fmt.frac - 3), (mag >> 5) + (27 << (fmt.frac - 5)),
                          np.where(mag >= 1 << fmt.frac, (mag >> 3) + (5 << (fmt.frac - 3)),
                                   (mag >> 2) + (1 << (fmt.frac - 1)))))
    return np.where(c < 0, one - y, y)


@dataclass(frozen=True)
class Layer:
    """One fully connected layer: int weight codes (out x in), bias codes (out,), activation."""

    weights: np.ndarray
    bias: np.ndarray
    activation: str


@dataclass(frozen=True)
class Mlp:
    """A fixed-point MLP: layers chained in order, one weight and one act format throughout."""

    layers: tuple[Layer, ...]
    weight: Fixed
    act: Fixed

    def __post_init__(self):
        if not self.layers:
            raise ValueError("an MLP needs at least one layer")
        for i, layer in enumerate(self.layers):
            w = _check_codes(layer.weights, self.weight, f"layers[{i}].weights")
            b = _check_codes(layer.bias, self.weight, f"layers[{i}].bias")
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ValueError(f"layers[{i}]: weights must be (out, in) and bias (out,), got {w.shape} and {b.shape}")
            if i and w.shape[1] != self.layers[i - 1].weights.shape[0]:
                raise ValueError(f"layers[{i}] takes {w.shape[1]} inputs but layers[{i - 1}] gives "
                                 f"{self.layers[i - 1].weights.shape[0]}")
            if layer.activation not in ACTIVATIONS:
                raise ValueError(f"layers[{i}].activation must be one of {', '.join(ACTIVATIONS)}, "
                                 f"got {layer.activation!r}")
            if layer.activation == "sigmoid":
                plan_sigmoid(np.zeros(0, np.int64), self.act)   # its format checks

    @property
    def topology(self) -> tuple[int, ...]:
        """Neurons per layer, inputs first (AxBench's notation: 6-8-8-1)."""
        return (self.layers[0].weights.shape[1],) + tuple(layer.weights.shape[0] for layer in self.layers)

    @property
    def activations(self) -> tuple[str, ...]:
        return tuple(layer.activation for layer in self.layers)

    def forward(self, x) -> np.ndarray:
        """Output codes (N x outputs) for input codes ``x`` (N x inputs) of the act format."""
        h = _check_codes(x, self.act, "inputs")
        if h.ndim != 2 or h.shape[1] != self.topology[0]:
            raise ValueError(f"inputs must be (N, {self.topology[0]}), got shape {h.shape}")
        for layer in self.layers:
            acc = h @ layer.weights.astype(np.int64).T + (layer.bias.astype(np.int64) << self.act.frac)
            h = requantise(acc, self.weight.frac, self.act)
            if layer.activation == "relu":
                h = np.maximum(h, 0)
            elif layer.activation == "sigmoid":
                h = plan_sigmoid(h, self.act)
        return h


ROUTINGS = ("routed", "fused")


@dataclass(frozen=True)
class Program:
    """What the NPU holds and how it routes an input: its banks' networks, one format throughout.

    ``routed`` (the single approximator and MCMA): bank 0 is the classifier, with K + 1 outputs,
    and banks 1..K the K approximators, of one topology. The classifier's argmax over its output
    codes (the first of equal codes) is class k: k < K runs approximator k (bank k + 1), k = K
    leaves the input to the exact function. ``fused`` (AXNet): bank 0 alone, whose last output is
    the safe logit: a code > 0 approximates the input by the network's other outputs."""

    routing: str
    banks: tuple[Mlp, ...]

    def __post_init__(self):
        if self.routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {', '.join(ROUTINGS)}, got {self.routing!r}")
        banks = self.banks
        if not banks or not all(isinstance(b, Mlp) for b in banks):
            raise TypeError("banks must be a non-empty tuple of Mlp")
        if self.routing == "fused":
            if len(banks) != 1:
                raise ValueError(f"a fused program is one network (bank 0), got {len(banks)} banks")
            if banks[0].topology[-1] < 2:
                raise ValueError("a fused network needs at least one approximated output and the safe logit")
        else:
            if len(banks) < 2:
                raise ValueError("a routed program needs the classifier (bank 0) and at least one approximator")
            classes = banks[0].topology[-1]
            if classes != len(banks):
                raise ValueError(f"the classifier must have K + 1 = {len(banks)} outputs (K = {len(banks) - 1} "
                                 f"approximators and the exact function), got {classes}")
            for i, b in enumerate(banks[2:], 2):
                if b.topology != banks[1].topology or b.activations != banks[1].activations:
                    raise ValueError(f"approximators share one topology and its activations: banks[{i}] is "
                                     f"{'-'.join(map(str, b.topology))} {'/'.join(b.activations)}, banks[1] "
                                     f"{'-'.join(map(str, banks[1].topology))} {'/'.join(banks[1].activations)}")
        for i, b in enumerate(banks):
            if (b.weight, b.act) != (banks[0].weight, banks[0].act):
                raise ValueError(f"every bank uses one weight and one act format: banks[{i}] has {b.weight}, "
                                 f"{b.act}; banks[0] {banks[0].weight}, {banks[0].act}")
            if b.topology[0] != banks[0].topology[0]:
                raise ValueError(f"every bank takes the same inputs: banks[{i}] takes {b.topology[0]}, "
                                 f"banks[0] {banks[0].topology[0]}")

    @property
    def approximators(self) -> int:
        """K: the networks an input can be approximated by."""
        return 1 if self.routing == "fused" else len(self.banks) - 1

    @property
    def inputs(self) -> int:
        return self.banks[0].topology[0]

    @property
    def outputs(self) -> int:
        """Outputs of an approximation (the fused network's safe logit not counted)."""
        return self.banks[0].topology[-1] - 1 if self.routing == "fused" else self.banks[1].topology[-1]

    def run(self, x) -> tuple[np.ndarray, np.ndarray]:
        """``(route, outputs)`` for input codes ``x`` (N x inputs): route[i] is the approximator
        that ran input i, -1 where the exact function runs it; outputs (N x outputs) are its codes,
        0 where route is -1."""
        first = self.banks[0].forward(x)
        if self.routing == "fused":
            route = np.where(first[:, -1] > 0, 0, -1)
            out = first[:, :-1]
        else:
            k = first.argmax(axis=1)
            route = np.where(k == self.approximators, -1, k)
            out = np.zeros((len(first), self.outputs), np.int64)
            for a in range(self.approximators):
                mine = route == a
                if mine.any():
                    out[mine] = self.banks[a + 1].forward(np.asarray(x)[mine])
        return route, np.where(route[:, None] >= 0, out, 0)
