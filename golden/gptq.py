"""Golden model of calibrated (second-order) compression: GPTQ error compensation, here for SDQ weights.

A layer Y = W X^T (W: M x K weights, X: tokens x K calibration activations) is compressed to W^ so as to keep
||(W - W^) X^T||_F^2 = tokens * tr((W - W^) H (W - W^)^T) small, with the proxy Hessian H = X^T X / tokens
(``hessian``; the true one is 2H).  Rows are independent and share H.

Pass (``obs_pass``, Frantar et al. 2022).  The columns of W are quantised one at a time, j = 0..K-1; each
rounding error is compensated by the Optimal Brain Surgeon update of the columns not yet quantised:
err = (w_j - q_j) / U[j, j], W[:, j+1:] -= err * U[j, j+1:], where U is the upper Cholesky factor of H^-1
(H^-1 = U^T U).  Row j of U is row 0 of (H restricted to columns j..K-1)^-1 divided by the square root of its
first entry, so this equals the naive OBS update with the inverse Hessian of the remaining columns.  Updates
are applied lazily, ``block`` columns at a time (eagerly inside the block, then once to the columns after it),
which changes only the order of the float64 sums.  The block is rounded down to a whole number of the
quantiser's groups (at least one), so when a group starts, all of its columns hold their updated values.

Conditioning (``inverse_hessian_factor``).  A dead input (H_jj = 0) gets H_jj = 1 and its weights W[:, j] are
set to 0 before anything else (it never affects the output); then damp * mean(diag H) is added to the diagonal.

SDQ (``gptq_sdq``): the format of ``sdq.decompose`` (n:m int8 outliers plus ``bits``-bit remainder codes with
a scale per group of ``group`` K elements).  W is read as float32, then all arithmetic is float64.  Fixed before
the pass, from those weights (dead inputs zeroed): the outlier mask, the n largest ``outlier_score`` per block
of m along K (default |w|, ties to the lower index; ``activation_score`` gives Wanda's |w| * ||x_j||), and the
per-row sparse_scale = float32(max |outlier| / 127), as ``sdq.decompose`` computes them.  Outlier codes
S = clip(rint(w / sparse_scale), -127, 127) on the mask (0 off it) are taken from the current, updated weights.
When the pass reaches a group's first column, the group's quant_scale = float32(max |R| / Q), from the remainder
R = w - dequant(S) of the group's updated weights (GPTQ's group-wise variant).  Column j: its outlier codes,
then codes = clip(rint(R_j / quant_scale), -Q, Q), and q_j = dequant(S)_j + codes * quant_scale in float32,
exactly as ``SDQDecomposition.dense`` computes it.  Rounding is np.rint (round half to even); the clips saturate
values that updates pushed past the range their scale was fixed for.  n = 0 is plain GPTQ group quantisation.
With a diagonal H no update happens, and the result is exactly ``sdq.decompose``'s.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .arrays import is_int
from .sdq import (_SPARSE_MAX, SDQConfig, SDQDecomposition, _check_k, _dequantise, _quantise, _weights, clipped_scale,
                  to_codes)
from .tasd import top_n_mask


def _floating(a, name: str, shape: tuple | None = None) -> np.ndarray:
    """``a`` as float64 if it is a finite floating numpy array of ``shape`` (any 2-D one if None)."""
    if not isinstance(a, np.ndarray) or not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must be a floating numpy array, got {getattr(a, 'dtype', type(a).__name__)}")
    if a.ndim != 2 or (shape is not None and a.shape != shape):
        raise ValueError(f"{name} must have shape {shape or '2-D'}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite")
    return a.astype(np.float64)


def hessian(x: np.ndarray) -> np.ndarray:
    """H = X^T X / tokens, float64 (K, K), for calibration activations X (tokens x K)."""
    x = _floating(x, "activations")
    if x.shape[0] == 0:
        raise ValueError("activations need at least one token")
    return x.T @ x / x.shape[0]


def activation_score(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Wanda's saliency |w| * ||x_j||, as |w| * sqrt(diag H) (the token count scales all entries alike)."""
    w = _floating(w, "weights")
    return np.abs(w) * np.sqrt(np.diag(_floating(h, "hessian", (w.shape[1],) * 2)))


def inverse_hessian_factor(w: np.ndarray, h: np.ndarray, damp: float) -> tuple[np.ndarray, np.ndarray]:
    """(W with its dead inputs zeroed, float64; U, the upper Cholesky factor of the conditioned H^-1)."""
    w = w.copy()
    h = _floating(h, "hessian", (w.shape[1],) * 2)
    if not (isinstance(damp, (int, float)) and np.isfinite(damp) and damp >= 0):
        raise ValueError(f"damp must be a finite number >= 0, got {damp!r}")
    dead = np.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h[np.diag_indices_from(h)] += damp * np.mean(np.diag(h))
    try:
        return w, np.linalg.cholesky(np.linalg.inv(h)).T
    except np.linalg.LinAlgError as err:
        raise ValueError(f"the damped Hessian is not positive definite (damp={damp})") from err


def obs_pass(w: np.ndarray, u: np.ndarray, group: int, block: int,
             quantise: Callable[[int, np.ndarray], np.ndarray]) -> None:
    """Quantise float64 W (M x K) in place, column by column, with OBS compensation through U.

    ``quantise(j, w)`` returns q_j (M,) for column j of the current ``w``, whose columns from j to the end of
    j's group hold their updated values; column j of ``w`` ends as q_j.
    """
    if not is_int(block) or block < 1:
        raise ValueError(f"block must be an integer >= 1, got {block!r}")
    step = group * max(1, block // group)
    k = w.shape[1]
    for b0 in range(0, k, step):
        b1 = min(b0 + step, k)
        err = np.empty((w.shape[0], b1 - b0))
        for j in range(b0, b1):
            q = quantise(j, w)
            err[:, j - b0] = (w[:, j] - q) / u[j, j]
            w[:, j] = q
            w[:, j + 1:b1] -= np.outer(err[:, j - b0], u[j, j + 1:b1])
        w[:, b1:] -= err @ u[b0:b1, b1:]


def gptq_sdq(w: np.ndarray, h: np.ndarray, config: SDQConfig, outlier_score: np.ndarray | None = None,
             damp: float = 0.01, block: int = 128, clip: bool = False) -> SDQDecomposition:
    """SDQ of W (M x K) against the proxy Hessian H (K x K) with GPTQ error compensation (module docstring);
    ``clip`` chooses each remainder group's scale by ``sdq.clipped_scale`` instead of max |R| / Q."""
    w, u = inverse_hessian_factor(_weights(w).astype(np.float64), h, damp)
    _check_k(w.shape[1], config)
    if outlier_score is not None and getattr(outlier_score, "shape", None) != w.shape:
        raise ValueError(f"outlier_score must have the weights' shape {w.shape}")
    mask = top_n_mask(w if outlier_score is None else outlier_score, config.n, config.m)
    sparse_scale = _quantise(np.where(mask, w, 0.0), _SPARSE_MAX)[1]
    sparse = np.zeros(w.shape, np.int8)
    quant = np.zeros(w.shape, np.int8)
    quant_scale = np.zeros((w.shape[0], w.shape[1] // config.group), np.float32)

    def outliers(cols: slice, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dequantised int8 outliers of the current weights in ``cols`` (0 off the mask), and their codes."""
        codes = np.where(mask[:, cols], to_codes(current[:, cols], sparse_scale, _SPARSE_MAX), 0).astype(np.int8)
        return _dequantise(codes, sparse_scale), codes

    def column(j: int, current: np.ndarray) -> np.ndarray:
        g = j // config.group
        if j % config.group == 0:
            group = slice(j, j + config.group)
            remainder = current[:, group] - outliers(group, current)[0]
            quant_scale[:, g] = (clipped_scale(remainder, config.qmax) if clip else
                                 _quantise(remainder, config.qmax)[1])[:, 0]
        col, scale = slice(j, j + 1), quant_scale[:, g:g + 1]
        outlier, sparse[:, col] = outliers(col, current)
        quant[:, col] = to_codes(current[:, col] - outlier, scale, config.qmax)
        return (outlier + _dequantise(quant[:, col], scale))[:, 0]

    obs_pass(w, u, config.group, block, column)
    return SDQDecomposition(config, sparse, sparse_scale, quant, quant_scale)
