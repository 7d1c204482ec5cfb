"""Tests for the approximator trainers (single, MCMA, AXNet) on tiny problems with known answers."""
import numpy as np
import pytest

pytest.importorskip("torch")
from sparseloom.golden import approx  # noqa: E402

SEED = 20261202
LINEAR = (1, 1)          # an approximator with no hidden layer: a line
SMALL = (1, 8, 1)


def v_shape(n: int, seed: int):
    """y = 2|x| on [-1, 1]: no line fits it, two lines (one a side) fit it exactly, so linear
    MCMA with K = 2 should approximate nearly every input and one linear approximator few."""
    x = np.random.default_rng(seed).uniform(-1, 1, (n, 1))
    return x, 2 * np.abs(x)


def two_regimes(n: int, seed: int):
    """y = sin(3x) + 1 for x < 0 and sin(3x) - 1 for x >= 0: a small net blurs the jump at 0."""
    x = np.random.default_rng(seed).uniform(-1, 1, (n, 1))
    return x, np.sin(3 * x) + np.where(x < 0, 1.0, -1.0)


def test_input_error_and_scale():
    y = np.array([[0.0, 10.0], [2.0, 10.0]])
    s = approx.output_scale(y)
    assert s.tolist() == [1.0, 1.0]                         # a constant output gets scale 1
    assert approx.input_error(np.array([[1.0, 12.0]]), y[:1], s).tolist() == [1.5]


def test_mcma_splits_the_regimes_and_invokes_more_than_one_approximator():
    x, y = v_shape(400, SEED)
    xt, yt = v_shape(400, SEED + 1)                          # disjoint test inputs
    scale = approx.output_scale(y)
    bound = 0.05
    single = approx.train("single", x, y, LINEAR, bound, seed=SEED, epochs=800)
    mcma = approx.train("mcma", x, y, LINEAR, bound, seed=SEED, approximators=2, epochs=800, rounds=8)
    a, b = approx.evaluate(single, xt, yt, scale), approx.evaluate(mcma, xt, yt, scale)
    assert a["invocation"] < 0.4 < 0.9 < b["invocation"]
    route = mcma.route(xt)
    left, right = route[xt[:, 0] < -0.1], route[xt[:, 0] > 0.1]
    assert set(np.unique(left)) | set(np.unique(right)) <= {0, 1}      # every input away from 0 approximated
    assert len(set(left.tolist())) == len(set(right.tolist())) == 1 and left[0] != right[0]  # a line per side
    assert b["mean_error_approximated"] < bound and b["mean_error"] <= b["mean_error_approximated"]


def test_axnet_routes_the_jump_to_the_exact_function():
    x, y = two_regimes(600, SEED)
    xt, yt = two_regimes(600, SEED + 1)
    bound = 0.1
    net = approx.train("axnet", x, y, SMALL, bound, seed=SEED, epochs=1500)
    r = approx.evaluate(net, xt, yt, approx.output_scale(y))
    assert r["invocation"] > 0.5 and r["mean_error_approximated"] < 2 * bound
    route = net.route(np.linspace(-0.01, 0.01, 21)[:, None])
    assert (route == -1).all()                               # the jump itself is left to the exact function


def test_training_is_reproducible_from_the_seed():
    x, y = two_regimes(200, SEED)
    runs = [approx.train("mcma", x, y, SMALL, 0.05, seed=3, approximators=2, epochs=100, rounds=2) for _ in range(2)]
    xt = np.linspace(-1, 1, 50)[:, None]
    assert np.array_equal(runs[0].route(xt), runs[1].route(xt))
    assert np.array_equal(runs[0].approximate(xt, 1), runs[1].approximate(xt, 1))


def test_bad_arguments_are_refused():
    x, y = two_regimes(20, SEED)
    with pytest.raises(ValueError, match="method must be one of single, mcma, axnet"):
        approx.train("npu", x, y, SMALL, 0.1)
    with pytest.raises(ValueError, match=r"x must be \(N, 2\)"):
        approx.train("single", x, y, (2, 4, 1), 0.1)
    with pytest.raises(ValueError, match="bound must be > 0"):
        approx.train("single", x, y, SMALL, 0.0)
    with pytest.raises(ValueError, match="approximators must be an integer >= 1"):
        approx.train("mcma", x, y, SMALL, 0.1, approximators=0)


def test_an_approximator_on_the_npu_stays_close_to_its_float_self():
    from sparseloom.golden.npu import Fixed

    x, y = two_regimes(400, SEED)
    single = approx.train("single", x, y, SMALL, 0.1, seed=SEED, epochs=800)
    xt = np.linspace(-0.95, 0.95, 101)[:, None]
    float_out = single.approximate(xt, 0)
    fine = approx.npu_approximate(single, xt, 0, Fixed(16, 10), Fixed(16, 10))
    coarse = approx.npu_approximate(single, xt, 0, Fixed(8, 4), Fixed(8, 5))
    mlp = approx.npu_mlp(single.nets[0], Fixed(16, 10), Fixed(16, 10))
    assert mlp.topology == SMALL and [layer.activation for layer in mlp.layers] == ["sigmoid", "linear"]
    # PLAN's sigmoid (within 0.0189 of the logistic) and 10 fractional bits: close; 4 bits: much less so
    fine_err, coarse_err = np.abs(fine - float_out).max(), np.abs(coarse - float_out).max()
    assert fine_err < 0.03 and coarse_err > 1.5 * fine_err   # measured 0.019 and 0.050 (outputs span +-1)
