"""Typed configurations of the LUT Tensor Core and of its dequantise-then-multiply baseline.

Both cores share the run-time weight-format register (``format_layout``): a weight of
``planes`` bit-planes is w = (sum_j c_j s_j - corr) / 2^halve with s_j = 2*bit_j - 1 and
c_j = 2^j if ``weighted`` else 1, the last plane's c negated if ``neg_msb`` (see
``golden/lut.py`` for the algebra). That covers 1-bit {-1, +1}, 2..4-bit two's
complement and ternary weights with one generated core.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from sparseloom.golden.lut import accumulator_bound, table_entries_stored, table_width

from ..config_base import BATCH_WIDTH, Config, check_acc_width, check_name, field_bits, int_in
from ..tiles import RESULT_LATENCY

#: The weight-format fields of the run-time configuration register.
FORMAT_FIELDS = {"planes": 3, "weighted": 1, "neg_msb": 1, "corr": 1, "halve": 1}


class _LowBitTile(Config):
    """What the LUT core and its baseline share: an ``m_tile`` x ``n_tile`` output tile,
    activations in groups of ``g`` rows of K, the weight-format register."""

    @property
    def max_groups(self) -> int:
        return self.k_max // self.g

    def supported_formats(self) -> list[str]:
        return [str(b) for b in range(1, self.max_wbits + 1)] + (["ternary"] if self.max_wbits >= 2 else [])

    def check_format(self, fmt) -> None:
        if fmt.name not in self.supported_formats():
            raise ValueError(f"wbits={fmt.name} is not provisioned on {self.name}; allowed: "
                             f"{', '.join(self.supported_formats())}")

    @property
    def cfg_layout(self) -> data.StructLayout:
        return data.StructLayout({
            **{k: unsigned(w) for k, w in FORMAT_FIELDS.items()},
            "groups": unsigned(field_bits(self.max_groups)),
            "batches": unsigned(BATCH_WIDTH),
        })

    @property
    def act_layout(self) -> data.ArrayLayout:
        """One group of activations: element [i][c] = X[q*g + i, n0 + c]."""
        return data.ArrayLayout(data.ArrayLayout(signed(self.act_width), self.n_tile), self.g)

    @property
    def result_layout(self) -> data.ArrayLayout:
        """One row batch: element [r][c] = Y[m0 + r, n0 + c]."""
        return data.ArrayLayout(data.ArrayLayout(signed(self.acc_width), self.n_tile), self.m_tile)

    def _check_common(self) -> None:
        check_name(self.name)
        int_in("g", self.g, 1, 6)
        int_in("max_wbits", self.max_wbits, 1, 4)
        int_in("m_tile", self.m_tile, 1, 256)
        int_in("n_tile", self.n_tile, 1, 64)
        int_in("act_width", self.act_width, 2, 16)
        int_in("k_max", self.k_max, self.g, 1 << 16)
        if self.k_max % self.g:
            raise ValueError(f"k_max must be a multiple of g={self.g}, got {self.k_max}")
        check_acc_width(self.acc_width, accumulator_bound(self.max_wbits, self.k_max, self.act_width), 40,
                        f"k_max={self.k_max} at max_wbits={self.max_wbits} needs")

    def _accumulator(self) -> dict:
        return {"width": self.acc_width,
                "largest_magnitude": accumulator_bound(self.max_wbits, self.k_max, self.act_width)}


@dataclass(frozen=True)
class LutConfig(_LowBitTile):
    """``m_tile`` x ``n_tile`` look-up units over tables of ``g`` activations.

    The tile is elongated along M: one precomputed table (per group of ``g`` rows of K
    and column of X) serves all ``m_tile`` weight rows. ``k_max`` is the depth along K of
    each half of the double-buffered table memory.
    """

    name: str
    g: int
    max_wbits: int
    m_tile: int
    n_tile: int
    k_max: int
    act_width: int = 8
    table_width: int = 11
    acc_width: int = 32

    def __post_init__(self):
        self._check_common()
        need = table_width(self.g, self.act_width)
        int_in("table_width", self.table_width, 2, 32)
        if self.table_width < need:
            raise ValueError(f"table_width={self.table_width} cannot hold a sum of g={self.g} "
                             f"{self.act_width}-bit activations exactly: need >= {need} (allowed {need}..32)")

    @property
    def entries(self) -> int:
        """Table entries stored per group and column (symmetrised: 2^(g-1))."""
        return table_entries_stored(self.g)

    @property
    def units(self) -> int:
        return self.m_tile * self.n_tile

    @property
    def wbit_macs_per_cycle(self) -> int:
        """Peak throughput in weight-bits x activations per cycle: each unit looks up g."""
        return self.units * self.g

    # ----- layouts --------------------------------------------------------------------
    @property
    def weight_layout(self) -> data.ArrayLayout:
        """One plane of one group: element [r] is g bits, bit i = plane bit of W[m0+r, q*g+i]."""
        return data.ArrayLayout(unsigned(self.g), self.m_tile)

    @property
    def table_layout(self) -> data.ArrayLayout:
        """One table-memory word: element [c][e] = stored entry e of column c's table."""
        return data.ArrayLayout(data.ArrayLayout(signed(self.table_width), self.entries), self.n_tile)

    def derived(self) -> dict:
        return {
            "lookup_units": self.units,
            "table_entries_stored_per_group_and_column": self.entries,
            "table_entries_without_symmetrisation": 2 * self.entries,
            "table_memory_bits": 2 * self.max_groups * self.n_tile * self.entries * self.table_width,
            "peak_weight_bit_macs_per_cycle": self.wbit_macs_per_cycle,
            "weight_formats": self.supported_formats(),
            "cycles_per_group": "planes (1..4; ternary 2) per row batch",
            "accumulator": {**self._accumulator(), "rounding": "none: the final halving divides an even sum"},
            "latency": {"result_after_last_weight_beat": RESULT_LATENCY},
        }


@dataclass(frozen=True)
class MacConfig(_LowBitTile):
    """Baseline: ``m_tile`` x ``n_tile`` INT8 MACs, each dequantising a low-bit weight first.

    It consumes the same activation beats (groups of ``g`` rows of K) and configuration
    register as the LUT core; its weight beats carry one column of W per cycle.
    """

    name: str
    m_tile: int
    n_tile: int
    max_wbits: int
    k_max: int
    g: int = 4
    act_width: int = 8
    acc_width: int = 32

    def __post_init__(self):
        self._check_common()

    @classmethod
    def matching(cls, lut: LutConfig, name: str) -> "MacConfig":
        """The baseline with the LUT core's peak weight-bits x activations per cycle at the
        widest weights: m_tile * g / max_wbits MACs per column."""
        rows, rem = divmod(lut.m_tile * lut.g, lut.max_wbits)
        if rem:
            raise ValueError(f"m_tile*g={lut.m_tile * lut.g} must be a multiple of max_wbits={lut.max_wbits}")
        return cls(name, m_tile=rows, n_tile=lut.n_tile, max_wbits=lut.max_wbits, k_max=lut.k_max,
                   g=lut.g, act_width=lut.act_width, acc_width=lut.acc_width)

    @property
    def weight_layout(self) -> data.ArrayLayout:
        """One column k of W for the row batch: element [r] holds W[m0+r, k]'s plane bits."""
        return data.ArrayLayout(unsigned(self.max_wbits), self.m_tile)

    @property
    def wbit_macs_per_cycle(self) -> int:
        return self.m_tile * self.n_tile * self.max_wbits

    def derived(self) -> dict:
        return {
            "macs": self.m_tile * self.n_tile,
            "peak_weight_bit_macs_per_cycle": self.wbit_macs_per_cycle,
            "weight_formats": self.supported_formats(),
            "dequantiser": "per weight format, a 2^max_wbits-entry code -> int table loaded with cfg",
            "accumulator": self._accumulator(),
            "latency": {"result_after_last_weight_beat": RESULT_LATENCY},
        }


LUT_PRESETS = {c.name: c for c in [
    LutConfig("lut_small", g=2, max_wbits=4, m_tile=4, n_tile=2, k_max=64, table_width=10, acc_width=22),
    # Elongated tile for LLM decoding shapes (N = 8): one table serves 64 weight rows.
    LutConfig("lut_default", g=4, max_wbits=4, m_tile=64, n_tile=4, k_max=512),
]}
#: Dequantise-then-multiply baselines with each LUT preset's peak weight-bit throughput.
MAC_PRESETS = {c.name: c for c in [
    MacConfig.matching(LUT_PRESETS[f"lut_{size}"], f"mac_{size}") for size in ("small", "default")
]}
