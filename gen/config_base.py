"""What every generator configuration shares: validation helpers, parameters and their loading."""
from __future__ import annotations

import dataclasses

from sparseloom.golden.reference import signed_width

#: Width of the run-time ``batches`` field: row batches per tile (M rows / tile rows).
BATCH_WIDTH = 16


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


def check_name(name) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Verilog-safe identifier, got {name!r}")


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
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {sorted(unknown)}; allowed: {sorted(fields)}")
        return cls(**d)
