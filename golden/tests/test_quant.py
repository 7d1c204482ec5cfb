"""Tests for the per-channel int8 baseline quantiser."""
import numpy as np

from sparseloom.golden.quant import per_channel_int8


def test_per_channel_int8_rounds_half_to_even_and_never_saturates():
    w = np.array([[0.0, 0.0, 0.0], [127.0, -63.5, 62.5], [-2.0, 1.0, 0.5]], dtype=np.float32)
    q, scale = per_channel_int8(w)
    assert q.dtype == np.int8 and scale.tolist() == [[1.0], [1.0], [2 / 127]]
    assert q.tolist() == [[0, 0, 0], [127, -64, 62], [-127, 64, 32]]  # 63.5 -> 64, 62.5 -> 62, 31.75 -> 32
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 40)) * rng.uniform(0.01, 10, (16, 1))
    q, scale = per_channel_int8(w)
    assert (np.abs(q).max(axis=1) == 127).all() and q.min() >= -127
    assert np.abs(q * scale - w).max() <= scale.max() / 2 + 1e-12


def test_conv_weights_flatten_to_rows():
    w = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2) - 10
    q, scale = per_channel_int8(w)
    assert q.shape == (2, 12) and scale.shape == (2, 1)
