"""Tests for the TASD / TASDER golden model."""
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sparseloom.golden.tasd import (Series, TASDResult, decompose, density, parse_series, relative_error, search,
                                    tasder, top_n_mask)

quick = settings(max_examples=40, deadline=None)
S = parse_series
DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64, np.float16, np.float32, np.float64]


@st.composite
def series(draw, ms=(1, 2, 3, 4, 8)):
    terms = []
    for _ in range(draw(st.integers(1, 3))):
        m = draw(st.sampled_from(ms))
        terms.append((draw(st.integers(1, m)), m))
    return Series(tuple(terms))


def _values(rng, dtype, shape, ties: bool) -> np.ndarray:
    """Random values of ``dtype``, with the extremes of integer dtypes, or from a few levels when ``ties``."""
    dtype = np.dtype(dtype)
    if ties:
        levels = np.array([0, 1, 2, 3], dtype)
        signs = rng.choice(np.array([1, -1] if dtype.kind != "u" else [1, 1], dtype), shape)
        return (rng.choice(levels, shape) * signs).astype(dtype)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    extreme = rng.random(shape) < 0.2
    a[extreme] = rng.choice(np.array([info.min, info.max], dtype), extreme.sum())
    return a


@st.composite
def cases(draw, full_last: bool = False):
    """A tensor (1 to 3 axes, any supported dtype, maybe ties, zeros, a zero row) and a series that fits it."""
    s = draw(series())
    if full_last:
        m = draw(st.sampled_from([1, 2, 4]))
        s = Series(s.terms + (draw(st.sampled_from([(m, m), (1, 1)])),))
    lcm = math.lcm(*(m for _, m in s.terms))
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    shape = lead + (lcm * draw(st.integers(1, 3)),)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = _values(rng, draw(st.sampled_from(DTYPES)), shape, draw(st.booleans()))
    a[rng.random(shape) < draw(st.sampled_from([0.0, 0.5]))] = 0
    if len(lead) and draw(st.booleans()):
        a[(0,) * len(lead)] = 0
    return a, s


def _magnitude(v) -> int | float:
    return abs(v.item())  # a Python int or float: exact


def reference_decompose(a, s):
    """Slow pure-Python version of the greedy rule."""
    residual = a.copy().reshape(-1, a.shape[-1])
    terms = []
    for n, m in s.terms:
        term = np.zeros_like(residual)
        for row in range(residual.shape[0]):
            for base in range(0, residual.shape[1], m):
                for i in sorted(range(m), key=lambda i: (-_magnitude(residual[row, base + i]), i))[:n]:
                    term[row, base + i], residual[row, base + i] = residual[row, base + i], 0
        terms.append(term.reshape(a.shape))
    return terms, residual.reshape(a.shape)


def _satisfies(t, n, m) -> bool:
    return bool(np.all(np.count_nonzero(t.reshape(t.shape[:-1] + (-1, m)), axis=-1) <= n))


# ---------------------------------------------------------------- Series

@quick
@given(series())
def test_parse_str_round_trip(s):
    assert parse_series(str(s)) == s
    assert str(s) == "+".join(f"{n}:{m}" for n, m in s.terms)


def test_parse_dense_and_whitespace():
    assert S(" 2 : 8 +dense+ 8:8 ") == Series(((2, 8), (1, 1), (8, 8)))
    assert str(S("dense")) == "1:1"


@pytest.mark.parametrize("text", ["", "2:8+", "+1:8", "2:8,1:8", "a:8", "2-8", "2:8+1", "Dense", "2.0:8", "-1:8"])
def test_parse_malformed(text):
    with pytest.raises(ValueError, match=r"'N:M' terms joined by '\+', e.g. '2:8\+1:8'") as err:
        S(text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize("terms, message", [
    (((0, 8),), "n must be an integer in 1..m=8, got 0 in term (0, 8)"),
    (((9, 8),), "n must be an integer in 1..m=8, got 9 in term (9, 8)"),
    (((True, 2),), "n must be an integer in 1..m=2, got True"),
    (((1, 0),), "m must be an integer >= 1, got 0"),
    (((1, 2, 3),), "each term must be an (n, m) pair"),
    ((), "terms must be a non-empty tuple"),
    ([(1, 2)], "terms must be a non-empty tuple"),
])
def test_series_validation(terms, message):
    with pytest.raises(ValueError) as err:
        Series(terms)
    assert str(err.value).startswith(message)


def test_parse_out_of_range_names_field():
    with pytest.raises(ValueError, match="n must"):
        S("9:8")
    with pytest.raises(TypeError, match="str"):
        parse_series(28)


@pytest.mark.parametrize("text, expected", [
    ("2:8+1:8", Fraction(3, 8)), ("dense", Fraction(1)), ("1:4+1:4+1:2", Fraction(1)),
    ("2:4+3:8+1:3", Fraction(29, 24)),
])
def test_density(text, expected):
    assert density(text) == density(S(text)) == expected
    assert isinstance(density(text), Fraction)


# ---------------------------------------------------------------- decompose

@quick
@given(cases())
@example((np.full((2, 8), 7, np.int8), S("1:4+2:8")))
@example((np.array([[-128, 127, 127, -128]], np.int8), S("1:2+1:4")))
@example((np.zeros((1, 3, 6), np.float16), S("1:3+2:2")))
def test_decompose_matches_reference_and_is_exact(case):
    a, s = case
    before = a.copy()
    result = decompose(a, s)
    np.testing.assert_array_equal(a, before)  # the input is left alone
    assert len(result.terms) == len(s.terms)
    terms, residual = reference_decompose(a, s)
    for (n, m), t, ref in zip(s.terms, result.terms, terms):
        assert t.dtype == a.dtype and t.shape == a.shape
        np.testing.assert_array_equal(t, ref)
        assert _satisfies(t, n, m)
        assert np.all((t == 0) | (t == a))  # copies of entries of a
    assert result.residual.dtype == a.dtype
    np.testing.assert_array_equal(result.residual, residual)
    np.testing.assert_array_equal(result.approximation() + result.residual, a)  # exact, no tolerance
    support = np.stack([t != 0 for t in result.terms] + [result.residual != 0]).sum(axis=0)
    assert np.all(support <= 1)


@quick
@given(cases())
def test_first_term_keeps_the_largest_magnitudes(case):
    a, s = case
    n, m = s.terms[0]
    first = decompose(a, s).terms[0]
    keep = top_n_mask(a, n, m)
    np.testing.assert_array_equal(first, np.where(keep, a, 0))
    mags = [abs(v) for v in a.reshape(-1).tolist()]
    for start, k in zip(range(0, len(mags), m), keep.reshape(-1, m).tolist()):
        kept = [mags[start + i] for i in range(m) if k[i]]
        dropped = [(mags[start + i], i) for i in range(m) if not k[i]]
        assert len(kept) == n
        # every dropped entry is smaller than every kept one, or as large and after it (ties: lower index)
        assert all(v < min(kept) or (v == min(kept) and i > max(j for j in range(m) if k[j] and mags[start + j] == v))
                   for v, i in dropped)


def test_ties_go_to_lower_index():
    result = decompose(np.array([[5, -5, 5, 1]], np.int8), S("2:4+1:4"))
    np.testing.assert_array_equal(result.terms[0], [[5, -5, 0, 0]])
    np.testing.assert_array_equal(result.terms[1], [[0, 0, 5, 0]])
    np.testing.assert_array_equal(result.residual, [[0, 0, 0, 1]])
    ones = decompose(np.ones((1, 8), np.float32), S("1:4+1:4"))
    np.testing.assert_array_equal(ones.terms[0], [[1, 0, 0, 0, 1, 0, 0, 0]])
    np.testing.assert_array_equal(ones.terms[1], [[0, 1, 0, 0, 0, 1, 0, 0]])


def test_blocks_run_along_the_last_axis():
    a = np.arange(1, 17, dtype=np.int16).reshape(2, 8)  # blocks of 4: [1..4], [5..8] | [9..12], [13..16]
    expected = [[0, 0, 0, 4, 0, 0, 0, 8], [0, 0, 0, 12, 0, 0, 0, 16]]
    np.testing.assert_array_equal(decompose(a, S("1:4")).terms[0], expected)
    b = np.arange(8, dtype=np.float64)[::-1].reshape(2, 2, 2)  # [[[7, 6], [5, 4]], [[3, 2], [1, 0]]]
    np.testing.assert_array_equal(decompose(b, S("1:2")).terms[0], [[[7, 0], [5, 0]], [[3, 0], [1, 0]]])


@pytest.mark.parametrize("a, text, kept", [
    (np.array([[-128, 127]], np.int8), "1:2", [[-128, 0]]),
    (np.array([[127, -128]], np.int8), "1:2", [[0, -128]]),
    (np.array([[1, -2**63, 2**63 - 1]], np.int64), "1:3", [[0, -2**63, 0]]),
    (np.array([[255, 1]], np.uint8), "1:2", [[255, 0]]),
    (np.array([[2**64 - 1, 2**63]], np.uint64), "1:2", [[2**64 - 1, 0]]),
    (np.array([[-3.5, 3.0, -0.0, 0.0]], np.float16), "1:4", [[-3.5, 0, 0, 0]]),
])
def test_magnitudes_are_exact(a, text, kept):
    result = decompose(a, S(text))
    np.testing.assert_array_equal(result.terms[0], np.array(kept, a.dtype))
    np.testing.assert_array_equal(result.terms[0] + result.residual, a)


@quick
@given(cases(full_last=True))
def test_full_term_leaves_zero_residual(case):
    a, s = case
    result = decompose(a, s)
    assert not result.residual.any()
    assert relative_error(a, result) == 0.0
    np.testing.assert_array_equal(result.approximation(), a)


@quick
@given(cases(), series(ms=(1, 2, 3, 4, 8)))
def test_longer_series_is_never_worse(case, extra):
    a, s = case
    lcm = math.lcm(a.shape[-1], *(m for _, m in extra.terms))
    a = np.tile(a, lcm // a.shape[-1])
    longer = Series(s.terms + extra.terms)
    short, long = decompose(a, s), decompose(a, longer)
    for t, u in zip(short.terms, long.terms):
        np.testing.assert_array_equal(t, u)  # same prefix
    assert np.all((long.residual == 0) | (long.residual == short.residual))
    errors = [relative_error(a, decompose(a, Series(longer.terms[:i]))) for i in range(1, len(longer.terms) + 1)]
    assert all(0 <= e <= 1 for e in errors)
    assert errors == sorted(errors, reverse=True)


def test_relative_error_values():
    a = np.array([[3, 4]], np.int8)
    assert relative_error(a, decompose(a, S("1:2"))) == pytest.approx(9 / 25, rel=1e-15)
    z = np.zeros((2, 4), np.float32)
    assert relative_error(z, decompose(z, S("1:4"))) == 0.0
    big = np.array([[60000, -49984, 3, 0]], np.float16)  # squares overflow float16
    assert relative_error(big, decompose(big, S("1:4"))) == pytest.approx((49984**2 + 9) / (60000**2 + 49984**2 + 9))
    huge = np.array([[2**62, -2**62, 2**61, 0]], np.int64)
    assert relative_error(huge, decompose(huge, S("2:4"))) == pytest.approx(1 / 9)


def test_relative_error_rejects_mismatch():
    a = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"residual shape \(2, 4\).*\(4, 2\)"):
        relative_error(a.reshape(4, 2), decompose(a, S("1:4")))


@pytest.mark.parametrize("shape, text, message", [
    ((2, 12), "1:8", r"last axis length 12 is not a multiple of m=8 \(term 1:8 of series 1:8\)"),
    ((3, 8), "1:4+1:3", r"last axis length 8 is not a multiple of m=3 \(term 1:3 of series 1:4\+1:3\)"),
    ((10,), "2:4", "last axis length 10 is not a multiple of m=4"),
])
def test_decompose_rejects_bad_length(shape, text, message):
    with pytest.raises(ValueError, match=message):
        decompose(np.ones(shape, np.int8), S(text))


@pytest.mark.parametrize("a, error, message", [
    ([[1, 2]], TypeError, "tensor must be a numpy array, got list"),
    (np.ones((1, 2), bool), TypeError, "integer or floating dtype, got bool"),
    (np.ones((1, 2), complex), TypeError, "integer or floating dtype, got complex128"),
    (np.array(3.0), ValueError, "at least one axis"),
    (np.array([[1.0, np.nan]]), ValueError, "finite"),
    (np.array([[1.0, -np.inf]]), ValueError, "finite"),
])
def test_decompose_rejects_bad_tensors(a, error, message):
    with pytest.raises(error, match=message):
        decompose(a, S("1:2"))


def test_decompose_rejects_bad_series():
    with pytest.raises(TypeError, match="series must be a Series"):
        decompose(np.ones((1, 2)), (1, 2))


@pytest.mark.parametrize("n, m, message", [(5, 4, r"n must be an integer in 0..m=4, got 5"), (1, 0, "m must"),
                                           (-1, 2, "n must"), (1, 3, "last axis length 4 is not a multiple of m=3")])
def test_top_n_mask_validation(n, m, message):
    with pytest.raises(ValueError, match=message):
        top_n_mask(np.ones((2, 4)), n, m)


def test_top_n_mask_counts():
    a = np.random.default_rng(3).standard_normal((3, 2, 12))
    for n in range(5):
        assert np.all(top_n_mask(a, n, 4).reshape(3, 2, 3, 4).sum(axis=-1) == n)


def test_result_is_immutable():
    result = decompose(np.ones((1, 2)), S("1:2"))
    assert isinstance(result, TASDResult)
    with pytest.raises(AttributeError):
        result.residual = None


# ---------------------------------------------------------------- search

def _cost(costs, choice):
    return sum(Fraction(costs[name][i]) for name, i in choice.items())


def _error(errors, choice):
    return sum(Fraction(errors[name][i]) for name, i in choice.items())


def _all_choices(costs):
    names = list(costs)
    for picks in itertools.product(*(range(len(costs[name])) for name in names)):
        yield dict(zip(names, picks))


def brute_force(costs, errors, budget):
    """Least total error within the budget, by enumeration."""
    return min(_error(errors, c) for c in _all_choices(costs) if _cost(costs, c) <= budget)


def single_move_baseline(costs, errors, budget):
    """Least total error over the solutions that change at most one layer from its cheapest, best candidate."""
    base = {name: min(range(len(c)), key=lambda i: (Fraction(c[i]), Fraction(errors[name][i])))
            for name, c in costs.items()}
    moves = [{**base, name: i} for name in costs for i in range(len(costs[name]))]
    return min(_error(errors, c) for c in moves if _cost(costs, c) <= budget)


@st.composite
def instances(draw):
    """Up to 4 layers of up to 4 candidates with small integer costs and errors (ties and dominated ones included)."""
    layers = draw(st.integers(1, 4))
    costs, errors = {}, {}
    for i in range(layers):
        k = draw(st.integers(1, 4))
        costs[f"L{i}"] = draw(st.lists(st.integers(0, 12), min_size=k, max_size=k))
        errors[f"L{i}"] = draw(st.lists(st.integers(0, 30), min_size=k, max_size=k))
    return costs, errors


def _bounds(costs):
    return sum(min(c) for c in costs.values()), sum(max(c) for c in costs.values())


@settings(max_examples=150, deadline=None)
@given(instances(), st.integers(0, 50))
@example(({"a": [1, 2, 3], "b": [1, 2]}, {"a": [5, 3, 0], "b": [4, 0]}), 2)  # greedy 5, single move 4, optimum 3
@example(({"a": [0, 1], "b": [0, 10]}, {"a": [10, 9], "b": [10, 1]}), 10)  # greedy 19, single move 11
def test_search_respects_budget_and_baselines(instance, extra):
    costs, errors = instance
    low, high = _bounds(costs)
    budget = min(low + extra, high + 1)
    choice = search(costs, errors, budget)
    assert list(choice) == list(costs)
    assert all(0 <= i < len(costs[name]) for name, i in choice.items())
    assert _cost(costs, choice) <= budget
    err = _error(errors, choice)
    assert brute_force(costs, errors, budget) <= err <= single_move_baseline(costs, errors, budget)
    if budget >= high:  # everything fits: the best candidate of every layer
        assert err == sum(min(e) for e in errors.values())


@quick
@given(instances())
def test_search_is_monotone_in_budget(instance):
    costs, errors = instance
    low, high = _bounds(costs)
    totals = [_error(errors, search(costs, errors, b)) for b in range(low, high + 1)]
    assert totals == sorted(totals, reverse=True)


def test_search_is_monotone_on_larger_instances():
    rng = np.random.default_rng(11)
    for _ in range(3):
        costs = {f"L{i}": sorted(rng.integers(1, 100, 5).tolist()) for i in range(8)}
        errors = {name: sorted(rng.random(5).tolist(), reverse=True) for name in costs}
        low, high = _bounds(costs)
        totals = [_error(errors, search(costs, errors, b)) for b in range(low, high + 1, 7)]
        assert totals == sorted(totals, reverse=True)


def test_search_is_optimal_at_lagrangian_budgets():
    """At the cost of a Lagrangian solution (each layer minimising error + lam * cost) the search is optimal."""
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(60):
        costs = {f"L{i}": rng.integers(0, 50, rng.integers(1, 5)).tolist() for i in range(rng.integers(1, 5))}
        errors = {name: rng.random(len(c)).tolist() for name, c in costs.items()}
        for lam in (0.0, 0.005, 0.02, 0.1, 1.0):
            lagrangian = {}
            for name, c in costs.items():
                score = [Fraction(errors[name][i]) + Fraction(lam) * c[i] for i in range(len(c))]
                best = min(score)
                if score.count(best) == 1:
                    lagrangian[name] = score.index(best)
            if len(lagrangian) < len(costs):
                continue  # a tie: the Lagrangian solution is not unique
            budget = _cost(costs, lagrangian)
            opt = brute_force(costs, errors, budget)
            assert opt == _error(errors, lagrangian)
            assert _error(errors, search(costs, errors, budget)) == opt
            checked += 1
    assert checked > 100


def test_search_ties_and_dominated_candidates():
    assert search({"a": [2, 2, 2]}, {"a": [1, 1, 1]}, 2) == {"a": 0}
    assert search({"a": [3, 1, 1]}, {"a": [0, 5, 4]}, 2) == {"a": 2}
    assert search({"a": [1, 2], "b": [1, 2]}, {"a": [1, 0], "b": [1, 0]}, 3) == {"a": 1, "b": 0}
    assert search({}, {}, 0) == {}


def test_search_exact_arithmetic():
    tenth = {name: [0, Fraction(1, 10)] for name in "abc"}
    errors = {name: [1, 0] for name in "abc"}
    assert search(tenth, errors, Fraction(3, 10)) == dict.fromkeys("abc", 1)  # 0.1 + 0.1 + 0.1 > 0.3 in floats
    floats = {name: [0, 0.1] for name in "abc"}  # floats are taken at their exact binary values
    assert search(floats, errors, 0.3) == {"a": 1, "b": 1, "c": 0}
    thirds = {name: [Fraction(1, 3), Fraction(2, 3)] for name in "ab"}
    assert search(thirds, {"a": [1, 0], "b": [1, 0]}, 1) == {"a": 1, "b": 0}
    numpy_errors = {"a": [np.float32(1), np.float64(0)], "b": [np.int64(1), 0]}
    assert search(thirds, numpy_errors, Fraction(4, 3)) == {"a": 1, "b": 1}


@pytest.mark.parametrize("costs, errors, budget, error, message", [
    ({"a": [2, 3], "b": [1]}, {"a": [1, 0], "b": [0]}, 2, ValueError,
     r"budget=2 is below the total cost 3 of the cheapest candidates"),
    ({"a": [1]}, {"b": [1]}, 2, ValueError, "costs and errors must name the same layers"),
    ({"a": [1, 2]}, {"a": [1]}, 2, ValueError, "layer 'a' needs as many errors as costs"),
    ({"a": []}, {"a": []}, 2, ValueError, "layer 'a' needs as many errors as costs"),
    ({"a": [1, float("nan")]}, {"a": [1, 0]}, 2, ValueError, r"costs\['a'\]\[1\] must be finite"),
    ({"a": [1]}, {"a": ["x"]}, 2, TypeError, r"errors\['a'\]\[0\] must be a real number"),
    ({"a": [1]}, {"a": [1]}, float("inf"), ValueError, "budget must be finite"),
    ({"a": [1]}, {"a": [1]}, True, TypeError, "budget must be a real number"),
])
def test_search_errors(costs, errors, budget, error, message):
    with pytest.raises(error, match=message):
        search(costs, errors, budget)


# ---------------------------------------------------------------- tasder

def _layers(seed=0):
    rng = np.random.default_rng(seed)
    pruned = rng.standard_normal((8, 32)).astype(np.float32)
    pruned[~top_n_mask(pruned, 2, 8)] = 0  # already 2:8 sparse: error 0 at density 1/4
    acts = rng.integers(-128, 128, (16, 32), dtype=np.int8)  # activations, reduction axis last
    heavy = (rng.standard_t(2, (8, 32)) * 10).astype(np.float64)
    return {"pruned": (pruned, 1000), "acts": (acts, 3000), "heavy": (heavy, 2000)}


MENU = ["1:8", "2:8", "2:8+1:8", "4:8", "4:8+2:8", "dense"]


def _total_error(layers, choice):
    return sum(relative_error(a, decompose(a, choice[name])) for name, (a, _) in layers.items())


def test_tasder_respects_budget_and_uses_the_menu():
    layers = _layers()
    menu = [S(t) for t in MENU]
    totals = []
    for budget in (0.125, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0):
        choice = tasder(layers, MENU, budget)
        assert list(choice) == list(layers) and all(s in menu for s in choice.values())
        cost = sum(macs * density(choice[name]) for name, (_, macs) in layers.items())
        assert cost <= Fraction(budget) * 6000
        totals.append(_total_error(layers, choice))
    assert totals == sorted(totals, reverse=True)  # more budget never gives more error
    assert totals[-1] == 0.0 and totals[0] > 0


def test_tasder_picks_the_free_pattern_for_a_sparse_layer():
    layers = _layers()
    choice = tasder(layers, MENU, 0.5)
    assert choice["pruned"] == S("2:8")  # exact at 1/4, so nothing more is worth buying
    assert tasder(layers, MENU, 1.0) == {"pruned": S("2:8"), "acts": S("dense"), "heavy": S("dense")}
    assert tasder(layers, MENU, 0.125) == dict.fromkeys(layers, S("1:8"))


def test_tasder_errors():
    layers = _layers()
    with pytest.raises(ValueError, match=r"budget must be in \(0, 1\]"):
        tasder(layers, MENU, 0)
    with pytest.raises(ValueError, match=r"budget must be in \(0, 1\]"):
        tasder(layers, MENU, 1.5)
    infeasible = "budget=0.25 of 6000 dense MACs is infeasible: budget=1500 is below the total cost 3000"
    with pytest.raises(ValueError, match=infeasible):
        tasder(layers, ["4:8", "dense"], 0.25)
    with pytest.raises(ValueError, match="menu must hold at least one series"):
        tasder(layers, [], 0.5)
    with pytest.raises(ValueError, match=r"layer 'odd': last axis length 12 is not a multiple of m=8"):
        tasder({**layers, "odd": (np.ones((2, 12)), 10)}, MENU, 0.5)
    with pytest.raises(ValueError, match=r"macs of layer 'acts' must be an integer >= 1, got 0"):
        tasder({"acts": (layers["acts"][0], 0)}, MENU, 0.5)
    with pytest.raises(TypeError, match="layer 'x': tensor must be a numpy array"):
        tasder({"x": ([[1, 2]], 10)}, MENU, 0.5)
