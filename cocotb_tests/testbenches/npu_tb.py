"""Simulator-side tests of the NPU.

Random programs (routed with 1..K approximators, and fused) of random topologies that fit the
preset, with random activations, weights and inputs, under random stalls; extreme codes that
saturate every layer; stall-free runs against the cycle model; literal per-input cycles that
show the one-cycle swap; approximators swapped on every input against one kept. Every result
word is compared with the golden fixed-point model (``golden.npu.Program.run``).
"""
import cocotb
import numpy as np

from sparseloom.golden.npu import Layer, Mlp, Program, requantise
from sparseloom.sim.engine import start
from sparseloom.sim.run import run_plan
from sparseloom.testbenches.checks import assert_equal, setup
from sparseloom.units import unit_of


def activations(config) -> list[str]:
    return ["linear", "relu"] + (["sigmoid"] if config.sigmoid else [])


def mlp(config, rng, topology, scale=None, acts=None) -> Mlp:
    """Random weight codes for ``topology``: normal of std ``scale`` x 2^weight_frac / sqrt(fan-in)
    (None: uniform over every code), clipped to the format; activations ``acts`` (default: random
    hidden ones, a linear last layer)."""
    fmt = config.weight
    if acts is None:
        acts = [str(rng.choice(activations(config))) for _ in topology[2:]] + ["linear"]
    layers = []
    for (i, o), act in zip(zip(topology, topology[1:]), acts):
        def draw(shape, fan_in=i):
            if scale is None:
                return rng.integers(fmt.lo, fmt.hi + 1, shape)
            return np.clip(np.rint(rng.normal(0, scale * (1 << fmt.frac) / np.sqrt(fan_in), shape)), fmt.lo, fmt.hi)
        layers.append(Layer(draw((o, i)).astype(np.int64), draw(o).astype(np.int64), act))
    return Mlp(tuple(layers), config.weight, config.act)


def random_program(config, rng, routing, scale=1.5) -> Program:
    """A program of random topology that fits ``config``: inputs, hidden layers and outputs of up
    to ``max_width``, up to ``max_layers`` layers, every bank within ``bank_words``."""
    from sparseloom.gen.npu.plan import NetShape

    while True:
        depth = int(rng.integers(1, config.max_layers + 1))
        widths = [int(rng.integers(1, config.max_width + 1)) for _ in range(depth + 1)]
        k = int(rng.integers(1, config.banks))
        if routing == "fused":
            widths[-1] = max(widths[-1], 2)
            nets = [tuple(widths)]
        else:
            nets = [(*widths[:-1], k + 1)] + [tuple(widths)] * k
        if all(NetShape(tuple(zip(t, t[1:]))).steps(config.pes) <= config.bank_words for t in nets):
            break
    shared = [str(rng.choice(activations(config))) for _ in range(depth)]   # the approximators'
    banks = [mlp(config, rng, t, scale, None if b == 0 else shared) for b, t in enumerate(nets)]
    return Program(routing, tuple(banks))


def inputs(config, rng, program, n, scale=1.0):
    fmt = config.act
    x = np.rint(rng.normal(0, scale * (1 << fmt.frac), (n, program.inputs)))
    return np.clip(x, fmt.lo, fmt.hi).astype(np.int64)


async def run(dut, config, program, x, *, stall=0.0, rng=None, exact_cycles=False):
    """Run ``program`` on ``x``; every result word against the golden model, the cycles against
    the cycle model (equal when stall-free and ``exact_cycles``). Returns (plan, cycles)."""
    u = unit_of(config)
    plan = u.plan(config, None, program, x)
    got, cycles, _ = await run_plan(dut, plan, stall=stall, rng=rng)
    route, outputs = program.run(x)
    what = f"{config.name} {program.routing} {[('-'.join(map(str, b.topology))) for b in program.banks]} N={len(x)}"
    assert_equal(got, np.column_stack([route, outputs]).astype(np.int32), what)
    model = u.cycles(config, plan.shape, plan.encoding)
    if exact_cycles:
        assert cycles == model, f"{what}: {cycles} cycles, the cycle model promises {model}"
    else:
        assert cycles >= model, f"{what}: {cycles} cycles is below the stall-free bound {model}"
    return plan, cycles


@cocotb.test()
async def random_programs_random_stalls(dut):
    """Routed and fused programs of random topologies, 30% stalls, reprogrammed between them."""
    config, rng, stall_rng = setup()
    await start(dut)
    routes = set()
    for routing in ("routed", "fused", "routed", "routed"):
        program = random_program(config, rng, routing)
        x = inputs(config, rng, program, int(rng.integers(4, 24)))
        await run(dut, config, program, x, stall=0.3, rng=stall_rng)
        routes |= set(program.run(x)[0].tolist())
    assert -1 in routes and 0 in routes, f"the random programs should route both ways, got {routes}"


@cocotb.test()
async def extreme_codes_saturate(dut):
    """Weights and inputs over every code (uniform, and all at the extremes): accumulators far
    past the act range, so every layer's saturation is exercised (the test insists it is)."""
    config, rng, _ = setup()
    await start(dut)
    w, a = config.weight, config.act
    saturated = 0
    for trial in range(3):
        program = random_program(config, rng, "routed", scale=None)
        if trial == 2:   # every weight and input at an extreme
            banks = tuple(Mlp(tuple(Layer(np.where(rng.random(l.weights.shape) < 0.5, w.lo, w.hi),
                                          np.full(l.bias.shape, w.hi), l.activation) for l in b.layers), w, a)
                          for b in program.banks)
            program = Program("routed", banks)
            x = np.where(rng.random((6, program.inputs)) < 0.5, a.lo, a.hi)
        else:
            x = rng.integers(a.lo, a.hi + 1, (8, program.inputs))
        layer = program.banks[0].layers[0]
        acc = x @ layer.weights.T + (layer.bias << a.frac)
        saturated += int(((acc + (1 << (w.frac - 1))) >> w.frac != requantise(acc, w.frac, a)).sum())
        await run(dut, config, program, x, stall=0.1, rng=rng)
    assert saturated, "no accumulator saturated"


def selector(config, classes: int, inputs: int) -> Mlp:
    """A one-layer linear classifier whose class c is input c: the inputs choose the route."""
    one = 1 << config.weight_frac
    wts = np.zeros((classes, inputs), np.int64)
    wts[np.arange(classes), np.arange(classes)] = one
    return Mlp((Layer(wts, np.zeros(classes, np.int64), "linear"),), config.weight, config.act)


def routed_inputs(config, routes, inputs: int, classes: int):
    """Inputs that the ``selector`` sends along ``routes`` (-1: the exact function)."""
    x = np.zeros((len(routes), inputs), np.int64)
    for i, r in enumerate(routes):
        x[i, classes - 1 if r < 0 else r] = 1 << config.act_frac
    return x


@cocotb.test()
async def one_cycle_swap(dut):
    """Literal cycles. A 4-input selector (one layer of 3 neurons: 5 steps, 3 gap cycles) and
    two approximators 4-5-2 (layer 1: 5 neurons, layer 2: 2 neurons). The classifier's pass is
    8 cycles and the emit 1: an input left to the exact function holds the sequencer 9 cycles.
    An approximated one also takes the swap (1 cycle) and the approximator's pass (its steps
    and 6 gap cycles), so the difference per input is exactly 1 + steps + 6. Then inputs that
    swap approximators on every input take exactly as long as inputs that keep one."""
    config, rng, _ = setup()
    await start(dut)
    p = config.pes
    steps = -(-5 // p) * 5 + -(-2 // p) * 6          # 4-5-2: groups x (inputs + 1) per layer
    program = Program("routed", (selector(config, 3, 4), mlp(config, rng, (4, 5, 2), 1.0, ["relu", "linear"]),
                                 mlp(config, rng, (4, 5, 2), 1.0, ["relu", "linear"])))
    n = 6
    _, exact = await run(dut, config, program, routed_inputs(config, [-1] * n, 4, 3), exact_cycles=True)
    _, kept = await run(dut, config, program, routed_inputs(config, [0] * n, 4, 3), exact_cycles=True)
    _, swapped = await run(dut, config, program, routed_inputs(config, [0, 1] * (n // 2), 4, 3), exact_cycles=True)
    assert kept - exact == n * (1 + steps + 6), (
        f"{n} approximated inputs took {kept} cycles, {n} exact ones {exact}: the difference should be "
        f"{n} x (1 swap + {steps} steps + 6 gap cycles) = {n * (1 + steps + 6)}")
    assert swapped == kept, f"approximators swapped on every input: {swapped} cycles, kept: {kept}"
    # a lone exact input, the whole run: the weight beats (its input loads meanwhile), 9 cycles, its result beats
    single = routed_inputs(config, [-1], 4, 3)
    plan, cycles = await run(dut, config, program, single, exact_cycles=True)
    w, r = plan.encoding.weight_beats, plan.encoding.result_beats
    assert cycles == w + 9 + r, f"one exact input after {w} weight beats: {cycles} cycles, expected {w} + 9 + {r}"


@cocotb.test()
async def exact_cycles_back_pressure(dut):
    """Stall-free random programs take exactly the modelled cycles, outputs wider than a beat
    included; then 80% stalls on every stream, results still exact."""
    config, rng, stall_rng = setup()
    await start(dut)
    for routing in ("routed", "fused"):
        program = random_program(config, rng, routing)
        x = inputs(config, rng, program, 10)
        await run(dut, config, program, x, exact_cycles=True)
        await run(dut, config, program, x, stall=0.8, rng=stall_rng)


@cocotb.test()
async def output_register_back_pressure(dut):
    """A one-layer fused network of 12 outputs (11 approximated and the safe logit), 8 inputs,
    stall-free. Literal cycles: the weight beats W, the first input's c cycles (its emit the
    last of them), each next emit max(c, R) cycles after the one before, R being the result
    beats an input, then the last input's R beats. Where
    R > c (npu_small: one output a beat) the output register is what paces the inputs."""
    config, rng, _ = setup()
    await start(dut)
    width = min(config.max_width, 12)
    program = Program("fused", (mlp(config, rng, (1, width), 1.0, ["linear"]),))
    x = inputs(config, rng, program, 8)
    plan, cycles = await run(dut, config, program, x, exact_cycles=True)
    w, r = plan.encoding.weight_beats, plan.encoding.result_beats
    c = -(-width // config.pes) * 2 + 3 + 1        # groups x (1 input + bias), the gap, the emit
    assert cycles == w + c + 7 * max(c, r) + r, f"{cycles} cycles; W={w}, c={c}, R={r}"
