"""The density models against Monte-Carlo counts: random tensors drawn the way each model says
non-zeros fall (seeded, the seed in the test id), one tile of each shape from each tensor; the
fraction of empty tiles and the mean non-zeros per tile must agree with ``prob_empty`` and
``expected_nnz`` within five standard errors of the sample."""
import math

import numpy as np
import pytest

from sparseloom.model.density import (HSS, ActualData, Dense, Density, FixedStructured, Uniform, from_timeloop,
                                     hypergeometric)

SAMPLES = 20000
SEEDS = (1, 2)


def agrees(model, shape, counts) -> None:
    """``counts``: non-zeros of sampled tiles of ``shape``; the model must agree within 5 sigma."""
    n, p = len(counts), model.prob_empty(shape)
    empty = np.mean(counts == 0)
    assert abs(empty - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1 / n, (shape, empty, p)
    mean, spread = counts.mean(), counts.std()
    assert abs(mean - model.expected_nnz(shape)) <= 5 * spread / math.sqrt(n) + 1e-9, (shape, mean)
    assert sum(model.distribution(shape).values()) == pytest.approx(1.0)


def window_counts(nonzero, rows, row, start, length):
    """Non-zeros of each sample's tile: ``rows`` rows from ``row``, ``length`` elements from ``start``."""
    n = len(nonzero)
    prefix = np.concatenate([np.zeros(nonzero.shape[:-1] + (1,)), np.cumsum(nonzero, axis=-1)], axis=-1)
    per_row = prefix[np.arange(n)[:, None], :, start[:, None] + length] - prefix[np.arange(n)[:, None], :, start[:, None]]
    per_row = per_row.reshape(n, -1)
    return np.array([per_row[np.arange(n), row + k] for k in range(rows)]).sum(axis=0)


def uniform_tensors(rng, size, nnz, n=SAMPLES):
    """``n`` tensors of ``size`` elements, ``nnz`` of them non-zero at uniformly random places."""
    return rng.random((n, size)).argsort(axis=1) < nnz


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("density, size", [(0.3, 64), (0.05, 40), (0.9, 16)])
def test_uniform_is_hypergeometric(seed, density, size):
    rng = np.random.default_rng(seed)
    model = Uniform(density, size)
    nonzero = uniform_tensors(rng, size, model.nnz)
    for tile in (1, 2, 4, 8, size // 2, size):
        agrees(model, (tile,), nonzero[:, :tile].sum(axis=1))


def test_a_wrong_formula_fails_the_check():
    """The binomial approximation (independent elements) differs from the exact hypergeometric
    count on a small tensor by more than the check allows: the check can tell them apart."""
    rng = np.random.default_rng(3)
    model = Uniform(0.25, 32)
    counts = uniform_tensors(rng, 32, model.nnz)[:, :8].sum(axis=1)

    class Binomial(Density):
        density = 0.25

        def distribution(self, shape):
            t = math.prod(shape)
            return {k: math.comb(t, k) * 0.25 ** k * 0.75 ** (t - k) for k in range(t + 1)}

    agrees(model, (8,), counts)
    with pytest.raises(AssertionError):
        agrees(Binomial(), (8,), counts)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("density", [0.43, 0.25, 0.7])
def test_fixed_structured_holds_the_floor_or_ceiling(seed, density):
    """Non-zeros spread evenly along the tensor (element i is non-zero when floor((i+1)d + u)
    passes an integer, u uniform): any run of t elements holds floor(t d) or ceil(t d)."""
    rng = np.random.default_rng(seed)
    i = np.arange(120)
    u = rng.random((SAMPLES, 1))
    nonzero = np.floor((i + 1) * density + u) - np.floor(i * density + u)
    model = FixedStructured(density)
    for tile in (1, 3, 7, 10, 40):
        start = rng.integers(0, 120 // tile, SAMPLES) * tile
        agrees(model, (tile,), window_counts(nonzero[:, None, :], 1, np.zeros(SAMPLES, int), start, tile))


def hss_tensors(rng, pattern: HSS, rows, length, n=SAMPLES):
    """Random tensors of ``rows`` x ``length`` satisfying the pattern along the last rank."""
    keep = np.ones((n, rows, length), dtype=bool)
    block = 1
    for g, h in reversed(pattern.ranks):   # rank 0 first: g of every h sub-blocks are non-empty
        groups = length // (block * h)
        chosen = rng.random((n, rows, groups, h)).argsort(axis=-1) < g
        keep &= np.repeat(chosen.reshape(n, rows, groups * h), block, axis=-1)
        block *= h
    return keep


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("text, shapes", [
    ("2:4,2:4", [(1, 1), (1, 2), (1, 4), (1, 8), (1, 16), (2, 8), (3, 5), (1, 20)]),
    ("2:4", [(1, 1), (1, 2), (1, 3), (2, 4), (3, 6)]),
    ("3:4,1:3", [(1, 1), (1, 2), (1, 3), (1, 5), (2, 12), (1, 14)]),
])
def test_hss_against_random_hss_tensors(seed, text, shapes):
    rng = np.random.default_rng(seed)
    model = HSS.parse(text)
    group = math.prod(h for _, h in model.ranks)
    rows, length = 3, 2 * group * math.ceil(20 / group)
    nonzero = hss_tensors(rng, model, rows, length)
    assert nonzero.mean() == pytest.approx(model.density)
    for r, e in shapes:   # a tile starts where a group starts
        row = rng.integers(0, rows - r + 1, SAMPLES)
        start = rng.integers(0, (length - e) // group + 1, SAMPLES) * group
        agrees(model, (r, e), window_counts(nonzero, r, row, start, e))


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_actual_data_is_the_histogram_of_its_tiles(seed):
    rng = np.random.default_rng(seed)
    array = rng.integers(-2, 3, (6, 10)) * (rng.random((6, 10)) < 0.4)
    model = ActualData(array)
    assert model.density == np.count_nonzero(array) / array.size
    for shape in ((1, 1), (2, 3), (3, 5), (6, 10), (4, 4)):
        grid = [math.ceil(n / e) for n, e in zip(array.shape, shape)]
        a, b = rng.integers(0, grid[0], SAMPLES), rng.integers(0, grid[1], SAMPLES)
        counts = np.array([np.count_nonzero(array[i * shape[0]:(i + 1) * shape[0], j * shape[1]:(j + 1) * shape[1]])
                           for i, j in zip(a, b)])
        agrees(model, shape, counts)


def test_actual_data_counts_exactly():
    model = ActualData(np.array([[1, 0, 0, 2], [0, 0, 0, 0]]))
    assert model.distribution((1, 2)) == {0: 0.5, 1: 0.5}
    assert model.distribution((2, 4)) == {2: 1.0}
    assert model.prob_empty((2, 1)) == 0.5 and model.expected_nnz((1, 4)) == 1.0


def test_dense_and_the_shared_answers():
    assert Dense().distribution((4, 3)) == {12: 1.0} and Dense().prob_empty(5) == 0.0
    assert FixedStructured(0.43).distribution(3) == pytest.approx({1: 0.71, 2: 0.29})
    assert Uniform(0.25, 16).expected_density((4,)) == pytest.approx(0.25)
    assert sum(hypergeometric(10, 3, 4).values()) == pytest.approx(1.0)
    assert Uniform(0.5, 64).given((16,), 4) == Uniform(0.25, 16, 4)
    assert Uniform(0.5, 7).given((7,), 5).nnz == 5
    assert FixedStructured(0.5).given((8,), 2) == FixedStructured(0.25)


@pytest.mark.parametrize("make, message", [
    (lambda: Uniform(1.5, 10), r"density must be a number in \[0, 1\], got 1.5"),
    (lambda: FixedStructured(-0.1), r"density must be a number in \[0, 1\]"),
    (lambda: Uniform(0.5, 0), r"size must be an integer >= 1"),
    (lambda: Uniform(0.5, 4, 9), r"nonzeros must be an integer in 0..size=4, got 9"),
    (lambda: HSS.parse("5:4"), r"1 <= g <= h, got 5:4"),
    (lambda: HSS.parse("2/4"), r"ranks g:h separated by commas"),
    (lambda: ActualData(np.ones((2, 2))).distribution((2,)), r"needs 2 extents"),
    (lambda: from_timeloop({"distribution": "banded", "density": 0.1}, 8),
     r"distribution must be one of fixed_structured, fixed, hypergeometric, got 'banded'"),
    (lambda: from_timeloop({"distribution": "fixed_structured", "density": 2}, 8), r"density must be"),
])
def test_bad_parameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()
