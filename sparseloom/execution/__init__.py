"""Compressed linear layers as integer GEMMs on the generated cores, and the host work around them.

A method (``int8``, ``hss:P``, ``tasd:S``, ``sdq:C``, ``q4_1``) turns one float linear layer
y = x @ W.T (W: out x in, x: tokens x in) into a ``LayerProgram``: the integer GEMMs
Y_i = W_i @ X_i each core runs (W_i: M x K, X_i: K x N, N = tokens), each with its golden
result, and ``combine``, the host step that scales and adds the integer results into the
float output (tokens x out). Activations are quantised here too (``quantise_activations``),
so what a core receives is exactly what the host would send it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Gemm:
    """One integer GEMM for one unit: ``unit.plan(config, setting, w, x)`` runs it."""

    unit: str               # unit record name ("highlight", "dense", "lut", ...)
    setting: object         # what the unit's planner takes (an HSSPattern, a WeightFormat, None)
    w: np.ndarray           # int8 codes, M x K
    x: np.ndarray           # int8 codes, K x N
    label: str = ""         # which part of the layer it is, e.g. "term 1 (2:4,2:4)"

    def golden(self) -> np.ndarray:
        """The exact integer product, int64 M x N (what every unit must return for it)."""
        return self.w.astype(np.int64) @ self.x.astype(np.int64)


@dataclass
class LayerProgram:
    """The GEMMs of one compressed layer and the host step that makes its float output."""

    gemms: list[Gemm]
    combine: Callable[[list[np.ndarray]], np.ndarray]   # integer results, in gemm order -> float32 tokens x out
    report: dict = field(default_factory=dict)          # method-specific numbers (densities, scales' placement)

    def golden_output(self) -> np.ndarray:
        """``combine`` of the golden integer results: what the layer gives when every core is right."""
        return self.combine([g.golden() for g in self.gemms])


def quantise_activations(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Symmetric per-tensor int8 of ``x`` (tokens x in): (codes int8, scale), scale = max|x| / 127
    (1 for an all-zero x), codes = rint(x / scale), round half to even; no clipping can happen."""
    x = np.asarray(x, dtype=np.float64)
    peak = float(np.abs(x).max()) if x.size else 0.0
    scale = peak / 127 if peak > 0 else 1.0
    return np.clip(np.rint(x / scale), -127, 127).astype(np.int8), scale


def padded_k(k: int, sizes) -> int:
    """The least multiple of every size in ``sizes`` that is >= k."""
    step = math.lcm(*sizes)
    return -(-k // step) * step


def pad_k(w: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """W (M x K) and X (K x N) with zero columns of W and zero rows of X up to K = k."""
    extra = k - w.shape[1]
    return np.pad(w, ((0, 0), (0, extra))), np.pad(x, ((0, extra), (0, 0)))


def layer_operands(w, x) -> tuple[np.ndarray, np.ndarray]:
    """Validate float W (out x in) and x (tokens x in) with the same ``in``; return them as numpy arrays."""
    w, x = np.asarray(w), np.asarray(x)
    if w.ndim != 2 or x.ndim != 2:
        raise ValueError(f"w (out x in) and x (tokens x in) must be 2-D, got shapes {w.shape} and {x.shape}")
    if w.shape[1] != x.shape[1] or w.shape[1] == 0:
        raise ValueError(f"w {w.shape} and x {x.shape} must share a non-zero 'in' dimension")
    return w, x
