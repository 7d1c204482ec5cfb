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
