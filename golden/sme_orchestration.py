"""Orchestrations that raise SME's bit sparsity: fewer occupied word lines, hence fewer crossbars.

All act on int8 codes W (M x K; the per-channel scales stay outside) mapped as ``golden.sme``
maps them: differential P - Q, one crossbar slice per magnitude bit, rows = inputs k, columns =
outputs m, squeeze-out per (polarity, slice, output tile) into ceil(rows / xbar_rows) crossbars.

(a) ``power_terms``: every magnitude to the nearest sum of at most ``terms`` distinct powers of
    two, none below 2**low_bit (ties to the smaller, 0 allowed, capped at 127 with -128 kept, like
    ``sme.orchestrate``, which is the low_bit = 0 case): the slices below low_bit empty
    entirely. Chosen per layer.
(b) ``drop_rows`` (SME-style re-encoding, squeeze-out at crossbar granularity): the last,
    partly filled crossbar of a (polarity, slice, output tile) is emptied by clearing its rows'
    bit: every weight there moves to the magnitude nearest its given one (still at most ``terms``
    bits) built only from bits whose rows at that input stay occupied, so no new word line
    appears. The rows are the group's cheapest by the growth of sum_m (scale_m * dq)^2 * E[x_k^2],
    dq the change from the given codes: the layer's output error under a diagonal model of its
    activations (the costs of successive drops add up to it); cheapest crossbar first.
(c) ``cumulate``: a permutation of the output channels that gathers channels whose set bits
    share word lines into one output tile (greedy: seed a tile with the channel on fewest word
    lines, add the channel that adds fewest new ones). The engine runs W[perm] @ X; the host
    puts result row i back at output perm[i], exactly. Inputs need no permutation: squeeze-out's
    index map already routes any input to any row, so which inputs share a crossbar does not
    change how many crossbars a slice needs.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .arrays import is_int, matrix
from .sme import BITS, CrossbarSpec

_MAGS = np.arange((1 << (BITS - 1)) + 1)          # 0..128
_POPCOUNT = np.bitwise_count(np.arange(1 << BITS))


def _check_terms(terms, low_bit) -> None:
    if not is_int(terms) or not 1 <= terms <= BITS:
        raise ValueError(f"terms must be an integer in 1..{BITS}, got {terms!r}")
    if not is_int(low_bit) or not 0 <= low_bit < BITS - 1:
        raise ValueError(f"low_bit must be an integer in 0..{BITS - 2}, got {low_bit!r}")


@lru_cache(maxsize=None)
def nearest_table(terms: int) -> np.ndarray:
    """int16 (256 masks, 129 magnitudes): the nearest magnitude made of at most ``terms`` bits of
    the mask, <= 127 (128 stays 128 where bit 7 is in the mask); ties to the smaller."""
    values = np.arange(1 << BITS)
    table = np.zeros((1 << BITS, len(_MAGS)), np.int16)
    for mask in range(1 << BITS):
        ok = values[((values & ~mask) == 0) & (_POPCOUNT <= terms) & (values <= 127)]
        table[mask] = ok[np.argmin(np.abs(_MAGS[:, None] - ok[None, :]), axis=1)]
        if mask & 0x80:
            table[mask, 128] = 128
    return table


def power_terms(w: np.ndarray, terms: int, low_bit: int = 0) -> np.ndarray:
    """(a): int8 ``w`` with every magnitude the nearest sum of <= ``terms`` powers of two >= 2**low_bit."""
    matrix(w, "weights", np.int8)
    _check_terms(terms, low_bit)
    mask = (0xFF << low_bit) & 0xFF   # bit 7 only keeps a 128 (-128) as it is, as sme.orchestrate does
    w16 = w.astype(np.int16)
    return (np.sign(w16) * nearest_table(terms)[mask][np.abs(w16)]).astype(np.int8)


def _magnitudes(w: np.ndarray) -> np.ndarray:
    """uint8 (2, M, K): P = max(W, 0) and Q = max(-W, 0)."""
    w16 = w.astype(np.int16)
    return np.stack([np.maximum(w16, 0), np.maximum(-w16, 0)]).astype(np.uint8)


def _padded_rows(mags: np.ndarray, cols: int) -> np.ndarray:
    """(2, m_tiles, cols, K) magnitudes, M padded with zero channels."""
    _, m, k = mags.shape
    tiles = -(-m // cols)
    out = np.zeros((2, tiles * cols, k), np.uint8)
    out[:, :m] = mags
    return out.reshape(2, tiles, cols, k)


def row_masks(w: np.ndarray, config: CrossbarSpec) -> np.ndarray:
    """uint8 (2, m_tiles, K): bit s of [p, t, k] set when row k of slice s, polarity p, output tile
    t holds a set cell (1-bit cells)."""
    tiles = _padded_rows(_magnitudes(w), config.xbar_cols)
    return np.bitwise_or.reduce(tiles, axis=2)


def crossbars(w: np.ndarray, config: CrossbarSpec) -> int:
    """Physical crossbars after squeeze-out (``sme.squeeze``'s count, from the row masks)."""
    _check_config(config)
    masks = row_masks(w, config)
    rows = ((masks[..., None] >> np.arange(BITS, dtype=np.uint8)) & 1).astype(np.int64).sum(axis=2)  # (2, tiles, BITS)
    return int((-(-rows // config.xbar_rows)).sum())


def _check_config(config) -> None:
    if not isinstance(config, CrossbarSpec):
        raise TypeError(f"config must be a CrossbarSpec, got {type(config).__name__}")
    if config.cell_bits != 1:
        raise ValueError(f"the orchestrations count 1-bit cells; config has cell_bits={config.cell_bits}")


def cumulate(w: np.ndarray, config: CrossbarSpec) -> np.ndarray:
    """(c): the output permutation (int64 M) that gathers channels sharing word lines into a tile."""
    matrix(w, "weights", np.int8)
    _check_config(config)
    m = w.shape[0]
    cols = config.xbar_cols
    if m <= cols:
        return np.arange(m)
    mags = _magnitudes(w)                                          # (2, M, K)
    bits = (mags[..., None] >> np.arange(BITS, dtype=np.uint8)) & 1  # (2, M, K, BITS)
    lines = np.packbits(bits.transpose(1, 0, 2, 3).reshape(m, -1).astype(bool), axis=1)
    lines = np.pad(lines, ((0, 0), (0, -lines.shape[1] % 8))).view(np.uint64)
    left = np.ones(m, bool)
    order = []
    while left.any():
        idx = np.flatnonzero(left)
        first = idx[np.argmin(np.bitwise_count(lines[idx]).sum(axis=1))]
        union, tile = lines[first].copy(), [first]
        left[first] = False
        while len(tile) < cols and left.any():
            idx = np.flatnonzero(left)
            pick = idx[np.argmin(np.bitwise_count(lines[idx] & ~union).sum(axis=1))]
            tile.append(pick)
            left[pick] = False
            union |= lines[pick]
        order += tile
    return np.asarray(order, np.int64)


@dataclass(frozen=True)
class Drop:
    """One crossbar emptied: ``rows`` (inputs k) of slice ``bit``, polarity ``polarity``, output
    tile ``tile`` cleared; weights ``index`` (flat into M x K) become ``values``; ``cost`` the growth
    of (b)'s error; ``crossbars`` left after it."""

    polarity: int
    bit: int
    tile: int
    rows: np.ndarray
    index: np.ndarray
    values: np.ndarray
    cost: float
    crossbars: int


def apply_drops(w: np.ndarray, drops) -> np.ndarray:
    """``w`` after the given drops, in order."""
    out = w.copy().reshape(-1)
    for d in drops:
        out[d.index] = d.values
    return out.reshape(w.shape)


def drop_rows(w: np.ndarray, config: CrossbarSpec, terms: int, scale: np.ndarray, x_power: np.ndarray,
              max_drops: int | None = None, max_cost: float = np.inf, reference: np.ndarray | None = None) -> list[Drop]:
    """(b): crossbars of codes ``w`` emptied one at a time, cheapest first, until ``max_drops`` or a
    cumulative cost above ``max_cost``; ``scale`` per output channel (M,), ``x_power`` = E[x_k^2]
    (K,); errors (and re-encodings) against ``reference`` (codes of w's shape and signs where w is
    non-zero, e.g. the int8 codes before (a); default ``w``)."""
    matrix(w, "weights", np.int8)
    reference = w if reference is None else reference
    matrix(reference, "reference", np.int8)
    if reference.shape != w.shape or (np.sign(reference) * np.sign(w) < 0).any():
        raise ValueError(f"reference must have the shape {w.shape} and the signs of the weights")
    _check_config(config)
    _check_terms(terms, 0)
    m, k = w.shape
    scale = np.asarray(scale, np.float64).reshape(-1)
    x_power = np.asarray(x_power, np.float64).reshape(-1)
    if scale.shape != (m,) or x_power.shape != (k,):
        raise ValueError(f"scale must have {m} entries and x_power {k}, got {scale.shape} and {x_power.shape}")
    cols, rows_per = config.xbar_cols, config.xbar_rows
    table = nearest_table(terms)
    cur = w.copy()
    tiles = -(-m // cols)
    scale_t = np.zeros(tiles * cols)
    scale_t[:m] = scale
    scale_t = scale_t.reshape(tiles, cols)

    target = _padded_rows(_magnitudes(reference), cols)
    mags, masks = _padded_rows(_magnitudes(cur), cols), row_masks(cur, config)
    lines = ((masks[..., None] >> np.arange(BITS, dtype=np.uint8)) & 1).astype(np.int64).sum(axis=2)

    def refresh(p, t):
        """Tile t of polarity p again from ``cur``, after a drop changed it."""
        block = np.zeros((cols, k), np.int16)
        rows = cur[t * cols:(t + 1) * cols].astype(np.int16)
        block[:rows.shape[0]] = np.maximum(rows, 0) if p == 0 else np.maximum(-rows, 0)
        mags[p, t] = block.astype(np.uint8)
        masks[p, t] = np.bitwise_or.reduce(mags[p, t], axis=0)
        lines[p, t] = ((masks[p, t][:, None] >> np.arange(BITS, dtype=np.uint8)) & 1).sum(axis=0)

    def group_plan(mags, masks, p, s, t):
        """(cost, rows, index, values) of emptying the last crossbar of group (p, s, t), or None."""
        bit = np.uint8(1 << s)
        occupied = np.flatnonzero(masks[p, t] & bit)
        if occupied.size == 0:
            return None
        count = occupied.size - rows_per * (-(-occupied.size // rows_per) - 1)
        v = mags[p, t][:, occupied].astype(np.int64)                       # (cols, R) now
        goal = target[p, t][:, occupied].astype(np.int64)                  # what (a) asked for
        allowed = (masks[p, t][occupied] & ~bit).astype(np.int64)          # (R,)
        new = np.where(v & int(bit), table[allowed[None, :], goal], v)
        before, after = (v - goal) * scale_t[t][:, None], (new - goal) * scale_t[t][:, None]
        row_cost = (after ** 2 - before ** 2).sum(axis=0) * x_power[occupied]
        chosen = np.sort(np.argsort(row_cost, kind="stable")[:count])
        mm, rr = np.nonzero(new[:, chosen] != v[:, chosen])
        out_m = t * cols + mm
        keep = out_m < m
        sign = 1 - 2 * p
        index = out_m[keep] * k + occupied[chosen][rr[keep]]
        values = (sign * new[:, chosen][mm[keep], rr[keep]]).astype(np.int8)
        return float(row_cost[chosen].sum()), occupied[chosen], index, values

    heap, plans, version = [], {}, {}
    for p, t, s in np.ndindex(2, tiles, BITS):
        plan = group_plan(mags, masks, p, s, t)
        if plan is not None:
            plans[(p, s, t)], version[(p, s, t)] = plan, 0
            heapq.heappush(heap, (plan[0], p, s, t, 0))
    drops, total = [], 0.0
    while heap and (max_drops is None or len(drops) < max_drops):
        cost, p, s, t, ver = heapq.heappop(heap)
        if ver != version[(p, s, t)]:
            continue
        if total + cost > max_cost:
            break
        _, rows, index, values = plans[(p, s, t)]
        cur.reshape(-1)[index] = values
        total += cost
        refresh(p, t)
        drops.append(Drop(p, s, t, rows, index, values, cost, int((-(-lines // rows_per)).sum())))
        for s2 in range(BITS):   # this input's other slices of (p, t) saw their allowed bits shrink
            key = (p, s2, t)
            version[key] = version.get(key, 0) + 1
            plan = group_plan(mags, masks, p, s2, t)
            if plan is not None:
                plans[key] = plan
                heapq.heappush(heap, (plan[0], p, s2, t, version[key]))
    return drops


def output_power(w: np.ndarray, scale: np.ndarray, x_power: np.ndarray) -> float:
    """sum_{m,k} (scale_m w_mk)^2 E[x_k^2]: the layer's output power under the diagonal model (b)'s
    costs are divided by to compare layers."""
    return float(((np.asarray(scale, np.float64).reshape(-1, 1) * w.astype(np.float64)) ** 2 @
                  np.asarray(x_power, np.float64)).sum())
