"""Q4_1 x Q8_1 on the LUT core: GGUF block parsing, llama.cpp's Q8_1 rounding, exact block products,
llama.cpp's float combination, and every block GEMM through the compiled RTL (the fast path) bit-exact."""
import random

import numpy as np
import pytest

from sparseloom.execution.q4_1 import (BLOCK_BYTES, QK, Q4_1Method, dequantise, llama_reference, q4_1_blocks,
                                       quantise_q8_1)
from sparseloom.units import unit

LUT_SMALL = unit("lut").presets["lut_small"]
SEED = 20261204


def synthetic_blocks(seed=SEED, out=8, k=64):
    """Random Q4_1 blocks: codes 0..15, d > 0 and m < 0 as float16 values (as a Q4_1 file holds them)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 16, (out, k), dtype=np.uint8)
    d = rng.uniform(0.001, 0.05, (out, k // QK)).astype(np.float16).astype(np.float32)
    m = -rng.uniform(0.01, 0.4, (out, k // QK)).astype(np.float16).astype(np.float32)
    return codes, d, m


def pack(codes, d, m):
    """The GGUF Q4_1 bytes of (codes, d, m): per block d, m (float16, little-endian), 16 nibble bytes."""
    rows, cols = codes.shape
    q = codes.reshape(rows, cols // QK, QK)
    nibbles = q[..., :QK // 2] | (q[..., QK // 2:] << 4)
    halves = np.stack([d, m], axis=-1).astype("<f2").view(np.uint8)
    return np.concatenate([halves, nibbles], axis=-1).reshape(-1)


def activations(seed=SEED, tokens=5, k=64):
    return np.random.default_rng(seed + 1).standard_normal((tokens, k)).astype(np.float32)


# ----- parsing ------------------------------------------------------------------------


def test_parse_round_trips_synthetic_bytes():
    codes, d, m = synthetic_blocks()
    raw = pack(codes, d, m)
    assert raw.size == 8 * 2 * BLOCK_BYTES
    got = q4_1_blocks(raw, 8, 64)
    assert got[0].dtype == np.uint8 and got[1].dtype == got[2].dtype == np.float32
    for want, have in zip((codes, d, m), got):
        assert np.array_equal(want, have)
    # element j in the low nibble of byte 4 + j, element j + 16 in its high nibble
    assert raw[4] == codes[0, 0] | (codes[0, 16] << 4)


def test_parse_matches_gguf_dequantize():
    gguf = pytest.importorskip("gguf")
    import gguf.quants
    w = np.random.default_rng(SEED).standard_normal((6, 96)).astype(np.float32)
    raw = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q4_1)
    assert raw.dtype == np.uint8 and raw.shape == (6, 3 * BLOCK_BYTES)
    want = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType.Q4_1)
    assert np.array_equal(dequantise(*q4_1_blocks(raw, 6, 96)), want)


def test_parse_refuses_wrong_sizes_and_types():
    raw = pack(*synthetic_blocks())
    with pytest.raises(ValueError, match="raw holds 319 bytes; a 8 x 64 Q4_1 tensor is 320"):
        q4_1_blocks(raw[:-1], 8, 64)
    with pytest.raises(ValueError, match="cols must be a positive multiple of 32"):
        q4_1_blocks(raw, 16, 40)
    with pytest.raises(ValueError, match="rows must be a positive integer"):
        q4_1_blocks(raw, 0, 64)
    with pytest.raises(TypeError, match="raw must be a uint8 array"):
        q4_1_blocks(raw.astype(np.int16), 8, 64)


# ----- Q8_1 ---------------------------------------------------------------------------


def test_q8_1_rounds_halves_away_from_zero():
    # amax = 127 gives d = 1 and id = 1, so the codes are roundf(x) itself
    x = np.zeros((1, QK), np.float32)
    x[0, :10] = [127, 2.5, -2.5, 0.5, -0.5, 1.5, np.nextafter(np.float32(0.5), 0), -3.5, 126.5, 3.4999998]
    codes, d, s = quantise_q8_1(x)
    assert codes[0, :10].tolist() == [127, 3, -3, 1, -1, 2, 0, -4, 127, 3]   # NumPy's rint: 2, -2, 0, -0, 2, ...
    assert d[0, 0] == 1 and s[0, 0] == codes.sum()


def test_q8_1_scales_are_float16_and_zero_blocks_have_zero_codes():
    x = activations(tokens=3)
    x[1, QK:] = 0
    codes, d, s = quantise_q8_1(x)
    blocks = x.reshape(3, 2, QK)
    d32 = np.abs(blocks).max(axis=-1) / np.float32(127)
    assert np.array_equal(d, d32.astype(np.float16).astype(np.float32))
    assert np.array_equal(s, (codes.reshape(3, 2, QK).sum(-1).astype(np.float32) * d32).astype(np.float16))
    assert (codes[1, QK:] == 0).all() and d[1, 1] == 0 and s[1, 1] == 0
    assert np.abs(codes).max() == 127


def test_q8_1_codes_and_scale_match_gguf_q8_0():
    """Q8_0 quantises a block exactly as Q8_1 does (d, roundf codes); gguf's Q8_0 is bit-exact with ggml."""
    gguf = pytest.importorskip("gguf")
    import gguf.quants
    x = activations(tokens=4, k=128) * np.float32(5)
    x[0, :QK] = np.arange(QK, dtype=np.float32) - 15.5   # with amax = 127 (d = 1): exact halves
    x[0, 0] = 127
    raw = gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0).reshape(4, 4, 34)
    codes, d, _ = quantise_q8_1(x)
    assert np.array_equal(codes.reshape(4, 4, QK), raw[..., 2:].view(np.int8))
    assert np.array_equal(d, raw[..., :2].copy().view("<f2")[..., 0].astype(np.float32))


def test_q8_1_refuses_bad_input():
    with pytest.raises(ValueError, match="K \\(the columns of x\\) must be a positive multiple of 32"):
        quantise_q8_1(np.zeros((2, 40), np.float32))
    with pytest.raises(ValueError, match="x must be finite"):
        quantise_q8_1(np.full((1, 32), np.inf, np.float32))


def test_from_gguf_reads_q4_1_linear_weights_and_refuses_others(tmp_path):
    gguf = pytest.importorskip("gguf")
    codes, d, m = synthetic_blocks()

    def write(path, attn_k_type):
        writer = gguf.GGUFWriter(str(path), "llama")
        writer.add_tensor("blk.0.attn_q.weight", pack(codes, d, m).reshape(8, 2 * BLOCK_BYTES),
                          raw_dtype=gguf.GGMLQuantizationType.Q4_1)
        k = gguf.quants.quantize(dequantise(codes, d, m), attn_k_type)
        writer.add_tensor("blk.0.attn_k.weight", k, raw_dtype=attn_k_type)
        writer.add_tensor("blk.0.attn_norm.weight", np.ones(64, np.float32))   # not a linear weight: ignored
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path

    method = Q4_1Method.from_gguf(write(tmp_path / "ok.gguf", gguf.GGMLQuantizationType.Q4_1))
    assert sorted(method.blocks) == ["blk.0.attn_k.weight", "blk.0.attn_q.weight"]
    for want, have in zip((codes, d, m), method.blocks["blk.0.attn_q.weight"]):
        assert np.array_equal(want, have)
    with pytest.raises(ValueError, match="linear weights not in Q4_1: blk.0.attn_k.weight \\(Q8_0\\)"):
        Q4_1Method.from_gguf(gguf.GGUFReader(write(tmp_path / "mixed.gguf", gguf.GGMLQuantizationType.Q8_0)))


# ----- program ------------------------------------------------------------------------


def program_of(blocks, x, config=LUT_SMALL):
    return Q4_1Method({"fc": blocks}).program("fc", dequantise(*blocks), x, config)


def test_gemms_give_the_block_products():
    blocks = synthetic_blocks()
    codes, x = blocks[0], activations()
    program = program_of(blocks, x)
    xq, _, _ = quantise_q8_1(x)
    assert len(program.gemms) == 2 and all(g.unit == "lut" and g.setting.name == "4" for g in program.gemms)
    for b, g in enumerate(program.gemms):
        cols = slice(b * QK, (b + 1) * QK)
        assert g.w.dtype == np.int8 and g.w.min() >= -8 and g.w.max() <= 7 and g.w.shape == (8, QK)
        direct = codes[:, cols].astype(np.int64) @ xq[:, cols].T.astype(np.int64)
        assert np.array_equal(g.golden() + 8 * xq[:, cols].sum(axis=1, dtype=np.int64), direct)


def test_combine_is_llama_cpp_exactly():
    for seed in range(4):
        blocks = synthetic_blocks(seed, out=12, k=128)
        x = activations(seed, tokens=7, k=128) * np.float32(3)
        y = program_of(blocks, x).golden_output()
        assert y.dtype == np.float32 and y.shape == (7, 12)
        assert np.array_equal(y, llama_reference(*blocks, x))
    # and close to the float layer: Q8_1 rounding of x only (the weights are exact Q4_1 values)
    w = dequantise(*blocks).astype(np.float64)
    np.testing.assert_allclose(y, x.astype(np.float64) @ w.T, rtol=0.05, atol=0.05 * np.abs(x @ w.T).max())


def test_method_refuses_bad_blocks_names_shapes_and_configs():
    codes, d, m = blocks = synthetic_blocks()
    x = activations()
    with pytest.raises(ValueError, match="codes must lie in 0..15"):
        Q4_1Method({"fc": (codes.astype(np.int16) + 1, d, m)})
    with pytest.raises(ValueError, match="d must be float of shape \\(8, 2\\)"):
        Q4_1Method({"fc": (codes, d[:, :1], m)})
    method = Q4_1Method({"fc": blocks})
    with pytest.raises(KeyError, match="no Q4_1 blocks for layer 'fc2'"):
        method.program("fc2", dequantise(*blocks), x)
    with pytest.raises(ValueError, match="w has shape \\(8, 32\\), its Q4_1 blocks \\(8, 64\\)"):
        method.program("fc", np.zeros((8, 32), np.float32), x)
    with pytest.raises(ValueError, match="x has 32 columns, the layer 64 inputs"):
        method.program("fc", dequantise(*blocks), x[:, :32])
    with pytest.raises(TypeError, match="config must be None, a LutConfig"):
        method.program("fc", dequantise(*blocks), x, unit("highlight").presets["highlight_small"])
    program = method.program("fc", dequantise(*blocks), x, {"lut": LUT_SMALL})
    with pytest.raises(ValueError, match="combine takes 2 block results, got 1"):
        program.combine([program.gemms[0].golden()])


# ----- RTL through the fast path -------------------------------------------------------


def test_rtl_runs_every_block_bit_exact():
    from sparseloom.sim.fast import Driver
    driver = Driver(LUT_SMALL)
    blocks = synthetic_blocks()
    x = activations()
    program = program_of(blocks, x)
    rng = random.Random(SEED)
    ys = []
    for g in program.gemms:
        y, _, _ = driver.run_plan(unit("lut").plan(LUT_SMALL, g.setting, g.w, g.x), stall=0.3, rng=rng)
        assert np.array_equal(y, g.golden()), g.label
        ys.append(y)
    out = program.combine(ys)
    assert np.array_equal(out, program.golden_output())
    assert np.array_equal(out, llama_reference(*blocks, x))
