"""``sparseloom sim highlight`` end to end: exact Y and report, clear errors, no partial files."""
import json
import subprocess
import sys

import numpy as np
import pytest

from sparseloom.golden import hss, sme

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


def test_sim_repeat_runs_the_gemm_back_to_back_in_the_modelled_cycles(files):
    """Four copies in one transaction: every Y checked, the cycles those of the back-to-back
    model, fewer than four single runs, and the utilisation of all of them."""
    from sparseloom.gen.highlight.unit import HIGHLIGHT
    from sparseloom.gen.unit import GemmShape

    tmp, p, w, x = files
    run = sparseloom(*sim_args(tmp, p["w"], p["x"], "--repeat", "4"))
    assert run.returncode == 0, run.stderr
    r = json.loads((tmp / "r.json").read_text())
    config, shape = HIGHLIGHT.presets["highlight_small"], GemmShape(9, 5, 48)
    assert r["cycles"] == r["model_cycles"] == HIGHLIGHT.back_to_back_cycles(config, [(shape, PATTERN)] * 4)
    assert r["back_to_back"] == 4 and r["cycles"] < r["one_at_a_time_cycles"] == 4 * HIGHLIGHT.cycles(config, shape, PATTERN)
    assert r["utilization"] == pytest.approx(4 * r["useful_macs"] / (r["multipliers"] * r["cycles"]))
    assert np.array_equal(np.load(tmp / "y.npy"), w.astype(np.int64) @ x.astype(np.int64))


@pytest.mark.parametrize("which, extra, message", [
    ("bad", (), "row 0, group 0, block 0 has"),
    ("w", ("--repeat", "0"), "--repeat must be in 1..1000, got 0"),
    ("w16", (), "weights must be a numpy array of dtype int8, got int16"),
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


@pytest.mark.parametrize("unit", ["lut", "mac"])
def test_sim_low_bit_units(tmp_path, unit):
    rng = np.random.default_rng(11)
    w = rng.integers(-4, 4, size=(7, 13), dtype=np.int8)  # 3-bit weights; K not a multiple of g
    x = rng.integers(-128, 128, size=(13, 3), dtype=np.int8)
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "x.npy", x)
    args = ["sim", unit, "--wbits", "3", "--weights", str(tmp_path / "w.npy"), "--inputs", str(tmp_path / "x.npy"),
            "--out", str(tmp_path / "y.npy"), "--report", str(tmp_path / "r.json"), "--config", f"{unit}_small"]
    run = sparseloom(*args)
    assert run.returncode == 0, run.stderr
    assert np.array_equal(np.load(tmp_path / "y.npy"), w.astype(np.int64) @ x.astype(np.int64))
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["wbits"] == "3" and r["cycles"] == r["model_cycles"] and r["useful_macs"] == 7 * 13 * 3
    if unit == "lut":
        assert r["table_entries_stored"] == 2  # 2^(g-1) with g = 2


def test_low_bit_errors_write_nothing(tmp_path):
    np.save(tmp_path / "w.npy", np.full((4, 8), 2, dtype=np.int8))
    np.save(tmp_path / "x.npy", np.zeros((8, 2), dtype=np.int8))
    narrow = tmp_path / "narrow.json"
    narrow.write_text(json.dumps({"name": "lut_narrow", "g": 2, "max_wbits": 2, "m_tile": 2, "n_tile": 2,
                                  "k_max": 16, "table_width": 10, "acc_width": 20}))
    base = ["--weights", str(tmp_path / "w.npy"), "--inputs", str(tmp_path / "x.npy"),
            "--out", str(tmp_path / "y.npy"), "--report", str(tmp_path / "r.json")]
    run = sparseloom("sim", "lut", "--wbits", "2", *base, "--config", "lut_small")
    assert run.returncode == 2 and "weights[0, 0] = 2 is not a format '2' weight; allowed: -2..1" in run.stderr
    run = sparseloom("sim", "lut", "--wbits", "4", *base, "--config", str(narrow))
    assert run.returncode == 2 and "wbits=4 is not provisioned on lut_narrow; allowed: 1, 2, ternary" in run.stderr
    assert not (tmp_path / "y.npy").exists() and not (tmp_path / "r.json").exists()


def sme_args(tmp_path, *extra):
    return ["sim", "sme", "--weights", str(tmp_path / "w.npy"), "--inputs", str(tmp_path / "x.npy"),
            "--out", str(tmp_path / "y.npy"), "--report", str(tmp_path / "r.json"), "--config", "sme_small", *extra]


def crossbars_by_hand(w: np.ndarray, rows: int, cols: int, cell_bits: int) -> tuple[int, int, int]:
    """(dense, occupied, squeezed) crossbar counts of int8 ``w`` counted cell by cell with loops:
    a crossbar per (polarity, slice, K tile, M tile); occupied if any of its cells is non-zero;
    squeezed: per (polarity, slice, M tile) the non-zero rows, ``rows`` to a crossbar."""
    m, k = w.shape
    slices, dense, occupied, squeezed = 8 // cell_bits, 0, 0, 0
    for polarity in (1, -1):
        mags = np.maximum(polarity * w.astype(np.int64), 0)
        for s in range(slices):
            cell = (mags >> (s * cell_bits)) & ((1 << cell_bits) - 1)
            for m0 in range(0, m, cols):
                used_rows = 0
                for k0 in range(0, k, rows):
                    dense += 1
                    block = cell[m0:m0 + cols, k0:k0 + rows]
                    occupied += bool(block.any())
                    used_rows += sum(bool(block[:, r].any()) for r in range(block.shape[1]))
                squeezed += -(-used_rows // rows)
    return dense, occupied, squeezed


def test_sim_sme_reports_crossbars_and_orchestration(tmp_path):
    rng = np.random.default_rng(5)
    w = rng.integers(-128, 128, size=(6, 30), dtype=np.int8)
    x = rng.integers(-128, 128, size=(30, 3), dtype=np.int8)
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "x.npy", x)
    run = sparseloom(*sme_args(tmp_path, "--max-bits-per-weight", "2", "--stall", "0.2"))
    assert run.returncode == 0, run.stderr
    config = sme.CrossbarSpec(8, 4, cell_bits=2, adc_bits=4)  # sme_small's crossbars
    w2 = sme.orchestrate(w, 2)
    assert np.array_equal(np.load(tmp_path / "y.npy"), sme.mvm(w2, x, config))
    r = json.loads((tmp_path / "r.json").read_text())
    dense, occupied, squeezed = crossbars_by_hand(w2, rows=8, cols=4, cell_bits=2)
    assert (r["crossbars_dense"], r["crossbars_after_orchestration"], r["crossbars_after_squeeze"]) == \
        (dense, occupied, squeezed)
    assert r["crossbars_dense"] == 2 * 4 * 4 * 2  # polarities x slices x k tiles x m tiles
    diff = np.abs(w.astype(np.float64) - w2)
    assert r["orchestration_error"]["max_abs"] == diff.max()
    relative_l2 = np.sqrt((diff ** 2).sum() / (w.astype(float) ** 2).sum())
    assert r["orchestration_error"]["relative_l2"] == pytest.approx(relative_l2)
    assert r["max_bits_per_weight"] == 2 and r["cycles"] > r["model_cycles"]
    # sme_small's 4-bit ADC clips column sums above 15 (8 rows of 2-bit cells reach 24): the report counts them
    clipped, converted = sme.adc_clips(sme.squeeze(w2, config), x)
    assert (r["adc_clipped_sums"], r["adc_column_sums"]) == (clipped, converted) and 0 < clipped < converted


def test_sme_errors_write_nothing(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((4, 40), dtype=np.int8))
    np.save(tmp_path / "x.npy", np.ones((40, 2), dtype=np.int8))
    run = sparseloom(*sme_args(tmp_path))
    assert run.returncode == 2 and "K=40 exceeds k_max=32 of sme_small" in run.stderr
    run = sparseloom(*sme_args(tmp_path, "--max-bits-per-weight", "9"))
    assert run.returncode == 2 and "invalid choice: '9'" in run.stderr
    assert not (tmp_path / "y.npy").exists() and not (tmp_path / "r.json").exists()


def test_searched_mapping_runs_on_the_rtl_in_the_model_cycles(files):
    """``search`` finds the best mapping of the unit's map space (the exhaustive optimum); ``sim
    --mapping`` runs it on the RTL bit-exactly in exactly the cycles the model promised."""
    tmp, p, w, x = files
    common = ["--config", "highlight_small", "--pattern", str(PATTERN), "--gemm", f"{w.shape[0]},{w.shape[1]},{x.shape[1]}",
              "--objective", "cycles"]
    for mapper, out in (("exhaustive", tmp / "all"), ("sa", tmp / "sa")):
        run = sparseloom("search", *common, "--mapper", mapper, "--budget", "40", "--seed", "1", "--out", str(out))
        assert run.returncode == 0, run.stderr
    best = json.loads((tmp / "all" / "best.json").read_text())
    assert best["evaluations"] == best["space_size"] > 1
    assert json.loads((tmp / "sa" / "best.json").read_text())["cycles"] == best["cycles"]
    run = sparseloom(*sim_args(tmp, p["w"], p["x"], "--mapping", str(tmp / "all" / "best.json")))
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp / "r.json").read_text())
    assert report["cycles"] == report["model_cycles"] == best["cycles"]
    assert report["mapping"] == best["mapping"]
