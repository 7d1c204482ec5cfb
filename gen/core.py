"""The skeleton every core is built on: streams, configuration register, ping-pong halves, pipeline.

A core's ``elaborate`` is ``TiledCore.elaborate``: it builds a ``Pipeline`` (the run-time
configuration register, accepted only when nothing is in flight; the ping-pong halves; the
``advance`` signal that moves every stage at once; staged valid/first/last registers; the
in-flight and idle logic) and hands it to the unit's ``datapath``, which holds only what is
particular to that unit: its memories, the loop bounds of its sequencer and its arithmetic.

A core whose class sets ``overlapped`` runs GEMMs back to back: its configuration carries the
GEMM's tile count, the loader takes no input beat once that many tiles are loaded, and the next
configuration is accepted from then on, while the compute side still drains the last tiles of
the previous GEMM. Each half of the ping-pong buffer keeps the configuration its tile was
loaded under (``Pipeline.cfg``, the compute side's, is that of the half being read;
``Pipeline.load_cfg`` the loader's); a stage after S0 that needs a field carries it along.
"""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .tiles import PingPong, loop_nest


class Stage:
    """The registers between two pipeline stages: ``valid``, ``first`` and ``last`` of a step
    (first and last beat of a row batch, or of a vector) and the unit's data, as attributes."""

    def __init__(self, **registers):
        self.__dict__.update(registers)


class Pipeline:
    """Control shared by every core's ``datapath``; see the module docstring.

    ``cfg`` is the configuration the compute side runs, ``load_cfg`` the one the loader runs
    (the same register unless the core is ``overlapped``), and ``configure`` is high in the cycle
    a new one is accepted (units add their own loader-side latches under it). Every stage moves when ``advance`` is high;
    ``stall`` (its complement) is driven by ``accumulate`` for the tiled cores or by the unit.
    """

    def __init__(self, m: Module, core):
        self.m, self.core = m, core
        layout = core.config.cfg_layout
        self.configure = Signal(name="configure")
        self.stall = Signal(name="stall")
        self.advance = Signal(name="advance")
        m.submodules.halves = self.halves = PingPong()
        m.d.comb += [self.configure.eq(core.cfg.valid & core.cfg.ready), self.advance.eq(~self.stall)]
        self._busy = [self.halves.busy]
        self._stages = 0
        if core.overlapped:
            self.load_cfg = Signal(layout, name="load_cfg")
            self.cfg = Signal(layout, name="cfg")
            tile_cfg = [Signal(layout, name=f"half{h}_cfg") for h in range(2)]
            self.loads_left = Signal(layout["tiles"].shape, name="loads_left")
            m.d.comb += self.cfg.eq(Mux(self.halves.rsel, tile_cfg[1], tile_cfg[0]))
            with m.If(self.halves.load_done):
                m.d.sync += [self.loads_left.eq(self.loads_left - 1),
                             tile_cfg[0].eq(Mux(self.halves.wsel, tile_cfg[0], self.load_cfg)),
                             tile_cfg[1].eq(Mux(self.halves.wsel, self.load_cfg, tile_cfg[1]))]
            with m.If(self.configure):
                m.d.sync += self.loads_left.eq(core.cfg.payload.tiles)
        else:
            self.cfg = self.load_cfg = Signal(layout, name="cfg")

    def busy(self, *terms) -> None:
        """Conditions under which work is in flight (the configuration must not change)."""
        self._busy += terms

    def loader(self, limit, name: str):
        """Accept one ``act`` beat per cycle into the free half, ``limit`` beats per tile.
        Returns the beat counter (the write address within the half) and the handshake."""
        core, halves = self.core, self.halves
        load = Signal(name="load")
        self.m.d.comb += load.eq(core.act.valid & core.act.ready)
        (counter,), (done,) = loop_nest(self.m, load, [limit], [name])
        ready = halves.can_load & (self.loads_left != 0) if core.overlapped else halves.can_load
        self.m.d.comb += [core.act.ready.eq(ready), halves.load_done.eq(load & done)]
        self.busy(counter != 0)
        return counter, load

    def sequencer(self, limits, names, issue=None):
        """S0: counters ``for names[-1] ... for names[0]`` over the steps of a tile, the outermost
        ending the tile and freeing its half. A step is a ``w`` handshake, taken when the half is
        full and the pipeline advances, unless ``issue`` says when one happens.
        Returns ``(issue, counters, ends)`` as ``loop_nest``."""
        core, halves = self.core, self.halves
        if issue is None:
            issue = Signal(name="issue")
            self.m.d.comb += [core.w.ready.eq(halves.can_compute & self.advance),
                              issue.eq(core.w.valid & core.w.ready)]
        counters, ends = loop_nest(self.m, issue, limits, names)
        self.m.d.comb += halves.compute_done.eq(issue & ends[-1])
        self.busy(*(counter != 0 for counter in counters))
        return issue, counters, ends

    def stage(self, valid, first, last, **data) -> Stage:
        """The next stage's registers: ``valid``, ``first``, ``last`` and ``data``, loaded on advance."""
        self._stages += 1
        registers = {}
        for key, value in {"valid": valid, "first": first, "last": last, **data}.items():
            registers[key] = Signal.like(value, name=f"s{self._stages}_{key}")
            with self.m.If(self.advance):
                self.m.d.sync += registers[key].eq(value)
        self.busy(registers["valid"])
        return Stage(**registers)

    def accumulate(self, s2: Stage, term, start=lambda col: 0, finish=lambda total: total) -> None:
        """S2 of the tiled cores: result element [r][c] adds ``term(r, c)`` each step, restarting
        from ``start(c)`` on a row batch's first step; after its last step the totals, through
        ``finish``, load the result register. Result back-pressure is the only stall."""
        m, core, c = self.m, self.core, self.core.config
        acc = Signal(c.result_layout, name="acc")
        total = Signal(c.result_layout, name="total")
        for r in range(c.m_tile):
            for col in range(c.n_tile):
                m.d.comb += total[r][col].eq(Mux(s2.first, start(col), acc[r][col]) + term(r, col))
        with m.If(self.advance):
            with m.If(s2.valid):
                m.d.sync += acc.eq(total)
            m.d.sync += core.result.valid.eq(s2.valid & s2.last)
            m.d.sync += [core.result.payload[r][col].eq(finish(total[r][col]))
                         for r in range(c.m_tile) for col in range(c.n_tile)]
        m.d.comb += self.stall.eq(core.result.valid & ~core.result.ready)
        self.busy(core.result.valid)

    def close(self) -> None:
        """Accept a configuration only when nothing is in flight (an overlapped core: once the
        current GEMM's tiles are all loaded); ``idle`` says when nothing is."""
        core, m = self.core, self.m
        in_flight = Signal(name="in_flight")
        m.d.comb += in_flight.eq(Cat(*self._busy).any())
        m.d.comb += [core.idle.eq(~in_flight),
                     core.cfg.ready.eq((self.loads_left == 0) if core.overlapped else ~in_flight)]
        with m.If(self.configure):
            m.d.sync += self.load_cfg.eq(core.cfg.payload)


class TiledCore(wiring.Component):
    """Base of every core: ``cfg`` (run-time register, accepted only when idle), ``act`` (input
    beats), ``w`` (weight beats), ``result`` and ``idle``, all built from the layouts of a
    configuration of type ``config_class``; ``datapath(m, pipeline)`` builds the rest."""

    config_class = None
    #: GEMMs back to back: the next configuration and its first tile load while this one drains
    #: (the configuration layout then has a ``tiles`` field; see the module docstring).
    overlapped = False

    def __init__(self, config):
        if not isinstance(config, self.config_class):
            raise TypeError(f"config must be a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        super().__init__({
            "cfg": In(stream.Signature(config.cfg_layout)),
            "act": In(stream.Signature(config.act_layout)),
            "w": In(stream.Signature(config.weight_layout)),
            "result": Out(stream.Signature(config.result_layout)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        pipeline = Pipeline(m, self)
        self.datapath(m, pipeline)
        pipeline.close()
        return m

    def datapath(self, m: Module, pipeline: Pipeline) -> None:
        raise NotImplementedError
