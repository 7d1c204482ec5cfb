"""AxBench-style kernels: the exact functions a neural approximator stands in for, from their formulas.

Each kernel maps a batch of inputs (N x inputs, float64) to exact outputs (N x outputs) with
NumPy, next to the approximator topology AxBench uses for it and the error metric its quality
bound is stated in. Inputs come from ``sample`` (a seeded generator over each kernel's domain),
or, for the image kernels (jpeg, kmeans, sobel), from real pixels: ``image_inputs`` cuts them
from photographs given as arrays (``sparseloom.models.images`` loads the offline ones).

* blackscholes: European call price from (spot, strike, rate, volatility, time, put flag), 6-8-8-1;
* fft: the twiddle factor (cos, sin) of an angle, as radix-2 FFT needs it, 1-4-4-2;
* inversek2j: the two joint angles of a two-link arm (unit links) reaching (x, y), 2-8-2;
* jmeint: whether two triangles in 3-D intersect (18 coordinates; one-hot yes / no), 18-32-8-2;
* jpeg: the quantised 8 x 8 DCT of a block of pixels (JPEG's luminance table, quality 50), 64-16-64;
* kmeans: the Euclidean distance of two RGB colours, 6-8-4-1;
* sobel: the Sobel gradient magnitude of a 3 x 3 window, clipped to 1, 9-8-1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Kernel:
    """One benchmark: its exact function, AxBench's approximator topology and the error metric."""

    name: str
    function: Callable[[np.ndarray], np.ndarray]
    topology: tuple[int, ...]
    metric: str            # "relative" (mean relative error), "miss" (miss rate), "image" (mean abs. pixel error)
    low: tuple             # input domain of ``sample``, per input
    high: tuple


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def blackscholes(x: np.ndarray) -> np.ndarray:
    """Black-Scholes price of a European option: (S, K, r, sigma, T, put >= 0.5) -> price."""
    s, k, r, v, t, put = (x[:, i] for i in range(6))
    d1 = (np.log(s / k) + (r + v * v / 2) * t) / (v * np.sqrt(t))
    d2 = d1 - v * np.sqrt(t)
    call = s * _norm_cdf(d1) - k * np.exp(-r * t) * _norm_cdf(d2)
    puts = k * np.exp(-r * t) * _norm_cdf(-d2) - s * _norm_cdf(-d1)
    return np.where(put >= 0.5, puts, call)[:, None]


def fft_twiddle(x: np.ndarray) -> np.ndarray:
    """(cos, sin) of the angle x[:, 0]."""
    return np.stack([np.cos(x[:, 0]), np.sin(x[:, 0])], axis=1)


def inversek2j(x: np.ndarray) -> np.ndarray:
    """Joint angles (theta1, theta2) of a two-link arm with unit links whose end reaches (x, y)."""
    px, py = x[:, 0], x[:, 1]
    c2 = np.clip((px * px + py * py - 2) / 2, -1, 1)
    theta2 = np.arccos(c2)
    theta1 = np.arctan2(py, px) - np.arctan2(np.sin(theta2), 1 + np.cos(theta2))
    return np.stack([theta1, theta2], axis=1)


def forward_kinematics(theta: np.ndarray) -> np.ndarray:
    """The end point of the arm at joint angles ``theta`` (inversek2j's inverse)."""
    t1, t2 = theta[:, 0], theta[:, 1]
    return np.stack([np.cos(t1) + np.cos(t1 + t2), np.sin(t1) + np.sin(t1 + t2)], axis=1)


def _segment_hits_triangle(p, q, a, b, c, eps=1e-12) -> np.ndarray:
    """Whether segment p-q meets triangle a-b-c (Moller-Trumbore, per row)."""
    d = q - p
    e1, e2 = b - a, c - a
    h = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, h)
    ok = np.abs(det) > eps
    inv = np.where(ok, 1 / np.where(ok, det, 1), 0)
    s = p - a
    u = inv * np.einsum("ij,ij->i", s, h)
    qv = np.cross(s, e1)
    v = inv * np.einsum("ij,ij->i", d, qv)
    t = inv * np.einsum("ij,ij->i", e2, qv)
    return ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t >= 0) & (t <= 1)


def jmeint(x: np.ndarray) -> np.ndarray:
    """Whether triangles (x[:, 0:9], x[:, 9:18]) intersect, one-hot (yes, no): two triangles meet
    exactly when an edge of one crosses the other (non-coplanar, general position)."""
    t = x.reshape(-1, 2, 3, 3)
    hit = np.zeros(len(x), bool)
    for one, other in ((0, 1), (1, 0)):
        a, b, c = (t[:, other, i] for i in range(3))
        for i, j in ((0, 1), (1, 2), (2, 0)):
            hit |= _segment_hits_triangle(t[:, one, i], t[:, one, j], a, b, c)
    return np.stack([hit, ~hit], axis=1).astype(np.float64)


#: JPEG's luminance quantisation table (ITU-T T.81 Annex K), quality 50.
JPEG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64).reshape(8, 8)


def _dct_matrix() -> np.ndarray:
    k = np.arange(8)
    m = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m


def jpeg(x: np.ndarray) -> np.ndarray:
    """8 x 8 blocks of pixels in [0, 1] (row-major) to their quantised DCT coefficients, level
    shifted by 128 first, divided by the table and rounded, then scaled by 1/64 to stay near +-1."""
    d = _dct_matrix()
    blocks = x.reshape(-1, 8, 8) * 255 - 128
    coeff = d @ blocks @ d.T
    return (np.rint(coeff / JPEG_LUMA) / 64).reshape(-1, 64)


def kmeans(x: np.ndarray) -> np.ndarray:
    """Euclidean distance of colours x[:, 0:3] and x[:, 3:6] (RGB in [0, 1])."""
    return np.linalg.norm(x[:, :3] - x[:, 3:6], axis=1)[:, None]


SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)


def sobel(x: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of 3 x 3 windows of pixels in [0, 1] (row-major), clipped to 1."""
    w = x.reshape(-1, 3, 3)
    gx = np.einsum("nij,ij->n", w, SOBEL_X)
    gy = np.einsum("nij,ij->n", w, SOBEL_X.T)
    return np.minimum(np.sqrt(gx * gx + gy * gy), 1.0)[:, None]


KERNELS = {k.name: k for k in [
    Kernel("blackscholes", blackscholes, (6, 8, 8, 1), "relative",
           (10, 10, 0.01, 0.05, 0.05, 0), (100, 100, 0.1, 0.6, 1.0, 1)),
    Kernel("fft", fft_twiddle, (1, 4, 4, 2), "relative", (-np.pi,), (np.pi,)),
    Kernel("inversek2j", inversek2j, (2, 8, 2), "relative", (-2, -2), (2, 2)),
    Kernel("jmeint", jmeint, (18, 32, 8, 2), "miss", (-1,) * 18, (1,) * 18),
    Kernel("jpeg", jpeg, (64, 16, 64), "image", (0,) * 64, (1,) * 64),
    Kernel("kmeans", kmeans, (6, 8, 4, 1), "image", (0,) * 6, (1,) * 6),
    Kernel("sobel", sobel, (9, 8, 1), "image", (0,) * 9, (1,) * 9),
]}


def sample(kernel: str, n: int, seed: int) -> np.ndarray:
    """``n`` inputs of ``kernel`` drawn uniformly over its domain (reachable points only for
    inversek2j: forward kinematics of uniform joint angles), reproducible from ``seed``."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    k, rng = KERNELS[kernel], np.random.default_rng(seed)
    if kernel == "inversek2j":
        theta = np.stack([rng.uniform(-np.pi, np.pi, n), rng.uniform(0.05, np.pi - 0.05, n)], axis=1)
        return forward_kinematics(theta)
    return rng.uniform(k.low, k.high, (n, len(k.low)))


IMAGE_KERNELS = ("jpeg", "kmeans", "sobel")


def _grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of uint8 RGB (or a greyscale array), in [0, 1]."""
    a = np.asarray(rgb, dtype=np.float64) / 255
    return a if a.ndim == 2 else a[..., :3] @ np.array([0.299, 0.587, 0.114])


def image_inputs(kernel: str, photos: list[np.ndarray], n: int, seed: int) -> np.ndarray:
    """``n`` inputs of an image kernel cut from ``photos`` (uint8 H x W x 3 or H x W), seeded:
    sobel, 3 x 3 greyscale windows at random positions; jpeg, 8 x 8 greyscale blocks on the
    8-pixel grid; kmeans, pairs of RGB pixels of one photo at random positions (a pixel and a
    centroid candidate). Photos are drawn in turn, so each contributes about n / len(photos)."""
    if kernel not in IMAGE_KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(IMAGE_KERNELS)}, got {kernel!r}")
    if not photos:
        raise ValueError("photos must hold at least one image")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        photo = np.asarray(photos[i % len(photos)])
        if kernel == "kmeans":
            rgb = (photo if photo.ndim == 3 else np.repeat(photo[..., None], 3, axis=2))[..., :3] / 255
            flat = rgb.reshape(-1, 3)
            a, b = rng.integers(0, len(flat), 2)
            rows.append(np.concatenate([flat[a], flat[b]]))
            continue
        grey = _grey(photo)
        size = 3 if kernel == "sobel" else 8
        if grey.shape[0] < size or grey.shape[1] < size:
            raise ValueError(f"photos[{i % len(photos)}] is {grey.shape}, smaller than the {size} x {size} window")
        if kernel == "sobel":
            r, c = rng.integers(0, grey.shape[0] - 2), rng.integers(0, grey.shape[1] - 2)
        else:
            r, c = 8 * rng.integers(0, grey.shape[0] // 8), 8 * rng.integers(0, grey.shape[1] // 8)
        rows.append(grey[r:r + size, c:c + size].reshape(-1))
    return np.stack(rows)


# ----- the exact kernels on a scalar core -------------------------------------------------------

#: Cycles of one operation on the scalar core: a simple in-order core with a pipelined FPU, in the
#: spirit of the Arm Cortex-M4F (its Technical Reference Manual, FPU instruction timings: VADD,
#: VSUB, VMUL, VCMP and VCVT 1 cycle, VDIV and VSQRT 14; a taken branch 1 + a pipeline refill of 1
#: to 3, here 2 in all). The core has no transcendental instructions: exp, log, the trigonometric
#: functions and erf are library routines, range reduction plus a minimax polynomial in Horner
#: form at about 2 cycles a degree (one multiply, one add), which is the assumption behind their
#: entries: exp and log 20 (degree ~6 plus reduction), sin and cos 24 (plus the quadrant's
#: reduction and branch), atan2 and arccos 30 (a rational approximation with its division and
#: the octant's branches), erf 30 (two ranges, each a polynomial, and the branch between them).
#: ``cvt`` is a rounding to an integer (``np.rint``). Memory operations are not counted: the
#: kernels' operands are assumed in registers, as the NPU's inputs are assumed in its queue.
SCALAR_LATENCY = {"add": 1, "mul": 1, "div": 14, "sqrt": 14, "cvt": 1, "cmp": 1, "branch": 2,
                  "exp": 20, "log": 20, "trig": 24, "atrig": 30, "erf": 30}


def _segment_test_ops() -> dict:
    """One ``_segment_hits_triangle`` (Moller-Trumbore) as written: d, e1, e2 and s (3 subtractions
    each), h = d x e2 and qv = s x e1 (6 multiplies, 3 subtractions each), det, u, v and t (a dot
    product each: 3 multiplies, 2 adds; u, v and t also times inv), inv = 1 / det, u + v; the six
    tests of the result (|det| > eps, u >= 0, v >= 0, u + v <= 1, t >= 0, t <= 1) a compare and a
    branch each, and the branch of ``hit |=`` (whether to go on to the next segment)."""
    return {"add": 4 * 3 + 2 * 3 + 4 * 2 + 1, "mul": 2 * 6 + 4 * 3 + 3, "div": 1, "cmp": 6, "branch": 6 + 1}


def _scale(ops: dict, times: int) -> dict:
    return {k: v * times for k, v in ops.items()}


#: Operations of each kernel on one input, counted from its formula above, each subexpression
#: once where the formula names it once (a compiler's common subexpressions: blackscholes'
#: v * sqrt(t) and k * exp(-r t)), loops unrolled (no loop overhead), multiplications by the
#: constants 0 dropped and by +-1 turned into adds or subtractions (sobel's taps), negations free:
#:
#: * blackscholes: d1 = (log(s / k) + (r + v * v * 0.5) * t) / (v * sqrt(t)): 2 div, 1 log,
#:   1 sqrt, 4 mul, 2 add; d2 = d1 - v sqrt(t): 1 add; the put flag, a compare and a branch to the
#:   one price computed (call and put cost the same): two N(x) = 0.5 * (1 + erf(x * 1/sqrt2)) of
#:   2 mul, 1 add and 1 erf each, exp(-r t) with its r * t, k * exp(...), its product with N and
#:   s * N (4 mul, 1 exp), and the difference (1 add);
#: * fft: cos and sin of the angle;
#: * inversek2j: c2 = (x * x + y * y - 2) * 0.5 (3 mul, 2 add), its clip to [-1, 1] (2 compares,
#:   2 branches), arccos, atan2(y, x), sin and cos of theta2, 1 + cos, atan2, the difference
#:   (3 atrig, 2 trig, 2 add);
#: * jmeint: six segment-triangle tests (``_segment_test_ops``), each edge of each triangle
#:   against the other triangle, all six when the triangles miss (the worst case; a hit ends early);
#: * jpeg: the level shift x * 255 - 128 (64 mul, 64 add), two 8 x 8 matrix products D B D^T
#:   (2 x 512 mul, 2 x 448 add), the division by the table (64 div), the rounding (64 cvt) and the
#:   scaling by 1/64 (64 mul);
#: * kmeans: three differences, three squares, two adds and a square root;
#: * sobel: gx and gy, 6 non-zero taps each (the two of weight 2 a multiply, 5 adds and
#:   subtractions), gx * gx + gy * gy (2 mul, 1 add), the square root and the clip to 1 (a compare
#:   and a branch).
SCALAR_OPS = {
    "blackscholes": {"div": 2, "log": 1, "sqrt": 1, "exp": 1, "erf": 2, "mul": 4 + 2 * 2 + 4,
                     "add": 2 + 1 + 2 * 1 + 1, "cmp": 1, "branch": 1},
    "fft": {"trig": 2},
    "inversek2j": {"mul": 3, "add": 2 + 2, "cmp": 2, "branch": 2, "atrig": 3, "trig": 2},
    "jmeint": _scale(_segment_test_ops(), 6),
    "jpeg": {"mul": 64 + 2 * 512 + 64, "add": 64 + 2 * 448, "div": 64, "cvt": 64},
    "kmeans": {"add": 3 + 2, "mul": 3, "sqrt": 1},
    "sobel": {"mul": 2 * 2 + 2, "add": 2 * 5 + 1, "sqrt": 1, "cmp": 1, "branch": 1},
}


def scalar_cycles(kernel: str, latency: dict | None = None) -> int:
    """Cycles of the exact ``kernel`` on one input on the scalar core: ``SCALAR_OPS[kernel]``
    (the operation count of its formula) times ``latency`` per operation (default
    ``SCALAR_LATENCY``, a simple in-order core with an FPU, see there), summed; no overlap of
    operations is assumed (an in-order core without dual issue)."""
    from .arrays import is_int

    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    unknown = sorted(set(latency or {}) - set(SCALAR_LATENCY))
    if unknown:
        raise ValueError(f"latency: unknown operations {unknown}; known: {', '.join(SCALAR_LATENCY)}")
    table = SCALAR_LATENCY if latency is None else {**SCALAR_LATENCY, **latency}
    for op, c in table.items():
        if not is_int(c) or c < 0:
            raise ValueError(f"latency[{op!r}] must be an integer >= 0 (cycles), got {c!r}")
    return int(sum(n * table[op] for op, n in SCALAR_OPS[kernel].items()))
