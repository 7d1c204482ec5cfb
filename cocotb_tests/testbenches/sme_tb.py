"""Simulator-side tests of the SME crossbar engine.

Weights at several bit densities (random int8, sparse bits with all-zero slices, fully
dense slices, orchestrated to 1..3 set bits), random inputs, extremes, saturating ADCs,
random stalls and reprogramming; every output word is compared with the golden
bit-serial crossbar model computed here from W and X (``golden.sme``), and, where the
ADC is exact, with W @ X itself. Stall-free runs must take exactly the modelled cycles.
"""
import cocotb
import numpy as np

from sparseloom.golden import sme
from sparseloom.golden.reference import gemm
from sparseloom.sim.engine import start
from sparseloom.testbenches.checks import check_gemm, setup


def expected(config, w, x, max_bits_per_weight=None):
    """The golden engine result, independent of the host planner's packing."""
    w_run = w if max_bits_per_weight is None else sme.orchestrate(w, max_bits_per_weight)
    y = sme.mvm(sme.squeeze(w_run, config.crossbar), x).astype(np.int32)
    if config.adc_bits is None:
        assert np.array_equal(y, gemm(w_run, x)), "an exact ADC must give W @ X"
    return y


def weights(rng, kind: str, m: int, k: int) -> np.ndarray:
    """int8 weights of one bit-density kind."""
    if kind == "random":
        return rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    if kind == "sparse_bits":  # few set bits, whole slices empty, many zero rows
        w = rng.choice(np.array([0, 1, -1, 4, -4, 5, -64], np.int8), size=(m, k))
        return np.where(rng.random((m, k)) < 0.5, w, 0).astype(np.int8)
    if kind == "dense_slices":  # every magnitude bit set
        return rng.choice(np.array([127, -127, -128], np.int8), size=(m, k))
    raise ValueError(kind)


async def run(dut, config, w, x, max_bits_per_weight=None, **kw):
    return await check_gemm(dut, config, max_bits_per_weight, w, x,
                            expected=expected(config, w, x, max_bits_per_weight), **kw)


@cocotb.test()
async def bit_densities_random_stalls(dut):
    """Each density on random shapes (several output tiles, K up to k_max), 30% stalls."""
    config, rng, stall_rng = setup()
    await start(dut)
    for kind in ("random", "sparse_bits", "dense_slices"):
        m = int(rng.integers(1, 3 * config.xbar_cols + 2))
        k = int(rng.integers(1, config.k_max + 1))
        n = int(rng.integers(1, 5))
        x = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
        await run(dut, config, weights(rng, kind, m, k), x, stall=0.3, rng=stall_rng)


@cocotb.test()
async def extremes_and_adc_saturation(dut):
    """All-extreme W and X over a full input buffer: every column sum at its largest, so a
    narrow ADC saturates (the test insists it does), and -128 exercises magnitude bit 7."""
    config, *_ = setup()
    await start(dut)
    k, saturated = config.k_max, False
    for wv in (-128, -127, 127):
        for xv in (-128, 127, -1):
            w = np.full((config.xbar_cols + 1, k), wv, dtype=np.int8)
            x = np.full((k, 2), xv, dtype=np.int8)
            want = expected(config, w, x)
            saturated |= not np.array_equal(want, gemm(w, x))
            await check_gemm(dut, config, None, w, x, stall=0.0, rng=None, expected=want)
    assert saturated == (config.adc_bits is not None), "the ADC saturation cases did not saturate"


@cocotb.test()
async def exact_cycles_over_programmings(dut):
    """Stall-free runs over several programmings take exactly the modelled cycles."""
    config, rng, _ = setup()
    await start(dut)
    for m, n in ((2 * config.xbar_cols, 3), (config.banks * config.xbar_cols + 1, 1)):
        k = config.k_max
        w = weights(rng, "random", m, k)
        x = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
        plan, _ = await run(dut, config, w, x, stall=0.0, rng=None, exact_cycles=True)
        assert len(plan.programmings) > 1, "the case should need several programmings"


@cocotb.test()
async def orchestration_reprogramming_back_pressure(dut):
    """Budgets of 1..3 set bits, an all-zero W (no crossbar at all), 80% stalls, back to back."""
    config, rng, stall_rng = setup()
    await start(dut)
    for max_bits in (1, 2, 3, None):
        m, k = config.xbar_cols + 3, int(rng.integers(1, config.k_max + 1))
        x = rng.integers(-128, 128, size=(k, 2), dtype=np.int8)
        await run(dut, config, weights(rng, "random", m, k), x, max_bits, stall=0.8, rng=stall_rng)
    zero = np.zeros((5, 7), np.int8)
    plan, cycles = await run(dut, config, zero, rng.integers(-128, 128, size=(7, 3), dtype=np.int8),
                             stall=0.0, rng=None)
    assert not plan.programmings and cycles == 0
