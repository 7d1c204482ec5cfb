"""SME engine configuration: validation messages, widths that cannot overflow, programming cuts."""
import numpy as np
import pytest

from sparseloom.gen.sme import PRESETS, SmeConfig
from sparseloom.golden import sme
from sparseloom.sim.sme_plan import plan_sme, programmings

SMALL = PRESETS["sme_small"]


def small(**changes):
    return SmeConfig(**{**SMALL.parameters(), **changes})


@pytest.mark.parametrize("changes, message", [
    ({"cell_bits": 3}, r"cell_bits must be in 1\.\.2, got 3"),
    ({"adc_bits": 6}, r"adc_bits must be in 1\.\.5, got 6"),  # 8 rows x 3 needs 5 bits
    ({"adc_bits": 0}, r"adc_bits must be in 1\.\.5, got 0"),
    ({"k_max": 30}, r"k_max must be a multiple of act_lanes=4, got 30"),
    ({"crossbars": 0}, r"crossbars must be in 1\.\.64, got 0"),
    ({"xbar_rows": 257}, r"xbar_rows must be in 1\.\.256, got 257"),
    ({"name": "no-dash"}, r"name must be a Verilog-safe identifier"),
])
def test_invalid_configuration_names_the_parameter(changes, message):
    with pytest.raises(ValueError, match=message):
        small(**changes)


@pytest.mark.parametrize("name", list(PRESETS))
def test_accumulators_hold_the_extreme_sums(name):
    """The largest column sum, spliced over all eight input bits, fits; so does a bank of all crossbars."""
    c = PRESETS[name]
    xc = c.crossbar
    w = np.full((c.xbar_cols, c.xbar_rows), -128, np.int8)  # magnitude 128: only slice 7 (cell_bits 1)
    column = int(np.abs(sme.mvm(w, np.full((c.xbar_rows, 1), -128, np.int8), xc)).max())
    assert column < 1 << (c.acc_width - 1)
    assert c.column_bound * c.crossbars < 1 << (c.result_width - 1)
    assert c.column_bound == (xc.adc_max << (xc.slices - 1) * c.cell_bits) * 255


def test_programmings_respect_crossbars_and_banks():
    c = small(crossbars=3)
    rng = np.random.default_rng(2)
    w = rng.integers(-128, 128, size=(5 * c.xbar_cols, 20), dtype=np.int8)
    mapping = sme.squeeze(w, c.crossbar)
    progs = programmings(mapping, c)
    assert sum(len(p.crossbars) for p in progs) == mapping.crossbars_physical
    for p in progs:
        assert 1 <= len(p.crossbars) <= c.crossbars and 1 <= len(p.m_tiles) <= c.banks
        assert sorted({xb.m_tile for xb in p.crossbars}) == p.m_tiles


def test_planned_banks_add_up_to_the_golden_product():
    """Host-side round trip: bank sums of each programming (computed by the golden model
    crossbar by crossbar) assemble to the golden product of the whole mapping."""
    c = PRESETS["sme_tall"]
    rng = np.random.default_rng(4)
    w = rng.integers(-128, 128, size=(3 * c.xbar_cols + 2, 40), dtype=np.int8)
    x = rng.integers(-128, 128, size=(40, 3), dtype=np.int8)
    plan = plan_sme(c, "none", w, x)
    results = []
    for prog in plan.programmings:
        banks = np.zeros((x.shape[1], len(prog.m_tiles), c.xbar_cols), np.int64)
        for xb in prog.crossbars:
            part = sme.SqueezedMapping(c.crossbar, w.shape[0], w.shape[1], (xb,), 0, 0, 0)
            y = np.zeros((-(-w.shape[0] // c.xbar_cols) * c.xbar_cols, x.shape[1]), np.int64)
            y[:w.shape[0]] = sme.mvm(part, x)
            y = y.reshape(-1, c.xbar_cols, x.shape[1])  # (m tiles, cols, N)
            banks[:, prog.m_tiles.index(xb.m_tile)] += y[xb.m_tile].T
        mask = (1 << c.result_width) - 1
        results.append([sum((int(v) & mask) << (q * c.result_width) for q, v in enumerate(beat))
                        for beat in banks.reshape(-1, c.xbar_cols)])
    assert np.array_equal(plan.assemble(results), plan.golden(w, x))


def test_k_beyond_the_input_buffer_is_refused():
    w = np.ones((2, SMALL.k_max + 1), np.int8)
    with pytest.raises(ValueError, match=r"K=33 exceeds k_max=32 of sme_small"):
        plan_sme(SMALL, "none", w, np.ones((SMALL.k_max + 1, 1), np.int8))
