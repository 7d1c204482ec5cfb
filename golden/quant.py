"""Symmetric per-output-channel int8 quantisation: the dense int8 baseline every method compares with.

Row r of a float matrix W gets the scale s_r = max|W[r]| / 127 (1 for an all-zero row) and the
codes q = clip(rint(W / s_r), -127, 127): round half to even, and no saturation can happen
(|W / s_r| <= 127 by construction); -128 is never produced, so the code range is symmetric.
"""
from __future__ import annotations

import numpy as np


def per_channel_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 codes with the shape of ``w`` flattened to rows, float64 scales (rows, 1))."""
    flat = np.asarray(w, dtype=np.float64).reshape(w.shape[0], -1)
    scale = np.abs(flat).max(axis=1, keepdims=True) / 127
    scale[scale == 0] = 1
    return np.clip(np.rint(flat / scale), -127, 127).astype(np.int8), scale
