"""Mappings: per storage level, a loop nest of temporal factors in a permutation, the spatial
factors that fan out below the level, and which tensors the level keeps (the rest bypass it).

Reading a mapping top-down gives the loop nest of the whole computation, Timeloop style:

    DRAM        for K in [0:4) for N in [0:2)
    Buffer      for C in [0:8)
                  spatial-for K in [0:16)   (one per PE below)
    Registers   for P in [0:16)
                  << compute >>

``permutation`` lists a level's dimensions innermost first (Timeloop's convention); a
dimension missing from it is placed outside the listed ones. Validation against the
workload and the architecture names the level, the dimension and the allowed values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .arch import Architecture
from .workload import Workload


@dataclass(frozen=True)
class LevelMapping:
    level: str
    temporal: dict[str, int] = field(default_factory=dict)
    permutation: tuple[str, ...] = ()
    spatial: dict[str, int] = field(default_factory=dict)
    keep: tuple[str, ...] | None = None   # None: every tensor the level may hold

    def loops(self, dims) -> list[tuple[str, int]]:
        """(dimension, factor) of the temporal loops, innermost first, factors of 1 left out."""
        order = list(self.permutation) + [d for d in dims if d not in self.permutation]
        return [(d, self.temporal[d]) for d in order if self.temporal.get(d, 1) > 1]

    def nest(self) -> tuple:
        """What of the level's mapping changes the loop nest, hashable: its loops above 1 innermost
        first, its factors above 1, its keep (factors of 1 and their place in the order change nothing)."""
        loops = tuple(d for d, _ in self.loops(list(self.permutation) + sorted(self.temporal)))
        return (loops, tuple(sorted((d, f) for d, f in self.temporal.items() if f > 1)),
                tuple(sorted((d, f) for d, f in self.spatial.items() if f > 1)), self.keep)


@dataclass(frozen=True)
class Mapping:
    levels: tuple[LevelMapping, ...]   # one per architecture level, outermost first

    def __post_init__(self):
        names = [lm.level for lm in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"mapping: each level may appear once, got {names}")

    def nest(self) -> tuple:
        """Each level's ``LevelMapping.nest``: equal for mappings that run the same loop nest."""
        return tuple((lm.level, lm.nest()) for lm in self.levels)

    def at(self, name: str) -> LevelMapping:
        for lm in self.levels:
            if lm.level == name:
                return lm
        return LevelMapping(name)

    def validate(self, workload: Workload, arch: Architecture) -> None:
        """Raise ValueError naming the level, dimension and allowed values unless the mapping
        factors every dimension exactly, fits every fan-out and every capacity."""
        self.check_names(list(workload.dims), [lv.name for lv in arch.levels])
        for lm in self.levels:
            for t in lm.keep or ():
                workload.tensor(t)
        for d, size in workload.dims.items():
            product = math.prod(lm.temporal.get(d, 1) * lm.spatial.get(d, 1) for lm in self.levels)
            if product != size:
                raise ValueError(f"mapping: the factors of {d} multiply to {product}, but {d} = {size}: they must "
                                 f"multiply to {size} exactly")
        for i, lv in enumerate(arch.levels):
            lm = self.at(lv.name)
            used = math.prod(lm.spatial.values())
            if used > arch.fanout(i):
                raise ValueError(f"mapping: {lv.name} fans out {used} ways ({lm.spatial}); its fan-out is "
                                 f"{arch.fanout(i)} (allowed products 1..{arch.fanout(i)})")
            if lv.capacity is not None:
                extents = self.extents(workload, arch, i)
                need = {t.name: workload.tile(t, extents) for t in self.kept(workload, arch, i)}
                if sum(need.values()) > lv.capacity:
                    raise ValueError(f"mapping: the tiles at {lv.name} need {sum(need.values())} words "
                                     f"({', '.join(f'{t} {n}' for t, n in need.items())}); {lv.name} holds "
                                     f"{lv.capacity} per instance")

    def check_names(self, dims, levels) -> None:
        """Every level and dimension the mapping names is one of ``levels`` and ``dims``, and
        every factor is an integer >= 1."""
        for lm in self.levels:
            if lm.level not in levels:
                raise ValueError(f"mapping: unknown level {lm.level!r}; allowed: {', '.join(levels)}")
            for kind, factors in (("temporal", lm.temporal), ("spatial", lm.spatial)):
                for d, f in factors.items():
                    if d not in dims:
                        raise ValueError(f"mapping: {lm.level} {kind} factor of unknown dimension {d!r}; "
                                         f"allowed: {', '.join(dims)}")
                    if not isinstance(f, int) or isinstance(f, bool) or f < 1:
                        raise ValueError(f"mapping: {lm.level} {kind} factor {d}={f!r} must be an integer >= 1")
            for d in lm.permutation:
                if d not in dims:
                    raise ValueError(f"mapping: {lm.level} permutation names unknown dimension {d!r}; "
                                     f"allowed: {', '.join(dims)}")

    def extents(self, workload: Workload, arch: Architecture, i: int) -> dict[str, int]:
        """Each dimension's extent in one tile of level ``i``: the product of its temporal and
        spatial factors at level ``i`` and below."""
        below = [self.at(lv.name) for lv in arch.levels[i:]]
        return {d: math.prod(lm.temporal.get(d, 1) * lm.spatial.get(d, 1) for lm in below) for d in workload.dims}

    def kept(self, workload: Workload, arch: Architecture, i: int):
        """The tensors level ``i`` keeps."""
        lv, lm = arch.levels[i], self.at(arch.levels[i].name)
        return [t for t in workload.tensors
                if (lv.keeps is None or t.name in lv.keeps) and (lm.keep is None or t.name in lm.keep)]

    def to_dict(self) -> dict:
        """The mapping as YAML/JSON-ready data (what ``from_dict`` reads)."""
        return {"mapping": [{"level": lm.level, "temporal": dict(lm.temporal), "permutation": "".join(lm.permutation),
                             "spatial": dict(lm.spatial), **({"keep": list(lm.keep)} if lm.keep is not None else {})}
                            for lm in self.levels]}

    @classmethod
    def from_dict(cls, d, arch: Architecture | None = None) -> Mapping:
        """``{mapping: [{level, temporal: {dim: factor}, permutation: "KN", spatial: {...}, keep: [...]}]}``,
        or a Timeloop mapping (entries with ``target`` and ``type``; ``arch`` names its levels)."""
        entries = d.get("mapping") if isinstance(d, dict) else d
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ValueError("mapping: must be a list of levels ({level, temporal, permutation, spatial, keep})")
        if entries and "target" in entries[0]:
            return cls.from_timeloop(entries, arch)
        levels = []
        allowed = {"level", "temporal", "permutation", "spatial", "keep"}
        for e in entries:
            if "level" not in e or set(e) - allowed:
                raise ValueError(f"mapping: each entry names its level and may give {sorted(allowed - {'level'})}; "
                                 f"got {sorted(e)}")
            for key in ("temporal", "spatial"):
                if not isinstance(e.get(key, {}), dict):
                    raise ValueError(f"mapping: {e['level']} {key} must map dimensions to factors, got {e[key]!r}")
            keep = e.get("keep")
            levels.append(LevelMapping(str(e["level"]), dict(e.get("temporal", {})),
                                       tuple(str(e.get("permutation", ""))), dict(e.get("spatial", {})),
                                       None if keep is None else tuple(keep)))
        return cls(tuple(levels))

    @classmethod
    def from_timeloop(cls, mapping: list | dict, arch: Architecture | None = None) -> Mapping:
        """A Timeloop mapping: a list of ``{target, type: temporal|spatial|dataspace|bypass, factors:
        "R=3 P=1", permutation: "RP", keep: [...], bypass: [...]}``. A spatial target that names a
        container (``PE``) is the fan-out level Timeloop flattens it to (``inter_PE_spatial``)."""
        entries = mapping.get("mapping", mapping) if isinstance(mapping, dict) else mapping
        levels = {lv.name for lv in arch.levels} if arch else set()
        by: dict[str, dict] = {}
        for e in entries:
            if not isinstance(e, dict) or not {"target", "type"} <= set(e):
                raise ValueError(f"mapping: each Timeloop entry names its target and its type (temporal, spatial, "
                                 f"dataspace or bypass); got {e!r}"[:300])
            target = e["target"]
            if levels and target not in levels and f"inter_{target}_spatial" in levels:
                target = f"inter_{target}_spatial"
            slot = by.setdefault(target, {"temporal": {}, "permutation": (), "spatial": {}, "keep": None})
            factors = dict(_factor(f) for f in str(e.get("factors", "")).split())
            if e["type"] == "temporal":
                slot["temporal"], slot["permutation"] = factors, tuple(str(e.get("permutation", "")))
            elif e["type"] == "spatial":
                slot["spatial"] = factors
            elif e["type"] in ("dataspace", "datatype", "bypass"):
                slot["keep"] = tuple(e.get("keep", []))
            else:
                raise ValueError(f"mapping: unknown entry type {e['type']!r} for {target}")
        return cls(tuple(LevelMapping(name, **slot) for name, slot in by.items()))


def _factor(text: str) -> tuple[str, int]:
    """``R=3`` or ``R3``."""
    if "=" in text:
        d, _, f = text.partition("=")
    else:
        d, f = text.rstrip("0123456789"), text[len(text.rstrip("0123456789")):]
    return d, int(f)
