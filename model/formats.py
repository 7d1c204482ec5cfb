"""Representation formats: what a tile of a tensor stores besides its values (its metadata).

A tile is a fiber tree: the top rank is one fiber, each coordinate of a fiber is a fiber of the
rank below, and the lowest rank's coordinates are the values. A ``TensorFormat`` gives each rank
a format (outermost rank first; Sparseloop's ``representation_format``), and a rank stores, per
fiber of ``s`` coordinates of which a fraction ``p`` is non-empty, metadata units and payload
units (pointers to the fibers below; the lowest rank's payloads are the values, not metadata):

====  ===========================  ==========================  ===========  =========================
name  format                       metadata units              payloads     keeps
====  ===========================  ==========================  ===========  =========================
U     uncompressed                 none                        none         every coordinate
B     bitmask                      one bit per coordinate      ceil(s p)    the non-empty coordinates
UB    uncompressed bitmask         one bit per coordinate      s            every coordinate
CP    coordinate-payload           ceil(s p) coordinates       ceil(s p)    the non-empty coordinates
RLE   run-length                   s p run lengths             s p          the non-empty coordinates
UOP   uncompressed offset-pair     none                        s + 1        every coordinate
====  ===========================  ==========================  ===========  =========================

A rank takes one loop of the tile's nest; with ``flatten`` groups of dimensions, a rank whose
loop's dimension is in a group takes the loops inside it over that group's dimensions too (one
flattened rank), and a rank whose loop's dimension is in none takes no loop.

Widths, in bits: a rank's own (``metadata_bits``/``payload_bits``), else the storage level's
metadata word (``Level.metadata_word_bits``, Sparseloop's ``metadata_datawidth``), else the
format's natural width: a coordinate or run length ``ceil(log2 s)``, a bitmask bit 1, an offset
or pointer ``ceil(log2(tile + 1))``.

``HSSFormat`` is HighLight's hierarchical structured format for an ``HSS`` pattern along the
tensor's last rank: rank 0 stores, per kept value, its offset in its block of ``h0``
(``ceil(log2 h0)`` bits); rank r stores, per kept block of rank r-1, its index among the ``h_r``
blocks of its group (``ceil(log2 h_r)`` bits), so an N:M rank costs log2(M) bits per kept element.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .density import HSS, Density

FORMATS = ("U", "B", "UB", "CP", "RLE", "UOP")
COMPRESSED = ("B", "CP", "RLE")


def _bits(n: int) -> int:
    """ceil(log2 n), the bits that tell n things apart."""
    return max(0, (int(n) - 1).bit_length())


@dataclass(frozen=True)
class RankFormat:
    name: str
    metadata_bits: int | None = None
    payload_bits: int | None = None
    flatten: tuple[tuple[str, ...], ...] = ()   # groups of dimensions whose loops this rank may take together

    def __post_init__(self):
        name = str(self.name).upper()
        if name not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.name!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "flatten", tuple(tuple(group) for group in self.flatten))

    @property
    def compressed(self) -> bool:
        return self.name in COMPRESSED

    def units(self, fibers: float, shape: int, nonempty: float) -> tuple[float, float]:
        """(metadata, payload) units of ``fibers`` fibers of ``shape`` coordinates, a fraction
        ``nonempty`` of them non-empty."""
        kept = math.ceil(shape * nonempty)
        return {"U": (0.0, 0.0), "B": (fibers * shape, fibers * kept), "UB": (fibers * shape, fibers * shape),
                "CP": (fibers * kept, fibers * kept), "RLE": (fibers * shape * nonempty,) * 2,
                "UOP": (0.0, fibers * (shape + 1))}[self.name]

    def widths(self, shape: int, tile: int, word_bits: int | None) -> tuple[int, int]:
        """(metadata, payload) bits of one unit in a fiber of ``shape`` in a tile of ``tile``."""
        natural = {"U": 0, "B": 1, "UB": 1, "CP": _bits(shape), "RLE": _bits(shape), "UOP": 0}[self.name]
        default_md = word_bits if word_bits is not None else natural
        default_pl = word_bits if word_bits is not None else _bits(tile + 1)
        return (self.metadata_bits if self.metadata_bits is not None else default_md,
                self.payload_bits if self.payload_bits is not None else default_pl)


@dataclass(frozen=True)
class TensorFormat:
    ranks: tuple[RankFormat, ...]   # outermost rank first

    @classmethod
    def parse(cls, ranks) -> TensorFormat:
        """Rank formats, outermost first: names (``["UOP", "CP"]``, or ``"UOP-CP"``) or
        Sparseloop rank specs (``{format: CP, metadata_word_bits: 4, flattened_rankIDs: [[C, M]]}``)."""
        if isinstance(ranks, str):
            ranks = ranks.replace(",", "-").split("-")
        out = []
        for r in ranks:
            if isinstance(r, dict):
                out.append(RankFormat(r.get("format"), r.get("metadata_word_bits"), r.get("payload_word_bits"),
                                      tuple(r.get("flattened_rankIDs") or ())))
            else:
                out.append(RankFormat(r))
        if not out:
            raise ValueError(f"format needs at least one rank of {', '.join(FORMATS)}")
        return cls(tuple(out))

    @property
    def has_metadata(self) -> bool:
        return any(r.name != "U" for r in self.ranks)

    @property
    def compressed(self) -> bool:
        return any(r.compressed for r in self.ranks)

    def __str__(self) -> str:
        return "-".join(r.name for r in self.ranks)


@dataclass(frozen=True)
class HSSFormat:
    pattern: HSS

    has_metadata = True
    compressed = True

    def occupancy(self, density: Density, shape: tuple[int, ...], nnz: int) -> list[tuple[float, float]]:
        """(metadata, payload) units per rank, outermost first, of a tile holding ``nnz``."""
        units, block = [], 1
        for _, h in reversed(self.pattern.ranks):
            if block == 1:
                units.append((float(nnz), 0.0))
            else:
                sub = (1,) * (len(shape) - 1) + (block,)
                units.append((math.prod(shape) / block * (1 - density.prob_empty(sub)), 0.0))
            block *= h
        return units[::-1]

    def widths(self) -> list[tuple[int, int]]:
        return [(_bits(h), 0) for _, h in self.pattern.ranks]

    def __str__(self) -> str:
        return f"HSS({','.join(f'{g}:{h}' for g, h in self.pattern.ranks)})"
