"""Tests for SparseGPT and Wanda pruning to HSS patterns, and for hss.prune's score argument."""
import numpy as np
import pytest

from sparseloom.golden.gptq import hessian
from sparseloom.golden.hss import HSSPattern, check, prune
from sparseloom.golden.quant import per_channel_int8
from sparseloom.golden.sparsegpt import sparsegpt, wanda

P = HSSPattern.parse
PATTERNS = ["1:1,2:4", "2:4,2:4", "1:2,1:2", "3:4,1:4", "1:1,1:8"]


def correlated(seed, rows=8, k=32, tokens=160):
    """Weights and activations whose inputs are strongly correlated and unevenly scaled."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, k)) @ rng.standard_normal((k, k)) * rng.uniform(0.2, 3, k)
    return rng.standard_normal((rows, k)), x


def ranked(score, count):
    """Indices of the ``count`` largest scores, ties to the lower index."""
    return sorted(range(len(score)), key=lambda i: (-score[i], i))[:count]


def hss_mask(score, p):
    """Kept positions of one row-group: top g0 per block, then the top g1 blocks by summed kept score."""
    keep = np.zeros(len(score), bool)
    kept = [[b * p.h0 + i for i in ranked(score[b * p.h0:(b + 1) * p.h0], p.g0)] for b in range(p.h1)]
    for b in ranked([sum(score[i] for i in kept[b]) for b in range(p.h1)], p.g1):
        keep[kept[b]] = True
    return keep


def naive_sparsegpt(w, h, p, damp=0.01):
    """OBS with the explicit inverse Hessian of the remaining columns; masks from saliency w^2 / Hinv[0, 0]."""
    w, h = w.astype(np.float64), h.copy()
    dead = np.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += damp * np.mean(np.diag(h)) * np.eye(len(h))
    scale = np.abs(w).max(axis=1)
    scale = np.where(scale > 0, scale / 127, 1)
    codes, keep = np.zeros(w.shape, np.int8), np.zeros(w.shape, bool)
    for j in range(w.shape[1]):
        if j % p.group_size == 0:
            cols = range(j, j + p.group_size)
            diag = np.array([np.linalg.inv(h[c:, c:])[0, 0] for c in cols])
            for r in range(w.shape[0]):
                keep[r, j:j + p.group_size] = hss_mask(w[r, cols] ** 2 / diag, p)
        hinv = np.linalg.inv(h[j:, j:])
        codes[:, j] = np.where(keep[:, j], np.clip(np.rint(w[:, j] / scale), -127, 127), 0)
        w[:, j:] -= np.outer((w[:, j] - codes[:, j] * scale) / hinv[0, 0], hinv[0])
    return codes, keep


def layer_error(w, codes, scale, x):
    return np.linalg.norm((w - codes * scale) @ x.T)


def magnitude(w, p):
    codes, scale = per_channel_int8(w)
    return prune(codes, p), scale


# ---------------------------------------------------------------- SparseGPT

@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("seed", [0, 1])
def test_sparsegpt_matches_naive_obs(pattern, seed):
    p = P(pattern)
    w, x = correlated(seed)
    codes, scale = sparsegpt(w, hessian(x), p)
    expected, keep = naive_sparsegpt(w, hessian(x), p)
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_array_equal(scale, per_channel_int8(w)[1])
    check(codes, p)
    assert not codes[~keep].any() and np.abs(codes.astype(int)).max() <= 127


@pytest.mark.parametrize("damp", [0.0, 0.1])
def test_sparsegpt_damp_and_block_size(damp):
    p = P("2:4,2:4")
    w, x = correlated(3)
    h = hessian(x)
    expected, _ = naive_sparsegpt(w, h, p, damp)
    for block in (1, 16, 20, 32, 128):
        np.testing.assert_array_equal(sparsegpt(w, h, p, damp, block)[0], expected)


def test_sparsegpt_mask_choice_literal():
    # saliency w^2 * H_jj (H diagonal, no damping) = [4, 1, 9, 2.25]: block 1 beats block 0 (9 > 4), where
    # magnitude keeps w = 2 in block 0; 1 / (2/127) = 63.5 rounds half to even: 64
    w = np.array([[2.0, 1.0, 1.0, 1.5]])
    codes, scale = sparsegpt(w, np.diag([1.0, 1.0, 9.0, 1.0]), P("1:2,1:2"), damp=0.0)
    np.testing.assert_array_equal(codes, [[0, 0, 64, 0]])
    np.testing.assert_array_equal(magnitude(w, P("1:2,1:2"))[0], [[127, 0, 0, 0]])
    # equal saliencies go to the lower index, in each group
    codes, _ = sparsegpt(np.array([[1.0, -1.0, 3.0, 3.0]]), np.eye(4), P("1:1,1:2"), damp=0.0)
    np.testing.assert_array_equal(codes, [[42, 0, 127, 0]])


def test_sparsegpt_mask_follows_updates_literal():
    # H couples inputs 1 and 2 (H_12 = 0.5).  Group 0: saliencies 1 and 0.81 / (4/3): keep w0, prune w1 = 0.9,
    # whose OBS update adds 0.9 / 2 to w2.  Group 1 then sees w2 = 0.75 > w3 = 0.5 and keeps w2, where a mask
    # fixed from the original weights would keep w3; 0.75 * 127 = 95.25 -> 95.
    w = np.array([[1.0, 0.9, 0.3, 0.5]])
    h = np.eye(4)
    h[1, 2] = h[2, 1] = 0.5
    codes, _ = sparsegpt(w, h, P("1:1,1:2"), damp=0.0)
    np.testing.assert_array_equal(codes, [[127, 0, 95, 0]])
    np.testing.assert_array_equal(magnitude(w, P("1:1,1:2"))[0], [[127, 0, 0, 64]])
    np.testing.assert_array_equal(naive_sparsegpt(w, h, P("1:1,1:2"), damp=0.0)[0], codes)


@pytest.mark.parametrize("pattern", [p for p in PATTERNS if P(p).density >= 0.25])  # 1:8 is not always lower
def test_sparsegpt_error_below_magnitude(pattern):
    p = P(pattern)
    for seed in range(3):
        w, x = correlated(10 + seed)
        assert layer_error(w, *sparsegpt(w, hessian(x), p), x) < layer_error(w, *magnitude(w, p), x)


def test_sparsegpt_error_below_wanda_at_2_4():
    p = P("1:1,2:4")
    for seed in range(3):
        w, x = correlated(10 + seed)
        ours = layer_error(w, *sparsegpt(w, hessian(x), p), x)
        assert ours < layer_error(w, *wanda(w, np.linalg.norm(x, axis=0), p), x)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_wanda_error_below_magnitude_on_unevenly_scaled_inputs(pattern):
    p = P(pattern)
    for seed in range(3):
        w, x = correlated(10 + seed)
        assert layer_error(w, *wanda(w, np.linalg.norm(x, axis=0), p), x) < layer_error(w, *magnitude(w, p), x)


def test_sparsegpt_on_diagonal_hessian_is_wanda():
    """No correlation, no update: SparseGPT's saliency w^2 * H_jj ranks as Wanda's |w| * ||x_j||."""
    rng = np.random.default_rng(4)
    w, norms = rng.standard_normal((8, 32)), rng.uniform(0.1, 3, 32)
    for pattern in PATTERNS:
        np.testing.assert_array_equal(sparsegpt(w, np.diag(norms ** 2), P(pattern), damp=0.0)[0],
                                      wanda(w, norms, P(pattern))[0])


def test_sparsegpt_dead_inputs():
    p = P("2:4,2:4")
    w, x = correlated(5)
    dead = [1, 2, 20]
    x[:, dead] = 0
    h = hessian(x)
    codes, scale = sparsegpt(w, h, p, damp=0.0)  # singular H: only the dead-input rule makes it invertible
    assert not codes[:, dead].any()
    other = w.copy()
    other[:, dead] = 100.0  # weights on dead inputs do not matter, not even to the row scales
    np.testing.assert_array_equal(sparsegpt(other, h, p, damp=0.0)[0], codes)
    for damp in (0.0, 0.05):  # the damping averages the diagonal after the dead inputs' 1s are set
        np.testing.assert_array_equal(sparsegpt(w, h, p, damp)[0], naive_sparsegpt(w, h, p, damp)[0])


def test_sparsegpt_rejects_bad_arguments():
    w = np.ones((2, 8))
    with pytest.raises(ValueError, match="group size 16"):
        sparsegpt(w, np.eye(8), P("2:4,2:4"))
    with pytest.raises(ValueError, match="shape"):
        sparsegpt(w, np.eye(4), P("1:1,2:4"))
    with pytest.raises(TypeError):
        sparsegpt(w.astype(np.int8), np.eye(8), P("1:1,2:4"))


# ---------------------------------------------------------------- Wanda and hss.prune's score

def test_wanda_literal():
    # scores |w| * ||x|| = [4, 3, 2, 10]: column 3 replaces column 1, which magnitude keeps
    w = np.array([[4.0, 3.0, 2.0, 1.0]])
    codes, scale = wanda(w, np.array([1.0, 1.0, 1.0, 10.0]), P("1:1,2:4"))
    np.testing.assert_array_equal(codes, [[127, 0, 0, 32]])
    np.testing.assert_array_equal(magnitude(w, P("1:1,2:4"))[0], [[127, 95, 0, 0]])
    np.testing.assert_array_equal(scale, [[4 / 127]])


def test_wanda_with_equal_norms_keeps_float_magnitudes():
    w, _ = correlated(6)
    codes, _ = wanda(w, np.full(32, 2.5), P("2:4,2:4"))
    kept = np.array([hss_mask(row, P("2:4,2:4")) for row in (w ** 2).reshape(-1, 16)]).reshape(w.shape)
    np.testing.assert_array_equal(codes, np.where(kept, per_channel_int8(w)[0], 0))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_prune_score_matches_reference(pattern):
    """Elements ranked by score, blocks by their summed squared kept scores, ties to the lower index."""
    p = P(pattern)
    rng = np.random.default_rng(7)
    w = rng.integers(-128, 128, (6, 32), dtype=np.int8)
    score = rng.choice([0.0, 0.5, 1.0, 2.0, 3.5], w.shape)  # many ties
    kept = np.array([hss_mask(row, p) for row in (score ** 2).reshape(-1, p.group_size)]).reshape(w.shape)
    np.testing.assert_array_equal(prune(w, p, score), np.where(kept, w, 0))
    np.testing.assert_array_equal(prune(w, p, np.abs(w.astype(np.int64))), prune(w, p))


def test_prune_rejects_bad_score():
    w = np.ones((1, 4), np.int8)
    with pytest.raises(ValueError, match="shape"):
        prune(w, P("1:1,2:4"), np.ones((1, 8)))
    for bad in (-np.ones((1, 4)), np.full((1, 4), np.nan)):
        with pytest.raises(ValueError, match="finite and >= 0"):
            prune(w, P("1:1,2:4"), bad)
    with pytest.raises(TypeError):
        prune(w, P("1:1,2:4"), np.ones((1, 4), bool))
