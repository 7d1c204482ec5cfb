"""Argument checks shared by the golden models, and the top-k mask their pruning uses.

Every golden function validates what it is given and names the argument in its message;
these are the checks they have in common.
"""
from __future__ import annotations

import numpy as np


def is_int(v) -> bool:
    """True for a Python int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def matrix(a, name: str, dtype=None, ndim: int = 2) -> np.ndarray:
    """``a`` if it is an ``ndim``-D NumPy array of exactly ``dtype`` (any integer dtype if None)."""
    wanted = f"dtype {np.dtype(dtype)}" if dtype is not None else "an integer dtype"
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of {wanted}, got {type(a).__name__}")
    if not (a.dtype == dtype if dtype is not None else np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name} must be a numpy array of {wanted}, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got ndim={a.ndim}")
    return a


def expect(a, name: str, dtype, shape: tuple) -> None:
    """Raise unless ``a`` is a NumPy array of exactly ``dtype`` and ``shape``."""
    if not isinstance(a, np.ndarray) or a.dtype != dtype:
        got = getattr(a, "dtype", type(a).__name__)
        raise TypeError(f"{name} must be a numpy array of dtype {np.dtype(dtype)}, got {got}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")


def whole_groups(k, size: int, what: str) -> int:
    """K // size, refusing a K that is not a whole number of groups (``what`` names the group)."""
    if not is_int(k) or k < 0 or k % size:
        raise ValueError(f"K={k!r} is not a multiple of {what}")
    return k // size


def top_mask(score: np.ndarray, count: int) -> np.ndarray:
    """Mask of the ``count`` largest entries along the last axis; ties go to the lower index.

    A stable ascending sort of the reversed axis, read backwards, ranks in descending order with
    ties to the lower index, without negating ``score`` (which would wrap for unsigned scores).
    """
    width = score.shape[-1]
    order = width - 1 - np.argsort(score[..., ::-1], axis=-1, kind="stable")[..., ::-1]
    keep = np.zeros(score.shape, bool)
    np.put_along_axis(keep, order[..., :count], True, axis=-1)
    return keep
