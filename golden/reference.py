"""The exact integer GEMM every core is checked against, and the accumulator bound it implies.

A sum of K products of two signed ``width``-bit integers is largest in magnitude when every
product is (-2^(width-1))^2 = 2^(2 width - 2), so |y| <= K * 2^(2 width - 2); an
accumulator must be ``signed_width`` of that. Every generator sizes its accumulators from
here, and the reference GEMM refuses a K whose int8 x int8 sums could leave int32.
"""
from __future__ import annotations

import numpy as np

from .arrays import matrix

INT32_MAX = 2**31 - 1


def product_sum_bound(k: int, width: int = 8) -> int:
    """Largest |sum| of ``k`` products of two signed ``width``-bit integers: k * 2^(2 width - 2)."""
    return k << (2 * width - 2)


def signed_width(magnitude: int) -> int:
    """Bits of a two's complement integer that holds every value in -magnitude..magnitude."""
    return magnitude.bit_length() + 1


#: Largest K whose int8 x int8 dot product always fits int32.
MAX_K = INT32_MAX // product_sum_bound(1)


def operands(w: np.ndarray, x: np.ndarray) -> tuple[int, int, int]:
    """(M, N, K) of int8 W (M x K) and int8 X (K x N), refusing shapes that do not chain or a K
    whose products could overflow int32."""
    matrix(w, "weights", np.int8)
    matrix(x, "inputs", np.int8)
    for name, a in (("weights", w), ("inputs", x)):
        if a.size == 0:
            raise ValueError(f"{name} must not be empty: M, K and N must all be >= 1, got {name} shape {a.shape}")
    if w.shape[1] != x.shape[0]:
        raise ValueError(f"weights shape {w.shape} and inputs shape {x.shape} do not chain (K differs)")
    check_k(w.shape[1])
    return w.shape[0], x.shape[1], w.shape[1]


def check_k(k: int) -> None:
    if k > MAX_K:
        raise ValueError(f"K={k} exceeds {MAX_K}: an int8 x int8 dot product could overflow int32")


def gemm(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Exact Y = W @ X for int8 W (M x K) and int8 X (K x N), as int32 (M x N)."""
    operands(w, x)
    return (w.astype(np.int64) @ x.astype(np.int64)).astype(np.int32)
