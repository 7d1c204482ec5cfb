"""SmolLM2's NumPy forward pass against llama.cpp, on its own perplexity, and through the compression hooks.

Measured (256 tokens): perplexity 27.05 (llama.cpp on the same Q4_1 file: 28.31); against llama.cpp, top-1 next
token agreement 0.91 and logit correlation 0.9988, because llama.cpp quantises the activations of its Q4_1 matmuls
to 8 bit and keeps its KV cache in float16; a wrong RoPE layout (half-split instead of adjacent pairs) drops them to
0.33 and 0.32. With the tensors rewritten as an F32 GGUF and a float32 KV cache, llama.cpp agrees to 6e-5 on the
first 4 blocks and 64 tokens (2e-4 on the whole model and 256 tokens); the half-split RoPE is off by 16 there.
"""
import numpy as np
import pytest

from sparseloom.models import ModelsMissing

try:
    from sparseloom.models.smollm2 import GGUF_PATH, LINEAR_KINDS, SmolLM2
    import gguf  # importable once smollm2 is
except ModelsMissing as e:
    pytest.skip(f"{e}", allow_module_level=True)


@pytest.fixture(scope="module")
def reader():
    return gguf.GGUFReader(GGUF_PATH)


@pytest.fixture(scope="module")
def model(reader):
    return SmolLM2.from_reader(reader)


def _llama_cpp():
    return pytest.importorskip("llama_cpp", reason="llama-cpp-python (the reference runtime) is not installed")


def _llama(path, **kwargs):
    return _llama_cpp().Llama(model_path=str(path), logits_all=True, n_ctx=512, verbose=False, n_threads=2, **kwargs)


def _llama_logits(llm, tokens) -> np.ndarray:
    llm.reset()
    llm.eval(tokens.tolist())
    return np.array(llm.scores[:len(tokens)], dtype=np.float32)


def _write_f32_gguf(reader, model, path):
    """The model's dequantised tensors as an F32 GGUF with the reader's metadata (block_count from the model)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type", "llama.block_count"):
            continue
        array = field.types[0] == gguf.GGUFValueType.ARRAY
        writer.add_key_value(key, field.contents(), field.types[0], field.types[-1] if array else None)
    writer.add_block_count(model.config.n_layers)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    blocks = tuple(f"blk.{i}." for i in range(model.config.n_layers))
    for name, tensor in model.tensors.items():
        if not name.startswith("blk.") or name.startswith(blocks):
            writer.add_tensor(name, np.array(tensor))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_matches_llama_cpp_on_the_q4_1_file(model):
    llm = _llama(GGUF_PATH)
    assert llm.tokenize(model.text.encode(), add_bos=True, special=False) == model.encode(model.text).tolist()
    ours, theirs = model.reference(), _llama_logits(llm, model.tokens)
    llm.close()
    agreement = np.mean(ours.argmax(axis=-1) == theirs.argmax(axis=-1))
    correlation = np.corrcoef(ours.ravel(), theirs.ravel())[0, 1]
    assert agreement >= 0.85 and correlation >= 0.99, (agreement, correlation)
    assert abs(model.perplexity(theirs) / model.perplexity(ours) - 1) < 0.1


def test_matches_llama_cpp_exactly_in_float32(reader, model, tmp_path):
    """The first 4 blocks, rewritten as F32 so that llama.cpp quantises nothing: same logits up to rounding."""
    llama_cpp = _llama_cpp()
    short = SmolLM2(model.config._replace(n_layers=4), model.tensors, model.tokenizer, n_tokens=64)
    path = tmp_path / "smollm2-4-blocks-f32.gguf"
    _write_f32_gguf(reader, short, path)
    llm = _llama(path, type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    theirs = _llama_logits(llm, short.tokens)
    llm.close()
    path.unlink()
    np.testing.assert_allclose(short.outputs(), theirs, atol=1e-3, rtol=0)


def test_perplexity_of_real_text_is_low(model):
    ppl = model.perplexity(model.reference())
    shuffled = np.random.default_rng(0).permutation(model.tokens[:128])
    assert ppl < 35
    assert model.perplexity(model.forward(shuffled), shuffled) > 20 * ppl


def test_linear_weights(model):
    c = model.config
    weights = model.linear_weights()
    shapes = {"attn_q": (c.d_model, c.d_model), "attn_k": (c.n_kv_heads * c.head_dim, c.d_model),
              "attn_v": (c.n_kv_heads * c.head_dim, c.d_model), "attn_output": (c.d_model, c.d_model),
              "ffn_gate": (c.d_ffn, c.d_model), "ffn_up": (c.d_ffn, c.d_model), "ffn_down": (c.d_model, c.d_ffn)}
    assert len(weights) == len(LINEAR_KINDS) * c.n_layers == 210
    assert all(w.dtype == np.float32 and w.shape == shapes[name.split(".")[2]] for name, w in weights.items())
    assert np.array_equal(model.outputs(weights=weights), model.reference())


def test_replaced_weight_and_hook(model):
    tokens = model.tokens[:32]
    base = model.forward(tokens)
    zeroed = {"blk.3.ffn_down.weight": np.zeros_like(model.linear_weights()["blk.3.ffn_down.weight"])}
    assert not np.allclose(model.forward(tokens, weights=zeroed), base)
    seen = {}

    def identity_hook(name, x):
        seen[name] = x.shape
        return x
    identity = model.forward(tokens, act=identity_hook)
    assert np.array_equal(identity, base)
    assert seen == {name: (len(tokens), w.shape[1]) for name, w in model.linear_weights().items()}
    with pytest.raises(KeyError, match="token_embd"):
        model.forward(tokens, weights={"token_embd.weight": model.tensors["token_embd.weight"]})
    with pytest.raises(ValueError, match="shape"):
        model.forward(tokens, weights={"blk.0.attn_q.weight": np.zeros((2, 2), np.float32)})


def test_blocks_one_at_a_time_give_the_whole_pass(model):
    """block() chained from the embedding, with a replaced weight in block 3, then resumed: forward()'s logits."""
    tokens = model.tokens[:24]
    changed = {"blk.3.attn_v.weight": model.linear_weights()["blk.3.attn_v.weight"] * np.float32(0.5)}
    x = model.tensors["token_embd.weight"][tokens]
    for i in range(5):
        x = model.block(i, x, changed)
    assert np.array_equal(model.forward(tokens, changed, resume=(5, x)), model.forward(tokens, changed))
    assert not np.array_equal(x, model.block_inputs(tokens)[5])


def test_quality_of_the_reference(model):
    assert model.reference().dtype == np.float32 and model.reference().shape == (256, 49152)
    quality = model.quality(model.reference())
    assert quality["perplexity_increase_pct"] == 0 and quality["top1_agreement"] == 1
    assert quality["perplexity"] == quality["perplexity_reference"]
    assert quality["headline"] == "perplexity_increase_pct"
