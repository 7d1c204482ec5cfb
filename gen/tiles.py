"""Tiling and timing shared by the cores: ping-pong buffer control, loop nests, the cycle model.

Every core double-buffers its input: a loader fills one half while a three-stage compute
pipeline drains the other half, one step per cycle, stalling only on result back-pressure.
The HighLight and LUT cores hold an activation tile and step through weight beats; the SME
engine holds its weights in crossbars and steps through the bits of one input vector.
``Tiling`` is how a GEMM is cut for the tiled cores, shared by their host planners and their
cycle models; ``TileRun`` is the exact stall-free timing of a run of identical tiles.
"""

from dataclasses import dataclass

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sparseloom.model.mapping import LevelMapping, Mapping

from .config_base import BATCH_WIDTH

#: The levels of a tiled core in the analytical model, outermost first: the host's memory, the
#: double-buffered buffer the tiles load into, and the accumulators (one output per PE).
HOST, BUFFER, ACCUMULATORS = "Host", "Buffer", "Accumulators"

#: Cycles from the issue of a batch's last step to its first result handshake.
RESULT_LATENCY = 3


class PingPong(wiring.Component):
    """Which half the loader fills (``wsel``) and which the compute side reads (``rsel``).

    A half becomes full on ``load_done`` and free again on ``compute_done``; the two never
    name the same half in one cycle (loading needs it free, computing needs it full).
    """

    load_done: In(1)
    compute_done: In(1)
    wsel: Out(1)
    rsel: Out(1)
    can_load: Out(1)
    can_compute: Out(1)
    busy: Out(1)

    def elaborate(self, platform):
        m = Module()
        full = Signal(2)
        m.d.comb += [
            self.can_load.eq(~full.bit_select(self.wsel, 1)),
            self.can_compute.eq(full.bit_select(self.rsel, 1)),
            self.busy.eq(full.any()),
        ]
        with m.If(self.load_done):
            m.d.sync += [full.bit_select(self.wsel, 1).eq(1), self.wsel.eq(~self.wsel)]
        with m.If(self.compute_done):
            m.d.sync += [full.bit_select(self.rsel, 1).eq(0), self.rsel.eq(~self.rsel)]
        return m


def loop_nest(m: Module, step, limits, names):
    """Counters of ``for names[-1] ... for names[0]`` (innermost first) advancing on ``step``.

    ``limits`` are the trip counts (Values, or ints for fixed ones). Returns ``(counters, ends)`` where ``ends[i]``
    is high when this step completes level i (all counters 0..i at their last value).
    """
    counters, ends = [], []
    done = Const(1)
    for limit, name in zip(limits, names):
        limit = Const(limit) if isinstance(limit, int) else limit
        counter = Signal(range(max(2, 1 << len(limit))), name=name)
        done = done & (counter == limit - 1)
        with m.If(step & (ends[-1] if ends else Const(1))):
            m.d.sync += counter.eq(Mux(done, 0, counter + 1))
        counters.append(counter)
        ends.append(done)
    return counters, ends


@dataclass(frozen=True)
class Tiling:
    """A GEMM cut for a tiled core: ``batches`` row batches of ``m_tile`` rows, ``n_tiles``
    column tiles of ``n_tile`` columns, and ``k_tiles`` equal K tiles of ``groups`` groups of
    ``group_len`` K rows each (M, N and K zero padded up to whole tiles). The hardware runs
    one tile per (column tile, K tile); ``order`` lists the host's two loops innermost first
    ("KN": the K tiles of a column tile one after another)."""

    batches: int
    n_tiles: int
    k_tiles: int
    groups: int
    group_len: int
    order: str = "KN"

    def __post_init__(self):
        if self.order not in ("KN", "NK"):
            raise ValueError(f"tiling: the host's loop order must be 'KN' or 'NK', got {self.order!r}")

    @property
    def k_len(self) -> int:
        """K rows of one K tile."""
        return self.groups * self.group_len

    @property
    def tiles(self) -> int:
        return self.n_tiles * self.k_tiles

    @classmethod
    def of(cls, config, shape, group_len: int, max_groups: int) -> "Tiling":
        """The tiling of ``shape`` on ``config`` (its ``m_tile``, ``n_tile`` and ``name``) with
        groups of ``group_len`` K rows, at most ``max_groups`` of them per buffer half."""
        batches = -(-shape.m // config.m_tile)
        limit = (1 << BATCH_WIDTH) - 1
        if batches > limit:
            raise ValueError(f"M={shape.m} needs {batches} row batches of {config.m_tile}; "
                             f"{config.name} allows at most {limit}")
        groups = -(-shape.k // group_len)
        k_tiles = -(-groups // max_groups)
        return cls(batches, -(-shape.n // config.n_tile), k_tiles, -(-groups // k_tiles), group_len)

    @classmethod
    def every(cls, config, shape, group_len: int, max_groups: int) -> list["Tiling"]:
        """The core's map space for ``shape``: every K tile of 1 up to ``max_groups`` groups (and no
        more than K has), in each host loop order that differs (one order where either loop runs once)."""
        first = cls.of(config, shape, group_len, max_groups)
        total = -(-shape.k // group_len)
        tilings = []
        for groups in range(1, min(max_groups, total) + 1):
            k_tiles = -(-total // groups)
            orders = ("KN", "NK") if k_tiles > 1 and first.n_tiles > 1 else ("KN",)
            tilings += [cls(first.batches, first.n_tiles, k_tiles, groups, group_len, order) for order in orders]
        return tilings

    def covering(self, config, shape) -> "Tiling":
        """This tiling, checked to cover ``shape`` on ``config``."""
        padded = self.padded(config)
        for d, step in (("M", config.m_tile), ("N", config.n_tile), ("K", self.k_len)):
            size = getattr(shape, d.lower())
            if not size <= padded[d] < size + step:
                raise ValueError(f"mapping: its tiles cover {d}={padded[d]}, the GEMM has {d}={size}: they must cover "
                                 f"it with less than one tile ({step}) of padding")
        return self

    def padded(self, config) -> dict[str, int]:
        """The GEMM the hardware runs: M, N and K padded to whole tiles."""
        return {"M": self.batches * config.m_tile, "N": self.n_tiles * config.n_tile, "K": self.k_tiles * self.k_len}

    def mapping(self, config, lanes: int, planes: int = 1) -> Mapping:
        """The loop nest of the tiled core that runs this tiling, ``lanes`` K a step in each PE
        (and, for a bit-serial core, each step repeated for ``planes`` weight bit-planes, B):

            Host          for N in column tiles, for K in K tiles     (``order``)
            Buffer        for M in row batches                        spatial M x N: the PEs
            Accumulators  for K in steps, for B in planes             spatial K: the lanes

        The accumulators sum one row batch of one tile and then send it up (``Level.flushes``).
        """
        if self.k_len % lanes:
            raise ValueError(f"tiling: a K tile of {self.k_len} is not a whole number of steps of {lanes} lanes")
        bits = {"B": planes} if planes > 1 else {}
        return Mapping((
            LevelMapping(HOST, temporal={"N": self.n_tiles, "K": self.k_tiles}, permutation=tuple(self.order)),
            LevelMapping(BUFFER, temporal={"M": self.batches}, permutation=("M",),
                         spatial={"M": config.m_tile, "N": config.n_tile}),
            LevelMapping(ACCUMULATORS, temporal={"K": self.k_len // lanes, **bits},
                         permutation=("B", "K") if bits else ("K",), spatial={"K": lanes})))

    @classmethod
    def from_mapping(cls, mapping: Mapping, config, group_len: int, lanes: int, max_groups: int,
                     planes: int = 1) -> "Tiling":
        """The tiling a mapping of a tiled core describes. The core's map space is the tilings:
        the host's loop order and trip counts, the row batches and K steps of a tile; every other
        loop is fixed by the hardware, and a mapping that changes one is refused."""
        mapping.check_names(("M", "N", "K", "B") if planes > 1 else ("M", "N", "K"), (HOST, BUFFER, ACCUMULATORS))
        host, buf = mapping.at(HOST), mapping.at(BUFFER)
        steps = mapping.at(ACCUMULATORS).temporal.get("K", 1)
        groups, rest = divmod(steps * lanes, group_len)
        if rest or not 1 <= groups <= max_groups:
            raise ValueError(f"mapping: a K tile of {steps} steps of {lanes} lanes must be 1..{max_groups} whole "
                             f"groups of {group_len} K on {config.name}")
        order = "NK" if host.nest()[0] == ("N", "K") else "KN"
        tiling = cls(buf.temporal.get("M", 1), host.temporal.get("N", 1), host.temporal.get("K", 1), groups,
                     group_len, order)
        fixed = tiling.mapping(config, lanes, planes)
        for level in (HOST, BUFFER, ACCUMULATORS):
            got, want = mapping.at(level), fixed.at(level)
            if got.nest() != want.nest():
                raise ValueError(f"mapping: {config.name} runs {level} as temporal {want.temporal} (innermost first "
                                 f"{''.join(want.permutation)}), spatial {want.spatial}; got temporal {got.temporal}, "
                                 f"permutation {''.join(got.permutation)}, spatial {got.spatial}")
        return tiling


def next_tile(load_end: int, last_issue: int, half_last_issue: int, loads: int, beats: int, gap: int = 0):
    """The (last load, last step) cycles of the next tile: it loads one beat a cycle from ``gap``
    cycles after the previous tile's last load, once its half is free (the cycle after the tile
    two back, ``half_last_issue``, issued its last step); it steps once loaded and after the
    previous tile."""
    load_end = max(load_end + 1 + gap, half_last_issue + 1) + loads - 1
    return load_end, max(load_end + 1, last_issue + 1) + beats - 1


@dataclass(frozen=True)
class TileRun:
    """Stall-free timing of one segment: ``tiles`` identical tiles of ``loads`` input beats and
    ``beats`` compute steps each, compute not before cycle ``compute_from``, and
    ``last_results`` result beats after the last tile's last step.

    A tile loads one beat per cycle into its half once the previous load ended and the half is
    free (the cycle after the tile two back issued its last step); it computes one step per
    cycle once loaded and after the previous tile; the last tile's result beats leave one a
    cycle from ``RESULT_LATENCY`` cycles after its last step. With no back-pressure this is
    exact: every bench asserts it against the RTL.
    """

    loads: int
    beats: int
    tiles: int = 1
    compute_from: int = 0
    last_results: int = 1

    def cycles(self) -> int:
        """Cycles from the first input beat to the last result beat."""
        issue_end = [-1, -1]   # last step of the tile now in each half
        last_issue = self.compute_from - 1
        load_end = -1
        state = None
        for i in range(self.tiles):
            load_end, last_issue = next_tile(load_end, last_issue, issue_end[i % 2], self.loads, self.beats)
            issue_end[i % 2] = last_issue
            # From the third tile on, each tile's timing is the same max-plus map of the
            # previous one's (load end, last step, last step of the tile before); once that
            # triple moves by one amount in every entry it moves by it for every later tile.
            new = (load_end, last_issue, issue_end[(i + 1) % 2])
            if state is not None and i >= 2 and len({a - b for a, b in zip(new, state)}) == 1:
                last_issue += (self.tiles - 1 - i) * (new[0] - state[0])
                break
            state = new
        return last_issue + RESULT_LATENCY + self.last_results


def back_to_back_cycles(runs: list[TileRun]) -> int:
    """Stall-free cycles of GEMMs run back to back on an overlapped core (one ``TileRun`` each),
    from the first activation beat of the first to the last result beat of the last. The halves
    alternate across GEMMs; a GEMM's configuration is taken the cycle after the previous GEMM's
    last load beat, so its first tile loads one cycle later than a tile of the same GEMM would;
    its tiles compute after the previous GEMM's, whose results drain meanwhile."""
    issue_end = [-1, -1]
    last_issue = load_end = -1
    tile = 0
    for g, run in enumerate(runs):
        if run.compute_from:
            raise ValueError("back to back: a run that waits to compute is not one GEMM of a tiled core")
        for i in range(run.tiles):
            load_end, last_issue = next_tile(load_end, last_issue, issue_end[tile % 2], run.loads, run.beats,
                                             gap=1 if g and not i else 0)
            issue_end[tile % 2] = last_issue
            tile += 1
    return last_issue + RESULT_LATENCY + runs[-1].last_results
