"""``sparseloom sim highlight`` end to end: exact Y and report, clear errors, no partial files."""
import json
import subprocess
import sys

import numpy as np
import pytest

from sparseloom.golden import hss

PATTERN = hss.HSSPattern.parse("2:4,1:4")


def sparseloom(*args):
    return subprocess.run([sys.executable, "-m", "sparseloom", *args], capture_output=True, text=True)


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(7)
    w = hss.prune(rng.integers(-128, 128, size=(9, 48), dtype=np.int8), PATTERN)
    x = rng.integers(-128, 128, size=(48, 5), dtype=np.int8)
    paths = {name: tmp_path / f"{name}.npy" for name in ("w", "x", "bad", "w16", "wt")}
    np.save(paths["w"], w)
    np.save(paths["x"], x)
    np.save(paths["bad"], rng.integers(1, 100, size=(9, 48), dtype=np.int8))
    np.save(paths["w16"], w.astype(np.int16))
    np.save(paths["wt"], np.ascontiguousarray(w.T))
    return tmp_path, paths, w, x


def sim_args(tmp, weights, x, *extra):
    return ["sim", "highlight", "--pattern", str(PATTERN), "--weights", str(weights), "--inputs", str(x),
            "--out", str(tmp / "y.npy"), "--report", str(tmp / "r.json"), "--config", "highlight_small", *extra]


def test_sim_writes_exact_result_and_report(files):
    tmp, p, w, x = files
    run = sparseloom(*sim_args(tmp, p["w"], p["x"], "--stall", "0.25", "--seed", "3"))
    assert run.returncode == 0, run.stderr
    y = np.load(tmp / "y.npy")
    assert y.dtype == np.int32 and np.array_equal(y, w.astype(np.int64) @ x.astype(np.int64))
    r = json.loads((tmp / "r.json").read_text())
    assert r["pattern"] == "2:4,1:4" and r["multipliers"] == 8
    assert r["useful_macs"] == np.count_nonzero(w) * x.shape[1]
    assert r["utilization"] == pytest.approx(r["useful_macs"] / (r["multipliers"] * r["cycles"]))
    assert r["cycles"] > r["model_cycles"]  # 25% stalls cost cycles


@pytest.mark.parametrize("which, extra, message", [
    ("bad", (), "row 0, group 0, block 0 has"),
    ("w16", (), "weights must have dtype int8, got int16"),
    ("wt", (), "do not chain"),
    ("w", ("--config", "nope"), "config must be a preset"),
    ("w", ("--stall", "1.5"), "--stall must be in [0, 1)"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(files, which, extra, message):
    tmp, p, _, _ = files
    run = sparseloom(*sim_args(tmp, p[which], p["x"], *extra))
    assert run.returncode == 2
    assert message in run.stderr
    assert not (tmp / "y.npy").exists() and not (tmp / "r.json").exists()


def test_pattern_the_array_cannot_hold(files):
    tmp, p, _, _ = files
    args = sim_args(tmp, p["w"], p["x"])
    args[args.index("--pattern") + 1] = "4:4,4:4"
    run = sparseloom(*args)
    assert run.returncode == 2 and "g0 must be in 1..2 on highlight_small" in run.stderr


def test_prune_command(files):
    tmp, p, _, _ = files
    run = sparseloom("prune", "--pattern", "2:4,2:4", "--weights", str(p["bad"]), "--out", str(tmp / "pr.npy"))
    assert run.returncode == 0, run.stderr
    assert hss.satisfies(np.load(tmp / "pr.npy"), hss.HSSPattern.parse("2:4,2:4"))


@pytest.mark.slow
def test_waves_written_next_to_output(files):
    tmp, p, _, _ = files
    run = sparseloom(*sim_args(tmp, p["w"], p["x"], "--waves"))
    assert run.returncode == 0, run.stderr
    assert (tmp / "y.fst").stat().st_size > 1000
    assert json.loads((tmp / "r.json").read_text())["waves"] == str(tmp / "y.fst")
