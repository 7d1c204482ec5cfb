"""Architectures: a hierarchy of storage levels over a compute level with a spatial fan-out.

Levels are listed outermost first (DRAM first). A level has ``instances`` copies; between a
level and the next one down the fan-out is the ratio of their instance counts. Each level
holds up to ``capacity`` words per instance (None: unbounded), moves ``block`` words per
access, and may keep only some tensors (``keeps``). Energies are per action on one access
of ``block`` words (as in Accelergy's energy reference tables): ``read``, ``write`` (a fill
from above) and ``update`` (a write-back of a partial sum from below), plus ``leak`` per
instance and cycle. For sparse acceleration (``sparse.py``) a level may also name ``gated_*``
and ``skipped_*`` actions and, per access of ``metadata_width`` bits, ``metadata_read``,
``metadata_write`` and ``metadata_update``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from . import files


@dataclass(frozen=True)
class Level:
    name: str
    instances: int = 1
    capacity: int | None = None
    word_bits: int = 8
    block: int = 1
    read_bandwidth: float | None = None    # words per cycle per instance (None: unlimited)
    write_bandwidth: float | None = None
    keeps: tuple[str, ...] | None = None    # tensors the level can hold (None: any)
    energy: dict = field(default_factory=dict)   # action -> pJ per access of ``block`` words
    metadata_word_bits: int | None = None   # bits of a metadata word (None: each format's own widths)
    metadata_width: int | None = None   # bits per metadata access (None: a data access, block x word_bits)
    flushes: bool = False   # every step of a loop above starts afresh: partial sums from zero, sent up after
    area_um2: float = 0.0   # per instance

    def __post_init__(self):
        if not isinstance(self.instances, int) or self.instances < 1:
            raise ValueError(f"level {self.name}: instances must be an integer >= 1, got {self.instances!r}")
        if self.capacity is not None and (not isinstance(self.capacity, int) or self.capacity < 0):
            raise ValueError(f"level {self.name}: capacity must be an integer >= 0 or None, got {self.capacity!r}")
        if not isinstance(self.block, int) or self.block < 1:
            raise ValueError(f"level {self.name}: block must be an integer >= 1, got {self.block!r}")

    @property
    def metadata_access_bits(self) -> int:
        return self.metadata_width or self.block * self.word_bits

    def energy_per_word(self, action: str) -> float:
        return self.energy.get(action, 0.0) / self.block


@dataclass(frozen=True)
class Compute:
    name: str
    instances: int
    energy: float = 0.0        # pJ per compute
    word_bits: int = 8
    gated_energy: float = 0.0    # pJ per gated compute (a sparse optimisation's idle cycle)
    skipped_energy: float = 0.0  # pJ per skipped compute
    area_um2: float = 0.0        # per instance


@dataclass(frozen=True)
class Architecture:
    name: str
    levels: tuple[Level, ...]
    compute: Compute

    def __post_init__(self):
        if not self.levels:
            raise ValueError(f"architecture {self.name}: at least one storage level is needed")
        names = [lv.name for lv in self.levels] + [self.compute.name]
        if len(set(names)) != len(names):
            raise ValueError(f"architecture {self.name}: level names must be distinct, got {names}")
        counts = [lv.instances for lv in self.levels] + [self.compute.instances]
        for upper, lower, name in zip(counts, counts[1:], names[1:]):
            if lower % upper:
                raise ValueError(f"architecture {self.name}: {name} has {lower} instances, not a multiple of "
                                 f"the {upper} of the level above")

    @property
    def area_um2(self) -> float:
        """Every instance of every level and of the compute."""
        return sum(lv.instances * lv.area_um2 for lv in self.levels) + self.compute.instances * self.compute.area_um2

    def level(self, name: str) -> Level:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise ValueError(f"architecture {self.name} has no level {name!r}; allowed: "
                         f"{', '.join(lv.name for lv in self.levels)}")

    def fanout(self, i: int) -> int:
        """Instances of the next level down (or the compute) per instance of level i."""
        below = self.levels[i + 1].instances if i + 1 < len(self.levels) else self.compute.instances
        return below // self.levels[i].instances

    def to_dict(self) -> dict:
        """The architecture as YAML/JSON-ready data (what ``from_dict`` reads)."""
        return {"architecture": {"name": self.name, "levels": [asdict(lv) for lv in self.levels],
                                 "compute": asdict(self.compute)}}

    @classmethod
    def from_dict(cls, d) -> Architecture:
        """``{architecture: {name, levels: [{name, instances, capacity, ...}], compute: {...}}}``
        (the fields of ``Level`` and ``Compute``), or a Timeloop flattened architecture."""
        body = d.get("architecture", d) if isinstance(d, dict) else d
        if isinstance(body, dict) and "local" in body:
            return cls.from_timeloop(d)
        if not isinstance(body, dict) or not isinstance(body.get("levels"), list) or "compute" not in body:
            raise ValueError("architecture: must be {architecture: {name, levels: [...], compute: {...}}}")
        levels = []
        for i, lv in enumerate(body["levels"]):
            if isinstance(lv, dict) and isinstance(lv.get("keeps"), list):
                lv = {**lv, "keeps": tuple(lv["keeps"])}
            levels.append(files.record(Level, lv, f"architecture: level {i}"))
        return cls(str(body.get("name", "architecture")), tuple(levels),
                   files.record(Compute, body["compute"], "architecture: compute"))

    @classmethod
    def from_timeloop(cls, flattened: dict, ert: dict | None = None, name: str = "timeloop") -> Architecture:
        """A Timeloop v0.4 flattened architecture (``timeloop-model.flattened_architecture.yaml``)
        and, for energies, its energy reference table summary (``timeloop-model.ERT_summary.yaml``)."""
        energies = {}
        for entry in (ert or {}).get("ERT_summary", ert or {}).get("table_summary", []):
            energies[_base_name(entry["name"])] = {a["name"]: float(a["energy"]) for a in entry["actions"]}
        nodes = flattened.get("architecture", flattened)["local"]
        levels, compute = [], None
        for node in nodes:
            a, base = node.get("attributes", {}), _base_name(node["name"])
            instances = _instances(node["name"])
            if node["class"] in ("intmac", "fpmac", "mac", "compute"):
                energy, gated, skipped = (_first(energies.get(base, {}), names) for names in _COMPUTE_ACTIONS)
                compute = Compute(base, instances, energy, int(a.get("width", 8)), gated, skipped)
                continue
            word = int(a.get("datawidth", a.get("word_bits", 8)))
            block = max(1, int(a.get("width", word)) // word) if node["class"] != "dummy_storage" else 1
            depth = a.get("depth")
            capacity = None if depth is None else int(depth) * block
            keeps = () if node["class"] == "dummy_storage" else None
            optional = {key: (float if "bandwidth" in key else int)(a[attr]) for key, attr in (
                ("read_bandwidth", "read_bandwidth"), ("write_bandwidth", "write_bandwidth"),
                ("metadata_word_bits", "metadata_datawidth"), ("metadata_width", "metadata_storage_width"))
                if a.get(attr) is not None}
            levels.append(Level(base, instances, capacity, word, block, keeps=keeps, energy=energies.get(base, {}),
                                **optional))
        if compute is None:
            raise ValueError("the architecture has no compute (intmac) node")
        return cls(name, tuple(levels), compute)


# a compute's energy, a gated compute's and a skipped one's: Timeloop's energy-table names, first found
_COMPUTE_ACTIONS = (("mac_random", "mult_random", "mac", "mult", "compute"),
                    ("mac_gated", "mult_gated", "compute_gated", "mac", "mult", "compute"),
                    ("mac_skipped", "mult_skipped", "compute_skipped", "mac_gated", "mult_gated", "compute_gated",
                     "mac", "mult", "compute"))


def _first(energies: dict, names) -> float:
    return next((float(energies[n]) for n in names if n in energies), 0.0)


def _instances(name: str) -> int:
    """``GlobalBuffer[1..16]`` -> 16."""
    bracket = name.rsplit("[", 1)
    return int(bracket[1].rstrip("]").split("..")[-1]) if len(bracket) == 2 else 1


def _base_name(name: str) -> str:
    """``System_top_level.GlobalBuffer[1..16]`` -> ``GlobalBuffer``."""
    return name.split("[")[0].split(".")[-1]
