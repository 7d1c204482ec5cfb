"""Typed configurations of the HighLight HSS PE array and of its dense baseline, and their presets.

The configuration is the single source of truth: the Amaranth generator builds its ports
from the layouts defined here, the JSON description is emitted from here, and the host
planner and the cycle model (``gen/highlight/unit.py``) read the same object.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from sparseloom.golden.reference import product_sum_bound

from ..config_base import BATCH_WIDTH, TILES_WIDTH, Config, check_acc_width, check_name, field_bits, int_in
from ..tiles import RESULT_LATENCY


class _LaneArray(Config):
    """What HighLight and its dense baseline share: ``rows`` x ``cols`` PEs of ``lanes``
    multipliers (PE (r, c): weight row r, activation column c), int accumulators."""

    def _check_array(self, block: str) -> None:
        """The checks both share; K comes in whole blocks of ``block`` (a field name)."""
        check_name(self.name)
        int_in("rows", self.rows, 1, 64)
        int_in("cols", self.cols, 1, 64)
        int_in("data_width", self.data_width, 2, 16)
        if self.k_max % getattr(self, block):
            raise ValueError(f"k_max must be a multiple of {block}={getattr(self, block)}, got {self.k_max}")
        check_acc_width(self.acc_width, self.largest_sum, 32,
                        f"k_max={self.k_max} products of {self.data_width}-bit operands need")

    @property
    def m_tile(self) -> int:
        """Output rows per row batch (the PE rows)."""
        return self.rows

    @property
    def n_tile(self) -> int:
        """Output columns per column tile (the PE columns)."""
        return self.cols

    @property
    def multipliers(self) -> int:
        return self.rows * self.cols * self.lanes

    @property
    def largest_sum(self) -> int:
        """Largest |y| of any K <= k_max: what the accumulators are sized for."""
        return product_sum_bound(self.k_max, self.data_width)

    @property
    def result_layout(self) -> data.ArrayLayout:
        """One result beat: a row batch, element [r][c] = Y[m0 + r, n0 + c]."""
        return data.ArrayLayout(data.ArrayLayout(signed(self.acc_width), self.cols), self.rows)

    def _accumulator(self) -> dict:
        return {
            "accumulator": {
                "width": self.acc_width,
                "largest_magnitude": self.largest_sum,
                "overflow": (f"none: any K <= k_max={self.k_max} of {self.data_width}-bit products sums to "
                             f"|y| <= {self.largest_sum} < 2^{self.acc_width - 1}"),
            },
            "latency": {"result_after_last_weight_beat": RESULT_LATENCY},
        }


@dataclass(frozen=True)
class HighLightConfig(_LaneArray):
    """One HighLight array: ``rows`` x ``cols`` PEs, each with ``g0_max`` multipliers.

    A PE row works on one weight row, a PE column on one activation column. Blocks are
    ``h0`` elements; a group is ``h1`` blocks with ``h1`` chosen at run time up to
    ``h1_max``; ``g0``/``g1`` are chosen at run time up to ``g0_max``/``g1_max``.
    ``k_max`` is the depth, along K, of each half of the double-buffered activation buffer.
    """

    name: str
    rows: int
    cols: int
    h0: int
    g0_max: int
    h1_max: int
    g1_max: int
    k_max: int
    data_width: int = 8
    acc_width: int = 32

    def __post_init__(self):
        int_in("h0", self.h0, 2, 16)
        int_in("g0_max", self.g0_max, 1, self.h0)
        int_in("h1_max", self.h1_max, 2, 16)
        int_in("g1_max", self.g1_max, 1, self.h1_max)
        int_in("k_max", self.k_max, self.h0 * self.h1_max, 1 << 16)
        self._check_array("h0")

    @property
    def lanes(self) -> int:
        """Multipliers per PE; a beat carries ``lanes // g0`` kept blocks per row."""
        return self.g0_max

    @property
    def banks(self) -> int:
        """Activation banks: a power of two >= h1_max, so any h1 <= h1_max consecutive
        blocks sit in distinct banks and a whole group is read in one cycle."""
        return 1 << (self.h1_max - 1).bit_length()

    @property
    def lg_banks(self) -> int:
        """Bits of a bank index (at least 1: h1_max >= 2)."""
        return (self.banks - 1).bit_length()

    @property
    def bank_rows(self) -> int:
        """Rows of one bank per buffer half (the memory holds two halves)."""
        return -(-self.k_max // self.h0 // self.banks)

    @property
    def max_blocks(self) -> int:
        return self.k_max // self.h0

    @property
    def offset_width(self) -> int:
        return (self.h0 - 1).bit_length()

    @property
    def slot_width(self) -> int:
        return (self.h1_max - 1).bit_length()

    # ----- stream layouts shared by generator, driver and description ---------------
    @property
    def weight_row_layout(self) -> data.StructLayout:
        return data.StructLayout({
            "value": data.ArrayLayout(signed(self.data_width), self.lanes),
            "offset": data.ArrayLayout(unsigned(self.offset_width), self.lanes),
            "slot": data.ArrayLayout(unsigned(self.slot_width), self.lanes),
        })

    @property
    def weight_layout(self) -> data.ArrayLayout:
        """One weight beat: for each PE row, ``lanes`` values with their rank-0 offsets,
        and the rank-1 block index of each kept-block slot (lane l uses slot l // g0)."""
        return data.ArrayLayout(self.weight_row_layout, self.rows)

    @property
    def block_layout(self) -> data.ArrayLayout:
        """One block of a tile, as a bank holds it: element [o][c] = X[block*h0 + o, n0 + c]."""
        return data.ArrayLayout(data.ArrayLayout(signed(self.data_width), self.cols), self.h0)

    @property
    def act_layout(self) -> data.ArrayLayout:
        """One activation beat: ``banks`` consecutive blocks, one for each bank, element [j][c] =
        X[beat*banks*h0 + j, n0 + c]; a tile's last beat is filled with zero rows."""
        return data.ArrayLayout(data.ArrayLayout(signed(self.data_width), self.cols), self.banks * self.h0)

    @property
    def cfg_layout(self) -> data.StructLayout:
        """The run-time configuration register: the HSS pattern, the tile shape and the GEMM's tile count."""
        return data.StructLayout({
            "g0": unsigned(field_bits(self.g0_max)),
            "g1": unsigned(field_bits(self.g1_max)),
            "h1": unsigned(field_bits(self.h1_max)),
            "groups": unsigned(field_bits(self.max_blocks)),
            "batches": unsigned(BATCH_WIDTH),
            "tiles": unsigned(TILES_WIDTH),
        })

    # ----- run-time patterns --------------------------------------------------------
    def check_pattern(self, pattern) -> None:
        """Raise ValueError unless this array can run ``pattern`` (a golden HSSPattern)."""
        if pattern.h0 != self.h0:
            raise ValueError(f"pattern {pattern}: h0 must be {self.h0} on {self.name}, got {pattern.h0}")
        if pattern.g0 > self.g0_max:
            raise ValueError(f"pattern {pattern}: g0 must be in 1..{self.g0_max} on {self.name}, got {pattern.g0}")
        if pattern.g1 > self.g1_max:
            raise ValueError(f"pattern {pattern}: g1 must be in 1..{self.g1_max} on {self.name}, got {pattern.g1}")
        if pattern.h1 > self.h1_max:
            raise ValueError(
                f"pattern {pattern}: h1 must be in {pattern.g1}..{self.h1_max} on {self.name}, got {pattern.h1}")

    def provisioned_patterns(self) -> list[str]:
        """Every (g1, h1, g0) the array can run, as text patterns, densest first."""
        return [f"{g1}:{h1},{g0}:{self.h0}"
                for g0 in range(self.g0_max, 0, -1)
                for g1 in range(self.g1_max, 0, -1)
                for h1 in range(g1, self.h1_max + 1)]

    def max_groups(self, h1: int) -> int:
        """Groups of one tile that fit a buffer half."""
        return self.max_blocks // h1

    # ----- description ---------------------------------------------------------------
    def derived(self) -> dict:
        return {
            "lanes_per_pe": self.lanes,
            "multipliers": self.multipliers,
            "activation_banks": self.banks,
            "activation_beat": "one block per bank: banks x h0 rows of K",
            "activation_buffer_bits": 2 * self.banks * self.bank_rows * self.h0 * self.cols * self.data_width,
            "runtime_pattern": {
                "h0": self.h0, "g0": [1, self.g0_max], "g1": [1, self.g1_max], "h1": ["g1", self.h1_max],
                "blocks_per_beat": "lanes // g0", "beats_per_group": "ceil(g1 / (lanes // g0))",
            },
            **self._accumulator(),
        }


@dataclass(frozen=True)
class DenseConfig(_LaneArray):
    """The dense baseline of a HighLight array: ``rows`` x ``cols`` PEs of ``lanes`` multipliers,
    each lane wired to one fixed element of a block of ``lanes`` consecutive K (no muxes, no
    banks): the same multiplier count as a HighLight array with ``g0_max = lanes``."""

    name: str
    rows: int
    cols: int
    lanes: int
    k_max: int
    data_width: int = 8
    acc_width: int = 32
    load_blocks: int = 1

    def __post_init__(self):
        int_in("lanes", self.lanes, 1, 16)
        int_in("k_max", self.k_max, self.lanes, 1 << 16)
        if self.load_blocks not in (1, 2, 4, 8, 16):
            raise ValueError(f"load_blocks must be a power of two in 1..16, got {self.load_blocks!r}")
        self._check_array("lanes")

    @classmethod
    def matching(cls, array: HighLightConfig, name: str) -> DenseConfig:
        """The dense array with ``array``'s PEs, multipliers per PE, depth and widths, loading as
        many rows of K per activation beat as ``array`` does (rounded down to whole blocks, a
        power of two of them)."""
        per_beat = max(1, array.banks * array.h0 // array.lanes)
        return cls(name, array.rows, array.cols, array.lanes, array.k_max - array.k_max % array.lanes,
                   array.data_width, array.acc_width, min(16, 1 << (per_beat.bit_length() - 1)))

    @property
    def max_blocks(self) -> int:
        """Blocks of ``lanes`` K rows in one half of the activation buffer."""
        return self.k_max // self.lanes

    @property
    def lg_load_blocks(self) -> int:
        return (self.load_blocks - 1).bit_length()

    @property
    def buffer_rows(self) -> int:
        """Rows of ``load_blocks`` blocks (one activation beat each) in one half of the buffer."""
        return -(-self.max_blocks // self.load_blocks)

    @property
    def weight_layout(self) -> data.ArrayLayout:
        """One weight beat: ``lanes`` consecutive weights of each PE row."""
        return data.ArrayLayout(data.ArrayLayout(signed(self.data_width), self.lanes), self.rows)

    @property
    def act_layout(self) -> data.ArrayLayout:
        """One activation beat: ``load_blocks`` blocks of ``lanes`` rows of K, element [j][c] =
        X[beat*load_blocks*lanes + j, n0 + c]; a tile's last beat is filled with zero rows."""
        return data.ArrayLayout(data.ArrayLayout(signed(self.data_width), self.cols), self.load_blocks * self.lanes)

    @property
    def cfg_layout(self) -> data.StructLayout:
        """The run-time configuration register: the tile shape and the GEMM's tile count."""
        return data.StructLayout({"groups": unsigned(field_bits(self.max_blocks)), "batches": unsigned(BATCH_WIDTH),
                                  "tiles": unsigned(TILES_WIDTH)})

    def derived(self) -> dict:
        return {"multipliers": self.multipliers,
                "activation_buffer_bits": 2 * self.buffer_rows * self.load_blocks * self.lanes * self.cols * self.data_width,
                "activation_beat": "load_blocks blocks of lanes rows of K", **self._accumulator()}


HIGHLIGHT_PRESETS = {c.name: c for c in [
    # Small enough to simulate in seconds and to fit an iCE40 UP5K.
    HighLightConfig("highlight_small", rows=2, cols=2, h0=4, g0_max=2, h1_max=4, g1_max=2, k_max=64),
    # HighLight's own pattern set: rank-1 4:4..4:7 over rank-0 4:4, 2:4, 1:4.
    HighLightConfig("highlight_default", rows=8, cols=8, h0=4, g0_max=4, h1_max=7, g1_max=4, k_max=1680),
    # Eight-element blocks on a non-square array.
    HighLightConfig("highlight_h8", rows=4, cols=2, h0=8, g0_max=4, h1_max=4, g1_max=2, k_max=256),
    # highlight_default's pattern set at half its columns: the largest of the family that fits an
    # ECP5-85F with DSPs off (highlight_default needs 87.8k LUT4 of its 83.6k).
    HighLightConfig("highlight_ecp5", rows=8, cols=4, h0=4, g0_max=4, h1_max=7, g1_max=4, k_max=1680),
]}
#: Dense baselines with the multipliers of each HighLight preset.
DENSE_PRESETS = {c.name: c for c in [
    DenseConfig.matching(HIGHLIGHT_PRESETS[f"highlight_{size}"], f"dense_{size}") for size in ("small", "default", "h8", "ecp5")
]}
