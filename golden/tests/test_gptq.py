"""Tests for GPTQ-compensated SDQ, against a naive Optimal Brain Surgeon reference."""
import numpy as np
import pytest

from sparseloom.golden.gptq import activation_score, gptq_sdq, hessian
from sparseloom.golden.sdq import SDQConfig, decompose

P = SDQConfig.parse
CONFIGS = ["0:4+W4g16", "0:2+W3g64", "1:8+W3g16", "2:8+W4g32", "1:4+W2g8"]


def correlated(seed, rows=12, k=64, tokens=200):
    """Weights and activations whose inputs are strongly correlated and unevenly scaled."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, k)) @ rng.standard_normal((k, k)) * rng.uniform(0.2, 3, k)
    return rng.standard_normal((rows, k)).astype(np.float32), x


def naive_obs(w, h, damp, quantise):
    """Column by column, the OBS update with the explicit inverse Hessian of the columns not yet quantised."""
    w, h = w.astype(np.float64), h.copy()
    dead = np.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += damp * np.mean(np.diag(h)) * np.eye(len(h))
    out = np.zeros_like(w)
    for j in range(w.shape[1]):
        hinv = np.linalg.inv(h[j:, j:])
        out[:, j] = quantise(j, w)
        w[:, j:] -= np.outer((w[:, j] - out[:, j]) / hinv[0, 0], hinv[0])
    return out


def outlier_mask(score, c):
    """The n largest scores of every m-block, ties to the lower index."""
    mask = np.zeros(score.shape, bool)
    for r in range(score.shape[0]):
        for b in range(0, score.shape[1], c.m):
            for i in sorted(range(c.m), key=lambda i: (-score[r, b + i], i))[:c.n]:
                mask[r, b + i] = True
    return mask


def sdq_quantiser(w, mask, c, codes):
    """Reference SDQ column quantiser.  Fixed from ``w``: outlier mask and row scale; int8 outlier codes and the
    group scale (at the group's first column) come from the updated weights.  ``codes`` receives the remainder
    codes."""
    outlier_scale = np.float32(np.abs(np.where(mask, w, 0)).max(axis=1, keepdims=True) / 127)
    scales = {}

    def outliers(w, cols):
        s = np.where(outlier_scale > 0, outlier_scale, 1)
        kept = np.where(mask[:, cols], np.clip(np.rint(w[:, cols] / s), -127, 127), 0)
        return kept.astype(np.float32) * outlier_scale

    def quantise(j, w):
        g = j // c.group
        if j % c.group == 0:
            rem = w[:, j:j + c.group] - outliers(w, slice(j, j + c.group))
            scales[g] = (np.abs(rem).max(axis=1) / c.qmax).astype(np.float32)
        s, outlier = scales[g], outliers(w, slice(j, j + 1))[:, 0]
        codes[:, j] = np.clip(np.rint((w[:, j] - outlier) / np.where(s > 0, s, 1)), -c.qmax, c.qmax)
        return outlier + codes[:, j].astype(np.float32) * s

    return quantise


def reference(w, h, c, score=None, damp=0.01):
    """(reconstruction, remainder codes) of the naive reference; outliers by ``score`` (default |w|)."""
    w = np.where(np.diag(h) == 0, 0, w.astype(np.float64))  # dead inputs, before anything else
    codes = np.zeros(w.shape)
    quantise = sdq_quantiser(w, outlier_mask(np.abs(w) if score is None else score, c), c, codes)
    return naive_obs(w, h, damp, quantise), codes


def layer_error(w, w_hat, x):
    return np.linalg.norm((w.astype(np.float64) - w_hat) @ x.T)


# ---------------------------------------------------------------- hessian

def test_hessian_is_gram_over_tokens():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(hessian(x), x.astype(np.float64).T @ x / 4)
    assert hessian(x).dtype == np.float64
    for bad in (np.zeros((4, 3), np.int8), np.zeros((0, 3)), np.zeros(3)):
        with pytest.raises((TypeError, ValueError)):
            hessian(bad)


# ---------------------------------------------------------------- against the naive OBS reference

@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_naive_obs(config, seed):
    c = P(config)
    w, x = correlated(seed)
    h = hessian(x)
    d = gptq_sdq(w, h, c)
    expected, codes = reference(w, h, c)
    np.testing.assert_array_equal(d.quant, codes)
    np.testing.assert_allclose(d.dense(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("config", ["1:8+W3g16", "2:4+W4g8"])
def test_activation_aware_outliers_match_naive_obs(config):
    c = P(config)
    w, x = correlated(2)
    h = hessian(x)
    score = np.abs(w) * np.linalg.norm(x, axis=0)
    np.testing.assert_allclose(activation_score(w, h), score / np.sqrt(len(x)), rtol=1e-12)
    d = gptq_sdq(w, h, c, outlier_score=activation_score(w, h))
    expected, codes = reference(w, h, c, score)
    np.testing.assert_array_equal(d.quant, codes)
    np.testing.assert_allclose(d.dense(), expected, rtol=0, atol=1e-6)
    assert not np.array_equal(d.sparse != 0, decompose(w, c).sparse != 0)  # the activations moved outliers


@pytest.mark.parametrize("damp", [0.0, 0.1])
def test_damp_matches_naive_obs(damp):
    c = P("1:4+W3g16")
    w, x = correlated(3, k=32)
    h = hessian(x)
    expected, _ = reference(w, h, c, damp=damp)
    np.testing.assert_allclose(gptq_sdq(w, h, c, damp=damp).dense(), expected, rtol=0, atol=1e-6)


def test_block_size_does_not_change_result():
    c = P("1:8+W3g16")
    w, x = correlated(4)
    h = hessian(x)
    base = gptq_sdq(w, h, c, block=1)
    for block in (5, 16, 40, 64, 1000):
        d = gptq_sdq(w, h, c, block=block)
        np.testing.assert_array_equal(d.quant, base.quant)
        np.testing.assert_array_equal(d.sparse, base.sparse)
        np.testing.assert_allclose(d.quant_scale, base.quant_scale, rtol=1e-6)


# ---------------------------------------------------------------- properties

@pytest.mark.parametrize("config", [c for c in CONFIGS if P(c).bits >= 3])  # at 2 bits it is not always lower
def test_calibrated_error_below_round_to_nearest(config):
    c = P(config)
    for seed in range(3):
        w, x = correlated(10 + seed)
        h = hessian(x)
        assert layer_error(w, gptq_sdq(w, h, c).dense(), x) < layer_error(w, decompose(w, c).dense(), x)


@pytest.mark.parametrize("config", CONFIGS)
def test_format_and_fixed_outlier_positions(config):
    c = P(config)
    w, x = correlated(5)
    d, rtn = gptq_sdq(w, hessian(x), c), decompose(w, c)
    # the outlier positions and their row scale come from the original weights, before any update
    assert not d.sparse[~outlier_mask(np.abs(w), c)].any()
    np.testing.assert_array_equal(d.sparse_scale, rtn.sparse_scale)
    assert (np.count_nonzero(d.sparse.reshape(len(w), -1, c.m), axis=-1) <= c.n).all()
    assert np.abs(d.quant).max() <= c.qmax and d.quant_scale.dtype == np.float32


@pytest.mark.parametrize("config", CONFIGS)
def test_uncorrelated_inputs_give_round_to_nearest(config):
    """With H diagonal the OBS updates vanish: exactly sdq.decompose, fields bit for bit."""
    c = P(config)
    w, x = correlated(6)
    rng = np.random.default_rng(6)
    orthonormal = np.linalg.qr(rng.standard_normal((200, 64)))[0] * 3.0  # H = 9/200 * I up to rounding
    for h in (np.diag(rng.uniform(0.1, 5, 64)), hessian(orthonormal)):
        d, rtn = gptq_sdq(w, h, c), decompose(w, c)
        for field in ("sparse", "sparse_scale", "quant", "quant_scale"):
            np.testing.assert_array_equal(getattr(d, field), getattr(rtn, field))


# ---------------------------------------------------------------- damping and dead inputs

def test_dead_inputs_are_zeroed_and_ignored():
    c = P("1:4+W4g8")
    w, x = correlated(7, k=32)
    dead = [3, 17, 18]
    x[:, dead] = 0
    h = hessian(x)
    d = gptq_sdq(w, h, c, damp=0.0)  # H is singular: only the dead-input rule makes it invertible
    assert (d.dense()[:, dead] == 0).all()
    other = w.copy()
    other[:, dead] = 1e3  # weights on dead inputs do not matter, not even to the outlier choice
    np.testing.assert_array_equal(gptq_sdq(other, h, c, damp=0.0).dense(), d.dense())
    for damp in (0.0, 0.05):  # the damping averages the diagonal after the dead inputs' 1s are set
        expected, _ = reference(w, h, c, damp=damp)
        np.testing.assert_allclose(gptq_sdq(w, h, c, damp=damp).dense(), expected, rtol=0, atol=1e-6)


def test_damp_makes_rank_deficient_hessian_usable():
    c = P("0:2+W4g8")
    w, x = correlated(8, k=16, tokens=8)  # 8 tokens, 16 inputs: H has rank 8
    h = hessian(x)
    assert np.isfinite(gptq_sdq(w, h, c).dense()).all()
    with pytest.raises(ValueError, match="not positive definite"):
        gptq_sdq(w, -np.eye(16), c)


def test_rejects_bad_arguments():
    c = P("1:4+W4g8")
    w = np.ones((2, 16), np.float32)
    for kwargs in ({"block": 0}, {"damp": -1.0}, {"outlier_score": np.ones((2, 8))}):
        with pytest.raises(ValueError):
            gptq_sdq(w, np.eye(16), c, **kwargs)
    with pytest.raises(ValueError, match="shape"):
        gptq_sdq(w, np.eye(8), c)
    with pytest.raises(ValueError, match="multiple of group"):
        gptq_sdq(np.ones((2, 12), np.float32), np.eye(12), c)


def test_clipped_gptq_with_a_diagonal_hessian_is_clipped_round_to_nearest():
    rng = np.random.default_rng(9)
    w = rng.standard_t(3, size=(12, 64)).astype(np.float32)
    for text in ("0:8+W2g16", "1:8+W3g32"):
        c = SDQConfig.parse(text)
        got = gptq_sdq(w, np.diag(rng.uniform(0.5, 2, 64)), c, clip=True)
        want = decompose(w, c, clip=True)
        for field in ("sparse", "sparse_scale", "quant", "quant_scale"):
            assert np.array_equal(getattr(got, field), getattr(want, field)), (text, field)
        assert not np.array_equal(got.quant_scale, gptq_sdq(w, np.eye(64), c).quant_scale)
