"""Hostile input: every class of bad input, for every subcommand and unit, is refused before any
work with one line naming what was wrong, exit status 2, and nothing written or changed.

Each test starts from inputs that are good for its unit (``good``) and breaks one thing; the
cases are generated (hypothesis) or enumerated per class. ``sparseloom.refusal.check_refused``
runs the command in this process with Verilator and synthesis disabled, so a case that is not
refused in time fails the test.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparseloom import files
from sparseloom.gen.unit import GEMM
from sparseloom.golden import hss
from sparseloom.refusal import check_refused, run, snapshot
from sparseloom.units import all_units

RTL = Path(__file__).resolve().parents[2] / "rtl"
#: The GEMM units (W and X matrices); the NPU's program files are refused in test_npu_cli.py.
UNITS = [name for name, u in all_units().items() if u.operands is GEMM]
examples = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Per unit: its setting's flag and value, a small preset, and good W and X.
_rng = np.random.default_rng(3)
GOOD = {
    "highlight": (["--pattern", "2:4,1:4"], "highlight_small",
                  hss.prune(_rng.integers(-128, 128, (3, 16), dtype=np.int8), hss.HSSPattern.parse("2:4,1:4"))),
    "dense": ([], "dense_small", _rng.integers(-128, 128, (3, 5), dtype=np.int8)),
    "lut": (["--wbits", "2"], "lut_small", _rng.integers(-2, 2, (3, 6), dtype=np.int8)),
    "mac": (["--wbits", "2"], "mac_small", _rng.integers(-2, 2, (3, 6), dtype=np.int8)),
    "sme": (["--max-bits-per-weight", "2"], "sme_small", _rng.integers(-128, 128, (3, 8), dtype=np.int8)),
}
assert set(GOOD) == set(UNITS), "every unit needs good inputs here"


class Case:
    """A folder with good inputs for ``unit`` and the argv of ``sparseloom sim`` on them."""

    def __init__(self, unit: str):
        self._dir = tempfile.TemporaryDirectory(prefix="hostile-")
        self.dir = Path(self._dir.name)
        setting, self.config, w = GOOD[unit]
        x = _rng.integers(-128, 128, (w.shape[1], 2), dtype=np.int8)
        np.save(self.dir / "w.npy", w)
        np.save(self.dir / "x.npy", x)
        self.flags = {"--weights": self.dir / "w.npy", "--inputs": self.dir / "x.npy", "--out": self.dir / "y.npy",
                      "--report": self.dir / "r.json", "--config": self.config}
        self.unit, self.setting = unit, setting

    def argv(self, setting=None, **changes) -> list:
        flags = {**self.flags, **{f"--{k.replace('_', '-')}": v for k, v in changes.items()}}
        return ["sim", self.unit, *(self.setting if setting is None else setting),
                *(a for flag, v in flags.items() if v is not None for a in (flag, str(v)))]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._dir.cleanup()


def test_good_inputs_reach_the_simulator():
    """The baseline of every case: unchanged, the good inputs pass every check (and would simulate)."""
    for unit in UNITS:
        with Case(unit) as case, pytest.raises(AssertionError, match="sparseloom.sim.fast.build was started"):
            check_refused(case.argv(), case.dir)


# ----- class 1: zero-size, empty and unreadable input files ------------------------------------
def bad_matrix_file(path: Path, kind: str, good: np.ndarray) -> None:
    if kind == "zero_rows":
        np.save(path, good[:0])
    elif kind == "zero_cols":
        np.save(path, good[:, :0])
    elif kind == "zero_byte":
        path.write_bytes(b"")
    elif kind == "truncated":
        np.save(path, good)
        path.write_bytes(path.read_bytes()[:max(1, path.stat().st_size // 2)])
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 3)
    elif kind == "npz":
        path.unlink()
        np.savez(path.with_suffix(""), a=good)
        path.with_suffix(".npz").rename(path)
    elif kind == "folder":
        path.unlink()
        path.mkdir()
    elif kind == "missing":
        path.unlink()
    elif kind == "one_d":
        np.save(path, good.ravel())
    elif kind == "three_d":
        np.save(path, good[None])
    elif kind == "scalar":
        np.save(path, np.int8(3))
    elif kind == "pickled":
        np.save(path, np.array([None, 1], dtype=object), allow_pickle=True)


FILE_KINDS = ["zero_rows", "zero_cols", "zero_byte", "truncated", "garbage", "npz", "folder", "missing", "one_d",
              "three_d", "scalar", "pickled"]


@pytest.mark.parametrize("kind", FILE_KINDS)
@pytest.mark.parametrize("flag", ["--weights", "--inputs"])
@pytest.mark.parametrize("unit", UNITS)
def test_empty_and_unreadable_inputs_are_refused(unit, flag, kind):
    with Case(unit) as case:
        path = case.flags[flag]
        bad_matrix_file(path, kind, np.load(path))
        check_refused(case.argv(), case.dir, flag)


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_prune_refuses_empty_and_unreadable_weights(kind):
    with Case("highlight") as case:
        bad_matrix_file(case.flags["--weights"], kind, np.load(case.flags["--weights"]))
        check_refused(["prune", "--pattern", "2:4,2:4", "--weights", case.flags["--weights"],
                       "--out", case.dir / "p.npy"], case.dir, "--weights")


# ----- class 2: configuration files that are not one of the unit -------------------------------
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=6)


def bad_config_text(kind: str, unit: str, data) -> bytes:
    description = json.loads((RTL / f"{GOOD[unit][1]}.json").read_text())
    params = description["parameters"]
    if kind == "not_an_object":
        return json.dumps(data.draw(json_values.filter(lambda v: not isinstance(v, dict)))).encode()
    if kind == "truncated":
        text = json.dumps(description)
        return text[:data.draw(st.integers(1, len(text) - 1))].encode()
    if kind == "binary":
        return bytes(data.draw(st.lists(st.integers(128, 255), min_size=1, max_size=20)))
    if kind == "empty":
        return b""
    if kind == "parameters_not_an_object":
        return json.dumps({"generator": unit, "parameters": data.draw(json_values.filter(
            lambda v: not isinstance(v, dict)))}).encode()
    if kind == "other_generator":
        other = data.draw(st.sampled_from([p for p in sorted(RTL.glob("*.json"))
                                           if json.loads(p.read_text())["generator"] != unit]))
        return other.read_bytes()
    if kind == "unknown_key":
        return json.dumps({**params, data.draw(st.text(min_size=1, max_size=6).filter(
            lambda k: k not in params)): 1}).encode()
    if kind == "missing_key":
        fields = dataclasses.fields(all_units()[unit].config_class)
        drop = data.draw(st.sampled_from([f.name for f in fields if f.default is dataclasses.MISSING]))
        return json.dumps({k: v for k, v in params.items() if k != drop}).encode()
    if kind == "wrong_type":
        key = data.draw(st.sampled_from(sorted(params)))
        value = data.draw(json_values.filter(lambda v: type(v) is not type(params[key]) and v is not None))
        return json.dumps({**params, key: value}).encode()
    if kind == "long_name":
        return json.dumps({**params, "name": "n" * data.draw(st.integers(65, 400))}).encode()
    if kind == "out_of_range":
        key = data.draw(st.sampled_from([k for k, v in params.items() if isinstance(v, int) and k != "name"]))
        return json.dumps({**params, key: data.draw(st.sampled_from([-1, 0, 10**6, 2**70]))}).encode()
    raise ValueError(kind)


CONFIG_KINDS = ["not_an_object", "truncated", "binary", "empty", "parameters_not_an_object", "other_generator",
                "unknown_key", "missing_key", "wrong_type", "long_name", "out_of_range"]


@pytest.mark.parametrize("kind", CONFIG_KINDS)
@pytest.mark.parametrize("unit", UNITS)
@examples
@given(data=st.data())
def test_configuration_files_that_are_not_of_the_unit_are_refused(unit, kind, data):
    with Case(unit) as case:
        path = case.dir / "config.json"
        path.write_bytes(bad_config_text(kind, unit, data))
        message = check_refused(case.argv(config=path), case.dir)
        if kind not in ("out_of_range",):  # a value out of range may also be a valid one by chance: checked below
            assert str(path) in message or "config" in message, message


@pytest.mark.parametrize("kind", CONFIG_KINDS)
@pytest.mark.parametrize("unit", UNITS)
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_fpga_refuses_the_same_configuration_files(unit, kind, data):
    with Case(unit) as case:
        path = case.dir / "config.json"
        path.write_bytes(bad_config_text(kind, unit, data))
        check_refused(["fpga", unit, "--config", path, "--target", "ice40-up5k", "--out", case.dir / "f"], case.dir)


def test_a_description_of_another_unit_names_both():
    with Case("lut") as case:
        check_refused(case.argv(config=RTL / "mac_small.json"), case.dir, "describes a 'mac' unit, not a 'lut' one")


# ----- class 3: a configuration that cannot run the data ---------------------------------------
def narrow(case: Case, **changes) -> Path:
    params = {**json.loads((RTL / f"{case.config}.json").read_text())["parameters"], **changes}
    path = case.dir / "narrow.json"
    path.write_text(json.dumps(params))
    return path


@pytest.mark.parametrize("unit, changes, mention", [
    ("highlight", {"data_width": 4, "acc_width": 16}, "does not fit data_width=4"),
    ("dense", {"data_width": 4, "acc_width": 16}, "does not fit data_width=4"),
    ("lut", {"act_width": 4, "table_width": 6, "acc_width": 16}, "does not fit act_width=4"),
    ("mac", {"act_width": 4, "acc_width": 16}, "does not fit act_width=4"),
    ("lut", {"max_wbits": 1, "acc_width": 16}, "wbits=2 is not provisioned"),
    ("highlight", {"g1_max": 1}, "g1 must be in 1..1"),
    ("sme", {"k_max": 4}, "K=8 exceeds k_max=4"),
])
def test_configurations_that_cannot_run_the_data_are_refused_before_simulating(unit, changes, mention):
    with Case(unit) as case:
        np.save(case.flags["--inputs"], np.full(np.load(case.flags["--inputs"]).shape, -100, np.int8))
        check_refused(case.argv(config=narrow(case, **changes)), case.dir, mention)


DTYPES = [np.int16, np.uint8, np.float32, np.float64, np.bool_, np.int64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("flag", ["--weights", "--inputs"])
@pytest.mark.parametrize("unit", UNITS)
def test_wrong_dtypes_are_refused(unit, flag, dtype):
    with Case(unit) as case:
        path = case.flags[flag]
        np.save(path, np.load(path).astype(dtype))
        check_refused(case.argv(), case.dir, "int8")


@pytest.mark.parametrize("unit", UNITS)
@examples
@given(k=st.integers(1, 40))
def test_shapes_that_do_not_chain_are_refused(unit, k):
    with Case(unit) as case:
        if k == np.load(case.flags["--weights"]).shape[1]:
            return
        np.save(case.flags["--inputs"], np.zeros((k, 2), np.int8))
        check_refused(case.argv(), case.dir, "do not chain")


@pytest.mark.parametrize("unit, weights, mention", [
    ("highlight", np.full((2, 16), 5, np.int8), "allows at most"),  # dense W under 2:4,1:4
    ("lut", np.full((2, 6), 3, np.int8), "is not a format '2' weight"),
    ("mac", np.full((2, 6), -3, np.int8), "is not a format '2' weight"),
])
def test_weights_the_setting_cannot_hold_are_refused(unit, weights, mention):
    with Case(unit) as case:
        np.save(case.flags["--weights"], weights)
        check_refused(case.argv(), case.dir, mention)


# ----- class 4: output locations ------------------------------------------------------------------
def output_location(case: Case, kind: str) -> Path:
    if kind == "existing_folder":
        (case.dir / "taken").mkdir()
        return case.dir / "taken"
    if kind == "under_a_file":
        (case.dir / "plain").write_text("a file")
        return case.dir / "plain" / "y.npy"
    if kind == "unwritable":
        return Path("/proc/sparseloom-hostile/y.npy")
    if kind == "long_name":
        return case.dir / ("y" * 300 + ".npy")
    if kind == "input_file":
        return case.flags["--weights"]
    raise ValueError(kind)


OUTPUT_KINDS = ["existing_folder", "under_a_file", "unwritable", "long_name"]


@pytest.mark.parametrize("kind", OUTPUT_KINDS)
@pytest.mark.parametrize("flag", ["--out", "--report"])
@pytest.mark.parametrize("unit", UNITS)
def test_sim_output_locations_are_checked_before_simulating(unit, flag, kind):
    with Case(unit) as case:
        np.save(case.dir / "y.npy", np.arange(3))  # an earlier result that must survive
        check_refused(case.argv(**{flag[2:]: output_location(case, kind)}), case.dir, flag)


@pytest.mark.parametrize("unit", UNITS)
def test_two_outputs_naming_one_file_are_refused(unit):
    with Case(unit) as case:
        check_refused(case.argv(report=case.dir / "y.npy"), case.dir, "--report and --out name the same file")


@pytest.mark.parametrize("kind", OUTPUT_KINDS)
def test_prune_output_location(kind):
    with Case("highlight") as case:
        check_refused(["prune", "--pattern", "2:4,1:4", "--weights", case.flags["--weights"],
                       "--out", output_location(case, kind)], case.dir, "--out")


@pytest.mark.parametrize("kind", ["a_file", "under_a_file", "unwritable", "long_name"])
def test_verilog_and_fpga_output_folders(kind):
    with Case("lut") as case:
        if kind == "a_file":
            out = case.dir / "plain"
            out.write_text("a file")
        else:
            out = output_location(case, kind).parent if kind != "long_name" else output_location(case, kind)
        check_refused(["verilog", "lut_small", "--out", out], case.dir, "--out")
        check_refused(["fpga", "lut", "--config", "lut_small", "--target", "ice40-up5k", "--out", out], case.dir,
                      "--out")


# ----- class 5: argument errors: one line, not usage --------------------------------------------
ARGUMENT_ERRORS = [
    (["sim", "lut", "--wbits", "5"], "invalid choice: '5'"),
    (["sim", "sme", "--max-bits-per-weight", "9"], "invalid choice: '9'"),
    (["--seed", "1.5"], "invalid int value: '1.5'"),
    (["--seed", "abc"], "invalid int value"),
    (["--seed", "-1"], "--seed must be in 0.."),
    (["--seed", str(2**40)], "--seed must be in 0.."),
    (["--stall", "abc"], "invalid float value"),
    (["--stall", "nan"], "--stall must be in [0, 1)"),
    (["--stall", "1.0"], "--stall must be in [0, 1)"),
    (["--stall", "-0.1"], "--stall must be in [0, 1)"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("extra, mention", ARGUMENT_ERRORS)
def test_argument_errors_are_one_line(unit, extra, mention):
    with Case(unit) as case:
        argv = case.argv()
        if extra[0] == "sim":
            if extra[1] != unit:
                return
            argv = argv[:2] + extra[2:] + [a for a in argv[2 + len(extra[2:]):]]
        else:
            argv += extra
        check_refused(argv, case.dir, mention)


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("repeat, mention", [
    ("0", "--repeat must be in 1..1000, got 0"), ("1001", "--repeat must be in 1..1000, got 1001"),
    ("-3", "--repeat must be in 1..1000, got -3"), ("two", "invalid int value: 'two'")])
def test_sim_repeat_out_of_range_or_on_a_core_that_runs_one_gemm_at_a_time(unit, repeat, mention):
    """``--repeat`` exists on the overlapped cores only (elsewhere it is an unknown argument), in 1..1000."""
    from sparseloom.units import unit as unit_named

    overlapped = getattr(unit_named(unit).component, "overlapped", False)
    with Case(unit) as case:
        check_refused(case.argv(repeat=repeat), case.dir,
                      mention if overlapped else "unrecognized arguments: --repeat")


@pytest.mark.parametrize("unit", ["highlight", "dense"])
def test_sim_repeat_refuses_a_mapping(unit):
    """Back to back runs the planner's own tiling: a --mapping beside --repeat is refused."""
    from sparseloom.gen.unit import GemmShape
    from sparseloom.units import unit as unit_named

    u = unit_named(unit)
    with Case(unit) as case:
        config = u.presets[case.config]
        w = np.load(case.flags["--weights"])
        shape = GemmShape(w.shape[0], 2, w.shape[1])
        mapping = u.model(config, shape, hss.HSSPattern.parse("2:4,1:4") if unit == "highlight" else None)[1]
        (case.dir / "m.json").write_text(json.dumps(mapping.to_dict()))
        check_refused(case.argv(repeat=2, mapping=case.dir / "m.json"), case.dir,
                      "--repeat runs the planner's own mapping; leave out --mapping")


@pytest.mark.parametrize("argv, mention", [
    (["fpga", "lut", "--config", "lut_small"], "the following arguments are required: --target"),
    (["fpga", "lut", "--target", "xc7"], "--target must be one of"),
    (["fpga", "nope", "--target", "ice40-up5k"], "invalid choice: 'nope'"),
    (["sim"], "the following arguments are required: unit"),
    (["sim", "lut", "--weights", "w.npy"], "the following arguments are required"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["verilog", "nope_small"], "unknown configuration ['nope_small']"),
    (["prune", "--pattern", "2-4", "--weights", "w.npy", "--out", "p.npy"], "malformed HSS pattern"),
    ([], "the following arguments are required: command"),
])
def test_command_line_errors_are_one_line(argv, mention, tmp_path):
    check_refused(argv, tmp_path, mention)


@pytest.mark.parametrize("unit", UNITS)
@examples
@given(extra=st.lists(st.text(alphabet="-abcdefgxyz0123456789.:,", min_size=1, max_size=8), min_size=1, max_size=4))
def test_random_extra_arguments_never_give_a_traceback(unit, extra):
    with Case(unit) as case:
        argv = case.argv() + extra
        before = snapshot(case.dir)
        try:
            from sparseloom.refusal import no_tools
            with no_tools():
                status, _, err = run(argv)
        except AssertionError:  # good inputs with harmless extras reached the simulator: allowed
            return
        assert status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (argv, err)
        assert snapshot(case.dir) == before


# ----- class 6: writing fails or is interrupted: all outputs or none, nothing left behind ----------
def fail_writes_after(monkeypatch, n: int, error: BaseException) -> None:
    """The (n+1)-th file the command writes fails half-way."""
    real = os.fdopen
    count = {"files": 0}

    class Failing:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            raise error

    def fdopen(fd, *args, **kwargs):
        f = real(fd, *args, **kwargs)
        count["files"] += 1
        return Failing(f) if count["files"] > n else f

    monkeypatch.setattr(files.os, "fdopen", fdopen)


@pytest.mark.parametrize("error, status", [(OSError(errno.ENOSPC, "No space left on device"), 2),
                                           (OSError(errno.EROFS, "Read-only file system"), 2),
                                           (KeyboardInterrupt(), 130)])
@pytest.mark.parametrize("after", [0, 1, 3])
def test_verilog_writes_every_file_or_none(monkeypatch, tmp_path, error, status, after):
    (tmp_path / "lut_small.v").write_text("an earlier file\n")
    before = snapshot(tmp_path)
    fail_writes_after(monkeypatch, after, error)
    code, _, err = run(["verilog", "lut_small", "mac_small", "--out", tmp_path])
    assert code == status and len(err.splitlines()) == 1, err
    assert snapshot(tmp_path) == before  # the earlier file intact, no .tmp, nothing new


@pytest.mark.parametrize("error, status", [(OSError(errno.ENOSPC, "No space left on device"), 2),
                                           (KeyboardInterrupt(), 130)])
def test_prune_into_new_folders_leaves_no_folder_behind(monkeypatch, tmp_path, error, status):
    with Case("highlight") as case:
        fail_writes_after(monkeypatch, 0, error)
        code, _, err = run(["prune", "--pattern", "2:4,1:4", "--weights", case.flags["--weights"],
                            "--out", tmp_path / "new" / "deeper" / "p.npy"])
    assert code == status and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_all_written_together(tmp_path):
    outputs = files.Outputs()
    a, b = outputs.add(tmp_path / "a.txt", "--a"), outputs.add(tmp_path / "sub" / "b.npy", "--b")
    outputs.write({a: "text", b: np.arange(3)})
    assert a.read_text() == "text" and np.array_equal(np.load(b), np.arange(3))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.npy", "sub"]


# ----- end to end: the real process -------------------------------------------------------------
def test_the_real_command_prints_one_line_and_exits_2(tmp_path):
    (tmp_path / "w.npy").write_bytes(b"")
    np.save(tmp_path / "x.npy", np.zeros((4, 2), np.int8))
    run_ = subprocess.run([sys.executable, "-m", "sparseloom", "sim", "lut", "--wbits", "2", "--weights",
                           str(tmp_path / "w.npy"), "--inputs", str(tmp_path / "x.npy"), "--out",
                           str(tmp_path / "y.npy"), "--report", str(tmp_path / "r.json")],
                          capture_output=True, text=True)
    assert run_.returncode == 2 and run_.stderr.count("\n") == 1, run_.stderr
    assert "--weights" in run_.stderr and "empty file" in run_.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npy", "x.npy"]


# ----- the model subcommand ---------------------------------------------------------------------
def model_argv(d: Path, *extra, config="highlight_small", gemm="8,32,4", setting=("--pattern", "2:4,1:4")):
    return ["model", "--config", config, f"--gemm={gemm}", *setting, "--report", d / "m.json", *extra]


def test_model_writes_its_report(tmp_path):
    status, out, err = run(model_argv(tmp_path))
    assert status == 0, err
    report = json.loads((tmp_path / "m.json").read_text())
    assert {"cycles", "energy_pj", "edp", "utilization", "levels", "mapping"} <= set(report)
    assert report["cycles"] == all_units()["highlight"].cycles(
        all_units()["highlight"].presets["highlight_small"], (8, 4, 32), hss.HSSPattern.parse("2:4,1:4"))
    assert "| Host | Weights |" in out


@pytest.mark.parametrize("gemm", ["8,32", "8,32,4,1", "8,x,4", "0,32,4", "-8,32,4", "8.5,32,4", ""])
def test_model_refuses_a_malformed_gemm(gemm, tmp_path):
    check_refused(model_argv(tmp_path, gemm=gemm), tmp_path, "--gemm must be M,K,N")


@pytest.mark.parametrize("argv_changes, mention", [
    ({"config": "nope"}, "config must be a preset"),
    ({"config": "lut_small", "setting": ("--wbits", "7")}, "--wbits must be one of"),
    ({"setting": ("--wbits", "2")}, "--wbits is not a setting of the highlight unit; it takes --pattern"),
    ({"setting": ()}, "the highlight unit needs --pattern"),
    ({"setting": ("--pattern", "4:4,4:4")}, "g0 must be in 1..2"),
    ({"setting": ("--pattern", "2-4")}, "malformed HSS pattern"),
    ({"config": "dense_small", "setting": ("--pattern", "2:4,2:4")}, "--pattern is not a setting of the dense unit"),
])
def test_model_refuses_bad_arguments(argv_changes, mention, tmp_path):
    check_refused(model_argv(tmp_path, **argv_changes), tmp_path, mention)


def _mapping_text(changes: dict) -> str:
    base = [{"level": "Host", "temporal": {"N": 2, "K": 1}, "permutation": "KN"},
            {"level": "Buffer", "temporal": {"M": 4}, "permutation": "M", "spatial": {"M": 2, "N": 2}},
            {"level": "Accumulators", "temporal": {"K": 16}, "permutation": "K", "spatial": {"K": 2}}]
    for i, entry in changes.items():
        base[i] = entry if entry is None or "level" in entry else {**base[i], **entry}
    return json.dumps({"mapping": [e for e in base if e is not None]})


@pytest.mark.parametrize("text, mention", [
    ("[unclosed", "--mapping"),
    ("3", "must be a list of levels"),
    (_mapping_text({0: {"level": "L2", "temporal": {"N": 2}}}), "unknown level 'L2'"),
    (_mapping_text({0: {"temporal": {"N": 2, "Z": 1}}}), "unknown dimension 'Z'"),
    (_mapping_text({0: {"temporal": {"N": 3, "K": 1}}}), "its tiles cover N=6, the GEMM has N=4"),
    (_mapping_text({1: {"spatial": {"M": 4, "N": 2}}}), "spatial {'M': 2, 'N': 2}; got temporal"),
    (_mapping_text({2: {"temporal": {"K": 2}}, 0: {"temporal": {"N": 2, "K": 8}}}),
     "a K tile of 2 steps of 2 lanes must be 1..4 whole groups"),
    (_mapping_text({1: {"temporal": {"M": 4, "K": 2}}, 2: {"temporal": {"K": 8}}}), "runs Buffer as temporal"),
    (_mapping_text({0: {"temporal": {"N": 2, "K": 1}, "spatial": "wide"}}), "must map dimensions to factors"),
    (_mapping_text({0: {"temporal": {"N": 2.5, "K": 1}}}), "must be an integer >= 1"),
    (_mapping_text({0: {"bogus": 1}}), "may give"),
])
def test_model_refuses_bad_mappings(text, mention, tmp_path):
    (tmp_path / "map.json").write_text(text)
    check_refused(model_argv(tmp_path, "--mapping", tmp_path / "map.json"), tmp_path, mention)


def test_model_refuses_a_mapping_for_sme(tmp_path):
    """The SME planner cuts the crossbars into programmings itself: no mapping can be given."""
    (tmp_path / "map.json").write_text(_mapping_text({}))
    check_refused(model_argv(tmp_path, "--mapping", tmp_path / "map.json", config="sme_small",
                             setting=("--max-bits-per-weight", "2")), tmp_path, "the sme unit takes no mapping")


def network_argv(d: Path, *extra, config="highlight_small", network="minilm"):
    return ["model", "--config", config, "--network", network, "--report", d / "n.json", *extra]


@pytest.mark.parametrize("argv, mention", [
    (lambda d: network_argv(d, "--gemm", "8,32,4"), "one of --gemm M,K,N or --network"),
    (lambda d: ["model", "--config", "dense_small", "--report", d / "n.json"], "one of --gemm M,K,N or --network"),
    (lambda d: model_argv(d, "--method", "dense"), "--method and --tokens apply to --network"),
    (lambda d: model_argv(d, "--tokens", "8"), "--method and --tokens apply to --network"),
    (lambda d: network_argv(d, network="resnet"), "invalid choice: 'resnet' (choose from 'efficientnet_lite0', 'minilm', 'smollm2')"),
    (lambda d: network_argv(d, "--method", "hss:2:4,2:4", "--tokens", "0"), "tokens must be an integer >= 1"),
    (lambda d: network_argv(d, "--method", "magnitude", config="dense_small"), "unknown compression 'magnitude'"),
    (lambda d: network_argv(d), "needs --pattern or --method hss:G1:H1,G0:H0"),
    (lambda d: network_argv(d, "--method", "hss:4:4,4:4"), "g0 must be in 1..2"),
    (lambda d: network_argv(d, "--method", "hss:2:4,1:4", "--mapping", d / "m.json"), "--mapping applies to --gemm"),
])
def test_model_refuses_bad_network_arguments(argv, mention, tmp_path):
    check_refused(argv(tmp_path), tmp_path, mention)


def test_model_runs_a_network_layer_by_layer(tmp_path):
    """Each mapped layer's numbers are the unit's own on that GEMM; the totals add the runs."""
    status, out, err = run(network_argv(tmp_path, "--method", "hss:2:4,1:4", "--tokens", "4"))
    assert status == 0, err
    report = json.loads((tmp_path / "n.json").read_text())
    u = all_units()["highlight"]
    config, pattern = u.presets["highlight_small"], hss.HSSPattern.parse("2:4,1:4")
    mapped = [r for r in report["layers"] if r["mapped"] == "yes"]
    assert {r["name"].split(".")[-1] for r in report["layers"] if r["mapped"] != "yes"} == {"scores", "context"}
    for r in mapped:
        g = r["gemm"]
        assert g["n"] == 4 and r["cycles"] == u.cycles(config, (g["m"], g["n"], g["k"]), pattern)
        # the pattern's density, less where the real weights have zeros of their own
        assert 0.9 * pattern.density <= r["weight_density"] <= pattern.density
    assert report["cycles"] == sum(r["count"] * r["cycles"] for r in mapped)
    assert report["edp"] == pytest.approx(report["cycles"] * report["energy_pj"])
    assert "not mapped: activation x activation" in out


TIMELOOP_CASE = Path(__file__).parents[2] / "model" / "tests" / "timeloop" / "04-kp"


def test_model_runs_timeloop_files():
    """Timeloop's own architecture, energy table, problem and mapping give its cycles and energy."""
    from sparseloom.model import timeloop_stats

    with tempfile.TemporaryDirectory() as tmp:
        d, out = TIMELOOP_CASE, Path(tmp) / "r.json"
        status, _, err = run(["model", "--arch", d / "arch.yaml", "--ert", d / "ert.yaml", "--problem", d / "prob.yaml",
                              "--mapping", d / "map.yaml", "--report", out])
        assert status == 0, err
        report = json.loads(out.read_text())
    want = timeloop_stats.parse((d / "stats.txt").read_text())
    assert report["cycles"] == want["cycles"]
    assert report["energy_pj"] * 1000 / report["computes"] == pytest.approx(want["fj_per_compute"], rel=1e-3)


def test_model_reads_back_its_own_descriptions(tmp_path):
    """An architecture, workload and mapping written with to_dict (YAML and JSON) evaluate as the objects do."""
    import yaml

    from sparseloom.model.analysis import analyse
    from sparseloom.model.templates import Systolic

    t = Systolic("os16", 16, 16, "output_stationary", buffer_words=4096)
    arch, workload, mapping = t.architecture(), t.workload(100, 50, 300), t.mapping(100, 50, 300)
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(arch.to_dict()))
    (tmp_path / "p.json").write_text(json.dumps(workload.to_dict()))
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping.to_dict()))
    status, _, err = run(["model", "--arch", tmp_path / "a.yaml", "--problem", tmp_path / "p.json",
                          "--mapping", tmp_path / "m.yaml", "--report", tmp_path / "r.json"])
    assert status == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    want = analyse(workload, arch, mapping)
    assert (report["cycles"], report["energy_pj"], report["area_um2"]) == (want.cycles, want.energy_pj, want.area_um2)


def described_argv(d: Path, *extra, arch="a.yaml", problem="p.yaml", mapping="m.yaml"):
    (d / "a.yaml").write_text("architecture:\n  name: x\n  levels: [{name: DRAM}]\n  compute: {name: MAC, instances: 1}\n")
    (d / "p.yaml").write_text("workload:\n  dims: {M: 2}\n  tensors: [{name: Y, ranks: [[[1, M]]], output: true}]\n")
    (d / "m.yaml").write_text("mapping: [{level: DRAM, temporal: {M: 2}}]\n")
    argv = ["model", "--report", d / "r.json", *extra]
    for flag, name in (("--arch", arch), ("--problem", problem), ("--mapping", mapping)):
        if name:
            argv += [flag, d / name]
    return argv


@pytest.mark.parametrize("change, mention", [
    ({"extra": ("--config", "dense_small")}, "describe the design themselves; drop --config"),
    ({"mapping": None}, "also needs --mapping"),
    ({"arch": "missing.yaml"}, "--arch: no such file"),
    ({"write": ("a.yaml", "architecture:\n  levels: [{name: DRAM, size: 4}]\n  compute: {name: MAC, instances: 1}\n")},
     "level 0: unknown keys ['size']; allowed: name, instances, capacity"),
    ({"write": ("a.yaml", "architecture: {levels: [{name: DRAM}]}\n")}, "must be {architecture:"),
    ({"write": ("p.yaml", "workload: {dims: {M: 2}, tensors: [{name: Y}]}\n")}, "tensor 0 must give name and ranks"),
    ({"write": ("p.yaml", "workload: {dims: {M: 2}, tensors: [{name: Y, ranks: [[[1, Q]]], output: true}]}\n")},
     "names dimension 'Q'; allowed: M"),
    ({"write": ("p.yaml", "[unclosed\n")}, "--problem"),
    ({"write": ("m.yaml", "mapping: [{level: DRAM, temporal: {M: 3}}]\n")}, "multiply to 3, but M = 2"),
])
def test_model_refuses_bad_descriptions(change, mention, tmp_path):
    argv = described_argv(tmp_path, *change.get("extra", ()), **{k: v for k, v in change.items() if k in
                                                                 ("arch", "problem", "mapping")})
    if "write" in change:
        name, text = change["write"]
        (tmp_path / name).write_text(text)
    check_refused(argv, tmp_path, mention)


def test_model_energy_table_replaces_the_defaults(tmp_path):
    """Twice the DRAM energy a bit doubles the host's energy and nothing else."""
    (tmp_path / "e.yaml").write_text("dram_64bit_pj: 2600\n")
    reports = []
    for extra in ((), ("--energy", tmp_path / "e.yaml")):
        status, _, err = run(model_argv(tmp_path, *extra))
        assert status == 0, err
        reports.append(json.loads((tmp_path / "m.json").read_text()))
    default, doubled = ({lv["name"]: lv["energy_pj"] for lv in r["levels"]} for r in reports)
    assert doubled["Host"] == pytest.approx(2 * default["Host"]) and default["Host"] > 0
    assert {k: v for k, v in doubled.items() if k != "Host"} == {k: v for k, v in default.items() if k != "Host"}


@pytest.mark.parametrize("text, mention", [
    ("volts: 1\n", "unknown keys ['volts']"),
    ("add_pj: {8: fast}\n", "add_pj must map at least two sizes"),
    ("add_pj: {8: 0.03, 32: fast}\n", "add_pj[32] must be a number >= 0"),
    ("dram_64bit_pj: -1\n", "dram_64bit_pj must be a number >= 0"),
    ("[1, 2]\n", "must be a mapping of"),
    ("{unclosed\n", "--energy"),
])
def test_model_refuses_bad_energy_tables(text, mention, tmp_path):
    (tmp_path / "e.yaml").write_text(text)
    check_refused(model_argv(tmp_path, "--energy", tmp_path / "e.yaml"), tmp_path, mention)


def test_model_refuses_an_ert_without_a_timeloop_architecture(tmp_path):
    check_refused(model_argv(tmp_path, "--ert", tmp_path / "e.yaml"), tmp_path, "--ert applies to a Timeloop --arch")


@pytest.mark.parametrize("unit, text, mention", [
    ("highlight", "[unclosed", "--mapping"),
    ("highlight", json.dumps({"mapping": [{"level": "L2", "temporal": {"N": 2}}]}), "unknown level 'L2'"),
    ("dense", json.dumps({"mapping": [{"level": "Host", "temporal": {"N": 9}}]}), "mapping:"),
    ("sme", json.dumps({"mapping": []}), "the sme unit takes no mapping"),
])
def test_sim_refuses_bad_mappings(unit, text, mention):
    """A mapping the unit cannot run is refused before any build or simulation."""
    with Case(unit) as case:
        (case.dir / "map.json").write_text(text)
        check_refused(case.argv(mapping=case.dir / "map.json"), case.dir, mention)


# ----- the search subcommand --------------------------------------------------------------------
def search_argv(d: Path, *extra, config=("--config", "highlight_small", "--gemm", "8,32,4", "--pattern", "2:4,1:4")):
    return ["search", *config, "--out", d / "out", *extra]


@pytest.mark.parametrize("extra, mention", [
    (("--mapper", "anneal", "--budget", "4"), "invalid choice: 'anneal'"),
    (("--mapper", "sa", "--budget", "4", "--workers", "0"), "--workers must be an integer >= 1, got 0"),
    (("--mapper", "sa", "--budget", "4", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"),
     "--workers sizes a local cluster; --scheduler names an existing one"),
    (("--mapper", "sa", "--budget", "4", "--warm-start"), "--warm-start applies to --network"),
    (("--mapper", "mindmappings", "--budget", "4", "--surrogate", "s"), "--mapper mindmappings searches a free map space"),
    (("--mapper", "sa", "--budget", "4", "--surrogate", "s"), "--surrogate and --train-samples apply to --mapper mindmappings"),
    (("--mapper", "sa", "--budget", "4", "--layer", "3"), "--layer, --method and --tokens apply to --network"),
    (("--mapper", "sa", "--budget", "0"), "--budget must be an integer >= 1"),
    (("--mapper", "sa", "--budget", "4", "--objective", "area"), "invalid choice: 'area'"),
    (("--budget", "4"), "the following arguments are required: --mapper"),
])
def test_search_refuses_bad_arguments(extra, mention, tmp_path):
    check_refused(search_argv(tmp_path, *extra), tmp_path, mention)


@pytest.mark.parametrize("config, mention", [
    (("--config", "sme_small", "--gemm", "8,32,4"), "runs one schedule, its planner's: it has no map space"),
    (("--config", "dense_small"), "search takes --config NAME_OR_FILE and --gemm M,K,N"),
    (("--config", "dense_small", "--gemm", "8,32,4", "--pattern", "2:4,2:4"), "--pattern is not a setting"),
    (("--config", "highlight_small", "--network", "minilm", "--pattern", "2:4,1:4", "--sparsity-aware"),
     "--sparsity-aware and --densities apply to --network on an --arch"),
    (("--config", "highlight_small", "--network", "minilm", "--pattern", "2:4,1:4", "--layer", "nope"),
     "--layer must name a searchable layer of minilm or give its index 0.."),
    (("--config", "highlight_small", "--network", "minilm", "--gemm", "8,32,4", "--pattern", "2:4,1:4"),
     "search --network takes --config NAME_OR_FILE (a unit) or --arch, and no --gemm"),
])
def test_search_refuses_what_has_nothing_to_search(config, mention, tmp_path):
    check_refused(search_argv(tmp_path, "--mapper", "random", "--budget", "4", config=config), tmp_path, mention)


@pytest.mark.parametrize("densities", ["0", "0.5,x", "1.5", ","])
def test_search_refuses_densities_outside_0_1(densities, tmp_path):
    argv = described_argv(tmp_path)
    argv = ["search", "--arch", argv[argv.index("--arch") + 1], "--network", "minilm", "--mapper", "sa",
            "--budget", "3", "--densities", densities, "--out", tmp_path / "out"]
    check_refused(argv, tmp_path, "--densities must be a comma-separated list of weight densities in (0, 1]")


@pytest.mark.parametrize("extra, mention", [
    ((), "--mapper mindmappings needs --surrogate FOLDER"),
    (("--surrogate", "s", "--train-samples", "1"), "--train-samples must be an integer >= 2, got 1"),
])
def test_search_refuses_a_mind_mappings_search_without_its_surrogate(extra, mention, tmp_path):
    argv = described_argv(tmp_path)
    argv = ["search", "--arch", argv[argv.index("--arch") + 1], "--network", "minilm", "--mapper", "mindmappings",
            "--budget", "3", *extra, "--out", tmp_path / "out"]
    check_refused(argv, tmp_path, mention)


def test_search_refuses_an_empty_map_space(tmp_path):
    """A buffer too small for any tile: no mapping is valid."""
    argv = described_argv(tmp_path)
    (tmp_path / "a.yaml").write_text("architecture:\n  levels: [{name: DRAM}, {name: Buf, capacity: 0}]\n"
                                     "  compute: {name: MAC, instances: 1}\n")
    argv = ["search", *argv[argv.index("--arch"):argv.index("--mapping")], "--mapper", "random", "--budget", "3",
            "--out", tmp_path / "out"]
    check_refused(argv, tmp_path, "tries")


def test_search_of_a_described_design_is_the_exhaustive_optimum(tmp_path):
    argv = described_argv(tmp_path)
    argv = ["search", *argv[argv.index("--arch"):argv.index("--mapping")], "--out", tmp_path / "out"]
    bests = []
    for mapper in ("exhaustive", "ga"):
        status, _, err = run([*argv, "--mapper", mapper, "--budget", "20", "--seed", "5"])
        assert status == 0, err
        bests.append(json.loads((tmp_path / "out" / "best.json").read_text()))
    assert bests[0]["edp"] == bests[1]["edp"] and bests[0]["space_size"] >= 1
    convergence = json.loads((tmp_path / "out" / "convergence.json").read_text())["best_so_far"]
    assert len(convergence) == 20 and all(a[1] >= b[1] for a, b in zip(convergence, convergence[1:]))


@pytest.mark.parametrize("kind", OUTPUT_KINDS)
def test_model_output_location(kind, tmp_path):
    with Case("highlight") as case:
        argv = model_argv(case.dir)
        argv[argv.index("--report") + 1] = output_location(case, kind)
        check_refused(argv, case.dir, "--report")


# ----- the explore subcommand -------------------------------------------------------------------
@pytest.mark.parametrize("extra, mention", [
    (("--generator", "sme"), "unknown generator 'sme'; explore takes: highlight"),
    (("--network", "resnet"), "unknown network 'resnet'"),
    (("--area-budget", "10"), "area budget 10 logic cells is below the smallest configuration"),
    (("--budget", "0"), "budget must be an integer >= 1"),
    (("--method", "dense"), "method must be hss:G1:H1,G0:H0"),
    (("--workers", "0"), "--workers must be an integer >= 1, got 0"),
    (("--mapper", "anneal"), "invalid choice: 'anneal'"),
    (("--area-budget", "many"), "invalid float value: 'many'"),
])
def test_explore_refuses_bad_arguments(extra, mention, tmp_path):
    argv = ["explore", "--network", "minilm", "--area-budget", "5000", "--out", tmp_path / "out",
            "--no-rtl", "--no-fpga", *extra]
    check_refused(argv, tmp_path, mention)


# ----- sparseloom run: a real network through the RTL ----------------------------------------
@pytest.mark.parametrize("flags, mention", [
    (["--network", "resnet", "--method", "int8"], "--network must be one of minilm, smollm2, efficientnet-lite0, mobilenet-v2"),
    (["--network", "minilm", "--method", "fp4"], "--method must be one of int8"),
    (["--network", "minilm", "--method", "hss:3:4"], "3:4"),
    (["--network", "minilm", "--method", "q4_1"], "needs --network smollm2"),
    (["--network", "minilm", "--method", "sdq-gptq:1:8W4g64"], "sdq method: bad config"),
    (["--network", "minilm", "--method", "hss-sparsegpt:3:4"], "3:4"),
    (["--network", "minilm", "--method", "hss-wanda:2:4,2:4", "--config", "lut_small"], "lut configuration"),
    (["--network", "minilm", "--method", "int8", "--unit", "lut"], "--unit lut"),
    (["--network", "minilm", "--method", "hss:2:4,2:4", "--config", "lut_small"], "lut configuration"),
    (["--network", "minilm", "--method", "int8", "--stall", "1.5"], "--stall"),
    (["--network", "minilm", "--method", "int8", "--inputs", "0"], "--inputs"),
    (["--network", "minilm", "--method", "int8", "--workers", "0"], "--workers"),
    (["--network", "minilm", "--method", "int8", "--workers", "2", "--scheduler", "tcp://h:1"], "give one of them"),
])
def test_run_refuses_before_any_simulation(tmp_path, flags, mention):
    check_refused(["run", *flags, "--report", str(tmp_path / "r.json")], tmp_path, mention)
