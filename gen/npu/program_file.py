"""An NPU program as a file: ``sparseloom sim npu --program P.npz`` reads what ``save`` writes.

One .npz archive: ``routing`` ("routed" or "fused"), ``weight_format`` and ``act_format``
([bits, frac]), ``banks``, and per bank b and layer l ``bank{b}_layer{l}_weights`` (out x in
codes), ``..._bias`` (out codes) and ``..._activation`` (linear, relu or sigmoid).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from sparseloom.files import UsageError
from sparseloom.golden.npu import Fixed, Layer, Mlp, Program


def arrays(program: Program) -> dict[str, np.ndarray]:
    """The archive's arrays of ``program``."""
    first = program.banks[0]
    out = {"routing": np.array(program.routing), "banks": np.array(len(program.banks)),
           "weight_format": np.array([first.weight.bits, first.weight.frac]),
           "act_format": np.array([first.act.bits, first.act.frac])}
    for b, mlp in enumerate(program.banks):
        for l, layer in enumerate(mlp.layers):
            key = f"bank{b}_layer{l}"
            out.update({f"{key}_weights": np.asarray(layer.weights, np.int64),
                        f"{key}_bias": np.asarray(layer.bias, np.int64), f"{key}_activation": np.array(layer.activation)})
    return out


def to_bytes(program: Program) -> bytes:
    """The .npz file of ``program`` (what ``sparseloom.files.Outputs`` writes)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays(program))
    return buffer.getvalue()


def load(path: str, flag: str) -> Program:
    """The program in the .npz file ``path`` given as ``flag``; every failure names the flag."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag}: {path!r} is a folder, not a .npz program")
    if not p.is_file():
        raise UsageError(f"{flag}: no such file {path!r}")
    try:
        archive = np.load(p, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise UsageError(f"{flag}: {path!r} is one array, not a .npz program (see gen/npu/program_file.py)")
        with archive:
            d = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        reason = "an empty file" if p.stat().st_size == 0 else f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'unreadable'}"
        raise UsageError(f"{flag}: {path!r} is not a .npz program ({reason})") from None
    try:
        return from_arrays(d)
    except (KeyError, TypeError, ValueError) as e:
        raise UsageError(f"{flag}: {path!r}: {e}") from None


def _scalar(d: dict, key: str, kind: str):
    if key not in d:
        raise KeyError(f"the program has no {key!r} array")
    a = d[key]
    if a.shape != () or a.dtype.kind not in kind:
        raise ValueError(f"{key!r} must be a single {'text' if kind == 'U' else 'integer'}, got {a.dtype} {a.shape}")
    return a.item()


def _codes(d: dict, key: str, ndim: int) -> np.ndarray:
    if key not in d:
        raise KeyError(f"the program has no {key!r} array")
    a = d[key]
    if a.dtype.kind not in "iu" or a.ndim != ndim:
        raise ValueError(f"{key!r} must be a {ndim}-D array of integer codes, got {a.dtype} of shape {a.shape}")
    return a.astype(np.int64)


def from_arrays(d: dict) -> Program:
    formats = []
    for key in ("weight_format", "act_format"):
        f = _codes(d, key, 1)
        if f.shape != (2,):
            raise ValueError(f"{key!r} must be [bits, frac], got {f.tolist()}")
        formats.append(Fixed(int(f[0]), int(f[1])))
    banks = _scalar(d, "banks", "iu")
    if not 1 <= banks <= 64:
        raise ValueError(f"'banks' must be in 1..64, got {banks}")
    mlps = []
    for b in range(banks):
        layers = []
        while f"bank{b}_layer{len(layers)}_weights" in d:
            key = f"bank{b}_layer{len(layers)}"
            layers.append(Layer(_codes(d, f"{key}_weights", 2), _codes(d, f"{key}_bias", 1),
                                _scalar(d, f"{key}_activation", "U")))
        if not layers:
            raise KeyError(f"bank {b} has no layers (no 'bank{b}_layer0_weights' array)")
        mlps.append(Mlp(tuple(layers), *formats))
    return Program(_scalar(d, "routing", "U"), tuple(mlps))
