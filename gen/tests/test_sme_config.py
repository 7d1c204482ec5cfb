"""SME engine configuration: validation messages, widths that cannot overflow, programming cuts,
``w`` beats of several rows, the cycle model and the utilisations by hand."""
import itertools

import numpy as np
import pytest

from sparseloom.gen.sme import PRESETS, SME, SmeConfig
from sparseloom.gen.sme.plan import dense_occupancy, occupancy, plan_sme, programmings
from sparseloom.gen.unit import GemmShape
from sparseloom.golden import sme

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
    ({"rows_per_beat": 3}, r"rows_per_beat must be a divisor of xbar_rows=8: one of 1, 2, 4, 8, got 3"),
    ({"rows_per_beat": 0}, r"rows_per_beat must be a divisor of xbar_rows=8: one of 1, 2, 4, 8, got 0"),
    ({"rows_per_beat": 16}, r"rows_per_beat must be a divisor of xbar_rows=8: one of 1, 2, 4, 8, got 16"),
])
def test_invalid_configuration_names_the_parameter(changes, message):
    with pytest.raises(ValueError, match=message):
        small(**changes)


def test_rows_per_beat_must_be_an_int():
    with pytest.raises(TypeError, match=r"rows_per_beat must be an int, a divisor of xbar_rows=8 \(1, 2, 4, 8\)"):
        small(rows_per_beat=2.0)


@pytest.mark.parametrize("name", list(PRESETS))
def test_accumulators_hold_the_extreme_sums(name):
    """Every spliced column sum over the eight input bits fits the column accumulator, and the sum
    of all crossbars fits a result beat: the extremes by enumeration of the ADC codes of each step
    (a sum is linear in them, so its extremes lie at codes 0 or adc_max), with the largest slice
    shift and either polarity; and the golden model's -128 x -128 column agrees."""
    c = PRESETS[name]
    xc = c.crossbar
    significance = [-(1 << 7)] + [1 << j for j in range(6, -1, -1)]  # sign bit first
    shift = (xc.slices - 1) * c.cell_bits
    largest = max(abs(sum(s * code for s, code in zip(significance, codes))) << shift
                  for codes in itertools.product((0, xc.adc_max), repeat=8))
    assert largest <= c.column_bound < 1 << (c.acc_width - 1)
    assert c.crossbars * largest < 1 << (c.result_width - 1)
    w = np.full((c.xbar_cols, c.xbar_rows), -128, np.int8)  # magnitude 128: only the top slice (cell_bits 1)
    column = int(np.abs(sme.mvm(w, np.full((c.xbar_rows, 1), -128, np.int8), xc)).max())
    assert column <= largest


def test_programmings_respect_crossbars_and_banks():
    c = small(crossbars=3)
    rng = np.random.default_rng(2)
    w = rng.integers(-128, 128, size=(5 * c.xbar_cols, 20), dtype=np.int8)
    mapping = sme.squeeze(w, c.crossbar)
    occupied = occupancy(mapping)
    progs = programmings(c, occupied)
    assert sum(p.crossbars for p in progs) == mapping.crossbars_physical == sum(occupied)
    tiles = [xb.m_tile for xb in sorted(mapping.crossbars, key=lambda xb: xb.m_tile)]
    for p in progs:
        assert 1 <= p.crossbars <= c.crossbars and 1 <= len(p.m_tiles) <= c.banks
        assert sorted(set(tiles[:p.crossbars])) == p.m_tiles
        tiles = tiles[p.crossbars:]
    # greedy: a programming is cut only when it is full or would need one bank too many
    for a, b in zip(progs, progs[1:]):
        assert a.crossbars == c.crossbars or (len(a.m_tiles) == c.banks and b.m_tiles[0] != a.m_tiles[-1])


def test_planned_banks_add_up_to_the_golden_product():
    """Host-side round trip: bank sums of each programming (computed by the golden model
    crossbar by crossbar) assemble to the golden product of the whole mapping."""
    c = PRESETS["sme_tall"]
    rng = np.random.default_rng(4)
    w = rng.integers(-128, 128, size=(3 * c.xbar_cols + 2, 40), dtype=np.int8)
    x = rng.integers(-128, 128, size=(40, 3), dtype=np.int8)
    plan = plan_sme(c, None, w, x)
    crossbars = sorted(plan.mapping.crossbars, key=lambda xb: xb.m_tile)
    results = []
    for prog in plan.programmings:
        banks = np.zeros((x.shape[1], len(prog.m_tiles), c.xbar_cols), np.int64)
        loaded, crossbars = crossbars[:prog.crossbars], crossbars[prog.crossbars:]
        for xb in loaded:
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
        plan_sme(SMALL, None, w, np.ones((SMALL.k_max + 1, 1), np.int8))
    with pytest.raises(ValueError, match=r"K=33 exceeds k_max=32 of sme_small"):
        SME.cycles(SMALL, GemmShape(2, 1, SMALL.k_max + 1), dense_occupancy(SMALL, GemmShape(2, 1, 33)))


def test_cycles_by_hand():
    """sme_small (4 crossbars of 8 x 4 cells of 2 bits, 4 input lanes) on M=4, N=2, K=8 with the
    dense mapping: one output tile of 2 polarities x 4 slices = 8 crossbars, two programmings of 4.
    Each loads 4 x 8 rows one a cycle (cycles 0..31) while the first vector's 2 beats arrive;
    the two vectors then take 8 steps each (32..47) and the last bank leaves 3 cycles later."""
    shape = GemmShape(4, 2, 8)
    assert dense_occupancy(SMALL, shape) == (8,)
    assert SME.cycles(SMALL, shape, (8,)) == 2 * (32 + 16 + 3)
    assert SME.cycles(SMALL, shape, (3,)) == 3 * 8 + 16 + 3  # squeezed to 3 crossbars: one programming


def test_cycles_by_hand_with_rows_per_beat():
    """As above with 4 rows a ``w`` beat: a programming of 4 crossbars loads in 4 x 8 / 4 = 8 beats
    (cycles 0..7), the two vectors then take 16 steps (8..23) and the last bank leaves 3 cycles later."""
    c = small(rows_per_beat=4)
    shape = GemmShape(4, 2, 8)
    assert c.beats_per_crossbar == 2 and c.derived()["program_beats_per_crossbar"] == 2
    assert SME.cycles(c, shape, (8,)) == 2 * (8 + 16 + 3)
    assert SME.cycles(c, shape, (3,)) == 3 * 2 + 16 + 3
    wide = PRESETS["sme_wide"]   # a vector of K = 256 in 8 beats: as many as its steps
    assert SME.cycles(wide, GemmShape(32, 64, 256), (8,)) == 8 * 32 // wide.rows_per_beat + 64 * 8 + 3


@pytest.mark.parametrize("rows_per_beat", [2, 4, 8])
def test_a_w_beat_packs_consecutive_rows(rows_per_beat):
    """Beat b of the ``w`` stream holds rows b * rows_per_beat .. of one crossbar, element j at
    j x the row's width: the same bits as the one-row beats, side by side."""
    rng = np.random.default_rng(rows_per_beat)
    w = rng.integers(-128, 128, size=(2 * SMALL.xbar_cols + 1, 30), dtype=np.int8)
    x = rng.integers(-128, 128, size=(30, 2), dtype=np.int8)
    wide = small(rows_per_beat=rows_per_beat)
    one, many = plan_sme(SMALL, None, w, x).segments(), plan_sme(wide, None, w, x).segments()
    assert len(one) == len(many) > 1
    bits = SMALL.row_layout.size
    assert wide.weight_layout.size == rows_per_beat * bits
    for a, b in zip(one, many):
        rows = a.sources["w"]
        assert b.sources["w"] == [sum(row << (j * bits) for j, row in enumerate(rows[i:i + rows_per_beat]))
                                  for i in range(0, len(rows), rows_per_beat)]
        assert a.cfg_word == b.cfg_word and a.sources["act"] == b.sources["act"]


def test_cell_utilization_counts_used_rows_and_valid_columns():
    """sme_small (8 x 4 crossbars of 2-bit cells) on M=5, K=8: output tile 0 holds W rows 0..3, of
    which only row 0 is non-zero (1: slice 0), tile 1 holds row 4 alone (2: slice 0). One crossbar
    each, all 8 rows used: 8 x 4 programmed cells in tile 0 (8 non-zero), 8 x 1 in tile 1."""
    w = np.zeros((5, 8), np.int8)
    w[0], w[4] = 1, 2
    x = np.ones((8, 3), np.int8)
    plan = plan_sme(SMALL, None, w, x)
    assert plan.report["useful_cell_ops"] == (8 + 8) * 3 * 8
    assert plan.report["programmed_cell_ops"] == (8 * 4 + 8 * 1) * 3 * 8
    cycles = SME.cycles(SMALL, plan.shape, plan.encoding)
    assert plan.cell_utilization(cycles) == plan.report["programmed_cell_ops"] / (SMALL.cells * cycles)
    assert plan.cycle_report(cycles) == {"cell_utilization": plan.cell_utilization(cycles)}
    assert plan.utilization(cycles) < plan.cell_utilization(cycles) <= 1
