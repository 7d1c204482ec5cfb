"""Tests for the LUT Tensor Core golden model."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.golden.lut import (FORMATS, WeightFormat, accumulator_bound, from_planes, full_tables, lookup,
                                   lut_accumulate, lut_gemm, pack_table_word, plane_bits, plane_indices, stored_tables,
                                   table_entries_stored, table_width, weight_format)
from sparseloom.golden.reference import gemm

quick = settings(max_examples=30, deadline=None)
NAMES = list(FORMATS)
ALLOWED = {"1": [-1, 1], "2": range(-2, 2), "3": range(-4, 4), "4": range(-8, 8), "ternary": [-1, 0, 1]}


def ref(w, x):
    return w.astype(np.int64) @ x.astype(np.int64)


def spec_bits(w, name):
    """Plane bits by the rules stated per format, independent of the model's codebook."""
    w = w.astype(np.int64)
    if name == "1":
        return np.array([w > 0], np.uint8)
    if name == "ternary":
        return np.array([w >= 0, w > 0], np.uint8)
    return np.array([(w >> j) & 1 for j in range(int(name))], np.uint8)


def ref_full_tables(x, g):
    """Pure-Python T[q, n, idx] = sum_i s_i x[q*g+i, n]."""
    k, n = x.shape
    out = np.zeros((k // g, n, 2**g), np.int64)
    for q, col, idx in itertools.product(range(k // g), range(n), range(2**g)):
        out[q, col, idx] = sum((1 if idx >> i & 1 else -1) * int(x[q * g + i, col]) for i in range(g))
    return out


@st.composite
def cases(draw, gs=st.integers(1, 6)):
    """Format, g, weights drawn from the format's values and int8 activations with extremes."""
    name, g = draw(st.sampled_from(NAMES)), draw(gs)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m, ng, n = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    w = rng.choice(np.array(ALLOWED[name], np.int8), (m, ng * g))
    x = rng.integers(-128, 128, (ng * g, n), dtype=np.int8)
    extreme = rng.random(x.shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))
    x[extreme] = rng.choice(np.array([-128, 127], np.int8), extreme.sum())
    return name, g, w, x


# ---------------------------------------------------------------- formats

def test_format_fields():
    expected = {
        "1": (1, False, False, False, False, -1, 1, (1,)),
        "2": (2, True, True, True, True, -2, 1, (1, -2)),
        "3": (3, True, True, True, True, -4, 3, (1, 2, -4)),
        "4": (4, True, True, True, True, -8, 7, (1, 2, 4, -8)),
        "ternary": (2, False, False, False, True, -1, 1, (1, 1)),
    }
    assert set(FORMATS) == set(expected)
    for name, (planes, weighted, neg_msb, corr, halve, lo, hi, coefficients) in expected.items():
        f = FORMATS[name]
        assert f.name == name
        assert (f.planes, f.weighted, f.neg_msb, f.corr, f.halve, f.lo, f.hi) == (planes, weighted, neg_msb, corr,
                                                                                   halve, lo, hi)
        assert f.coefficients == coefficients
        assert f.values == tuple(ALLOWED[name])


@pytest.mark.parametrize("wbits, name", [(1, "1"), (2, "2"), (3, "3"), (4, "4"), ("1", "1"), ("4", "4"),
                                         ("ternary", "ternary")])
def test_weight_format_lookup(wbits, name):
    assert weight_format(wbits) is FORMATS[name]


@pytest.mark.parametrize("wbits", [0, 5, "5", "int4", True, 2.0, None, [2]])
def test_weight_format_unknown(wbits):
    with pytest.raises(ValueError, match=r"wbits must be one of 1, 2, 3, 4 .* 'ternary'") as err:
        weight_format(wbits)
    assert repr(wbits) in str(err.value)


def test_format_is_frozen():
    with pytest.raises(AttributeError):
        FORMATS["2"].planes = 3


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(weighted=True, neg_msb=True, corr=False, halve=True, lo=-2, hi=1), ValueError, "divide exactly"),
    (dict(weighted=True, neg_msb=True, corr=True, halve=True, lo=-2, hi=2), ValueError, "decode to -2..1, not"),
    (dict(weighted=True, neg_msb=True, corr=True, halve=1, lo=-2, hi=1), TypeError, "halve must be a bool"),
    (dict(weighted=True, neg_msb=True, corr=True, halve=True, lo=-2, hi=200), ValueError, "hi must be an integer"),
])
def test_format_validation(kwargs, error, message):
    with pytest.raises(error, match=message):
        WeightFormat("x", 2, **kwargs)
    with pytest.raises(ValueError, match="planes must be an integer in 1..8"):
        WeightFormat("x", 0, False, False, False, False, -1, 1)


# ---------------------------------------------------------------- planes

@pytest.mark.parametrize("name", NAMES)
def test_plane_round_trip_whole_range(name):
    fmt = FORMATS[name]
    w = np.array([list(ALLOWED[name]) * 2], np.int8).reshape(2, -1)
    bits = plane_bits(w, name)
    assert bits.dtype == np.uint8 and bits.shape == (fmt.planes,) + w.shape
    np.testing.assert_array_equal(bits, spec_bits(w, name))
    back = from_planes(bits, fmt)
    assert back.dtype == np.int8
    np.testing.assert_array_equal(back, w)


@pytest.mark.parametrize("name", NAMES)
def test_from_planes_decodes_every_pattern(name):
    fmt = FORMATS[name]
    patterns = np.array(list(itertools.product([0, 1], repeat=fmt.planes)), np.uint8).T[:, None, :]  # (P, 1, 2^P)
    got = from_planes(patterns, fmt)[0].astype(int)
    for bits, w in zip(patterns[:, 0].T, got):
        s = [2 * int(b) - 1 for b in bits]
        numerator = sum(c * sj for c, sj in zip(fmt.coefficients, s)) - fmt.corr
        assert numerator == w * 2**fmt.halve  # exact
        assert w in ALLOWED[name]


def test_from_planes_rejects_bad_bits():
    with pytest.raises(ValueError, match="bits must have 2 planes"):
        from_planes(np.zeros((3, 1, 1), np.uint8), "2")
    with pytest.raises(ValueError, match="bits must be 0 or 1, got 2"):
        from_planes(np.full((2, 1, 1), 2, np.uint8), "2")
    with pytest.raises(TypeError, match="bits must be a numpy array of dtype uint8"):
        from_planes(np.zeros((2, 1, 1), np.int8), "2")


@quick
@given(cases(st.sampled_from([1, 3, 8, 9, 16])))
def test_plane_indices_bit_layout(case):
    name, g, w, _ = case
    fmt = FORMATS[name]
    idx = plane_indices(w, fmt, g)
    m, k = w.shape
    assert idx.shape == (fmt.planes, m, k // g)
    assert idx.dtype == (np.uint8 if g <= 8 else np.uint16)
    bits = spec_bits(w, name)
    for j, row, q, i in itertools.product(range(fmt.planes), range(m), range(k // g), range(g)):
        assert (int(idx[j, row, q]) >> i) & 1 == bits[j, row, q * g + i]
    assert (idx.astype(np.int64) < 2**g).all()


# ---------------------------------------------------------------- tables

@quick
@given(cases())
def test_tables(case):
    _, g, _, x = case
    full = full_tables(x, g)
    stored = stored_tables(x, g)
    ng, n = x.shape[0] // g, x.shape[1]
    assert full.dtype == stored.dtype == np.int32
    assert full.shape == (ng, n, 2**g) and stored.shape == (ng, n, 2 ** (g - 1)) == (ng, n, table_entries_stored(g))
    np.testing.assert_array_equal(full, ref_full_tables(x, g))
    idx = np.arange(2**g)
    np.testing.assert_array_equal(full[..., idx ^ (2**g - 1)], -full)  # symmetrisation
    np.testing.assert_array_equal(stored, full[..., :2 ** (g - 1)])
    s = x.astype(np.int64).reshape(ng, g, n).sum(axis=1)
    np.testing.assert_array_equal(stored[..., 0], -s)
    for i in idx:  # every index, scalar and array form
        np.testing.assert_array_equal(lookup(stored, int(i), g), full[..., i])
        np.testing.assert_array_equal(lookup(stored, np.full((ng, n), i, np.uint16), g), full[..., i])


def test_lookup_broadcasts_and_validates():
    x = np.arange(-6, 6, dtype=np.int8).reshape(4, 3)  # g=2: NG=2, N=3
    full, stored = full_tables(x, 2), stored_tables(x, 2)
    idx = np.array([[0, 3], [1, 2], [2, 2]], np.uint8)[:, :, None]  # (M=3, NG, 1)
    got = lookup(stored, idx, 2)
    assert got.shape == (3, 2, 3)
    for m, q, col in itertools.product(range(3), range(2), range(3)):
        assert got[m, q, col] == full[q, col, idx[m, q, 0]]
    with pytest.raises(ValueError, match="idx must lie in 0..3 for g=2, got 4"):
        lookup(stored, 4, 2)
    with pytest.raises(ValueError, match=r"idx must lie in 0..3 for g=2, got -1"):
        lookup(stored, np.array([0, -1]), 2)
    with pytest.raises(ValueError, match=r"stored must have shape \(\.\.\., 4\) for g=3"):
        lookup(stored, 0, 3)
    with pytest.raises(ValueError, match=r"idx shape \(5,\) does not broadcast"):
        lookup(stored, np.zeros(5, np.int64), 2)
    with pytest.raises(TypeError, match="idx must have an integer dtype"):
        lookup(stored, 1.0, 2)
    with pytest.raises(TypeError, match="stored must be a numpy array of signed integer dtype"):
        lookup(stored.astype(np.uint32), 0, 2)


@pytest.mark.parametrize("g", range(1, 9))
def test_table_width_is_tight(g):
    tw = table_width(g)
    extreme = g * 128
    assert -(2 ** (tw - 1)) <= -extreme and extreme <= 2 ** (tw - 1) - 1
    assert extreme > 2 ** (tw - 2) - 1  # one bit fewer does not hold it
    full = full_tables(np.full((g, 1), -128, np.int8), g)
    assert np.abs(full).max() == extreme == stored_tables(np.full((g, 1), -128, np.int8), g)[0, 0, 0]
    for act_width in range(1, 9):
        v, w = g * 2 ** (act_width - 1), table_width(g, act_width)
        assert v <= 2 ** (w - 1) - 1 and v > 2 ** (w - 2) - 1
    assert table_width(1) == 9 and table_width(4) == 11


def test_table_width_validation():
    with pytest.raises(ValueError, match="g must be an integer in 1..16, got 0"):
        table_width(0)
    with pytest.raises(ValueError, match="g must be an integer in 1..16, got 17"):
        table_entries_stored(17)
    with pytest.raises(ValueError, match="act_width must be an integer >= 1, got 0"):
        table_width(2, 0)


def test_pack_table_word_hand_example():
    # tw = 9, entries e0..e3 = -1, 2, -128, 5: e3 is the most significant field.
    word = pack_table_word(np.array([-1, 2, -128, 5], np.int32), 9)
    assert word == 0b000000101_110000000_000000010_111111111 == 771753471
    assert pack_table_word([-256, 255], 9) == (255 << 9) | 0b100000000


@quick
@given(cases())
def test_pack_table_word_fields(case):
    _, g, _, x = case
    tw = table_width(g)
    for entries in stored_tables(x, g).reshape(-1, 2 ** (g - 1)):
        word = pack_table_word(entries, tw)
        assert 0 <= word < 2 ** (tw * len(entries))
        fields = [(word >> (e * tw)) & (2**tw - 1) for e in range(len(entries))]
        np.testing.assert_array_equal([f - 2**tw if f >> (tw - 1) else f for f in fields], entries)


def test_pack_table_word_validation():
    with pytest.raises(ValueError, match=r"stored_entries\[1\] = 256 does not fit table_width=9 \(range -256..255\)"):
        pack_table_word([0, 256], 9)
    with pytest.raises(ValueError, match=r"stored_entries\[0\] = -257"):
        pack_table_word([-257], 9)
    with pytest.raises(TypeError, match="stored_entries must be a 1-D integer sequence"):
        pack_table_word([[1]], 9)
    with pytest.raises(ValueError, match="table_width must be an integer >= 1"):
        pack_table_word([1], 0)


# ---------------------------------------------------------------- GEMM

def _check_gemm(name, g, w, x):
    fmt = FORMATS[name]
    y = lut_gemm(w, x, name, g)
    assert y.dtype == np.int32 and y.shape == (w.shape[0], x.shape[1])
    np.testing.assert_array_equal(y, ref(w, x))
    np.testing.assert_array_equal(gemm(w, x), ref(w, x))
    acc = lut_accumulate(w, x, fmt, g)
    assert acc.dtype == np.int32
    np.testing.assert_array_equal(acc, 2**fmt.halve * ref(w, x))
    if fmt.halve:
        assert (acc.astype(np.int64) % 2 == 0).all()  # the numerator is even: halving is exact
    assert np.abs(acc.astype(np.int64)).max() <= accumulator_bound(fmt, x.shape[0])
    # The same numerator from the full tables and the stated bit rules, without ``lookup``.
    full = ref_full_tables(x, g)
    bits = spec_bits(w, name).astype(np.int64)
    numerator = -fmt.corr * x.astype(np.int64).sum(axis=0)
    for c, plane in zip(fmt.coefficients, bits):
        idx = (plane.reshape(w.shape[0], -1, g) << np.arange(g)).sum(axis=-1)  # (M, NG)
        numerator = numerator + c * full[np.arange(full.shape[0]), :, idx].sum(axis=1)
    np.testing.assert_array_equal(acc, numerator)
    return acc


@quick
@given(cases())
def test_lut_gemm_matches_matmul(case):
    _check_gemm(*case)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("g", range(1, 7))
def test_lut_gemm_extremes(name, g):
    fmt = FORMATS[name]
    k = 3 * g
    rng = np.random.default_rng(g)
    weights = {"lo": np.full((2, k), fmt.lo, np.int8), "hi": np.full((2, k), fmt.hi, np.int8),
               "mixed": rng.choice(np.array([fmt.lo, fmt.hi], np.int8), (2, k))}
    inputs = {"min": np.full((k, 3), -128, np.int8), "max": np.full((k, 3), 127, np.int8),
              "mixed": rng.choice(np.array([-128, 127], np.int8), (k, 3))}
    peak = max(np.abs(_check_gemm(name, g, w, x).astype(np.int64)).max()
               for w, x in itertools.product(weights.values(), inputs.values()))
    assert peak == accumulator_bound(fmt, k)  # reached by W = lo, X = -128


@pytest.mark.parametrize("fmt, k, act_width, bound", [
    ("1", 10, 8, 1280), (1, 10, 8, 1280), ("ternary", 10, 8, 2560), ("2", 10, 8, 5120), (3, 10, 8, 10240),
    (FORMATS["4"], 10, 8, 20480), ("4", 10, 4, 1280), ("4", 0, 8, 0),
])
def test_accumulator_bound_values(fmt, k, act_width, bound):
    assert accumulator_bound(fmt, k, act_width) == bound


def test_accumulator_bound_validation():
    with pytest.raises(ValueError, match="k must be an integer >= 0, got -1"):
        accumulator_bound("2", -1)
    with pytest.raises(ValueError, match="wbits"):
        accumulator_bound(8, 1)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("name, value, allowed", [
    ("1", 0, "-1, 1"), ("1", 2, "-1, 1"), ("2", 2, "-2..1"), ("2", -3, "-2..1"), ("4", 8, "-8..7"),
    ("ternary", 2, "-1..1"), ("ternary", -2, "-1..1"),
])
def test_out_of_range_weights(name, value, allowed):
    w = np.full((3, 4), FORMATS[name].hi, np.int8)
    w[2, 1] = w[2, 3] = value
    message = f"weights[2, 1] = {value} is not a format '{name}' weight; allowed: {allowed}"
    for call in (lambda: lut_gemm(w, np.zeros((4, 2), np.int8), name, 2), lambda: plane_bits(w, name),
                 lambda: plane_indices(w, name, 2), lambda: lut_accumulate(w, np.zeros((4, 1), np.int8), name, 1)):
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == message


def test_input_validation():
    w, x = np.ones((2, 4), np.int8), np.ones((4, 3), np.int8)
    with pytest.raises(TypeError, match="weights must be a numpy array of dtype int8, got int16"):
        lut_gemm(w.astype(np.int16), x, "2", 2)
    with pytest.raises(TypeError, match="inputs must be a numpy array of dtype int8, got int32"):
        lut_gemm(w, x.astype(np.int32), "2", 2)
    with pytest.raises(TypeError, match="inputs must be a numpy array of dtype int8, got list"):
        full_tables([[1]], 1)
    with pytest.raises(TypeError, match="weights must be a numpy array of dtype int8, got float64"):
        gemm(w.astype(float), x)
    with pytest.raises(ValueError, match="inputs must be 2-D, got ndim=1"):
        stored_tables(np.ones(4, np.int8), 2)
    with pytest.raises(ValueError, match=r"weights shape \(2, 4\) and inputs shape \(6, 3\)"):
        lut_gemm(w, np.ones((6, 3), np.int8), "2", 2)
    with pytest.raises(ValueError, match=r"weights shape \(2, 4\) and inputs shape \(6, 3\)"):
        gemm(w, np.ones((6, 3), np.int8))
    with pytest.raises(ValueError, match="K=4 is not a multiple of g=3"):
        lut_gemm(w, x, "2", 3)
    with pytest.raises(ValueError, match="K=4 is not a multiple of g=3"):
        full_tables(x, 3)
    with pytest.raises(ValueError, match="K=4 is not a multiple of g=3"):
        plane_indices(w, "2", 3)
    with pytest.raises(ValueError, match="g must be an integer in 1..16, got 0"):
        lut_gemm(w, x, "2", 0)
    with pytest.raises(ValueError, match="wbits"):
        lut_gemm(w, x, "int2", 2)


def test_accumulator_overflow_rejected():
    k = 2**20  # bound 2^20 * 16 * 128 > 2^31 - 1 for 4-bit weights
    with pytest.raises(ValueError, match=f"K={k} is too large for format '4'"):
        lut_gemm(np.zeros((1, k), np.int8), np.zeros((k, 1), np.int8), "4", 4)
