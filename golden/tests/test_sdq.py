"""Tests for the SDQ golden model."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sparseloom.golden.sdq import SDQConfig, SDQDecomposition, decompose

quick = settings(max_examples=40, deadline=None)
P = SDQConfig.parse


@st.composite
def configs(draw):
    m = draw(st.sampled_from([2, 3, 4, 8]))
    return SDQConfig(draw(st.integers(0, m - 1)), m, draw(st.integers(2, 8)), draw(st.sampled_from([1, 2, 4, 8, 16])))


@st.composite
def cases(draw):
    """A config and a float matrix fitting it: Gaussian, heavy-tailed or tied values, zeros and maybe a zero row."""
    c = draw(configs())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = draw(st.integers(1, 4))
    k = np.lcm(c.m, c.group) * draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["normal", "heavy", "ties"]))
    if kind == "normal":
        w = rng.standard_normal((rows, k)) * 10.0 ** draw(st.integers(-3, 3))
    elif kind == "heavy":
        w = rng.standard_t(2, (rows, k))
    else:
        w = rng.choice([-2.0, -1.0, 0.5, 1.0, 2.0], (rows, k))
    w[rng.random(w.shape) < draw(st.sampled_from([0.0, 0.3]))] = 0
    if draw(st.booleans()):
        w[rng.integers(rows)] = 0
    return c, w.astype(draw(st.sampled_from([np.float16, np.float32, np.float64])))


def reference_outliers(w, n, m):
    """Slow pure-Python outlier mask: the n largest |w| per block of m along K, ties to the lower index."""
    keep = np.zeros(w.shape, bool)
    for r in range(w.shape[0]):
        for base in range(0, w.shape[1], m):
            for i in sorted(range(m), key=lambda i: (-abs(float(w[r, base + i])), i))[:n]:
                keep[r, base + i] = True
    return keep


def _expand(d):
    return np.repeat(d.quant_scale, d.config.group, axis=1)


# ---------------------------------------------------------------- SDQConfig

@quick
@given(configs())
def test_parse_str_round_trip(c):
    assert P(str(c)) == c
    assert str(c) == f"{c.n}:{c.m}+W{c.bits}g{c.group}"


def test_parse_whitespace_and_fields():
    assert P(" 1 : 8 + W4g64 ") == SDQConfig(n=1, m=8, bits=4, group=64)
    assert P("0:4+W8g1").qmax == 127 and P("2:4+W2g8").qmax == 1


@pytest.mark.parametrize("text", ["", "1:8", "1:8+W4", "1:8+w4g64", "1:8+W4G64", "1:8W4g64", "1:8+W4g", "a:8+W4g64",
                                  "1:8+W4g64+1", "-1:8+W4g64"])
def test_parse_malformed(text):
    with pytest.raises(ValueError, match=r"expected 'N:M\+WBgG', e.g. '1:8\+W4g64'") as err:
        P(text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize("args, message", [
    ((8, 8, 4, 64), "n must be an integer in 0..m-1=7, got 8"),
    ((-1, 8, 4, 64), "n must be an integer in 0..m-1=7, got -1"),
    ((1, 1, 4, 64), "m must be an integer >= 2, got 1"),
    ((1, 8, 1, 64), "bits must be an integer in 2..8, got 1"),
    ((1, 8, 9, 64), "bits must be an integer in 2..8, got 9"),
    ((1, 8, 4, 0), "group must be an integer >= 1, got 0"),
    ((1, 8, 4.0, 64), "bits must be an integer in 2..8, got 4.0"),
    ((True, 8, 4, 64), "n must be an integer in 0..m-1=7, got True"),
])
def test_config_validation(args, message):
    with pytest.raises(ValueError) as err:
        SDQConfig(*args)
    assert str(err.value) == message


# ---------------------------------------------------------------- decompose

@quick
@given(cases())
@example((P("2:4+W4g4"), np.ones((2, 8), np.float32)))  # every block tied
@example((P("1:8+W3g8"), np.zeros((3, 8), np.float32)))  # a single block, all zero
@example((P("3:4+W2g2"), np.array([[1e-3, -2e-3, 1e3, -1e3, 0, 0, 0, 5]], np.float64)))
def test_decompose_format_and_outliers(case):
    c, w = case
    d = decompose(w, c)
    rows, k = w.shape
    assert d.config == c and d.k == k
    assert d.sparse.dtype == d.quant.dtype == np.int8 and d.sparse.shape == d.quant.shape == (rows, k)
    assert d.sparse_scale.dtype == d.quant_scale.dtype == np.float32
    assert d.sparse_scale.shape == (rows, 1) and d.quant_scale.shape == (rows, k // c.group)
    w32 = w.astype(np.float32).astype(np.float64)
    # outliers: the top-n per block, as int8 codes of a per-row absmax scale
    keep = reference_outliers(w32, c.n, c.m)
    assert np.all(np.count_nonzero(d.sparse.reshape(rows, -1, c.m), axis=-1) <= c.n)
    assert not d.sparse[~keep].any()
    outliers = np.where(keep, w32, 0)
    scale = (np.abs(outliers).max(axis=1, keepdims=True) / 127).astype(np.float32)
    np.testing.assert_array_equal(d.sparse_scale, scale)
    s = d.sparse_scale.astype(np.float64)
    np.testing.assert_array_equal(d.sparse, np.where(s > 0, np.rint(outliers / np.where(s > 0, s, 1)), 0))
    assert np.all(np.abs(d.sparse.astype(np.float32) * d.sparse_scale - outliers) <= s / 2 * (1 + 1e-4))
    # remainder: bits-bit codes, the largest of each non-zero group at full scale
    q = np.abs(d.quant.astype(np.int16))
    assert q.max(initial=0) <= c.qmax
    groups = q.reshape(rows, -1, c.group).max(axis=-1)
    assert np.all((groups == c.qmax) == (d.quant_scale > 0))
    assert np.all(d.sparse_scale >= 0) and np.all(d.quant_scale >= 0)


@quick
@given(cases())
def test_dense_is_the_sum_of_both_parts(case):
    c, w = case
    d = decompose(w, c)
    sparse = d.sparse.astype(np.float32) * d.sparse_scale
    quant = d.quant.astype(np.float32) * _expand(d)
    out = d.dense()
    assert out.dtype == np.float32 and out.shape == w.shape
    np.testing.assert_array_equal(out, sparse + quant)  # exact
    assert np.isfinite(out).all()
    # the remainder is quantised to within half a step (plus float32 rounding of the sums)
    w32 = w.astype(np.float32).astype(np.float64)
    slack = 4 * np.finfo(np.float32).eps * (np.abs(w32) + np.abs(sparse) + np.abs(quant))
    assert np.all(np.abs(w32 - out) <= _expand(d) / 2 * (1 + 1e-6) + slack)


def test_zero_rows_and_groups_are_exact():
    w = np.zeros((3, 16), np.float32)
    w[1, :8] = np.linspace(-1, 1, 8)  # row 1: second group of 8 all zero
    d = decompose(w, P("1:4+W4g8"))
    assert d.sparse_scale[0, 0] == d.sparse_scale[2, 0] == 0 and d.sparse_scale[1, 0] > 0
    np.testing.assert_array_equal(d.quant_scale == 0, [[True, True], [False, True], [True, True]])
    out = d.dense()
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[[0, 2]], 0)
    np.testing.assert_array_equal(out[1, 8:], 0)


def test_outlier_ties_go_to_lower_index():
    w = np.tile(np.array([3.0, -3.0, 3.0, 1.0], np.float32), (2, 2))  # K = 8: two blocks of 4
    d = decompose(w, P("2:4+W4g8"))
    np.testing.assert_array_equal(d.sparse != 0, np.tile([True, True, False, False], (2, 2)))
    np.testing.assert_array_equal(d.sparse, np.tile([127, -127, 0, 0], (2, 2)))


def test_outliers_are_taken_per_block_along_k():
    w = np.arange(1, 17, dtype=np.float32).reshape(2, 8)  # blocks [1..4], [5..8] | [9..12], [13..16]
    d = decompose(w, P("1:4+W8g8"))
    np.testing.assert_array_equal(d.sparse != 0, [[0, 0, 0, 1, 0, 0, 0, 1]] * 2)


def test_no_sparse_part():
    w = np.random.default_rng(2).standard_normal((3, 32)).astype(np.float32)
    d = decompose(w, P("0:8+W4g16"))
    assert not d.sparse.any() and not d.sparse_scale.any()
    np.testing.assert_array_equal(d.dense(), d.quant.astype(np.float32) * _expand(d))


def test_rounding_is_half_to_even():
    # group of 2 with absmax 3 and Q = 1 (bits 2): scale 3, values 1.5 -> 0.5 step -> rint(0.5) = 0
    w = np.array([[3.0, 1.5, -3.0, -4.5]], np.float32)
    d = decompose(w, P("0:2+W2g2"))
    np.testing.assert_array_equal(d.quant, [[1, 0, -1, -1]])
    d = decompose(np.array([[127.0, 0.5, 2.5, 0.0]], np.float32), P("3:4+W8g4"))
    np.testing.assert_array_equal(d.sparse, [[127, 0, 2, 0]])  # scale 1: rint(0.5) = 0, rint(2.5) = 2


def test_saturation_with_subnormal_scales():
    ulp = np.float32(2.0**-149)  # the smallest float32 subnormal
    d = decompose(np.array([[-189 * ulp, 0, 0, 0]], np.float32), P("1:4+W4g4"))
    assert d.sparse_scale[0, 0] == ulp  # 189/127 ulp rounds down to 1 ulp: -189 saturates to -127
    np.testing.assert_array_equal(d.sparse, [[-127, 0, 0, 0]])
    d = decompose(np.array([[-10 * ulp, 0, 0, 0]], np.float32), P("0:4+W4g4"))
    assert d.quant_scale[0, 0] == ulp  # 10/7 ulp rounds down to 1 ulp: -10 saturates to -7
    np.testing.assert_array_equal(d.quant, [[-7, 0, 0, 0]])


def _error(w, d):
    return float(np.square(w.astype(np.float64) - d.dense()).sum())


def test_error_shrinks_as_bits_and_outliers_grow():
    w = np.random.default_rng(7).standard_t(3, (32, 256)).astype(np.float32)
    by_bits = [_error(w, decompose(w, SDQConfig(1, 8, b, 32))) for b in range(2, 9)]
    assert all(a > b for a, b in zip(by_bits, by_bits[1:]))
    by_n = [_error(w, decompose(w, SDQConfig(n, 8, 3, 32))) for n in range(0, 8)]
    assert all(a > b for a, b in zip(by_n, by_n[1:]))


# ---------------------------------------------------------------- matmul

@quick
@given(cases(), st.integers(0, 2**32 - 1), st.integers(1, 3))
def test_matmul_partial_products_are_exact(case, seed, cols):
    c, w = case
    d = decompose(w, c)
    x = np.random.default_rng(seed).integers(-128, 128, (w.shape[1], cols), dtype=np.int8)
    x[0] = -128
    sparse, quant = d.partial_products(x)
    assert sparse.dtype == quant.dtype == np.int64
    assert quant.shape == (w.shape[0], w.shape[1] // c.group, cols)
    xs = x.astype(np.int64)
    np.testing.assert_array_equal(sparse, d.sparse.astype(np.int64) @ xs)
    for g in range(quant.shape[1]):
        cut = slice(g * c.group, (g + 1) * c.group)
        np.testing.assert_array_equal(quant[:, g], d.quant[:, cut].astype(np.int64) @ xs[cut])
    y = d.matmul(x)
    assert y.dtype == np.float64 and y.shape == (w.shape[0], cols)
    scale = (np.abs(d.dense()).astype(np.float64) @ np.abs(xs)).max(initial=0)
    np.testing.assert_allclose(y, d.dense().astype(np.float64) @ xs, rtol=0, atol=1e-5 * scale + 1e-300)


def test_matmul_extremes():
    w = np.full((2, 512), -1.0, np.float32)
    w[:, ::8] = -1000.0
    d = decompose(w, P("1:8+W8g64"))
    x = np.full((512, 3), -128, np.int8)
    sparse, quant = d.partial_products(x)
    assert np.all(sparse == 64 * 127 * 128) and np.all(quant == 56 * 127 * 128)
    np.testing.assert_allclose(d.matmul(x), w.astype(np.float64) @ x, rtol=1e-6)


def test_matmul_rejects_bad_inputs():
    d = decompose(np.ones((2, 8), np.float32), P("1:4+W4g4"))
    with pytest.raises(TypeError, match="inputs must be a numpy array of dtype int8, got int16"):
        d.matmul(np.zeros((8, 1), np.int16))
    with pytest.raises(ValueError, match=r"weights shape \(2, 8\) and inputs shape \(4, 1\) do not chain"):
        d.matmul(np.zeros((4, 1), np.int8))
    with pytest.raises(ValueError, match="inputs must be 2-D"):
        d.partial_products(np.zeros(8, np.int8))


# ---------------------------------------------------------------- accounting

@pytest.mark.parametrize("text, k, compute, storage", [
    ("2:8+W4g64", 128, Fraction(3, 4), Fraction(2, 8) * 11 + 4 + Fraction(16, 64) + Fraction(16, 128)),
    ("1:8+W4g64", 4096, Fraction(5, 8), Fraction(11, 8) + 4 + Fraction(1, 4) + Fraction(1, 256)),
    ("1:4+W2g16", 16, Fraction(1, 2), Fraction(10, 4) + 2 + 1 + 1),
    ("3:5+W8g5", 5, Fraction(8, 5), Fraction(3, 5) * 11 + 8 + Fraction(16, 5) + Fraction(16, 5)),
    ("1:2+W3g2", 2, Fraction(7, 8), Fraction(9, 2) + 3 + 8 + 8),
    ("0:8+W4g32", 64, Fraction(1, 2), 4 + Fraction(1, 2)),
])
def test_accounting(text, k, compute, storage):
    d = decompose(np.ones((1, k), np.float32), P(text))
    assert d.relative_compute() == compute and isinstance(d.relative_compute(), Fraction)
    assert d.storage_bits_per_weight() == storage and isinstance(d.storage_bits_per_weight(), Fraction)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("w, text, error, message", [
    (np.ones((2, 12), np.float32), "1:8+W4g4", ValueError,
     r"K=12 is not a positive multiple of m=8 \(config 1:8\+W4g4\)"),
    (np.ones((2, 16), np.float32), "1:8+W4g32", ValueError, "K=16 is not a positive multiple of group=32"),
    (np.ones((2, 0), np.float32), "1:8+W4g4", ValueError, "K=0 is not a positive multiple of m=8"),
    (np.ones((2, 8), np.int8), "1:8+W4g4", TypeError, "weights must have a floating dtype, got int8"),
    ([[1.0] * 8], "1:8+W4g4", TypeError, "weights must be a numpy array, got list"),
    (np.ones(8, np.float32), "1:8+W4g4", ValueError, "weights must be 2-D, got ndim=1"),
    (np.ones((1, 2, 8), np.float32), "1:8+W4g4", ValueError, "weights must be 2-D, got ndim=3"),
    (np.array([[np.nan] + [1.0] * 7]), "1:8+W4g4", ValueError, "weights must be finite in float32"),
    (np.array([[1e39] + [1.0] * 7]), "1:8+W4g4", ValueError, "weights must be finite in float32"),
])
def test_decompose_rejects_bad_inputs(w, text, error, message):
    with pytest.raises(error, match=message):
        decompose(w, P(text))


def test_decomposition_validates_arrays():
    d = decompose(np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32), P("1:4+W4g8"))
    fields = dict(config=d.config, sparse=d.sparse, sparse_scale=d.sparse_scale, quant=d.quant,
                  quant_scale=d.quant_scale)
    dense_sparse = np.ones((2, 16), np.int8)
    for change, error, message in [
        (dict(config="1:4+W4g8"), TypeError, "config must be an SDQConfig"),
        (dict(sparse=d.sparse.astype(np.int16)), TypeError, "sparse must be a numpy array of dtype int8"),
        (dict(quant=d.quant[:1]), ValueError, r"quant must have shape \(2, 16\)"),
        (dict(quant_scale=d.quant_scale[:, :1]), ValueError, r"quant_scale must have shape \(2, 2\)"),
        (dict(sparse_scale=d.sparse_scale.astype(np.float64)), TypeError, "sparse_scale .* float32"),
        (dict(sparse=dense_sparse), ValueError, "sparse breaks the n:m pattern 1:4"),
        (dict(quant=np.full((2, 16), 8, np.int8)), ValueError, r"quant in -7..7"),
        (dict(sparse=np.full((2, 16), -128, np.int8) * (dense_sparse.cumsum(axis=1) % 4 == 1)), ValueError,
         "sparse must be in -127..127"),
        (dict(quant_scale=-d.quant_scale), ValueError, "quant_scale must be finite and >= 0"),
        (dict(sparse_scale=np.full((2, 1), np.inf, np.float32)), ValueError, "sparse_scale must be finite"),
    ]:
        with pytest.raises(error, match=message):
            SDQDecomposition(**{**fields, **change})
    SDQDecomposition(**fields)  # the original is valid


def test_sdq_own_accounting_against_16_bit_dense():
    from fractions import Fraction

    from sparseloom.golden.sdq import SDQConfig, sdq_compute

    assert sdq_compute(SDQConfig.parse("0:8+W4g64"), 8, 4) == Fraction(1, 4)     # dense W4A4: 4x
    assert sdq_compute(SDQConfig.parse("0:8+W8g64"), 8, 8) == Fraction(1, 2)     # dense W8A8: 2x
    assert sdq_compute(SDQConfig.parse("1:8+W4g64"), 8, 4) == Fraction(5, 16)    # 1/16 + 1/4: 3.2x
    assert sdq_compute(SDQConfig.parse("1:8+W4g64"), 16, 8) == Fraction(1, 8) + Fraction(1, 2)  # A16 outliers
    assert sdq_compute(SDQConfig.parse("1:16+W2g64"), 8, 4) == Fraction(1, 32) + Fraction(1, 4)  # A4 bounds W2
    with pytest.raises(ValueError, match="remainder_act_bits"):
        sdq_compute(SDQConfig.parse("1:8+W4g64"), 8, 1)


def test_clipped_scale_by_hand_and_never_worse_than_max():
    from sparseloom.golden.sdq import clipped_scale, to_codes

    # one large value among ten small ones, 2-bit (codes -1, 0, 1): s = 8 zeroes the small ones (error 40);
    # below 4 they all become +-s, error 10 (s - 2)^2 + (8 - s)^2, least at s = 28/11 ~ 2.545; the grid's
    # nearest candidate is p = 0.325, s = 2.6 (error 32.76)
    v = np.array([[8.0] + [2.0, -2.0] * 5])
    assert clipped_scale(v, 1)[0, 0] == pytest.approx(2.6, rel=1e-6)
    assert clipped_scale(np.array([[1.0, -1.0, 1.0]]), 1).tolist() == [[1.0]]  # exact at max: kept (largest s)
    assert clipped_scale(np.zeros((2, 4)), 3).tolist() == [[0.0], [0.0]]
    rng = np.random.default_rng(7)
    v = rng.standard_t(3, size=(50, 64))
    for q in (1, 3, 7):
        s = clipped_scale(v, q).astype(np.float64)
        peak = np.abs(v).max(axis=1, keepdims=True) / q
        err = lambda scale: np.square(to_codes(v, scale, q) * scale - v).sum(axis=1)  # noqa: E731
        assert (err(s) <= err(peak.astype(np.float32).astype(np.float64)) + 1e-12).all()
        assert ((s <= peak * (1 + 1e-6)) & (s >= peak / 4 * (1 - 1e-6))).all()


def test_decompose_with_clipping_keeps_the_format_and_lowers_the_error():
    rng = np.random.default_rng(8)
    w = rng.standard_t(3, size=(16, 128)).astype(np.float32)
    for text in ("0:8+W2g64", "1:8+W3g32"):
        c = SDQConfig.parse(text)
        plain, clipped = decompose(w, c), decompose(w, c, clip=True)
        assert np.array_equal(plain.sparse, clipped.sparse)
        assert np.square(clipped.dense() - w).sum() < np.square(plain.dense() - w).sum()
        assert (clipped.quant_scale <= plain.quant_scale).all()
