"""Dense int8 and HSS-pruned int8 layers: one integer GEMM each, scaled on the host.

Weights are int8 per output channel (``golden.quant``), activations int8 per tensor
(``quantise_activations``); HSS magnitude-prunes the int8 codes to one G1:H1,G0:H0 pattern
(``golden.hss.prune``). On HighLight, K is padded on the host with zero columns of W and zero rows
of X up to a multiple of the pattern's group size (a stem convolution's K = 27, say); a zero never
adds to a product. The one scaling step, y = x_scale * w_scale[row] * Y, is on the host in
float64, rounded once to float32.
"""
from __future__ import annotations

import numpy as np

from sparseloom.golden import hss
from sparseloom.golden.quant import per_channel_int8

from . import Gemm, LayerProgram, pad_k, padded_k, quantise_activations


def scaled_program(gemm: Gemm, w_scale: np.ndarray, x_scale: float, report: dict) -> LayerProgram:
    """A layer of one GEMM whose integer result is scaled per output row and per tensor."""
    def combine(ys):
        (y,) = ys
        return (np.asarray(y, dtype=np.float64) * w_scale * x_scale).T.astype(np.float32)
    return LayerProgram([gemm], combine, report)


class Int8Method:
    """Dense int8 x int8 on the dense array (or on HighLight with its dense pattern)."""

    text = "int8"

    def __init__(self, unit: str = "dense"):
        if unit not in ("dense", "highlight"):
            raise ValueError(f"--unit {unit}: method int8 runs on the dense or highlight unit")
        self.units = (unit,)

    def program(self, name: str, w: np.ndarray, x: np.ndarray, config=None) -> LayerProgram:
        codes, scale = per_channel_int8(w)
        xq, x_scale = quantise_activations(x)
        if self.units == ("dense",):
            return scaled_program(Gemm("dense", None, codes, xq.T, "int8"), scale, x_scale, {"density": 1.0})
        pattern = dense_pattern(config)
        codes, xk = pad_k(codes, xq.T, padded_k(codes.shape[1], [pattern.group_size]))
        return scaled_program(Gemm("highlight", pattern, codes, xk, "int8"), scale, x_scale, {"density": 1.0})


def dense_pattern(config) -> hss.HSSPattern:
    """The HSS pattern that keeps every weight on a HighLight configuration: G1 = H1, G0 = H0."""
    return hss.HSSPattern.parse(f"{config.g1_max}:{config.g1_max},{config.h0}:{config.h0}")


class HssMethod:
    """int8 codes pruned to one HSS pattern, on the HighLight array."""

    units = ("highlight",)

    def __init__(self, pattern: str):
        self.pattern = hss.HSSPattern.parse(pattern)
        self.text = f"hss:{self.pattern}"

    def compress(self, name: str, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Layer ``name``'s int8 codes in the pattern and their per-row scales: magnitude pruning."""
        codes, scale = per_channel_int8(w)
        return hss.prune(codes, self.pattern), scale

    def program(self, name: str, w: np.ndarray, x: np.ndarray, config=None) -> LayerProgram:
        xq, x_scale = quantise_activations(x)
        w, xk = pad_k(np.asarray(w), xq.T, padded_k(np.shape(w)[1], [self.pattern.group_size]))
        pruned, scale = self.compress(name, w)
        return scaled_program(Gemm("highlight", self.pattern, pruned, xk, self.text), scale,
                              x_scale, {"density": float(self.pattern.density), "k": np.shape(x)[1],
                                        "padded_k": w.shape[1]})
