"""Symmetric quantisation: per-output-channel int8 weights (the dense baseline every method compares with)
and per-token activations at b bits (SDQ's W4A4 / W8A8 setting).

Row r of a float matrix W gets the scale s_r = max|W[r]| / 127 (1 for an all-zero row) and the
codes q = clip(rint(W / s_r), -127, 127): round half to even, and no saturation can happen
(|W / s_r| <= 127 by construction); -128 is never produced, so the code range is symmetric.

Activations (``per_token``): token t (a row of x, tokens x features) gets s_t = max|x[t]| / Q with
Q = 2^(bits-1) - 1 (1 for an all-zero row) and codes clip(rint(x / s_t), -Q, Q), again round half to even
with no saturation possible; the value the product sees is codes * s_t. With ``group`` g, each run of g
features of a token (the last run may be shorter) gets a scale of its own, as a grouped-K datapath applies
one activation scale per group's partial sum (llama.cpp's Q8_1 blocks, the LUT core's 64-element groups).
"""
from __future__ import annotations

import numpy as np


def per_channel_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 codes with the shape of ``w`` flattened to rows, float64 scales (rows, 1))."""
    flat = np.asarray(w, dtype=np.float64).reshape(w.shape[0], -1)
    scale = np.abs(flat).max(axis=1, keepdims=True) / 127
    scale[scale == 0] = 1
    return np.clip(np.rint(flat / scale), -127, 127).astype(np.int8), scale


def _group_widths(k: int, group: int) -> np.ndarray:
    """The number of features in each run of ``group`` along K (the last may be shorter)."""
    return np.diff(np.append(np.arange(0, k, group), k))


def per_token_codes(x: np.ndarray, bits: int, group: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(integer codes in -Q..Q, float64 scales (tokens, groups)) of activations ``x`` (tokens x features);
    one group of all features unless ``group`` is given."""
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"activation bits must be an integer in 2..16, got {bits!r}")
    x = np.asarray(x, dtype=np.float64)
    k = x.shape[1]
    group = k if group is None else group
    if not isinstance(group, int) or group < 1:
        raise ValueError(f"activation group must be a positive integer (features per scale), got {group!r}")
    qmax = 2 ** (bits - 1) - 1
    scale = np.maximum.reduceat(np.abs(x), np.arange(0, k, group), axis=1) / qmax
    scale[scale == 0] = 1
    per_feature = np.repeat(scale, _group_widths(k, group), axis=1)
    return np.clip(np.rint(x / per_feature), -qmax, qmax).astype(np.int32), scale


def per_token(x: np.ndarray, bits: int, group: int | None = None) -> np.ndarray:
    """The activations the product sees after per-token (per-group with ``group``) ``bits``-bit
    quantisation, float32."""
    codes, scale = per_token_codes(x, bits, group)
    k = codes.shape[1]
    return (codes * np.repeat(scale, _group_widths(k, k if group is None else group), axis=1)).astype(np.float32)
