"""TASD (HighLight) and SDQ (HighLight + LUT core) layer programs: exact integer GEMMs, bounded float outputs,
clear refusals, and every GEMM through the compiled RTL (the fast path) bit-exact."""
import random

import numpy as np
import pytest

from sparseloom.execution import quantise_activations
from sparseloom.execution.sdq import SdqMethod, rounding_bound
from sparseloom.execution.tasd import TasdMethod
from sparseloom.golden import sdq, tasd
from sparseloom.golden.quant import per_channel_int8
from sparseloom.units import unit

HL_SMALL = unit("highlight").presets["highlight_small"]
LUT_SMALL = unit("lut").presets["lut_small"]
SMALL = {"highlight": HL_SMALL, "lut": LUT_SMALL}
SEED = 20261203


def layer(seed=SEED, out=8, k=64, tokens=5):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((out, k)) * rng.uniform(0.5, 2, (out, 1))).astype(np.float32)
    return w, rng.standard_normal((tokens, k)).astype(np.float32)


# ----- TASD ---------------------------------------------------------------------------


@pytest.mark.parametrize("series", ["2:4+1:4", "2:8+2:8+1:8", "1:4+1:4+1:4"])
def test_tasd_gemms_are_the_term_products(series):
    w, x = layer()
    program = TasdMethod(series).program("fc", w, x, HL_SMALL)
    codes, _ = per_channel_int8(w)
    terms = tasd.decompose(codes, series).terms
    xq = quantise_activations(x)[0].T.astype(np.int64)
    products = [t.astype(np.int64) @ xq for t in terms]
    assert len(program.gemms) == len(set(program.report["patterns"]))
    assert all(g.unit == "highlight" for g in program.gemms)
    assert np.array_equal(sum(g.golden() for g in program.gemms), sum(products))
    at = 0
    for g in program.gemms:   # terms sharing a pattern sit side by side along K, in series order
        count = g.w.shape[1] // codes.shape[1]
        assert np.array_equal(g.golden(), sum(products[at:at + count]))
        at += count
    assert at == len(terms)


def test_tasd_combine_is_the_scaled_approximation_within_stated_bounds():
    w, x = layer()
    program = TasdMethod("2:4+1:4").program("fc", w, x, HL_SMALL)
    y = program.golden_output()
    assert y.dtype == np.float32 and y.shape == (x.shape[0], w.shape[0])
    codes, w_scale = per_channel_int8(w)
    result = tasd.decompose(codes, "2:4+1:4")
    xq, x_scale = quantise_activations(x)
    x_deq = xq.astype(np.float64) * x_scale
    reference = x_deq @ (result.approximation().astype(np.float64) * w_scale).T
    np.testing.assert_allclose(y, reference, rtol=1e-6, atol=1e-6 * np.abs(reference).max())
    # Against the float layer: weight rounding (w_scale / 2), the dropped residual, activation rounding (x_scale / 2).
    weight_error = w_scale * (0.5 + np.abs(result.residual.astype(np.float64)))
    bound = np.abs(x_deq) @ weight_error.T + x_scale / 2 * np.abs(w.astype(np.float64)).sum(axis=1)
    assert (np.abs(y - x.astype(np.float64) @ w.T.astype(np.float64)) <= bound * (1 + 1e-6) + 1e-6).all()


def test_tasd_pads_k_to_the_patterns_group_size():
    w, x = layer(k=12)   # 2:8 needs K % 8, 1:4's pattern 2:2,1:4 a group of 8
    program = TasdMethod("1:4+2:8").program("fc", w, x, HL_SMALL)
    assert program.report["padded_k"] == 16
    codes, w_scale = per_channel_int8(w)
    xq, x_scale = quantise_activations(x)
    padded = np.pad(codes, ((0, 0), (0, 4)))
    approx = tasd.decompose(padded, "1:4+2:8").approximation()[:, :12]
    reference = (xq.astype(np.float64) * x_scale) @ (approx * w_scale).T
    np.testing.assert_allclose(program.golden_output(), reference, rtol=1e-6, atol=1e-6)


def test_tasd_refuses_bad_text_and_unrepresentable_terms():
    w, x = layer()
    for text in ("2-4", "2:4+", "0:4", "tasd:5:4"):
        with pytest.raises(ValueError, match="tasd method: malformed series .*tasd:N1:M1"):
            TasdMethod(text)
    assert TasdMethod("tasd:2:4+1:4").text == "tasd:2:4+1:4"
    for text, term in (("2:4+1:3", "1:3"), ("dense", "1:1"), ("1:32", "1:32")):
        with pytest.raises(ValueError, match=f"term {term} is not representable on highlight_small.*1:1,2:4"):
            TasdMethod(text).program("fc", w, x, HL_SMALL)


# ----- SDQ ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1:8+W4g16", "2:4+W2g32", "0:8+W3g16", "1:4+W4g8"])
def test_sdq_gemms_are_the_partial_products(text):
    w, x = layer()
    program = SdqMethod(text).program("fc", w, x, SMALL)
    d = sdq.decompose(w, sdq.SDQConfig.parse(text))
    xq = quantise_activations(x)[0].T
    sparse, quant = d.partial_products(xq)
    lut_gemms = [g for g in program.gemms if g.unit == "lut"]
    hl_gemms = [g for g in program.gemms if g.unit == "highlight"]
    assert len(lut_gemms) == quant.shape[1] and all(g.setting.name == str(d.config.bits) for g in lut_gemms)
    assert len(hl_gemms) == (d.config.n > 0) and program.gemms[:len(hl_gemms)] == hl_gemms
    for g, group in zip(lut_gemms, quant.transpose(1, 0, 2)):
        assert np.array_equal(g.golden(), group)
    if hl_gemms:
        assert np.array_equal(hl_gemms[0].golden(), sparse)


@pytest.mark.parametrize("text", ["1:8+W4g16", "2:4+W2g32", "0:8+W2g64"])
def test_sdq_combine_within_the_rounding_bound(text):
    w, x = layer()
    program = SdqMethod("sdq:" + text).program("fc", w, x, SMALL)
    y = program.golden_output()
    assert y.dtype == np.float32 and y.shape == (x.shape[0], w.shape[0])
    d = sdq.decompose(w, sdq.SDQConfig.parse(text))
    xq, x_scale = quantise_activations(x)
    dense = d.dense().astype(np.float64)
    reference = (xq.astype(np.float64) * x_scale) @ dense.T
    bound = rounding_bound(d, xq, x_scale)
    assert (np.abs(y - reference) <= bound).all()
    np.testing.assert_allclose(y, reference, rtol=1e-5, atol=1e-5 * np.abs(reference).max())
    np.testing.assert_allclose(y, d.matmul(xq.T).T * x_scale, rtol=1e-6, atol=1e-6)
    # Against the float activations: add the activation rounding, x_scale / 2 per element.
    float_reference = x.astype(np.float64) @ dense.T
    assert (np.abs(y - float_reference) <= bound + x_scale / 2 * np.abs(dense).sum(axis=1)).all()


def test_sdq_refuses_bad_text_bits_and_patterns():
    w, x = layer()
    for text in ("1:8+W4", "8:8+W4g64", "1:8+W9g64", "sdq:1:8W4g64"):
        with pytest.raises(ValueError, match="sdq method: bad config .*sdq:N:M\\+WBgG"):
            SdqMethod(text)
    with pytest.raises(ValueError, match="remainder bits=5 do not run on lut_small; allowed bits: 2, 3, 4"):
        SdqMethod("1:8+W5g16").program("fc", w, x, SMALL)
    with pytest.raises(ValueError, match="term 1:3 is not representable on highlight_small"):
        SdqMethod("1:3+W4g16").program("fc", w[:, :48], x[:, :48], SMALL)
    with pytest.raises(ValueError, match="config must be None or a dict with keys among highlight, lut"):
        SdqMethod("1:8+W4g16").program("fc", w, x, {"dense": HL_SMALL})
    with pytest.raises(TypeError, match="config\\['lut'\\] must be a LutConfig"):
        SdqMethod("1:8+W4g16").program("fc", w, x, {"lut": HL_SMALL})


# ----- RTL through the fast path -------------------------------------------------------


@pytest.fixture(scope="module")
def drivers():
    from sparseloom.sim.fast import Driver
    return {"highlight": Driver(HL_SMALL), "lut": Driver(LUT_SMALL)}


def run_on_rtl(program, drivers, seed):
    """Every GEMM of ``program`` on its unit's compiled small core, 30% stalls; each Y must be its golden."""
    rng = random.Random(seed)
    ys = []
    for g in program.gemms:
        config = SMALL[g.unit]
        y, _, _ = drivers[g.unit].run_plan(unit(g.unit).plan(config, g.setting, g.w, g.x), stall=0.3, rng=rng)
        assert np.array_equal(y, g.golden()), g.label
        ys.append(y)
    return program.combine(ys)


@pytest.mark.parametrize("method", [TasdMethod("2:4+1:4"), TasdMethod("2:8+2:8+1:8"),
                                    SdqMethod("1:8+W2g16"), SdqMethod("2:4+W4g32")], ids=lambda m: m.text)
def test_rtl_runs_the_program_bit_exact(method, drivers):
    w, x = layer()
    program = method.program("fc", w, x, HL_SMALL if method.units == ("highlight",) else SMALL)
    assert np.array_equal(run_on_rtl(program, drivers, SEED), program.golden_output())
