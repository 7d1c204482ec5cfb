"""Tests for the NPU's fixed-point MLP golden model: rounding and saturation at the edges, PLAN's
sigmoid against its formula in exact rationals, whole networks against a pure-Python oracle."""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.golden.npu import Fixed, Layer, Mlp, plan_sigmoid, quantise, requantise

quick = settings(max_examples=40, deadline=None)


def test_requantise_rounds_half_up_and_saturates():
    fmt = Fixed(8, 4)
    acc = np.array([7, 8, 9, 23, 24, -7, -8, -9, -24, -25, 10**9, -10**9])
    # >> 4 with half up: 7/16 -> 0, 8/16 -> 1, 24/16 = 1.5 -> 2, -8/16 = -0.5 -> 0, -24/16 -> -1, -25/16 -> -2
    assert requantise(acc, 4, fmt).tolist() == [0, 1, 1, 1, 2, 0, 0, -1, -1, -2, 127, -128]
    assert requantise(np.array([200, -200]), 0, fmt).tolist() == [127, -128]


def test_quantise_rounds_half_to_even_and_clips():
    fmt = Fixed(6, 2)   # codes -32..31, steps of 0.25
    assert quantise([0.125, 0.375, -0.125, 7.75, 8.0, -8.0, -9.0], fmt).tolist() == [0, 2, 0, 31, 31, -32, -32]


def plan_exact(x: Fraction) -> Fraction:
    """PLAN on a real number, written from the paper's table."""
    a = abs(x)
    if a >= 5:
        y = Fraction(1)
    elif a >= Fraction(19, 8):
        y = a / 32 + Fraction(27, 32)
    elif a >= 1:
        y = a / 8 + Fraction(5, 8)
    else:
        y = a / 4 + Fraction(1, 2)
    return y if x >= 0 else 1 - y


@pytest.mark.parametrize("fmt", [Fixed(10, 5), Fixed(12, 6), Fixed(16, 8)])
def test_plan_sigmoid_is_the_formula_truncated(fmt):
    codes = np.arange(fmt.lo, fmt.hi + 1)
    got = plan_sigmoid(codes, fmt)
    scale = 1 << fmt.frac
    for c, y in zip(codes.tolist(), got.tolist()):
        a = abs(c)
        exact = plan_exact(Fraction(a, scale)) * scale          # y(|x|) in codes, before truncation
        want = math.floor(exact)
        # the slope's shift truncates |c| / 2^s; offsets are exact: floor of the exact value
        want = want if c >= 0 else scale - want
        assert y == want, (c, y, want)
    x = fmt.value(codes)
    assert np.abs(fmt.value(got) - 1 / (1 + np.exp(-x))).max() < 0.0189 + 2.0 ** -fmt.frac


def test_plan_sigmoid_refuses_formats_it_cannot_hold():
    with pytest.raises(ValueError, match="act frac >= 5"):
        plan_sigmoid(np.zeros(3, np.int64), Fixed(8, 4))
    with pytest.raises(ValueError, match="1.0 representable"):
        plan_sigmoid(np.zeros(3, np.int64), Fixed(6, 5))


def oracle(mlp: Mlp, x: np.ndarray) -> list[list[int]]:
    """The network in Python integers and Fractions, neuron by neuron."""
    wf, af = mlp.weight.frac, mlp.act.frac
    out = []
    for row in x.tolist():
        h = row
        for layer in mlp.layers:
            nxt = []
            for w, b in zip(layer.weights.tolist(), layer.bias.tolist()):
                value = Fraction(sum(wi * hi for wi, hi in zip(w, h)) + b * 2 ** af, 2 ** wf)
                code = math.floor(value + Fraction(1, 2))
                code = min(max(code, mlp.act.lo), mlp.act.hi)
                if layer.activation == "relu":
                    code = max(code, 0)
                elif layer.activation == "sigmoid":
                    y = math.floor(plan_exact(Fraction(abs(code), 2 ** af)) * 2 ** af)
                    code = y if code >= 0 else 2 ** af - y
                nxt.append(code)
            h = nxt
        out.append(h)
    return out


@given(st.integers(0, 2**32 - 1), st.sampled_from([(6, 8, 8, 1), (9, 8, 1), (18, 32, 8, 2), (4, 3)]),
       st.sampled_from([(Fixed(8, 6), Fixed(10, 6)), (Fixed(12, 8), Fixed(16, 8)), (Fixed(4, 2), Fixed(8, 5))]))
@quick
def test_networks_match_the_oracle(seed, topology, formats):
    rng = np.random.default_rng(seed)
    weight, act = formats
    layers = tuple(Layer(rng.integers(weight.lo, weight.hi + 1, (o, i)), rng.integers(weight.lo, weight.hi + 1, o),
                         str(rng.choice(["sigmoid", "relu", "linear"])))
                   for i, o in zip(topology, topology[1:]))
    mlp = Mlp(layers, weight, act)
    x = rng.integers(act.lo, act.hi + 1, (5, topology[0]))
    x[0] = act.hi                      # extremes: saturating accumulations
    x[1] = act.lo
    assert mlp.topology == topology
    assert mlp.forward(x).tolist() == oracle(mlp, x)


def test_bad_networks_are_refused():
    w, a = Fixed(8, 4), Fixed(12, 6)
    good = Layer(np.zeros((3, 2), np.int64), np.zeros(3, np.int64), "relu")
    with pytest.raises(ValueError, match="frac must be an integer in 0..7"):
        Fixed(8, 8)
    with pytest.raises(ValueError, match=r"layers\[0\].weights must lie in -128..127"):
        Mlp((Layer(np.full((3, 2), 200), np.zeros(3, np.int64), "relu"),), w, a)
    with pytest.raises(ValueError, match=r"layers\[1\] takes 4 inputs but layers\[0\] gives 3"):
        Mlp((good, Layer(np.zeros((1, 4), np.int64), np.zeros(1, np.int64), "linear")), w, a)
    with pytest.raises(ValueError, match="activation must be one of linear, relu, sigmoid"):
        Mlp((Layer(good.weights, good.bias, "tanh"),), w, a)
    with pytest.raises(ValueError, match="act frac >= 5"):
        Mlp((Layer(good.weights, good.bias, "sigmoid"),), w, Fixed(12, 4))
    with pytest.raises(ValueError, match=r"inputs must be \(N, 2\)"):
        Mlp((good,), w, a).forward(np.zeros((2, 3), np.int64))
