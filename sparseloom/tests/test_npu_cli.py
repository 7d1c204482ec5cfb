"""``sparseloom sim npu``: a program file and input codes in, every bad one refused before any
work (exit status 2, one line naming the flag, nothing written), and the file format round trip."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from sparseloom.gen.npu import PRESETS, program_file
from sparseloom.golden.npu import Fixed, Layer, Mlp, Program
from sparseloom.refusal import check_refused

SMALL = PRESETS["npu_small"]
W, A = SMALL.weight, SMALL.act


def mlp(rng, topology, acts, fmt=(W, A)) -> Mlp:
    return Mlp(tuple(Layer(rng.integers(-20, 20, (o, i)), rng.integers(-20, 20, o), act)
                     for (i, o), act in zip(zip(topology, topology[1:]), acts)), *fmt)


def program(rng, classifier=(6, 4, 3), approximator=(6, 4, 2), k=2) -> Program:
    return Program("routed", (mlp(rng, classifier, ["sigmoid", "linear"]),
                              *(mlp(rng, approximator, ["relu", "linear"]) for _ in range(k))))


class Case:
    """A folder with a good program and inputs, and the argv of ``sparseloom sim npu`` on them."""

    def __init__(self, prog=None, x=None):
        self._dir = tempfile.TemporaryDirectory(prefix="npu-cli-")
        self.dir = Path(self._dir.name)
        rng = np.random.default_rng(7)
        prog = prog or program(rng)
        (self.dir / "p.npz").write_bytes(program_file.to_bytes(prog))
        np.save(self.dir / "x.npy", rng.integers(A.lo, A.hi + 1, (5, prog.inputs)) if x is None else x)
        self.flags = {"--program": self.dir / "p.npz", "--inputs": self.dir / "x.npy", "--out": self.dir / "y.npy",
                      "--report": self.dir / "r.json", "--config": "npu_small"}

    def argv(self, **changes) -> list:
        flags = {**self.flags, **{f"--{k}": v for k, v in changes.items()}}
        return ["sim", "npu", *(a for flag, v in flags.items() if v is not None for a in (flag, str(v)))]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._dir.cleanup()


def test_the_program_file_round_trips():
    prog = program(np.random.default_rng(1))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.npz"
        path.write_bytes(program_file.to_bytes(prog))
        back = program_file.load(str(path), "--program")
    x = np.random.default_rng(2).integers(A.lo, A.hi + 1, (40, prog.inputs))
    assert back.routing == prog.routing and len(back.banks) == len(prog.banks)
    for a, b in zip(back.banks, prog.banks):
        assert a.activations == b.activations and (a.weight, a.act) == (b.weight, b.act)
        for la, lb in zip(a.layers, b.layers):
            assert np.array_equal(la.weights, lb.weights) and np.array_equal(la.bias, lb.bias)
    assert all(np.array_equal(u, v) for u, v in zip(back.run(x), prog.run(x)))


def test_good_inputs_reach_the_simulator():
    with Case() as case, pytest.raises(AssertionError, match="sparseloom.sim.fast.build was started"):
        check_refused(case.argv(), case.dir)


def _write(path: Path, kind: str, good: Path):
    arrays = dict(np.load(good))
    if kind == "missing":
        path.unlink()
    elif kind == "folder":
        path.unlink()
        path.mkdir()
    elif kind == "zero_byte":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 3)
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "one_array":
        np.save(path.with_suffix(".npy"), np.zeros(3))
        path.with_suffix(".npy").rename(path)
    else:
        if kind == "no_routing":
            del arrays["routing"]
        elif kind == "bad_routing":
            arrays["routing"] = np.array("sideways")
        elif kind == "float_weights":
            arrays["bank1_layer0_weights"] = arrays["bank1_layer0_weights"].astype(np.float32)
        elif kind == "codes_out_of_range":
            arrays["bank1_layer0_weights"][0, 0] = W.hi + 1
        elif kind == "no_layers":
            arrays = {k: v for k, v in arrays.items() if not k.startswith("bank2_")}
        elif kind == "bad_activation":
            arrays["bank0_layer0_activation"] = np.array("tanh")
        elif kind == "chain":
            arrays["bank1_layer1_weights"] = arrays["bank1_layer1_weights"][:, :-1]
        elif kind == "format":
            arrays["act_format"] = np.array([9, 9])
        with open(path, "wb") as f:
            np.savez(f, **arrays)


PROGRAM_KINDS = {"missing": "no such file", "folder": "folder", "zero_byte": "not a .npz", "garbage": "not a .npz",
                 "truncated": "not a .npz", "one_array": "one array, not a .npz", "no_routing": "'routing'",
                 "bad_routing": "routing must be one of", "float_weights": "integer codes",
                 "codes_out_of_range": "must lie in", "no_layers": "bank 2 has no layers",
                 "bad_activation": "activation must be one of", "chain": "takes 3 inputs", "format": "frac must be"}


@pytest.mark.parametrize("kind, mention", PROGRAM_KINDS.items())
def test_bad_program_files_are_refused(kind, mention):
    with Case() as case:
        _write(case.flags["--program"], kind, case.flags["--program"])
        check_refused(case.argv(), case.dir, "--program", mention)


@pytest.mark.parametrize("make, mention", [
    (lambda rng: Program("routed", (mlp(rng, (6, 4, 4), ["sigmoid", "linear"]),
                                    *(mlp(rng, (6, 4, 2), ["relu", "linear"]) for _ in range(3)))), "banks=3"),
    (lambda rng: program(rng, (13, 4, 3), (13, 4, 2)), "max_width=12"),
    (lambda rng: Program("routed", (mlp(rng, (6, 4, 4, 4, 3), ["relu"] * 3 + ["linear"]),
                                    *(mlp(rng, (6, 4, 2), ["relu", "linear"]) for _ in range(2)))), "max_layers=3"),
    (lambda rng: program(rng, (12, 12, 3), (12, 12, 12)), "bank_words=64"),
    (lambda rng: Program("fused", (mlp(rng, (6, 4, 3), ["relu", "linear"], (Fixed(8, 3), A)),)), "weight Fixed(8, 4)"),
], ids=["banks", "width", "layers", "bank_words", "format"])
def test_programs_the_configuration_cannot_hold_are_refused(make, mention):
    with Case(make(np.random.default_rng(3))) as case:
        check_refused(case.argv(), case.dir, mention)


@pytest.mark.parametrize("x, mention", [
    (np.zeros((4, 5), np.int16), "inputs must be (N, 6)"),
    (np.full((4, 6), A.hi + 1), "must lie in"),
    (np.zeros((4, 6), np.float32), "integer codes"),
    (np.zeros((4, 6), np.bool_), "integer codes"),
])
def test_bad_inputs_are_refused(x, mention):
    with Case(x=x) as case:
        check_refused(case.argv(), case.dir, mention)


@pytest.mark.parametrize("entries, mention", [
    ([{"level": "Host"}], "the npu unit takes no mapping"),
    ([{"target": "Host", "temporal": {}}], "names its target and its type"),
])
def test_a_mapping_is_refused(entries, mention):
    with Case() as case:
        mapping = case.dir / "m.json"
        mapping.write_text(json.dumps({"mapping": entries}))
        check_refused(case.argv(mapping=mapping), case.dir, mention)
