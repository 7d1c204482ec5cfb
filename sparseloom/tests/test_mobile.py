"""The NumPy CNNs (EfficientNet-lite0, MobileNet-v2) against PyTorch's own convolutions on the
raw (unfolded) checkpoints, their accuracy on the labelled offline images, and one real
convolution through the RTL. Needs the models extra (weights and images) and torch."""
import numpy as np
import pytest

from sparseloom import network_run as nr
from sparseloom.model.pool import pool
from sparseloom.models import ModelsMissing, images, mobile

torch = pytest.importorskip("torch")
F = torch.nn.functional
try:
    NETS = {name: load() for name, load in mobile.LOADERS.items()}
    PHOTOS = images.offline_images()
except ModelsMissing as e:
    pytest.skip(str(e), allow_module_level=True)


def raw_state(name):
    return mobile.efficientnet_lite0() if name == "efficientnet-lite0" else mobile.mobilenet_v2_state()


def torch_forward(name: str, x: np.ndarray) -> np.ndarray:
    """An independent forward pass: torch conv2d, batch norm from the raw state dict (not folded),
    padding spelled out per network, the block structure read from the state dict's names."""
    s = {k: torch.from_numpy(np.array(v)) for k, v in raw_state(name).items() if np.ndim(v)}
    eps = 1e-3 if name == "efficientnet-lite0" else 1e-5
    tf_same = name == "efficientnet-lite0"

    def conv_bn(h, w, bn, stride, act):
        k = s[w].shape[2]
        if tf_same:
            size = h.shape[2]
            total = max((-(-size // stride) - 1) * stride + k - size, 0)
            h = F.pad(h, (total // 2, total - total // 2, total // 2, total - total // 2))
        else:
            h = F.pad(h, (k // 2,) * 4)
        h = F.conv2d(h, s[w], stride=stride, groups=h.shape[1] if s[w].shape[1] == 1 else 1)
        h = F.batch_norm(h, s[f"{bn}.running_mean"], s[f"{bn}.running_var"], s[f"{bn}.weight"], s[f"{bn}.bias"],
                         eps=eps)
        return F.relu6(h) if act else h

    h = torch.from_numpy(x).permute(0, 3, 1, 2)
    if name == "efficientnet-lite0":
        h = conv_bn(h, "_conv_stem.weight", "_bn0", 2, True)
        names = sorted({int(k.split(".")[1]) for k in s if k.startswith("_blocks.")})
        blocks = [(f"_blocks.{i}._expand_conv.weight", f"_blocks.{i}._bn0", f"_blocks.{i}._depthwise_conv.weight",
                   f"_blocks.{i}._bn1", f"_blocks.{i}._project_conv.weight", f"_blocks.{i}._bn2") for i in names]
        head, fc = ("_conv_head.weight", "_bn1"), "_fc"
    else:
        h = conv_bn(h, "features.0.0.weight", "features.0.1", 2, True)
        last = max(int(k.split(".")[1]) for k in s if k.startswith("features."))
        blocks = []
        for i in range(1, last):
            p = f"features.{i}.conv"
            blocks.append((f"{p}.0.0.weight", f"{p}.0.1", f"{p}.1.0.weight", f"{p}.1.1", f"{p}.2.weight", f"{p}.3")
                          if f"{p}.3.weight" in s else
                          (None, None, f"{p}.0.0.weight", f"{p}.0.1", f"{p}.1.weight", f"{p}.2"))
        head, fc = (f"features.{last}.0.weight", f"features.{last}.1"), "classifier.1"
    strides = iter((1, 2, 2, 2, 1, 2, 1))
    for expand, bn0, dw, bn1, project, bn2 in blocks:
        out_channels = s[project].shape[0]
        stride = next(strides) if out_channels != h.shape[1] else 1
        y = conv_bn(h, expand, bn0, 1, True) if expand in s else h
        y = conv_bn(y, dw, bn1, stride, True)
        y = conv_bn(y, project, bn2, 1, False)
        h = y + h if stride == 1 and out_channels == h.shape[1] else y
    h = conv_bn(h, *head, 1, True).mean(dim=(2, 3))
    return (h @ s[f"{fc}.weight"].T + s[f"{fc}.bias"]).numpy()


@pytest.mark.parametrize("name", list(mobile.LOADERS))
def test_forward_matches_torch_on_real_images(name):
    net = NETS[name]
    x = net.images([PHOTOS[0], PHOTOS[-1]])
    ours, theirs = net.forward(x), torch_forward(name, x)
    assert np.abs(ours - theirs).max() < 1e-3 * np.abs(theirs).max()
    assert np.array_equal(ours.argmax(1), theirs.argmax(1))


@pytest.mark.parametrize("name, floor", [("efficientnet-lite0", 0.80), ("mobilenet-v2", 0.85)])
def test_top1_on_the_labelled_images(name, floor):
    """75% / 72% ImageNet top-1 nets: 20 images, so a floor that wrong preprocessing misses
    (torchvision's mean/std on EfficientNet-lite0 gives 70%, TF's on MobileNet-v2 60-75%)."""
    labelled = images.labelled_images()
    net = NETS[name]
    logits = net.forward(net.images(labelled))
    quality = mobile.classification_quality(logits, logits, [p.label for p in labelled])
    assert quality["top1_accuracy"] >= floor and quality["top1_agreement"] == 1.0 and quality["kl_mean"] < 1e-9


def test_classification_quality_counts():
    ref = np.array([[3.0, 1, 0, 0, 0, 0], [0, 3, 1, 0, 0, 0], [0, 0, 0, 0, 1, 3]])
    out = np.array([[3.0, 1, 0, 0, 0, 0], [0, 1, 3, 0, 0, 0], [3, 2, 1, 0, -1, -2]])
    q = mobile.classification_quality(out, ref, [0, 2, None])
    assert q["top1_agreement"] == pytest.approx(1 / 3)
    assert q["top5_agreement"] == pytest.approx(2 / 3)   # image 3's class 5 is the worst of out's six
    assert q["top1_accuracy"] == 1.0 and q["top1_accuracy_reference"] == 0.5 and q["labelled_images"] == 2
    assert q["kl_mean"] > 0


def test_gemm_macs_match_the_captured_gemms():
    net = NETS["mobilenet-v2"]
    x = net.images(PHOTOS[:1])
    seen = {}

    def matmul(layer, a):
        seen[layer] = a.shape[0] * net.linear_weights()[layer].size
        return a @ net.linear_weights()[layer].T
    net.forward(x, matmul=matmul)
    assert len(seen) == len(net.gemm_convs()) == 36 and sum(seen.values()) == net.gemm_macs() == 280_057_856


def test_one_real_convolution_end_to_end():
    """MobileNet-v2's last project convolution (960 -> 320 on 7 x 7 pixels) on highlight_small, HSS."""
    network = nr.load_network("mobilenet-v2", 1)
    method = nr.parse_method("hss:2:4,2:4", "mobilenet-v2", None)
    chosen = nr.method_configs(method, None, ["highlight_small"])
    programs, _ = nr.capture(network, method, chosen)
    layer = "features.17.conv.2"
    results = nr.simulate({layer: programs[layer]}, chosen, stall=0.2, seed=7, pool=pool(1))
    assert not nr.check({layer: programs[layer]}, results)
    (g,), (r,) = programs[layer].gemms, results[layer]["gemms"]
    assert g.w.shape == (320, 960) and g.x.shape == (960, 49) and r["cycles"] > r["model_cycles"]
