"""What every generator configuration shares: validation helpers, parameters and their loading."""
from __future__ import annotations

import dataclasses

from sparseloom.golden.reference import signed_width

#: Width of the run-time ``batches`` field: row batches per tile (M rows / tile rows).
BATCH_WIDTH = 16
#: Bits of the tile count of an overlapped core's configuration (tiles of one GEMM).
TILES_WIDTH = 16


def field_bits(n: int) -> int:
    """Bits of an unsigned field that holds 0..n."""
    return max(1, n.bit_length())


def int_in(name: str, value, lo: int, hi: int | None = None) -> None:
    """Raise TypeError/ValueError naming ``name`` unless ``value`` is an int in lo..hi."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < lo or (hi is not None and value > hi):
        allowed = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be in {allowed}, got {value}")


#: Longest configuration name: it names the Verilog module, the rtl/ files and the build cache.
MAX_NAME = 64


def check_name(name) -> None:
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii() or len(name) > MAX_NAME:
        shown = name if not isinstance(name, str) or len(name) <= MAX_NAME else name[:MAX_NAME] + "..."
        raise ValueError(f"name must be a Verilog-safe identifier (ASCII letters, digits and _, not starting "
                         f"with a digit) of at most {MAX_NAME} characters, got {shown!r}")


def check_acc_width(acc_width, largest: int, hi: int, whose: str) -> None:
    """Refuse an accumulator that cannot hold ``largest`` in magnitude; ``whose`` says whose
    sum it is, ending in its verb ("k_max=64 products of 8-bit operands need")."""
    need = signed_width(largest)
    int_in("acc_width", acc_width, 2, hi)
    if acc_width < need:
        raise ValueError(f"acc_width={acc_width} can overflow: {whose} acc_width >= {need} (allowed {need}..{hi})")


class Config:
    """A frozen-dataclass configuration: its parameters as a dict, and back."""

    def parameters(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        fields = dataclasses.fields(cls)
        names = {f.name for f in fields}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {sorted(unknown)}; allowed: {sorted(names)}")
        required = [f.name for f in fields
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in d]
        if missing:
            raise ValueError(f"{cls.__name__} needs the parameters {missing}; required: {required}")
        return cls(**d)
