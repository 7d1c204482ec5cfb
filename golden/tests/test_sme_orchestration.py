"""Tests for the bit-sparsity orchestrations of SME (power-of-two terms, crossbar drops, cumulation)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.golden import sme
from sparseloom.golden import sme_orchestration as so

quick = settings(max_examples=30, deadline=None)
SEED = 20261202


def brute_nearest(v: int, terms: int, low_bit: int) -> int:
    """The nearest magnitude <= 127 that is a sum of <= terms distinct powers of two >= 2**low_bit."""
    powers = [1 << b for b in range(low_bit, 7)]
    values = {0} | {sum(c) for r in range(1, terms + 1) for c in itertools.combinations(powers, r)}
    return min(sorted(values), key=lambda t: abs(v - t))   # sorted: a tie goes to the smaller


@pytest.mark.parametrize("terms, low_bit", [(1, 0), (2, 0), (3, 1), (8, 2), (2, 5)])
def test_power_terms_is_the_nearest_sum_of_terms(terms, low_bit):
    mags = np.arange(-127, 128, dtype=np.int16)
    got = so.power_terms(mags.astype(np.int8).reshape(1, -1), terms, low_bit).reshape(-1)
    want = [int(np.sign(v)) * brute_nearest(abs(int(v)), terms, low_bit) for v in mags]
    assert got.tolist() == want


def test_power_terms_low_bit_zero_is_orchestrate():
    w = np.random.default_rng(SEED).integers(-128, 128, (9, 40), dtype=np.int8)
    for terms in (1, 2, 3, 8):
        assert np.array_equal(so.power_terms(w, terms, 0), sme.orchestrate(w, terms))


@given(st.integers(0, 2**32 - 1), st.sampled_from([(4, 3), (8, 8), (3, 5), (16, 4)]), st.sampled_from([0.0, 0.5, 0.9]))
@quick
def test_crossbars_counts_as_squeeze(seed, geometry, zeros):
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (int(rng.integers(1, 20)), int(rng.integers(1, 40))), dtype=np.int8)
    w[rng.random(w.shape) < zeros] = 0
    config = sme.CrossbarSpec(*geometry)
    assert so.crossbars(w, config) == sme.squeeze(w, config).crossbars_physical


def test_cumulate_gathers_channels_that_share_word_lines():
    """Channels of two kinds interleaved: even ones use bit 0 on inputs 0..7, odd ones bit 1 on
    8..15. Per 4-column tile, interleaved needs both slices' rows in every tile; gathered, half."""
    w = np.zeros((16, 16), np.int8)
    w[0::2, :8], w[1::2, 8:] = 1, 2
    config = sme.CrossbarSpec(4, 4)
    perm = so.cumulate(w, config)
    assert sorted(perm.tolist()) == list(range(16))
    assert so.crossbars(w, config) == 4 * 2 * 2          # 4 tiles x 2 slices x 8 rows / 4
    assert so.crossbars(w[perm], config) == 4 * 2        # each tile one kind: 8 rows of one slice
    x = np.random.default_rng(SEED).integers(-128, 128, (16, 3), dtype=np.int8)
    y = np.empty((16, 3), np.int64)
    y[perm] = sme.mvm(w[perm], x, config)                # the host puts row i back at output perm[i]
    assert np.array_equal(y, w.astype(np.int64) @ x)


def layer(seed, m=40, k=70):
    rng = np.random.default_rng(seed)
    w = np.clip(np.rint(rng.laplace(0, 12, (m, k))), -127, 127).astype(np.int8)
    scale = rng.uniform(0.5, 2.0, m)
    x_power = rng.uniform(0, 1, k) ** 4
    return w, scale, x_power


@pytest.mark.parametrize("terms", [8, 2])
def test_drops_empty_crossbars_without_new_word_lines(terms):
    w, scale, x_power = layer(SEED)
    w = so.power_terms(w, terms, 0)
    config = sme.CrossbarSpec(16, 8)
    drops = so.drop_rows(w, config, terms, scale, x_power, max_drops=25)
    assert len(drops) == 25
    start = so.crossbars(w, config)
    counts = [start] + [d.crossbars for d in drops]
    assert all(b < a for a, b in zip(counts, counts[1:]))          # every drop empties a crossbar
    out = so.apply_drops(w, drops)
    assert so.crossbars(out, config) == sme.squeeze(out, config).crossbars_physical == counts[-1]
    before, after = so.row_masks(w, config), so.row_masks(out, config)
    assert not (after & ~before).any()                              # no word line appears
    assert (np.bitwise_count(np.abs(out.astype(np.int16))) <= terms).all()
    assert not (np.sign(out) * np.sign(w) < 0).any()                # no sign flips
    def error(v):
        return float(((scale[:, None] * (v.astype(np.float64) - w)) ** 2 @ x_power).sum())
    cur = w.copy()
    for d in drops:                                                  # each cost is the error's growth
        nxt = so.apply_drops(cur, [d])
        assert d.cost == pytest.approx(error(nxt) - error(cur), rel=1e-9, abs=1e-9)
        assert (((nxt != cur) & ~np.isin(np.arange(w.shape[1]), d.rows)[None, :]) == 0).all()
        cur = nxt
    assert [d.cost for d in drops][:3] == sorted(d.cost for d in drops)[:3]


def test_drops_take_dead_inputs_first_and_stop_at_the_budget():
    w, scale, x_power = layer(SEED + 1)
    x_power[:20] = 0.0                                              # 20 inputs never active
    config = sme.CrossbarSpec(16, 8)
    drops = so.drop_rows(w, config, 8, scale, x_power, max_cost=0.0)
    assert drops and all(d.cost == 0.0 for d in drops)
    assert all(set(d.rows.tolist()) <= set(range(20)) for d in drops)
    budget = 50.0
    capped = so.drop_rows(w, config, 8, scale, x_power, max_cost=budget)
    assert sum(d.cost for d in capped) <= budget
    assert len(so.drop_rows(w, config, 8, scale, x_power, max_cost=budget * 4)) > len(capped)


def test_bad_arguments_are_refused():
    w, scale, x_power = layer(SEED)
    with pytest.raises(ValueError, match="terms must be an integer in 1..8"):
        so.power_terms(w, 0, 0)
    with pytest.raises(ValueError, match="low_bit must be an integer in 0..6"):
        so.power_terms(w, 2, 7)
    with pytest.raises(ValueError, match="cell_bits=2"):
        so.cumulate(w, sme.CrossbarSpec(8, 8, cell_bits=2))
    with pytest.raises(ValueError, match="scale must have 40 entries"):
        so.drop_rows(w, sme.CrossbarSpec(8, 8), 8, scale[:3], x_power)
