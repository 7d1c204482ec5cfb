"""Tests for the SME golden model."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.golden.sme import (CrossbarSpec, SqueezedMapping, adc_clips, crossbar_counts, dense_mapping, mvm,
                                   orchestrate, orchestration_error, squeeze)
from sparseloom.golden.reference import gemm

quick = settings(max_examples=30, deadline=None)


@st.composite
def configs(draw, adc_bits=None):
    return CrossbarSpec(draw(st.sampled_from([1, 3, 4, 8])), draw(st.sampled_from([1, 3, 4])),
                     draw(st.sampled_from([1, 2])), adc_bits)


@st.composite
def cases(draw):
    """Config (exact ADC), sparse int8 W with extremes and tails, and int8 X with extremes."""
    c = draw(configs())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m, k, n = draw(st.integers(1, 9)), draw(st.integers(1, 19)), draw(st.integers(1, 3))
    w = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w[rng.random(w.shape) >= draw(st.sampled_from([0.0, 0.2, 0.6, 1.0]))] = 0
    x = rng.integers(-128, 128, (k, n), dtype=np.int8)
    for a in (w, x):
        extreme = rng.random(a.shape) < 0.15
        a[extreme] = rng.choice(np.array([-128, 127], np.int8), extreme.sum())
    return c, w, x


def reference(w, x):
    return gemm(w, x).astype(np.int64)


def slice_value(v, polarity, s, cell_bits):
    """Cell value of weight v: independent pure-Python slicing."""
    mag = max(v, 0) if polarity == 0 else max(-v, 0)
    return (mag // 2 ** (s * cell_bits)) % 2 ** cell_bits


# ---------------------------------------------------------------- config

def test_config_properties():
    assert CrossbarSpec(64, 64).slices == 8 and CrossbarSpec(128, 128, 2).slices == 4
    assert CrossbarSpec(64, 64).exact_adc_bits == 7  # 64
    assert CrossbarSpec(128, 128, 2).exact_adc_bits == 9  # 384
    assert CrossbarSpec(63, 8).exact_adc_bits == 6 and CrossbarSpec(1, 1).exact_adc_bits == 1


@pytest.mark.parametrize("kwargs, match", [
    ({"xbar_rows": 0, "xbar_cols": 4}, r"xbar_rows must be an integer in 1\.\.1024, got 0"),
    ({"xbar_rows": 4, "xbar_cols": 1025}, r"xbar_cols must be an integer in 1\.\.1024, got 1025"),
    ({"xbar_rows": 4.0, "xbar_cols": 4}, r"xbar_rows must be an integer"),
    ({"xbar_rows": 4, "xbar_cols": 4, "cell_bits": 3}, r"cell_bits must be 1 or 2, got 3"),
    ({"xbar_rows": 4, "xbar_cols": 4, "cell_bits": True}, r"cell_bits must be 1 or 2, got True"),
    ({"xbar_rows": 4, "xbar_cols": 4, "adc_bits": 0}, r"adc_bits must be an integer in 1\.\.16 or None"),
    ({"xbar_rows": 4, "xbar_cols": 4, "adc_bits": 17}, r"adc_bits must be an integer in 1\.\.16 or None"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CrossbarSpec(**kwargs)


def test_validation_messages():
    c = CrossbarSpec(4, 4)
    w = np.ones((2, 3), np.int8)
    with pytest.raises(TypeError, match="weights must be a numpy array of dtype int8"):
        squeeze(w.astype(np.int16), c)
    with pytest.raises(ValueError, match="weights must be non-empty"):
        squeeze(np.zeros((0, 3), np.int8), c)
    with pytest.raises(TypeError, match="config must be a CrossbarSpec"):
        squeeze(w, (4, 4))
    with pytest.raises(TypeError, match="inputs must be a numpy array of dtype int8"):
        mvm(w, np.ones((3, 1), np.int32), c)
    with pytest.raises(ValueError, match="do not chain"):
        mvm(w, np.ones((4, 1), np.int8), c)
    with pytest.raises(TypeError, match="config is required"):
        mvm(w, np.ones((3, 1), np.int8))
    with pytest.raises(ValueError, match="differs from the mapping's config"):
        mvm(squeeze(w, c), np.ones((3, 1), np.int8), CrossbarSpec(4, 4, adc_bits=1))
    for bad in (0, 9, 2.0, None):
        with pytest.raises(ValueError, match=r"max_bits_per_weight must be an integer in 1\.\.8"):
            orchestrate(w, bad)
    with pytest.raises(ValueError, match="shape .* differ"):
        orchestration_error(w, w[:, :2])
    xb = squeeze(w, c).crossbars[0]
    with pytest.raises(ValueError, match=r"inputs must lie in -1\.\.1"):
        SqueezedMapping(c, 2, 2, (xb,), 16, 1, 1)


# ---------------------------------------------------------------- exact MVM

@quick
@given(cases())
def test_mvm_exact_with_sufficient_adc(case):
    c, w, x = case
    ref = reference(w, x)
    for mapping in (dense_mapping(w, c), squeeze(w, c)):
        y = mvm(mapping, x)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, ref)
    np.testing.assert_array_equal(mvm(w, x, c), ref)


@pytest.mark.parametrize("cell_bits", [1, 2])
def test_mvm_extremes_and_full_slices(cell_bits):
    """W = 127 fills every P slice but the top one; X = -1 drives every bit: column sums reach their maximum."""
    c = CrossbarSpec(5, 3, cell_bits)
    rng = np.random.default_rng(1)
    for w in (np.full((7, 11), 127, np.int8), np.full((7, 11), -128, np.int8),
              rng.choice(np.array([-128, 127], np.int8), (7, 11))):
        for x in (np.full((11, 2), -1, np.int8), np.full((11, 2), -128, np.int8),
                  rng.choice(np.array([-128, 127, -1], np.int8), (11, 3))):
            for mapping in (dense_mapping(w, c), squeeze(w, c)):
                np.testing.assert_array_equal(mvm(mapping, x), reference(w, x))
    w = np.full((7, 11), 127, np.int8)
    x = np.full((11, 2), -1, np.int8)
    # One bit less in the ADC than exact: the full column (5 rows) saturates and the result is wrong.
    narrow = CrossbarSpec(5, 3, cell_bits, c.exact_adc_bits - 1)
    assert not np.array_equal(mvm(dense_mapping(w, narrow), x), reference(w, x))
    # Non-zero P slices (7 of 8 bits, or 4 of 4 two-bit slices) x 3 m_tiles x ceil(11 / 5) packed crossbars.
    assert squeeze(w, c).crossbars_physical == (7 if cell_bits == 1 else 4) * 3 * 3


def test_all_zero_weights():
    c = CrossbarSpec(4, 3, 2)
    w = np.zeros((5, 9), np.int8)
    x = np.full((9, 2), -128, np.int8)
    mapping = squeeze(w, c)
    assert mapping.crossbars == () and mapping.crossbars_occupied == 0 and mapping.rows_occupied == 0
    assert mapping.crossbars_dense == 2 * 4 * 3 * 2
    assert dense_mapping(w, c).crossbars_physical == 2 * 4 * 3 * 2
    for m in (mapping, dense_mapping(w, c)):
        y = mvm(m, x)
        assert y.shape == (5, 2) and not y.any()


# ---------------------------------------------------------------- ADC saturation

def test_adc_saturation_hand_examples():
    # Four 1-bit cells of value 1 in one column, x = 1: column sum 4 saturates to 2^2 - 1 = 3.
    c = CrossbarSpec(4, 1, 1, adc_bits=2)
    w = np.ones((1, 4), np.int8)
    np.testing.assert_array_equal(mvm(w, np.ones((4, 1), np.int8), c), [[3]])
    # x = -1: every bit step senses 4 -> 3; 3 * (1 + 2 + ... + 64 - 128) = -3 (exact: -4).
    np.testing.assert_array_equal(mvm(w, np.full((4, 1), -1, np.int8), c), [[-3]])
    # 2-bit cells: W = [3, 3] is slice 0 value 3 twice; x = 1 senses 6 -> 3.  W = [-15, 0]: Q slices
    # 0 and 1 hold 3 each, sense 3 (no saturation): -(3 + 4 * 3) = -15.
    c2 = CrossbarSpec(2, 1, 2, adc_bits=2)
    np.testing.assert_array_equal(mvm(np.array([[3, 3], [-15, 0]], np.int8), np.ones((2, 1), np.int8), c2),
                                  [[3], [-15]])


def test_adc_clips_hand_examples():
    # Four cells of 1, x = 1: only bit 0 of x is set, so one of the 8 steps senses 4 > 3.
    c = CrossbarSpec(4, 1, 1, adc_bits=2)
    w = np.ones((1, 4), np.int8)
    assert adc_clips(w, np.ones((4, 1), np.int8), c) == (1, 8)
    # x = -1 sets all 8 bits: every step clips; an exact ADC never clips.
    assert adc_clips(w, np.full((4, 1), -1, np.int8), c) == (8, 8)
    assert adc_clips(w, np.full((4, 1), -1, np.int8), CrossbarSpec(4, 1, 1)) == (0, 8)
    assert adc_clips(np.zeros((2, 3), np.int8), np.ones((3, 2), np.int8), c) == (0, 0)  # no crossbar at all


@quick
@given(cases(), st.integers(1, 3))
def test_adc_clips_counts_every_column_sum_above_the_adc(case, adc_bits):
    """Against a count column by column, bit by bit, from the mapping's cells and index map."""
    c, w, x = case
    c = CrossbarSpec(c.xbar_rows, c.xbar_cols, c.cell_bits, adc_bits)
    mapping = squeeze(w, c)
    clipped = converted = 0
    for xb in mapping.crossbars:
        for n in range(x.shape[1]):
            for bit in range(8):
                for q in range(c.xbar_cols):
                    total = sum(int(xb.cells[r, q]) * ((int(x[k, n]) & 0xFF) >> bit & 1)
                                for r, k in enumerate(xb.inputs) if k >= 0)
                    clipped += total > c.adc_max
                    converted += 1
    assert adc_clips(mapping, x) == (clipped, converted)


def test_squeeze_changes_saturation():
    # W = [1, 0, 1, 0], 2-row crossbars, 1-bit ADC (max 1), x = 1.  Dense: rows 0 and 2 sit in two
    # crossbars, each senses 1, Y = 2.  Squeezed: both rows share one crossbar, sense 2 -> 1, Y = 1.
    c = CrossbarSpec(2, 1, 1, adc_bits=1)
    w = np.array([[1, 0, 1, 0]], np.int8)
    x = np.ones((4, 1), np.int8)
    np.testing.assert_array_equal(mvm(dense_mapping(w, c), x), [[2]])
    np.testing.assert_array_equal(mvm(squeeze(w, c), x), [[1]])
    np.testing.assert_array_equal(mvm(w, x, c), [[1]])


# ---------------------------------------------------------------- orchestration

def brute_nearest(mag, max_bits_per_weight):
    if mag == 128:
        return 128
    return min((t for t in range(128) if bin(t).count("1") <= max_bits_per_weight), key=lambda t: (abs(t - mag), t))


@pytest.mark.parametrize("max_bits_per_weight", range(1, 9))
def test_orchestrate_every_int8(max_bits_per_weight):
    w = np.arange(-128, 128, dtype=np.int16).astype(np.int8).reshape(16, 16)
    w2 = orchestrate(w, max_bits_per_weight)
    assert w2.dtype == np.int8 and w2.shape == w.shape
    for v, v2 in zip(w.ravel().tolist(), w2.ravel().tolist()):
        assert bin(abs(v2)).count("1") <= max_bits_per_weight
        assert v2 == (1 if v > 0 else -1) * brute_nearest(abs(v), max_bits_per_weight)
    if max_bits_per_weight >= 7:
        np.testing.assert_array_equal(w2, w)


def test_orchestrate_ties_and_cap():
    w = np.array([[3, -6, 12, 96, 127, -127, -128, 0, 5]], np.int8)
    np.testing.assert_array_equal(orchestrate(w, 1), [[2, -4, 8, 64, 64, -64, -128, 0, 4]])
    # 2 bits: 7 is between 6 and 8 at distance 1 each -> 6; 112 between 96 and 128 (capped) -> 96.
    np.testing.assert_array_equal(orchestrate(np.array([[7, -112, 11]], np.int8), 2), [[6, -96, 10]])


def test_orchestration_error_hand_example():
    w = np.array([[3, -7], [0, 100]], np.int8)
    w2 = orchestrate(w, 1)  # 2, -8, 0, 64: errors 1, 1, 0, 36
    np.testing.assert_array_equal(w2, [[2, -8], [0, 64]])
    err = orchestration_error(w, w2)
    assert err["max_abs"] == 36 and err["mean_abs"] == 9.5
    assert err["relative_l2"] == pytest.approx(math.sqrt(1 + 1 + 36**2) / math.sqrt(9 + 49 + 100**2), rel=1e-12)
    assert orchestration_error(np.zeros((2, 2), np.int8), np.zeros((2, 2), np.int8)) == {
        "max_abs": 0, "mean_abs": 0.0, "relative_l2": 0.0}


# ---------------------------------------------------------------- squeeze

@quick
@given(cases())
def test_squeeze_index_map(case):
    c, w, _ = case
    mapping = squeeze(w, c)
    m, k = w.shape
    m_tiles, k_tiles = -(-m // c.xbar_cols), -(-k // c.xbar_rows)
    groups = {}
    for xb in mapping.crossbars:
        used = xb.inputs[xb.inputs >= 0]
        assert (xb.inputs[len(used):] == -1).all() and len(used) > 0
        assert not xb.cells[len(used):].any()
        groups.setdefault((xb.polarity, xb.slice, xb.m_tile), []).append(xb)
        for r, kk in enumerate(used.tolist()):
            for col in range(c.xbar_cols):
                mm = xb.m_tile * c.xbar_cols + col
                want = slice_value(int(w[mm, kk]), xb.polarity, xb.slice, c.cell_bits) if mm < m else 0
                assert xb.cells[r, col] == want
    occupied = rows = 0
    for p in range(2):
        for s in range(c.slices):
            for mt in range(m_tiles):
                nonzero = [kk for kk in range(k) if any(
                    slice_value(int(w[mm, kk]), p, s, c.cell_bits) for mm in range(mt * c.xbar_cols,
                                                                                   min(m, (mt + 1) * c.xbar_cols)))]
                got = [kk for xb in groups.get((p, s, mt), []) for kk in xb.inputs.tolist() if kk >= 0]
                assert got == nonzero  # every non-zero row exactly once, k ascending
                assert len(groups.get((p, s, mt), [])) == -(-len(nonzero) // c.xbar_rows)
                occupied += len({kk // c.xbar_rows for kk in nonzero})
                rows += len(nonzero)
    assert mapping.crossbars_dense == 2 * c.slices * k_tiles * m_tiles
    assert (mapping.crossbars_occupied, mapping.rows_occupied) == (occupied, rows)
    assert mapping.crossbars_physical <= mapping.crossbars_occupied <= mapping.crossbars_dense


def test_dense_mapping_layout():
    c = CrossbarSpec(4, 2)
    w = np.arange(-10, 5, dtype=np.int8).reshape(3, 5)
    mapping = dense_mapping(w, c)
    assert mapping.crossbars_physical == mapping.crossbars_dense == 2 * 8 * 2 * 2
    xb = mapping.crossbars[1]  # polarity 0, slice 0, m_tile 0, k_tile 1
    assert (xb.polarity, xb.slice, xb.m_tile) == (0, 0, 0)
    np.testing.assert_array_equal(xb.inputs, [4, -1, -1, -1])
    np.testing.assert_array_equal(xb.cells, [[0, 0], [0, 0], [0, 0], [0, 0]])  # W[:2, 4] = -6, -1
    q = mapping.crossbars[2 * 8 * 2]  # polarity 1, slice 0, m_tile 0, k_tile 0: bit 0 of -W[:2, :4]
    np.testing.assert_array_equal(q.cells, [[0, 1], [1, 0], [0, 1], [1, 0]])


@quick
@given(cases(), st.sampled_from([None, 1, 2, 3, 5]))
def test_crossbar_counts_monotone(case, max_bits_per_weight):
    c, w, x = case
    counts = crossbar_counts(w, c, max_bits_per_weight)
    assert counts["crossbars_dense"] >= counts["crossbars_after_orchestration"] >= counts["crossbars_after_squeeze"]
    assert ("orchestration_error" in counts) == (max_bits_per_weight is not None)
    w2 = w if max_bits_per_weight is None else orchestrate(w, max_bits_per_weight)
    assert counts["crossbars_after_squeeze"] == squeeze(w2, c).crossbars_physical
    np.testing.assert_array_equal(mvm(w2, x, c), reference(w2, x))
    if max_bits_per_weight is not None:
        assert counts["orchestration_error"] == orchestration_error(w, w2)
