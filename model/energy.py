"""Energy per action and area per component, from published 45 nm figures, overridable by a
YAML or JSON file.

Defaults: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
45 nm at 0.9 V: integer add 0.03 pJ (8 bit) and 0.1 pJ (32 bit); integer multiply 0.2 pJ
(8 bit) and 3.1 pJ (32 bit); a 64-bit SRAM access 10 pJ (8 KB), 20 pJ (32 KB), 100 pJ (1 MB);
a 64-bit DRAM access 1.3 to 2.6 nJ (the low end is used). In between, adders scale with their
width, multipliers with the product of their operand widths, and SRAM log-linearly in its size
(doubling per 4x, the trend of the three points, also below 8 KB for register files);
accesses of other widths scale with the bits they move.

Areas: the same table of Horowitz's gives integer adders of 36 um^2 (8 bit) and 137 um^2
(32 bit) and multipliers of 282 um^2 (8 bit) and 3495 um^2 (32 bit), scaled as their energies
are. Storage: an SRAM bit is the 0.346 um^2 six-transistor cell of a 45 nm process (Intel, IEDM
2007) over an array efficiency of 70% (periphery, an assumption); a register of at most
``REGISTER_BITS`` bits is flip-flops of 4.522 um^2 a bit (NanGate FreePDK45 DFF_X1). DRAM is
off chip: no area.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field



@dataclass(frozen=True)
class EnergyTable:
    source: str = "Horowitz, ISSCC 2014, 45 nm, 0.9 V"
    add_pj: dict = field(default_factory=lambda: {8: 0.03, 32: 0.1})          # bits -> pJ
    multiply_pj: dict = field(default_factory=lambda: {8: 0.2, 32: 3.1})      # bits -> pJ
    sram_64bit_pj: dict = field(default_factory=lambda: {8 * 1024: 10.0, 32 * 1024: 20.0, 1024 * 1024: 100.0})
    dram_64bit_pj: float = 1300.0
    add_um2: dict = field(default_factory=lambda: {8: 36.0, 32: 137.0})        # bits -> um^2
    multiply_um2: dict = field(default_factory=lambda: {8: 282.0, 32: 3495.0})  # bits -> um^2
    sram_bit_um2: float = 0.346 / 0.7
    flop_bit_um2: float = 4.522

    def add(self, bits: int) -> float:
        """pJ of one integer addition of ``bits`` bits (linear through the table's points)."""
        (b0, e0), (b1, e1) = sorted(self.add_pj.items())[:2]
        return max(0.0, e0 + (e1 - e0) * (bits - b0) / (b1 - b0))

    def multiply(self, a_bits: int, b_bits: int) -> float:
        """pJ of one integer multiplication: proportional to the product of the operand widths,
        fitted through the table's points (a * bits^2 + c)."""
        (b0, e0), (b1, e1) = sorted(self.multiply_pj.items())[:2]
        slope = (e1 - e0) / (b1 * b1 - b0 * b0)
        return max(0.0, e0 + slope * (a_bits * b_bits - b0 * b0))

    def sram(self, capacity_bits: int, access_bits: int) -> float:
        """pJ of one access of ``access_bits`` to an SRAM (or register file) of ``capacity_bits``."""
        points = sorted(self.sram_64bit_pj.items())
        size = max(capacity_bits / 8, 1.0)
        (s0, e0), (s1, e1) = points[0], points[1]
        if size > s1:
            (s0, e0), (s1, e1) = points[-2], points[-1]
        per_64 = e0 * (e1 / e0) ** (math.log(size / s0) / math.log(s1 / s0))
        return per_64 * access_bits / 64

    def dram(self, access_bits: int) -> float:
        return self.dram_64bit_pj * access_bits / 64

    def add_area(self, bits: int) -> float:
        """um^2 of an integer adder of ``bits`` bits (linear through the table's points)."""
        (b0, a0), (b1, a1) = sorted(self.add_um2.items())[:2]
        return max(0.0, a0 + (a1 - a0) * (bits - b0) / (b1 - b0))

    def multiply_area(self, a_bits: int, b_bits: int) -> float:
        """um^2 of an integer multiplier, fitted as its energy is (a * bits^2 + c)."""
        (b0, a0), (b1, a1) = sorted(self.multiply_um2.items())[:2]
        return max(0.0, a0 + (a1 - a0) / (b1 * b1 - b0 * b0) * (a_bits * b_bits - b0 * b0))

    def storage_area(self, bits: int) -> float:
        """um^2 of ``bits`` bits of on-chip storage: flip-flops up to ``REGISTER_BITS``, else SRAM."""
        return bits * (self.flop_bit_um2 if bits <= REGISTER_BITS else self.sram_bit_um2)

    @classmethod
    def from_dict(cls, d, path="the table") -> EnergyTable:
        """A table from the data of a YAML or JSON file of the fields above (keys as numbers of
        bits or bytes; ``path`` names the file in errors)."""
        if not isinstance(d, dict):
            raise ValueError(f"energy table {path}: must be a mapping of {', '.join(cls.__dataclass_fields__)}")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"energy table {path}: unknown keys {sorted(unknown)}; "
                             f"allowed: {sorted(cls.__dataclass_fields__)}")
        return cls(**{k: _entry(path, k, v, getattr(DEFAULT, k)) for k, v in d.items()})


def _entry(path, key: str, value, default):
    """One field of a loaded table, of the default's kind: text, a number, or at least two
    (size, value) points."""
    def number(x, what):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or x < 0:
            raise ValueError(f"energy table {path}: {what} must be a number >= 0, got {x!r}")
        return float(x)

    if isinstance(default, str):
        return str(value)
    if not isinstance(default, dict):
        return number(value, key)
    if not isinstance(value, dict) or len(value) < 2:
        raise ValueError(f"energy table {path}: {key} must map at least two sizes to values, got {value!r}")
    return {int(number(a, f"{key}: a size")): number(b, f"{key}[{a}]") for a, b in value.items()}


#: Storage of at most this many bits is built of flip-flops (a register), above it of SRAM.
REGISTER_BITS = 1024

DEFAULT = EnergyTable()
