"""Golden models of calibrated pruning to HSS patterns, with int8 per-output-channel codes.

Both return what the HighLight array consumes: int8 codes (M x K) conforming to an ``hss.HSSPattern`` and the
per-row scales of ``quant.per_channel_int8`` (float64 (M, 1), max |w| / 127 of the row, 1 for an all-zero row),
fixed from the original weights (dead inputs zeroed).  An N:M pattern is ``HSSPattern(1, 1, N, M)`` ("1:1,N:M").

SparseGPT (``sparsegpt``, Frantar & Alistarh 2023): joint pruning and quantisation in one ``gptq.obs_pass``
(dead inputs zeroed, damped H^-1 = U^T U, errors err = (w_j - q_j) / U[j, j] propagated to the later columns).
The mask is chosen adaptively, group by group (h1 * h0 columns): when the pass reaches a group's first column,
from the *updated* weights of the group and SparseGPT's saliency w^2 / U[j, j]^2, rank 0 keeps the g0 most
salient elements of every block and rank 1 the g1 blocks of largest summed kept saliency, ties to the lower
index (``hss.prune`` scored by |w| / U[j, j]).  Column j: q_j = codes * scale at kept positions,
codes = clip(rint(w_j / scale), -127, 127) (np.rint, round half to even; the clip saturates values the updates
pushed past the row's original range), and q_j = 0 at pruned ones.

Wanda (``wanda``, Sun et al. 2023): no update; ``per_channel_int8`` codes pruned with ``hss.prune`` scored by
|w| * ||X_j||_2 (blocks ranked by their summed squared kept scores).
"""
from __future__ import annotations

import numpy as np

from .arrays import whole_groups
from .gptq import _floating, inverse_hessian_factor, obs_pass
from .hss import HSSPattern, prune
from .quant import per_channel_int8
from .sdq import to_codes

_INT8_MAX = 127


def sparsegpt(w: np.ndarray, h: np.ndarray, pattern: HSSPattern, damp: float = 0.01,
              block: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """SparseGPT of W (M x K) against the proxy Hessian H (K x K): (int8 codes conforming to ``pattern``, scales)."""
    w, u = inverse_hessian_factor(_floating(w, "weights"), h, damp)
    size = pattern.group_size
    whole_groups(w.shape[1], size, f"the group size {size} of pattern {pattern}")
    _, scale = per_channel_int8(w)
    codes = np.zeros(w.shape, np.int8)
    keep = np.zeros(w.shape, bool)
    diag = np.diag(u)
    ones = np.ones((w.shape[0], size), np.int8)

    def column(j: int, current: np.ndarray) -> np.ndarray:
        if j % size == 0:
            group = slice(j, j + size)
            # pruning all-ones codes leaves exactly the positions the score keeps
            keep[:, group] = prune(ones, pattern, np.abs(current[:, group]) / diag[group]) != 0
        codes[:, j] = np.where(keep[:, j], to_codes(current[:, j], scale[:, 0], _INT8_MAX), 0)
        return codes[:, j] * scale[:, 0]

    obs_pass(w, u, size, block, column)
    return codes, scale


def wanda(w: np.ndarray, x_norm: np.ndarray, pattern: HSSPattern) -> tuple[np.ndarray, np.ndarray]:
    """Wanda: per-channel int8 codes of W (M x K) pruned to ``pattern`` by |w| * x_norm (x_norm[j] = ||X_j||_2)."""
    w = _floating(w, "weights")
    if not isinstance(x_norm, np.ndarray) or x_norm.shape != (w.shape[1],):
        raise ValueError(f"x_norm must be a numpy array of shape ({w.shape[1]},)")
    codes, scale = per_channel_int8(w)
    return prune(codes, pattern, np.abs(w) * x_norm), scale
