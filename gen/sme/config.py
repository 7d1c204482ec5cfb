"""Typed configuration of the SME bit-sliced crossbar engine (digital equivalent of the ReRAM crossbars).

``crossbars`` physical crossbars of ``xbar_rows`` x ``xbar_cols`` cells of ``cell_bits``
bits, each programmed at run time with one squeezed crossbar of the golden mapping
(``golden/sme.py``): per row the input it reads (the squeeze-out index map) and its
cells, per crossbar its weight-slice shift, polarity and output bank; one ``w`` beat carries
``rows_per_beat`` crossbar rows. An input vector of up to ``k_max`` int8 activations arrives
``act_lanes`` at a time and is applied bit-serially, most significant bit first, eight steps
per vector.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from sparseloom.golden.reference import signed_width
from sparseloom.golden.sme import BITS, CrossbarSpec

from ..config_base import Config, check_name, field_bits, int_in
from ..tiles import RESULT_LATENCY

#: Bit-serial steps per input vector: one per two's complement bit of an int8 activation.
STEPS = BITS
#: Output banks (distinct weight-row tiles) one programming may feed. Each vector emits one
#: result beat per bank; at most ``STEPS`` keeps the output stage from ever stalling compute.
MAX_BANKS = STEPS


@dataclass(frozen=True)
class SmeConfig(Config):
    """Crossbar geometry and count, input buffer depth, ADC resolution (None: exact), and the
    crossbar rows one ``w`` beat carries (a divisor of ``xbar_rows``)."""

    name: str
    xbar_rows: int
    xbar_cols: int
    crossbars: int
    k_max: int
    cell_bits: int = 1
    adc_bits: int | None = None
    act_lanes: int = 8
    rows_per_beat: int = 1

    def __post_init__(self):
        check_name(self.name)
        int_in("xbar_rows", self.xbar_rows, 1, 256)
        int_in("xbar_cols", self.xbar_cols, 1, 256)
        int_in("crossbars", self.crossbars, 1, 64)
        int_in("act_lanes", self.act_lanes, 1, 64)
        int_in("k_max", self.k_max, self.act_lanes, 4096)
        if self.k_max % self.act_lanes:
            raise ValueError(f"k_max must be a multiple of act_lanes={self.act_lanes}, got {self.k_max}")
        int_in("cell_bits", self.cell_bits, 1, 2)
        if self.adc_bits is not None:
            exact = CrossbarSpec(self.xbar_rows, self.xbar_cols, self.cell_bits).exact_adc_bits
            int_in("adc_bits", self.adc_bits, 1, exact)
        self._check_rows_per_beat()

    def _check_rows_per_beat(self) -> None:
        """A ``w`` beat holds whole rows and a crossbar whole beats: a divisor of ``xbar_rows``."""
        v, rows = self.rows_per_beat, self.xbar_rows
        allowed = ", ".join(str(d) for d in range(1, rows + 1) if rows % d == 0)
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"rows_per_beat must be an int, a divisor of xbar_rows={rows} ({allowed}), "
                            f"got {type(v).__name__} {v!r}")
        if v < 1 or rows % v:
            raise ValueError(f"rows_per_beat must be a divisor of xbar_rows={rows}: one of {allowed}, got {v}")

    @property
    def crossbar(self) -> CrossbarSpec:
        """The golden model's crossbar description (geometry, cell width, ADC)."""
        return CrossbarSpec(self.xbar_rows, self.xbar_cols, self.cell_bits, self.adc_bits)

    @property
    def banks(self) -> int:
        """Output banks one programming can feed: min(crossbars, MAX_BANKS)."""
        return min(self.crossbars, MAX_BANKS)

    @property
    def column_bound(self) -> int:
        """Largest magnitude of one crossbar column's spliced sum over a vector:
        ADC code x largest slice significance x (2^7 + 127)."""
        shift_max = (self.crossbar.slices - 1) * self.cell_bits
        return (self.crossbar.adc_max << shift_max) * ((1 << STEPS) - 1)

    @property
    def acc_width(self) -> int:
        """Signed width of a crossbar column accumulator (never overflows)."""
        return signed_width(self.column_bound)

    @property
    def result_width(self) -> int:
        """Signed width of a bank sum over every crossbar (never overflows)."""
        return signed_width(self.crossbars * self.column_bound)

    @property
    def cells(self) -> int:
        return self.crossbars * self.xbar_rows * self.xbar_cols

    @property
    def beats_per_crossbar(self) -> int:
        """``w`` beats that program one crossbar: xbar_rows / rows_per_beat."""
        return self.xbar_rows // self.rows_per_beat

    # ----- layouts --------------------------------------------------------------------
    @property
    def cfg_layout(self) -> data.StructLayout:
        """Per programming: activation beats per vector, crossbars to program, output banks,
        and per crossbar its slice shift (slice x cell_bits), polarity (negate) and bank."""
        return data.StructLayout({
            "act_beats": unsigned(field_bits(self.k_max // self.act_lanes)),
            "crossbars": unsigned(field_bits(self.crossbars)),
            "banks": unsigned(field_bits(self.banks)),
            "xbar": data.ArrayLayout(data.StructLayout({
                "shift": unsigned(3), "negate": unsigned(1), "bank": unsigned(field_bits(self.banks - 1)),
            }), self.crossbars),
        })

    @property
    def row_layout(self) -> data.StructLayout:
        """One crossbar row: the input k it reads (valid if ``used``) and its cells [c]."""
        return data.StructLayout({
            "input": unsigned(field_bits(self.k_max - 1)),
            "used": unsigned(1),
            "cells": data.ArrayLayout(unsigned(self.cell_bits), self.xbar_cols),
        })

    @property
    def weight_layout(self) -> data.Layout:
        """One ``w`` beat: a crossbar row (``row_layout``) if ``rows_per_beat`` is 1, else an array
        of ``rows_per_beat`` rows, element [j] = row ``beat * rows_per_beat + j`` of its crossbar."""
        row = self.row_layout
        return row if self.rows_per_beat == 1 else data.ArrayLayout(row, self.rows_per_beat)

    @property
    def act_layout(self) -> data.ArrayLayout:
        """Element [i] = x[beat * act_lanes + i] of the current input vector."""
        return data.ArrayLayout(signed(STEPS), self.act_lanes)

    @property
    def result_layout(self) -> data.ArrayLayout:
        """One bank of one vector: element [c] = sum over the bank's crossbars of column c."""
        return data.ArrayLayout(signed(self.result_width), self.xbar_cols)

    def derived(self) -> dict:
        c = self.crossbar
        return {
            "cells": self.cells,
            "weight_slices_per_polarity": c.slices,
            "adc": {"bits": c.adc_max.bit_length(), "max_code": c.adc_max, "exact_bits": c.exact_adc_bits,
                    "saturates": self.adc_bits is not None and self.adc_bits < c.exact_adc_bits},
            "output_banks": self.banks,
            "steps_per_vector": STEPS,
            "program_beats_per_crossbar": self.beats_per_crossbar,
            "accumulator": {"column_width": self.acc_width, "result_width": self.result_width,
                            "largest_column_magnitude": self.column_bound,
                            "rounding": "none: ADC saturation is the only non-linearity"},
            "latency": {"first_result_after_last_step": RESULT_LATENCY},
        }


PRESETS = {c.name: c for c in [
    # 2-bit cells and a 4-bit ADC that saturates (exact needs 5 bits): the ADC edge in CI.
    SmeConfig("sme_small", xbar_rows=8, xbar_cols=4, crossbars=4, k_max=32, cell_bits=2, adc_bits=4, act_lanes=4),
    # Non-square, a crossbar count that is not a power of two, a 3-bit saturating ADC, 4 rows a w beat.
    SmeConfig("sme_tall", xbar_rows=16, xbar_cols=8, crossbars=6, k_max=48, adc_bits=3, act_lanes=8,
              rows_per_beat=4),
    SmeConfig("sme_default", xbar_rows=32, xbar_cols=32, crossbars=8, k_max=256, act_lanes=16),
    # sme_default's crossbars kept busy: a vector of K <= 256 in 8 input beats (as many as its
    # compute steps), a crossbar programmed in 2 beats of 16 rows (a programming in 16 cycles).
    SmeConfig("sme_wide", xbar_rows=32, xbar_cols=32, crossbars=8, k_max=256, act_lanes=32, rows_per_beat=16),
]}
