"""Simulator-side tests of the LUT Tensor Core and its MAC baseline (same streams, same checks).

Every provisioned weight format (1-bit {-1,+1}, 2..4-bit two's complement, ternary) on
random data over the format's whole range, extremes, random stalls and reconfiguration;
every output word is compared with the golden GEMM, and stall-free cycle counts with the
model (a b-bit weight costs b plane steps on the LUT core).
"""
import cocotb
import numpy as np

from sparseloom.execution.sdq import SdqMethod
from sparseloom.gen.lut.config import LutConfig
from sparseloom.golden import lut
from sparseloom.sim.engine import start
from sparseloom.testbenches.checks import check_gemm, setup


def random_weights(rng: np.random.Generator, m: int, k: int, fmt) -> np.ndarray:
    return rng.choice(np.array(fmt.values, dtype=np.int8), size=(m, k))


def _formats(config):
    return [lut.weight_format(name) for name in config.supported_formats()]


@cocotb.test()
async def every_format_random_stalls(dut):
    """Each format on random shapes (tails of M, N and K groups, two K tiles), 30% stalls."""
    config, rng, stall_rng = setup()
    await start(dut)
    for fmt in _formats(config):
        for k in (int(rng.integers(1, 3 * config.g + 1)), config.k_max + int(rng.integers(1, 2 * config.g))):
            m = int(rng.integers(1, 2 * config.m_tile + 2))
            n = int(rng.integers(1, 2 * config.n_tile + 2))
            w = random_weights(rng, m, k, fmt)
            x = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
            await check_gemm(dut, config, fmt, w, x, stall=0.3, rng=stall_rng)


@cocotb.test()
async def extremes_full_k(dut):
    """Weights at the format's lo and hi against -128 and 127 over a full buffer of K."""
    config, *_ = setup()
    await start(dut)
    k = config.k_max
    for fmt in _formats(config):
        for wv in (fmt.lo, fmt.hi):
            for xv in (-128, 127):
                w = np.full((config.m_tile + 1, k), wv, dtype=np.int8)
                x = np.full((k, config.n_tile), xv, dtype=np.int8)
                await check_gemm(dut, config, fmt, w, x, stall=0.0, rng=None)


@cocotb.test()
async def exact_cycles_per_plane(dut):
    """Stall-free runs over two K tiles and two column tiles take exactly the modelled cycles
    (on the LUT core one cycle per weight plane of each group and row batch)."""
    config, rng, _ = setup()
    await start(dut)
    groups = config.max_groups + 3  # two K tiles of ceil(groups / 2) groups
    for fmt in _formats(config):
        w = random_weights(rng, 2 * config.m_tile, groups * config.g, fmt)
        x = rng.integers(-128, 128, size=(groups * config.g, 2 * config.n_tile), dtype=np.int8)
        await check_gemm(dut, config, fmt, w, x, stall=0.0, rng=None, exact_cycles=True)


@cocotb.test()
async def back_pressure_and_reconfiguration(dut):
    """80% stalls on every stream, back-to-back GEMMs switching weight format."""
    config, rng, stall_rng = setup()
    await start(dut)
    for fmt in list(_formats(config)) * 2:
        k = 2 * config.g
        w = random_weights(rng, 2 * config.m_tile + 1, k, fmt)
        x = rng.integers(-128, 128, size=(k, config.n_tile), dtype=np.int8)
        await check_gemm(dut, config, fmt, w, x, stall=0.8, rng=stall_rng)


@cocotb.test()
async def sdq_remainders(dut):
    """The remainder GEMMs of SDQ with 2- and 4-bit codes (one per K group of 4 g, two groups, outliers 1:4),
    each against its golden, 30% stalls. On the MAC baseline the same GEMMs are planned for a default LUT core
    and run as they are; a width the configuration does not provision is skipped with a log line."""
    config, rng, stall_rng = setup()
    await start(dut)
    group = 4 * config.g
    w = rng.standard_normal((config.m_tile + 1, 2 * group)).astype(np.float32)
    x = rng.standard_normal((config.n_tile + 1, 2 * group)).astype(np.float32)
    for bits in (2, 4):
        if str(bits) not in config.supported_formats():
            dut._log.info(f"skip W{bits} on {config.name}: allowed {config.supported_formats()}")
            continue
        method = SdqMethod(f"1:4+W{bits}g{group}")
        program = method.program("layer", w, x, {"lut": config} if isinstance(config, LutConfig) else None)
        for g in program.gemms:
            if g.unit == "lut":
                await check_gemm(dut, config, g.setting, g.w, g.x, stall=0.3, rng=stall_rng, expected=g.golden())
