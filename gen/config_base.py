"""What every generator configuration shares: validation helpers, loading, the description."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

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


class Loadable:
    """A frozen-dataclass configuration loadable from a preset name or a JSON file.

    Subclasses define ``presets()`` returning their named presets.
    """

    def parameters(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {sorted(unknown)}; allowed: {sorted(fields)}")
        return cls(**d)

    @classmethod
    def load(cls, name_or_file: str):
        """A preset by name, or a JSON file holding the parameters (or a full description)."""
        presets = cls.presets()
        if name_or_file in presets:
            return presets[name_or_file]
        path = Path(name_or_file)
        if not path.is_file():
            raise ValueError(f"config must be a preset ({', '.join(presets)}) or a JSON file, got {name_or_file!r}")
        d = json.loads(path.read_text())
        return cls.from_dict(d.get("parameters", d))
