"""Golden model of TASD (Tensor Approximation via Structured Decomposition) and of the TASDER search.

TASD writes a tensor A as a short series of structured-sparse terms plus a residual, A = T1 + T2 + ... + R, so
that by distributivity A @ X ~ T1 @ X + T2 @ X + ..., every term running on n:m structured-sparse hardware.

Series.  A series ``Series(((n1, m1), (n2, m2), ...))`` is written "N1:M1+N2:M2+...", e.g. "2:8+1:8";
"dense" is an alias of the full term 1:1 (any m:m term is full).  Term i is n_i:m_i sparse along the last
axis: that axis is cut into blocks of m_i consecutive elements and a block holds at most n_i non-zeros.  The
last axis length must be a multiple of every m_i (there is no padding).

Decomposition (``decompose``), greedy on the residual: R_0 = A; T_i keeps the n_i largest |R_{i-1}| of every
block of m_i (ties go to the lower index, so the choice is deterministic) and R_i = R_{i-1} - T_i.  Every
entry of A thus lands unchanged in exactly one of T_1, ..., T_k, R (the others hold 0 there), so
sum(terms) + residual == A exactly, in A's dtype, for integer and floating tensors alike.  Magnitudes of
integers are taken exactly (|-128| = 128 for int8).  The terms of a series are those of any longer series
that starts with it, so a longer series never has a larger residual.

Accounting.  ``density(series)`` = sum_i n_i/m_i: the compute of the series relative to the dense product at
the same precision, a term costing its density on structured-sparse hardware.  ``relative_error`` is
||R||_F^2 / ||A||_F^2 (0 for an all-zero A).

TASDER (``search``, ``tasder``) picks one series per layer to minimise the total error under a compute budget:
a multiple-choice knapsack.  ``search`` computes on exact rationals (every number becomes a Fraction, a float
at its exact binary value), so the budget check is exact.  Per layer it keeps the lower convex hull of the
(cost, error) candidates, dominated candidates removed and collinear hull points kept.  Greedy upgrades: from
every layer's cheapest candidate (the lowest error among equally cheap ones, then the lowest index), the hull
steps of all layers are visited by increasing slope d(error)/d(cost), steepest first (ties: layer order, then
step); a step is taken when the total cost stays within the budget, otherwise its layer is frozen.  The answer
is the better (ties: greedy) of that greedy solution and the best one that moves a single layer away from its
cheapest candidate.  Both are monotone in the budget (with more budget the greedy run first differs by taking
a step that saves at least as much error as any cheaper set of flatter steps), so more budget never gives
more total error.  At a budget equal to the cost of a Lagrangian solution (every layer minimising
error + lambda * cost, one lambda >= 0) the greedy solution is that one, which is optimal; in general the
search is a heuristic, not optimal.

``tasder`` only sees arrays, so it serves weights and activations alike; the structured axis is the last one,
so pass the reduction dimension last (weights as M x K, activations as N x K).
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .arrays import is_int, top_mask

_TERM_RE = re.compile(r"\s*(?:(\d+)\s*:\s*(\d+)|(dense))\s*", re.ASCII)


@dataclass(frozen=True)
class Series:
    """Terms (n, m) of a TASD series, in the order they are extracted; each is n:m sparse along the last axis."""

    terms: tuple[tuple[int, int], ...]

    def __post_init__(self):
        if not isinstance(self.terms, tuple) or not self.terms:
            raise ValueError(f"terms must be a non-empty tuple of (n, m) pairs, got {self.terms!r}")
        for term in self.terms:
            if not isinstance(term, tuple) or len(term) != 2:
                raise ValueError(f"each term must be an (n, m) pair, got {term!r}")
            n, m = term
            if not is_int(m) or m < 1:
                raise ValueError(f"m must be an integer >= 1, got {m!r} in term {term!r}")
            if not is_int(n) or not 1 <= n <= m:
                raise ValueError(f"n must be an integer in 1..m={m}, got {n!r} in term {term!r}")

    def __str__(self) -> str:
        return "+".join(f"{n}:{m}" for n, m in self.terms)


def parse_series(text: str) -> Series:
    """Parse "N1:M1+N2:M2+...", e.g. "2:8+1:8"; a term may be "dense" (1:1); whitespace is ignored."""
    if not isinstance(text, str):
        raise TypeError(f"series text must be a str, got {type(text).__name__}")
    terms = []
    for part in text.split("+"):
        match = _TERM_RE.fullmatch(part)
        if match is None:
            raise ValueError(f"malformed TASD series {text!r}; expected 'N:M' terms joined by '+', e.g. '2:8+1:8'")
        terms.append((1, 1) if match[3] else (int(match[1]), int(match[2])))
    return Series(tuple(terms))


def _as_series(series) -> Series:
    if isinstance(series, str):
        return parse_series(series)
    if not isinstance(series, Series):
        raise TypeError(f"series must be a Series or its text, got {type(series).__name__}")
    return series


def density(series: Series | str) -> Fraction:
    """Compute of the series relative to the dense product at the same precision: sum of n_i/m_i."""
    return sum((Fraction(n, m) for n, m in _as_series(series).terms), Fraction(0))


def _tensor(a) -> np.ndarray:
    """Validate a finite integer or floating numpy array with at least one axis."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"tensor must be a numpy array, got {type(a).__name__}")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"tensor must have an integer or floating dtype, got {a.dtype}")
    if a.ndim < 1:
        raise ValueError("tensor must have at least one axis, got a 0-d array")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise ValueError("tensor must be finite (no NaN or inf)")
    return a


def _magnitude(a: np.ndarray) -> np.ndarray:
    """|a|, exact and correctly ordered: integers go to uint64 (|int8 -128| would overflow int8)."""
    if np.issubdtype(a.dtype, np.floating):
        return np.abs(a)
    wide = a.astype(np.uint64)  # two's complement wrap-around; negating it modulo 2**64 gives |a|
    return np.where(a < 0, -wide, wide)


def top_n_mask(a: np.ndarray, n: int, m: int) -> np.ndarray:
    """Mask of the n largest |a| in every block of m consecutive elements along the last axis (ties: lower index)."""
    _tensor(a)
    if not is_int(m) or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m!r}")
    if not is_int(n) or not 0 <= n <= m:
        raise ValueError(f"n must be an integer in 0..m={m}, got {n!r}")
    length = a.shape[-1]
    if length % m:
        raise ValueError(f"last axis length {length} is not a multiple of m={m}")
    blocks = _magnitude(a).reshape(a.shape[:-1] + (length // m, m))
    return top_mask(blocks, n).reshape(a.shape)


@dataclass(frozen=True, eq=False)
class TASDResult:
    """Terms T_i (a's dtype and shape, term i n_i:m_i sparse) and residual R: sum(terms) + R == a exactly."""

    terms: tuple[np.ndarray, ...]
    residual: np.ndarray

    def approximation(self) -> np.ndarray:
        """T_1 + ... + T_k in a's dtype (exact: at most one term is non-zero at any position)."""
        return np.sum(np.stack(self.terms), axis=0, dtype=self.residual.dtype)


def _check_length(length: int, series: Series) -> None:
    for n, m in series.terms:
        if length % m:
            raise ValueError(f"last axis length {length} is not a multiple of m={m} (term {n}:{m} of series {series})")


def decompose(a: np.ndarray, series: Series | str) -> TASDResult:
    """Greedy TASD of ``a`` into the terms of ``series`` along its last axis, plus the exact residual."""
    series = _as_series(series)
    _check_length(_tensor(a).shape[-1], series)
    residual = a.copy()
    terms = []
    for n, m in series.terms:
        keep = top_n_mask(residual, n, m)
        term = np.zeros_like(residual)
        term[keep] = residual[keep]
        residual[keep] = 0
        terms.append(term)
    return TASDResult(tuple(terms), residual)


def relative_error(a: np.ndarray, result: TASDResult) -> float:
    """||residual||_F^2 / ||a||_F^2 in float64 (0 for an all-zero ``a``); both are scaled by max |a| first."""
    if result.residual.shape != _tensor(a).shape:
        raise ValueError(f"residual shape {result.residual.shape} does not match tensor shape {a.shape}")
    peak = float(_magnitude(a).max(initial=0))
    if peak == 0:
        return 0.0
    residual = result.residual.astype(np.float64) / peak
    return float(np.square(residual).sum() / np.square(a.astype(np.float64) / peak).sum())


# ---------------------------------------------------------------- TASDER


def _exact(value, what: str) -> Fraction:
    """A finite real number as an exact Fraction."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {value!r}")
    if isinstance(value, numbers.Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return Fraction(float(value))


@dataclass(frozen=True)
class _Point:
    cost: Fraction
    error: Fraction
    index: int


def _points(name, costs, errors) -> list[_Point]:
    """Validated candidates of one layer."""
    if len(costs) == 0 or len(costs) != len(errors):
        raise ValueError(f"layer {name!r} needs as many errors as costs (at least one), got {len(costs)} costs "
                         f"and {len(errors)} errors")
    return [_Point(_exact(c, f"costs[{name!r}][{i}]"), _exact(e, f"errors[{name!r}][{i}]"), i)
            for i, (c, e) in enumerate(zip(costs, errors))]


def _cross(o: _Point, a: _Point, b: _Point) -> Fraction:
    return (a.cost - o.cost) * (b.error - o.error) - (a.error - o.error) * (b.cost - o.cost)


def _hull(points: list[_Point]) -> list[_Point]:
    """Lower convex hull of the undominated candidates: cost strictly up, error strictly down, slopes up."""
    hull: list[_Point] = []
    for p in sorted(points, key=lambda p: (p.cost, p.error, p.index)):
        if hull and p.error >= hull[-1].error:
            continue  # dominated: not cheaper, not better
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) < 0:
            hull.pop()
        hull.append(p)
    return hull


def _greedy(hulls: dict, limit: Fraction) -> dict:
    """Take hull steps by increasing slope while the total cost fits ``limit``; a step that does not fit freezes
    its layer.  Returns {name: candidate index}."""
    names = list(hulls)
    steps = sorted(((b.error - a.error) / (b.cost - a.cost), pos, j)
                   for pos, name in enumerate(names) for j, (a, b) in enumerate(zip(hulls[name], hulls[name][1:])))
    at = dict.fromkeys(names, 0)
    total = sum(h[0].cost for h in hulls.values())
    frozen = set()
    for _, pos, j in steps:
        name = names[pos]
        if name in frozen:
            continue
        delta = hulls[name][j + 1].cost - hulls[name][j].cost
        if total + delta <= limit:
            total += delta
            at[name] = j + 1
        else:
            frozen.add(name)
    return {name: hulls[name][at[name]].index for name in names}


def _single_move(points: dict, base: dict, limit: Fraction) -> dict:
    """Best solution that moves at most one layer away from ``base`` within ``limit``; ties: first layer, index."""
    base_cost = sum(points[name][i].cost for name, i in base.items())
    moves = [(p.error - candidates[base[name]].error, pos, p.index, name)
             for pos, (name, candidates) in enumerate(points.items()) for p in candidates
             if base_cost - candidates[base[name]].cost + p.cost <= limit]
    if not moves:  # no layers
        return base
    _, _, index, name = min(moves)
    return {**base, name: index}


def _total_error(points: dict, choice: dict) -> Fraction:
    return sum(points[name][i].error for name, i in choice.items())


def search(costs: dict, errors: dict, budget) -> dict:
    """Multiple-choice knapsack: pick a candidate index per layer minimising the total error, total cost <= budget.

    ``costs[name]`` and ``errors[name]`` list the candidates of layer ``name``; see the module docstring for the
    method and its guarantees.  Raises ValueError when the cheapest candidates already exceed the budget.
    """
    if set(costs) != set(errors):
        raise ValueError(f"costs and errors must name the same layers, got {list(costs)} and {list(errors)}")
    points = {name: _points(name, costs[name], errors[name]) for name in costs}
    limit = _exact(budget, "budget")
    hulls = {name: _hull(p) for name, p in points.items()}
    cheapest = sum(h[0].cost for h in hulls.values())
    if cheapest > limit:
        raise ValueError(f"budget={float(limit):g} is below the total cost {float(cheapest):g} "
                         "of the cheapest candidates")
    greedy = _greedy(hulls, limit)
    single = _single_move(points, {name: h[0].index for name, h in hulls.items()}, limit)
    return greedy if _total_error(points, greedy) <= _total_error(points, single) else single


def _layer_error(name, array: np.ndarray, series: Series) -> float:
    try:
        return relative_error(array, decompose(array, series))
    except (TypeError, ValueError) as err:
        raise type(err)(f"layer {name!r}: {err}") from err


def tasder(layers: dict, menu: list, budget) -> dict:
    """TASDER: a series from ``menu`` per layer, minimising the summed relative errors under a compute budget.

    ``layers`` maps a name to (array, macs): the weights or activations to decompose along their last axis and
    the layer's dense MAC count.  A layer costs macs * density(series); ``budget`` (0 < budget <= 1) is the
    allowed fraction of the total dense MACs.  Returns {name: series}.
    """
    menu = [_as_series(s) for s in menu]
    if not menu:
        raise ValueError("menu must hold at least one series")
    fraction = _exact(budget, "budget")
    if not 0 < fraction <= 1:
        raise ValueError(f"budget must be in (0, 1] (a fraction of the dense MACs), got {budget!r}")
    costs, errors, total = {}, {}, 0
    for name, (array, macs) in layers.items():
        if isinstance(macs, bool) or not isinstance(macs, numbers.Integral) or macs < 1:
            raise ValueError(f"macs of layer {name!r} must be an integer >= 1, got {macs!r}")
        costs[name] = [int(macs) * density(s) for s in menu]
        errors[name] = [_layer_error(name, array, s) for s in menu]
        total += int(macs)
    try:
        choice = search(costs, errors, fraction * total)
    except ValueError as err:
        raise ValueError(f"budget={budget!r} of {total} dense MACs is infeasible: {err}") from err
    return {name: menu[i] for name, i in choice.items()}
