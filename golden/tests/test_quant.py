"""Tests for the per-channel int8 baseline quantiser."""
import numpy as np
import pytest

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


def test_per_token_codes_at_the_edges():
    from sparseloom.golden.quant import per_token, per_token_codes

    x = np.array([[0.0, 0.0, 0.0], [7.0, -3.5, 2.5], [-14.0, 1.0, 3.0]])
    codes, scale = per_token_codes(x, 4)  # Q = 7
    assert scale.tolist() == [[1.0], [1.0], [2.0]]
    assert codes.tolist() == [[0, 0, 0], [7, -4, 2], [-7, 0, 2]]  # -3.5 -> -4, 2.5 -> 2, 0.5 -> 0, 1.5 -> 2
    assert per_token(x, 4).tolist() == [[0, 0, 0], [7, -4, 2], [-14, 0, 4]]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 64)) * rng.uniform(0.1, 10, (32, 1))
    for bits in (4, 8):
        codes, scale = per_token_codes(x, bits)
        q = 2 ** (bits - 1) - 1
        assert (np.abs(codes).max(axis=1) == q).all()
        assert np.all(np.abs(codes * scale - x) <= scale / 2 + 1e-12)
    with pytest.raises(ValueError, match="activation bits"):
        per_token_codes(x, 1)


def test_per_group_activation_scales_by_hand():
    """Group 2 over 5 features: groups {0,1}, {2,3}, {4}, each with its own max |x| / Q."""
    from sparseloom.golden.quant import per_token, per_token_codes

    x = np.array([[7.0, -1.0, 0.0, 0.0, -3.5], [14.0, 2.0, 0.7, -7.0, 0.0]])
    codes, scale = per_token_codes(x, 4, group=2)  # Q = 7
    assert scale.tolist() == [[1.0, 1.0, 0.5], [2.0, 1.0, 1.0]]
    assert codes.tolist() == [[7, -1, 0, 0, -7], [7, 1, 1, -7, 0]]  # 2/2 = 1, 0.7 -> 1
    assert per_token(x, 4, group=2).tolist() == [[7, -1, 0, 0, -3.5], [14, 2, 1, -7, 0]]


def test_per_group_matches_per_token_on_each_slice():
    """Independent oracle: quantising each slice of g features on its own, per token."""
    from sparseloom.golden.quant import per_token

    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 70)) * rng.uniform(0.1, 10, (9, 70)) ** 2
    for g in (1, 16, 64, 70, 100):
        expect = np.concatenate([per_token(x[:, i:i + g], 4) for i in range(0, 70, g)], axis=1)
        assert np.array_equal(per_token(x, 4, group=g), expect)
    assert np.array_equal(per_token(x, 8, group=70), per_token(x, 8))
    with pytest.raises(ValueError, match="activation group"):
        per_token(x, 4, group=0)
