"""A layout's field list, and NumPy arrays packed into stream words by it and unpacked.

The field list (``layout_fields``) is also what the JSON description holds, so the bit
positions used here are the ones the generator built the ports from.
"""
from __future__ import annotations

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data


def layout_fields(layout, prefix=()) -> list[dict]:
    """Leaf fields of a ``lib.data`` layout with bit offsets, LSB first."""
    if not isinstance(layout, data.Layout):
        shape = Shape.cast(layout)
        return [{"field": ".".join(map(str, prefix)), "offset": 0,
                 "width": shape.width, "signed": shape.signed}]
    fields = []
    for key, field in layout:
        for leaf in layout_fields(field.shape, prefix + (key,)):
            fields.append({**leaf, "offset": leaf["offset"] + field.offset})
    return fields


def _width(fields) -> int:
    return max(f["offset"] + f["width"] for f in fields)


def pack(fields, column) -> list[int]:
    """Words for n beats; ``column(field_name)`` returns that field's n integer values."""
    total = _width(fields)
    nbytes = -(-total // 8)
    bits = None
    for f in fields:
        v = np.asarray(column(f["field"]), dtype=np.int64)
        if bits is None:
            bits = np.zeros((len(v), nbytes * 8), dtype=np.uint8)
        lo, w = f["offset"], f["width"]
        bits[:, lo:lo + w] = (v[:, None] >> np.arange(w)) & 1
    packed = np.packbits(bits, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def unpack(fields, words) -> dict[str, np.ndarray]:
    """Field name -> int64 values (sign-extended where the field is signed)."""
    total = _width(fields)
    nbytes = -(-total // 8)
    raw = np.frombuffer(b"".join(int(w).to_bytes(nbytes, "little") for w in words), dtype=np.uint8)
    bits = np.unpackbits(raw.reshape(len(words), nbytes), axis=1, bitorder="little").astype(np.int64)
    out = {}
    for f in fields:
        lo, w = f["offset"], f["width"]
        v = bits[:, lo:lo + w] @ (np.int64(1) << np.arange(w, dtype=np.int64))
        if f["signed"]:
            v = np.where(v >= (1 << (w - 1)), v - (1 << w), v)
        out[f["field"]] = v
    return out
