"""SDQ on HighLight and the LUT Tensor Core: int8 n:m outliers on one, low-bit group-quantised remainder on the other.

W (out x in) and x are first padded on the host with zero columns up to a multiple of m and of the group
(a zero never adds to a product; a stem convolution's K = 27 becomes 64 with g64).  W is decomposed in float (``golden.sdq.decompose``) into int8 n:m outliers S with a scale per row
and ``bits``-bit remainder codes Q in -Q..Q with a scale per row and group of ``group`` K elements.  The
activations are int8 per tensor (``quantise_activations``), X = codes.T (K x N).

GEMMs, in order:

* S @ X on HighLight (only when n > 0), under the HSS pattern of the n:m term (``tasd.term_pattern``); K is
  padded further with zeros up to the pattern's group size when it is not a multiple of it;
* Q_g @ X_g on the LUT core, one GEMM per K group g (K = group), format ``lut.weight_format(bits)`` (bits-bit
  two's complement holds -Q..Q); the LUT planner pads K to its table groups itself.

Where the scales are applied.  The per-group scales are applied per K group on the host, in ``combine``,
to each group's exact int64 result, and the per-row outlier scale to S @ X:
y = x_scale * (sparse_scale * (S @ X) + sum_g quant_scale[:, g] * (Q_g @ X_g)), in float64, transposed to
tokens x out and rounded to float32.  The integer results are those of ``SDQDecomposition.partial_products``.

Rounding bound (``rounding_bound``).  With x_q = X.T * x_scale the dequantised activations and
D = decomposition.dense(), every output lies within
2^-22 * (|S| * sparse_scale + |Q| * quant_scale) @ |x_q|.T + 2^-23 * |x_q @ D.T| of x_q @ D.T computed in
float64: dense() rounds each product and their sum to float32 (<= 2^-23 relative to |S|s + |Q|q each, with
slack for the float64 sums), and the output is rounded to float32 once.  Against the float activations x,
add the activation rounding |x - x_q| <= x_scale / 2: (x_scale / 2) * sum_k |D[o, k]|.
"""
from __future__ import annotations

import numpy as np

from sparseloom.gen.highlight.config import HighLightConfig
from sparseloom.gen.lut.config import LutConfig
from sparseloom.golden import lut, sdq
from sparseloom.units import unit

from . import Gemm, LayerProgram, quantise_activations
from . import layer_operands, pad_k, padded_k
from .tasd import term_pattern

_CONFIG_TYPES = {"highlight": HighLightConfig, "lut": LutConfig}


def _configs(config) -> dict:
    """{"highlight": HighLightConfig, "lut": LutConfig} from ``config`` (None or a dict of some of them)."""
    config = {} if config is None else config
    if not isinstance(config, dict) or not set(config) <= set(_CONFIG_TYPES):
        raise ValueError(f"config must be None or a dict with keys among {', '.join(_CONFIG_TYPES)}, got {config!r}")
    out = {}
    for name, kind in _CONFIG_TYPES.items():
        u = unit(name)
        out[name] = config.get(name, u.presets[u.default_preset])
        if not isinstance(out[name], kind):
            raise TypeError(f"config[{name!r}] must be a {kind.__name__}, got {type(out[name]).__name__}")
    return out


def remainder_format(bits: int, config: LutConfig) -> lut.WeightFormat:
    """The LUT format of ``bits``-bit remainder codes: two's complement, if ``config`` provisions it."""
    allowed = [f for f in config.supported_formats() if f.isdigit() and int(f) >= 2]
    if str(bits) not in allowed:
        raise ValueError(f"remainder bits={bits} do not run on {config.name}; allowed bits: {', '.join(allowed)}")
    return lut.weight_format(bits)


def rounding_bound(decomposition: sdq.SDQDecomposition, xq: np.ndarray, x_scale: float) -> np.ndarray:
    """Elementwise bound (tokens x out) on |combine - x_q @ D.T| with x_q = xq * x_scale (module docstring)."""
    d = decomposition
    m, g = d.quant_scale.shape
    quant_scale = np.repeat(d.quant_scale.astype(np.float64), d.k // g, axis=1)
    parts = np.abs(d.sparse * d.sparse_scale.astype(np.float64)) + np.abs(d.quant * quant_scale)
    x_q = np.abs(xq.astype(np.float64) * x_scale)
    reference = x_q @ d.dense().astype(np.float64).T
    return 2.0**-22 * (x_q @ parts.T) + 2.0**-23 * np.abs(reference)


class SdqMethod:
    """``sdq:N:M+WBgG``: W as int8 n:m outliers (HighLight) plus B-bit remainder codes per group of G (LUT core).

    The host applies the row and group scales to the exact integer results (module docstring)."""

    units = ("highlight", "lut")

    def __init__(self, config_text: str):
        """Parse "N:M+WBgG" (optionally prefixed "sdq:"), e.g. "1:8+W4g64"."""
        try:
            self.config = sdq.SDQConfig.parse(config_text.removeprefix("sdq:"))
        except (ValueError, TypeError, AttributeError) as err:
            raise ValueError(f"sdq method: bad config {config_text!r} ({err}); allowed form 'sdq:N:M+WBgG' with "
                             "0 <= N < M, 2 <= B <= 8, G >= 1, e.g. 'sdq:1:8+W4g64'") from None
        self.text = f"sdq:{self.config}"

    def decompose(self, name: str, w: np.ndarray) -> sdq.SDQDecomposition:
        """Layer ``name``'s weights (K padded) in SDQ's format: round to nearest (``sdq.decompose``)."""
        return sdq.decompose(w, self.config)

    def program(self, name: str, w: np.ndarray, x: np.ndarray, config=None) -> LayerProgram:
        """The outlier GEMM (HighLight) and per-group remainder GEMMs (LUT) of layer ``name``, and ``combine``."""
        w, x = layer_operands(w, x)
        configs = _configs(config)
        c = self.config
        fmt = remainder_format(c.bits, configs["lut"])
        pattern = term_pattern(c.n, c.m, configs["highlight"]) if c.n else None
        w, xk = pad_k(w, x.T, padded_k(w.shape[1], [c.m, c.group]))
        d = self.decompose(name, w)
        xq, x_scale = quantise_activations(xk.T)
        xk = xq.T
        gemms = []
        if pattern is not None:
            s, xs = pad_k(d.sparse, xk, padded_k(d.k, [pattern.group_size]))
            gemms.append(Gemm("highlight", pattern, s, xs, f"{name} outliers {c.n}:{c.m} as {pattern}"))
        for g in range(d.k // c.group):
            cols = slice(g * c.group, (g + 1) * c.group)
            gemms.append(Gemm("lut", fmt, np.ascontiguousarray(d.quant[:, cols]), np.ascontiguousarray(xk[cols]),
                              f"{name} remainder group {g} (W{c.bits})"))

        def combine(ys: list[np.ndarray]) -> np.ndarray:
            ys = [np.asarray(y, dtype=np.int64).astype(np.float64) for y in ys]
            sparse = d.sparse_scale.astype(np.float64) * ys.pop(0) if pattern is not None else 0.0
            quant = sum(d.quant_scale[:, g:g + 1].astype(np.float64) * y for g, y in enumerate(ys))
            return (x_scale * (sparse + quant)).T.astype(np.float32)

        report = {"config": str(c), "pattern": None if pattern is None else str(pattern), "format": fmt.name,
                  "relative_compute": float(d.relative_compute()),
                  "storage_bits_per_weight": float(d.storage_bits_per_weight()),
                  "scales": "per K group on the host, in combine (one LUT GEMM per group)"}
        return LayerProgram(gemms, combine, report)
