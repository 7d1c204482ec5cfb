"""TASD on the HighLight array: int8 weights as a series of n:m structured-sparse terms, one HSS GEMM each.

W (out x in) is quantised per output channel to int8 codes A (``golden.quant.per_channel_int8``) and A is
decomposed along K (``golden.tasd.decompose``) into T_1 + ... + T_k + R; R is dropped.  The activations are
int8 per tensor (``quantise_activations``), X = codes.T (K x N).  Each term T_i is n_i:m_i sparse along K and
runs on HighLight under an HSS pattern that holds every n:m matrix exactly (``term_pattern``):

* h0 a multiple of m (m == h0 included): a block of h0 holds at most n*h0/m values, so "k:k,(n*h0/m):h0",
  rank 1 full, with k = min(g1_max, lanes // g0) blocks a group (one weight beat per group, lanes filled);
* m a multiple of h0, h1 = m / h0 <= h1_max: "min(n,h1):h1,min(n,h0):h0" (a group is one block of m).

Anything else (m neither a multiple nor a divisor of h0, or a g0/g1/h1 beyond the array) is refused.

Padding.  K is padded on the host with zero columns of A and zero rows of X up to a multiple of every term's m
and every pattern's group size, before the decomposition; a zero never adds to a product, so nothing changes.

Accumulation.  Terms of different patterns are separate GEMMs (a configuration runs one pattern); their int64
partial results are summed by the host driver in ``combine``.  Terms that share a pattern are concatenated
along K ([T_i | T_j] against [X; X], exact: each group still holds the pattern), so the array accumulates them
itself within a K tile.  ``combine`` then scales the sum by w_scale[row] * x_scale and transposes it to
tokens x out, float32.
"""
from __future__ import annotations

import numpy as np

from sparseloom.golden import tasd
from sparseloom.golden.hss import HSSPattern
from sparseloom.golden.quant import per_channel_int8
from sparseloom.units import unit

from . import Gemm, LayerProgram, layer_operands, pad_k, padded_k, quantise_activations


def term_pattern(n: int, m: int, config) -> HSSPattern:
    """An HSS pattern ``config`` (a HighLightConfig) runs that every n:m-sparse matrix satisfies.

    Raises ValueError naming the term and the patterns the array provisions when there is none."""
    h0 = config.h0
    if h0 % m == 0:
        g0 = n * h0 // m
        k = max(1, min(config.g1_max, config.lanes // g0))
        pattern = HSSPattern(k, k, g0, h0)
    elif m % h0 == 0 and m // h0 <= config.h1_max:
        h1 = m // h0
        pattern = HSSPattern(min(n, h1), h1, min(n, h0), h0)
    else:
        pattern = None
    try:
        if pattern is None:
            raise ValueError(f"m={m} is neither a multiple nor a divisor of h0={h0} within h1_max={config.h1_max}")
        config.check_pattern(pattern)
    except ValueError as err:
        raise ValueError(f"term {n}:{m} is not representable on {config.name} ({err}); its patterns are: "
                         f"{', '.join(config.provisioned_patterns())}") from None
    return pattern


class TasdMethod:
    """``tasd:S``: the int8 weights as the TASD series S, one HighLight GEMM per pattern.

    The residual is dropped; the host sums the terms' int64 results and scales them (module docstring)."""

    units = ("highlight",)

    def __init__(self, series_text: str):
        """Parse "N1:M1+N2:M2+..." (optionally prefixed "tasd:"), e.g. "2:4+1:4"."""
        try:
            self.series = tasd.parse_series(series_text.removeprefix("tasd:"))
        except (ValueError, AttributeError):
            raise ValueError(f"tasd method: malformed series {series_text!r}; allowed form 'tasd:N1:M1+N2:M2+...' "
                             "with 1 <= N <= M (or 'dense'), e.g. 'tasd:2:4+1:4'") from None
        self.text = f"tasd:{self.series}"

    def program(self, name: str, w: np.ndarray, x: np.ndarray, config=None) -> LayerProgram:
        """The HighLight GEMMs of layer ``name`` (y = x @ w.T) and the host step that sums and scales them."""
        w, x = layer_operands(w, x)
        hl = unit("highlight")
        config = hl.presets[hl.default_preset] if config is None else config
        patterns = [term_pattern(n, m, config) for n, m in self.series.terms]
        codes, w_scale = per_channel_int8(w)
        xq, x_scale = quantise_activations(x)
        k = padded_k(w.shape[1], [m for _, m in self.series.terms] + [p.group_size for p in patterns])
        codes, xk = pad_k(codes, xq.T, k)
        result = tasd.decompose(codes, self.series)
        gemms = _gemms(name, self.series, patterns, result.terms, xk)
        scale = w_scale * x_scale

        def combine(ys: list[np.ndarray]) -> np.ndarray:
            total = np.sum([np.asarray(y, dtype=np.int64) for y in ys], axis=0, dtype=np.int64)
            return (total * scale).T.astype(np.float32)

        report = {"series": str(self.series), "density": float(tasd.density(self.series)),
                  "patterns": [str(p) for p in patterns], "k": w.shape[1], "padded_k": k,
                  "relative_error": tasd.relative_error(codes, result),
                  "accumulation": "host, int64 over GEMMs; terms sharing a pattern concatenated along K"}
        return LayerProgram(gemms, combine, report)


def _gemms(name, series, patterns, terms, x) -> list[Gemm]:
    """One Gemm per distinct pattern, in first-use order: its terms side by side along K against X repeated."""
    by_pattern: dict[HSSPattern, list[int]] = {}
    for i, pattern in enumerate(patterns):
        by_pattern.setdefault(pattern, []).append(i)
    gemms = []
    for pattern, members in by_pattern.items():
        terms_text = "+".join(f"{series.terms[i][0]}:{series.terms[i][1]}" for i in members)
        label = f"{name} term{'s' * (len(members) > 1)} {'+'.join(str(i + 1) for i in members)} ({terms_text} as {pattern})"
        gemms.append(Gemm("highlight", pattern, np.concatenate([terms[i] for i in members], axis=1),
                          np.concatenate([x] * len(members), axis=0), label))
    return gemms
