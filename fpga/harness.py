"""A harness that keeps every gate of a core alive on a three-pin package: clk, rst, out.

Every core input (stream payloads, valid and ready bits) is driven from a shift chain fed
by a 32-bit maximal-length LFSR, so no input is constant; every core output is XOR-reduced
into one registered pin, so no output is unused and synthesis cannot prune logic. The
harness's own cost is measured by synthesising it with no core (``Harness(None, ...)``):
the same chain and the same XOR tree, wired straight together.
"""
from amaranth import Cat, Module, Signal, Value
from amaranth.hdl import Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: Taps of a maximal-length 32-bit Fibonacci LFSR (x^32 + x^22 + x^2 + x + 1).
LFSR_TAPS = (31, 21, 1, 0)


def port_widths(core) -> tuple[int, int]:
    """Total input and output bits of ``core``'s signature."""
    widths = {"in": 0, "out": 0}
    for _, member, _ in core.signature.flatten(core):
        widths[member.flow.value.lower()] += Shape.cast(member.shape).width
    return widths["in"], widths["out"]


class Harness(wiring.Component):
    """``core`` (or, with ``core=None``, nothing) between an LFSR chain of ``in_width`` bits
    and an XOR reduction of ``out_width`` bits to the ``out`` pin."""

    out: Out(1)

    def __init__(self, core, in_width: int | None = None, out_width: int | None = None):
        self.core = core
        if core is not None:
            in_width, out_width = port_widths(core)
        if not (isinstance(in_width, int) and isinstance(out_width, int) and in_width > 0 and out_width > 0):
            raise ValueError(f"in_width and out_width must be positive ints, got {in_width!r}, {out_width!r}")
        self.in_width, self.out_width = in_width, out_width
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        lfsr = Signal(32, init=1)
        chain = Signal(self.in_width)
        feedback = Cat(lfsr[t] for t in LFSR_TAPS).xor()
        m.d.sync += [lfsr.eq(Cat(lfsr[1:], feedback)),
                     chain.eq(Cat(lfsr[0], chain[:-1]) if self.in_width > 1 else lfsr[0])]
        if self.core is None:
            outputs = Cat(*(chain[i % self.in_width] ^ lfsr[i % 32] for i in range(self.out_width)))
        else:
            m.submodules.core = self.core
            outputs, offset = [], 0
            for _, member, value in self.core.signature.flatten(self.core):
                width = Shape.cast(member.shape).width
                if member.flow == In:
                    m.d.comb += value.eq(chain[offset:offset + width])
                    offset += width
                else:
                    outputs.append(Value.cast(value))
            outputs = Cat(*outputs)
        m.d.sync += self.out.eq(outputs.xor())
        return m
