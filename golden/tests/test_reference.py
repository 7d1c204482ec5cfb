"""Tests for the reference GEMM and the accumulator bound every generator sizes its accumulators by."""
import itertools

import numpy as np
import pytest

from sparseloom.golden.reference import MAX_K, gemm, product_sum_bound, signed_width


def test_gemm_matches_int64_and_extremes():
    rng = np.random.default_rng(1)
    w, x = rng.integers(-128, 128, (7, 33), dtype=np.int8), rng.integers(-128, 128, (33, 5), dtype=np.int8)
    y = gemm(w, x)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, w.astype(np.int64) @ x.astype(np.int64))
    y = gemm(np.full((2, 4096), -128, np.int8), np.full((4096, 3), -128, np.int8))
    assert np.all(y == 4096 * 16384)


def test_gemm_rejects_bad_inputs():
    w, x = np.zeros((2, 3), np.int8), np.zeros((3, 4), np.int8)
    with pytest.raises(TypeError, match="weights.*int16"):
        gemm(w.astype(np.int16), x)
    with pytest.raises(TypeError, match="inputs.*float"):
        gemm(w, x.astype(float))
    with pytest.raises(ValueError, match="inputs.*ndim=3"):
        gemm(w, x[None])
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        gemm(w, np.zeros((4, 5), np.int8))
    with pytest.raises(ValueError, match="K=131072"):
        gemm(np.zeros((1, 131072), np.int8), np.zeros((131072, 1), np.int8))




@pytest.mark.parametrize("width", [2, 3, 4, 5])
def test_product_sum_bound_is_the_largest_product_by_brute_force(width):
    values = range(-(1 << (width - 1)), 1 << (width - 1))
    largest = max(abs(a * b) for a, b in itertools.product(values, values))
    for k in (0, 1, 7, 1000):
        assert product_sum_bound(k, width) == k * largest


@pytest.mark.parametrize("magnitude", [0, 1, 2, 127, 128, 129, 2**31 - 1, 2**31])
def test_signed_width_is_the_tightest_twos_complement_width(magnitude):
    w = signed_width(magnitude)
    assert -(1 << (w - 1)) <= -magnitude and magnitude <= (1 << (w - 1)) - 1
    assert w == 1 or not (magnitude <= (1 << (w - 2)) - 1)  # one bit fewer does not hold it


def test_max_k_is_where_int8_products_leave_int32():
    assert signed_width(product_sum_bound(MAX_K)) == 32 < signed_width(product_sum_bound(MAX_K + 1))
    y = gemm(np.full((1, MAX_K), -128, np.int8), np.full((MAX_K, 1), -128, np.int8))
    assert int(y[0, 0]) == MAX_K * 128 * 128 <= 2**31 - 1
