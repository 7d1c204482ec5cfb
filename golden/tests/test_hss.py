"""Tests for the HSS golden model."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sparseloom.golden.hss import (HSSCompressed, HSSPattern, PatternViolation, beats_per_group, check, compress,
                                   decompress, gemm_from_schedule, prune, satisfies, schedule)
from sparseloom.golden.reference import gemm

quick = settings(max_examples=40, deadline=None)
P = HSSPattern.parse


@st.composite
def patterns(draw):
    h0 = draw(st.sampled_from([1, 2, 4, 8]))
    h1 = draw(st.integers(1, 7))
    return HSSPattern(draw(st.integers(1, h1)), h1, draw(st.integers(1, h0)), h0)


@st.composite
def dense_cases(draw):
    """A pattern and a random int8 matrix (not pruned) with zeros, extremes and maybe a zero row."""
    p = draw(patterns())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m, ng = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    w = rng.integers(-128, 128, (m, ng * p.group_size), dtype=np.int8)
    w[rng.random(w.shape) >= draw(st.sampled_from([0.0, 0.3, 0.8, 1.0]))] = 0
    extreme = rng.random(w.shape) < 0.1
    w[extreme] = rng.choice(np.array([-128, 127], np.int8), extreme.sum())
    if draw(st.booleans()):
        w[rng.integers(m)] = 0
    return p, w


def pruned_cases():
    return dense_cases().map(lambda case: (case[0], prune(case[1], case[0])))


def reference_prune(w, p):
    """Slow pure-Python version of the pruning rule."""
    out = np.zeros_like(w)
    for r in range(w.shape[0]):
        for g0 in range(0, w.shape[1], p.group_size):
            kept = []
            for b in range(p.h1):
                base = g0 + b * p.h0
                idx = sorted(range(p.h0), key=lambda i: (-abs(int(w[r, base + i])), i))[:p.g0]
                kept.append({base + i: int(w[r, base + i]) for i in idx})
            for b in sorted(range(p.h1), key=lambda b: (-sum(v * v for v in kept[b].values()), b))[:p.g1]:
                for col, v in kept[b].items():
                    out[r, col] = v
    return out


# ---------------------------------------------------------------- HSSPattern

@quick
@given(patterns())
def test_parse_str_round_trip(p):
    assert HSSPattern.parse(str(p)) == p
    assert str(p) == f"{p.g1}:{p.h1},{p.g0}:{p.h0}"


def test_parse_whitespace_and_fields():
    assert P(" 2 : 4 ,\t1:8 ") == HSSPattern(g1=2, h1=4, g0=1, h0=8)


@pytest.mark.parametrize("text", ["", "2:4", "2:4,2", "a:4,2:4", "2:4;2:4", "2:4,2:4,1:1", "-1:4,2:4", "2.0:4,2:4"])
def test_parse_malformed(text):
    with pytest.raises(ValueError, match="G1:H1,G0:H0") as err:
        P(text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize("args, message", [
    ((2, 4, 5, 4), "g0 must be an integer in 1..h0=4, got 5"),
    ((5, 4, 2, 4), "g1 must be an integer in 1..h1=4, got 5"),
    ((0, 4, 2, 4), "g1 must be an integer in 1..h1=4, got 0"),
    ((1, 0, 1, 1), "h1 must be an integer >= 1, got 0"),
    ((1, 1, 1, 2.0), "h0 must be an integer >= 1, got 2.0"),
    ((True, 1, 1, 1), "g1 must be an integer in 1..h1=1, got True"),
])
def test_pattern_validation(args, message):
    with pytest.raises(ValueError) as err:
        HSSPattern(*args)
    assert str(err.value) == message


def test_parse_out_of_range_names_field():
    with pytest.raises(ValueError, match="g1"):
        P("0:4,2:4")


@pytest.mark.parametrize("text, density, group, dense", [
    ("2:4,2:4", Fraction(1, 4), 16, False), ("4:7,1:4", Fraction(1, 7), 28, False),
    ("1:1,1:1", Fraction(1), 1, True), ("3:3,8:8", Fraction(1), 24, True), ("3:3,4:8", Fraction(1, 2), 24, False),
])
def test_pattern_properties(text, density, group, dense):
    p = P(text)
    assert (p.density, p.group_size, p.is_dense) == (density, group, dense)
    assert isinstance(p.density, Fraction)


# ---------------------------------------------------------------- check

def _violation(w, p):
    with pytest.raises(PatternViolation) as err:
        check(w, p)
    assert not satisfies(w, p)
    return err.value


def test_check_rank0_message():
    w = np.zeros((4, 32), np.int8)
    w[3, 16 + 2 * 4: 16 + 2 * 4 + 3] = 1  # row 3, group 1, block 2: 3 non-zeros
    e = _violation(w, P("2:4,2:4"))
    assert (e.row, e.group, e.block) == (3, 1, 2)
    assert str(e) == e.reason == "row 3, group 1, block 2 has 3 non-zeros, pattern 2:4,2:4 allows at most g0=2"
    assert isinstance(e, ValueError)


def test_check_rank1_message():
    w = np.zeros((2, 32), np.int8)
    w[1, [0, 4, 8]] = -128  # row 1, group 0: 3 non-empty blocks
    e = _violation(w, P("2:4,2:4"))
    assert (e.row, e.group, e.block) == (1, 0, None)
    assert str(e) == "row 1, group 0 has 3 non-empty blocks, pattern 2:4,2:4 allows at most g1=2"


def test_check_ordering():
    p = P("2:4,2:4")
    w = np.zeros((2, 32), np.int8)
    w[1, 0:3] = 1  # row 1, group 0, block 0 (rank 0)
    assert _violation(w, p).row == 1
    w[0, 16 + 12: 16 + 15] = 1  # row 0, group 1, block 3 (rank 0) comes first by row
    assert (_violation(w, p).row, _violation(w, p).group, _violation(w, p).block) == (0, 1, 3)
    w[0, [16, 20]] = 1  # row 0, group 1 now also breaks rank 1: rank 0 is still reported first
    assert _violation(w, p).block == 3
    w[0, [0, 4, 8]] = 1  # row 0, group 0 rank 1 precedes group 1
    assert (_violation(w, p).group, _violation(w, p).block) == (0, None)


def test_check_accepts_conforming_and_any_int_dtype():
    w = np.zeros((3, 16), np.int32)
    w[:, [0, 1, 12, 15]] = 1000
    check(w, P("2:4,2:4"))
    assert satisfies(w, P("2:4,2:4")) and not satisfies(w, P("1:4,2:4"))


def test_check_rejects_bad_inputs():
    p = P("2:4,2:4")
    with pytest.raises(TypeError, match="weights.*float64"):
        check(np.zeros((1, 16)), p)
    with pytest.raises(TypeError, match="weights"):
        check([[0] * 16], p)
    with pytest.raises(ValueError, match="weights.*ndim=1"):
        check(np.zeros(16, np.int8), p)
    with pytest.raises(ValueError, match=r"K=20 .*group size 16.*2:4,2:4"):
        check(np.zeros((1, 20), np.int8), p)


# ---------------------------------------------------------------- prune

@quick
@given(dense_cases())
@example((P("4:4,4:4"), np.full((2, 16), -128, np.int8)))
@example((P("1:3,1:2"), np.zeros((3, 12), np.int8)))
def test_prune_matches_reference(case):
    p, w = case
    q = prune(w, p)
    assert q.dtype == w.dtype and q.shape == w.shape
    assert satisfies(q, p)
    np.testing.assert_array_equal(q, reference_prune(w, p))
    assert np.all((q == 0) | (q == w))
    np.testing.assert_array_equal(prune(q, p), q)


@quick
@given(pruned_cases(), st.integers(0, 2**32 - 1))
def test_prune_leaves_conforming_matrix_unchanged(case, seed):
    p, q = case
    values = np.random.default_rng(seed).integers(1, 128, q.shape, dtype=np.int8)
    conforming = np.where(q != 0, values, 0).astype(np.int8)  # same support, unrelated magnitudes
    np.testing.assert_array_equal(prune(conforming, p), conforming)


@quick
@given(patterns(), st.integers(1, 3))
def test_prune_keeps_g1_times_g0_of_nonzero_matrix(p, ng):
    w = np.arange(1, 3 * ng * p.group_size + 1, dtype=np.int16).reshape(3, -1)
    counts = np.count_nonzero(prune(w, p).reshape(3, ng, -1), axis=-1)
    assert np.all(counts == p.g1 * p.g0)


def test_prune_ties_go_to_lower_index():
    np.testing.assert_array_equal(prune(np.array([[5, -5, 5, 1]], np.int8), P("1:1,2:4")), [[5, -5, 0, 0]])
    np.testing.assert_array_equal(prune(np.array([[3, 0, -3, 0]], np.int8), P("1:2,1:2")), [[3, 0, 0, 0]])


def test_prune_norms_do_not_overflow():
    w = np.array([[127, 127, -128, -128]], np.int8)
    np.testing.assert_array_equal(prune(w, P("1:2,2:2")), [[0, 0, -128, -128]])
    w = np.array([[-128, 0, 127, 127]], np.int8)  # 16384 < 2 * 16129
    np.testing.assert_array_equal(prune(w, P("1:2,2:2")), [[0, 0, 127, 127]])


def test_prune_rejects_bad_k():
    with pytest.raises(ValueError, match="K=8 .*group size 16"):
        prune(np.zeros((1, 8), np.int8), P("2:4,2:4"))


# ---------------------------------------------------------------- compress

@quick
@given(pruned_cases())
@example((P("3:3,4:4"), np.full((2, 24), 127, np.int8)))
@example((P("2:5,1:8"), np.zeros((2, 80), np.int8)))
def test_compress_round_trip_and_canonical(case):
    p, w = case
    c = compress(w, p)
    m, ng = w.shape[0], w.shape[1] // p.group_size
    assert (c.m, c.k, c.pattern) == (m, w.shape[1], p)
    assert c.values.dtype == np.int8 and c.values.shape == (m, ng, p.g1, p.g0)
    assert c.offsets.dtype == np.uint8 and c.offsets.shape == (m, ng, p.g1, p.g0)
    assert c.blocks.dtype == np.uint8 and c.blocks.shape == (m, ng, p.g1)
    assert np.all(np.diff(c.offsets.astype(int), axis=-1) > 0) and np.all(c.offsets < p.h0)
    assert np.all(np.diff(c.blocks.astype(int), axis=-1) > 0) and np.all(c.blocks < p.h1)
    assert np.count_nonzero(c.values) == np.count_nonzero(w)
    d = decompress(c)
    assert d.dtype == np.int8
    np.testing.assert_array_equal(d, w)


def test_compress_padding_uses_lowest_unused_slots():
    w = np.zeros((1, 16), np.int8)
    w[0, 2 * 4 + 3] = -7  # only block 2, offset 3 is non-zero
    c = compress(w, P("2:4,2:4"))
    np.testing.assert_array_equal(c.blocks, [[[0, 2]]])
    np.testing.assert_array_equal(c.offsets, [[[[0, 1], [0, 3]]]])
    np.testing.assert_array_equal(c.values, [[[[0, 0], [0, -7]]]])


def test_compress_rejects_violation_and_dtype():
    w = np.zeros((1, 16), np.int8)
    w[0, :3] = 1
    with pytest.raises(PatternViolation):
        compress(w, P("2:4,2:4"))
    with pytest.raises(TypeError, match="weights.*int16"):
        compress(np.zeros((1, 16), np.int16), P("2:4,2:4"))
    with pytest.raises(ValueError, match="256"):
        compress(np.zeros((1, 257), np.int8), P("1:1,1:257"))


def test_compressed_validates_arrays():
    c = compress(np.zeros((2, 16), np.int8), P("2:4,2:4"))
    with pytest.raises(TypeError, match="offsets"):
        HSSCompressed(c.pattern, c.k, c.values, c.offsets.astype(np.int64), c.blocks)
    with pytest.raises(ValueError, match="blocks"):
        HSSCompressed(c.pattern, c.k, c.values, c.offsets, c.blocks[:1])
    with pytest.raises(ValueError, match="h0=4"):
        HSSCompressed(c.pattern, c.k, c.values, c.offsets + 4, c.blocks)
    with pytest.raises(ValueError, match="K=17"):
        HSSCompressed(c.pattern, 17, c.values, c.offsets, c.blocks)


# ---------------------------------------------------------------- schedule

@pytest.mark.parametrize("text, lanes, beats", [
    ("4:4,4:4", 4, 4), ("4:5,2:4", 4, 2), ("4:7,1:4", 4, 1), ("2:4,2:4", 4, 1), ("3:4,3:4", 4, 3),
    ("3:4,3:8", 8, 2), ("7:7,1:1", 2, 4), ("1:1,1:1", 1, 1), ("5:6,2:2", 8, 2),
])
def test_beats_per_group(text, lanes, beats):
    assert beats_per_group(P(text), lanes) == beats


def test_beats_per_group_rejects_narrow_pe():
    with pytest.raises(ValueError, match="g0=4.*lanes=2"):
        beats_per_group(P("2:4,4:4"), 2)
    with pytest.raises(ValueError, match="lanes"):
        beats_per_group(P("2:4,1:4"), 0)


def test_schedule_layout():
    p = P("3:4,2:4")
    w = np.zeros((1, 16), np.int8)
    w[0, [1, 3, 9, 14, 15]] = [1, 2, 4, 5, 6]  # kept blocks 0, 2, 3; block 2 padded at offset 0
    s = schedule(compress(w, p), 4)
    assert (s.pattern, s.lanes, s.k) == (p, 4, 16)
    assert s.values.shape == s.offsets.shape == s.slots.shape == (1, 1, 2, 4)
    np.testing.assert_array_equal(s.values[0, 0], [[1, 2, 0, 4], [5, 6, 0, 0]])
    np.testing.assert_array_equal(s.offsets[0, 0], [[1, 3, 0, 1], [2, 3, 0, 0]])
    np.testing.assert_array_equal(s.slots[0, 0], [[0, 2, 0, 0], [3, 0, 0, 0]])


# ---------------------------------------------------------------- gemm_from_schedule

@settings(max_examples=60, deadline=None)
@given(pruned_cases(), st.integers(0, 2**32 - 1))
def test_gemm_from_schedule_is_exact(case, seed):
    p, w = case
    x = np.random.default_rng(seed).integers(-128, 128, (w.shape[1], 3), dtype=np.int8)
    x[0] = -128
    c, y = compress(w, p), gemm(w, x)
    for lanes in (1, 2, 4, 8):
        if p.g0 > lanes:
            with pytest.raises(ValueError, match="g0"):
                schedule(c, lanes)
            continue
        out = gemm_from_schedule(schedule(c, lanes), x)
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out, y)


def test_gemm_from_schedule_rejects_mismatched_inputs():
    s = schedule(compress(np.zeros((2, 16), np.int8), P("2:4,2:4")), 4)
    with pytest.raises(ValueError, match=r"\(2, 16\).*\(8, 1\)"):
        gemm_from_schedule(s, np.zeros((8, 1), np.int8))
    with pytest.raises(TypeError, match="inputs"):
        gemm_from_schedule(s, np.zeros((16, 1), np.int32))
