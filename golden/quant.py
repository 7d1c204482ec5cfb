"""Symmetric quantisation: per-output-channel int8 weights (the dense baseline every method compares with)
and per-token activations at b bits (SDQ's W4A4 / W8A8 setting).

Row r of a float matrix W gets the scale s_r = max|W[r]| / 127 (1 for an all-zero row) and the
codes q = clip(rint(W / s_r), -127, 127): round half to even, and no saturation can happen
(|W / s_r| <= 127 by construction); -128 is never produced, so the code range is symmetric.

Activations (``per_token``): token t (a row of x, tokens x features) gets s_t = max|x[t]| / Q with
Q = 2^(bits-1) - 1 (1 for an all-zero row) and codes clip(rint(x / s_t), -Q, Q), again round half to even
with no saturation possible; the value the product sees is codes * s_t.
"""
from __future__ import annotations

import numpy as np


def per_channel_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 codes with the shape of ``w`` flattened to rows, float64 scales (rows, 1))."""
    flat = np.asarray(w, dtype=np.float64).reshape(w.shape[0], -1)
    scale = np.abs(flat).max(axis=1, keepdims=True) / 127
    scale[scale == 0] = 1
    return np.clip(np.rint(flat / scale), -127, 127).astype(np.int8), scale


def per_token_codes(x: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(integer codes in -Q..Q, float64 scales (tokens, 1)) of activations ``x`` (tokens x features)."""
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"activation bits must be an integer in 2..16, got {bits!r}")
    qmax = 2 ** (bits - 1) - 1
    x = np.asarray(x, dtype=np.float64)
    scale = np.abs(x).max(axis=1, keepdims=True, initial=0.0) / qmax
    scale[scale == 0] = 1
    return np.clip(np.rint(x / scale), -qmax, qmax).astype(np.int32), scale


def per_token(x: np.ndarray, bits: int) -> np.ndarray:
    """The activations the product sees after per-token ``bits``-bit quantisation, float32."""
    codes, scale = per_token_codes(x, bits)
    return (codes * scale).astype(np.float32)
