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

from .config_base import BATCH_WIDTH

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
    one tile per (column tile, K tile), column tile outer."""

    batches: int
    n_tiles: int
    k_tiles: int
    groups: int
    group_len: int

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
            load_end = max(load_end + 1, issue_end[i % 2] + 1) + self.loads - 1
            last_issue = max(load_end + 1, last_issue + 1) + self.beats - 1
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
