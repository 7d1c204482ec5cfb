"""``sparseloom approx`` (``sparseloom.approx_run``) without a simulator: the data split, the
refusals of bad flags, a tiny run end to end, the speed-up formula, and the NPU and RTL checks
against a stand-in unit (the Verilated NPU's own check is ``test_rtl_check_on_the_verilated_npu``,
``-m slow``)."""
import argparse
import importlib.util
import json
import math
import types

import numpy as np
import pytest

from sparseloom import approx_run as ar
from sparseloom.golden import axbench as ax
from sparseloom.golden.npu import Fixed

FMT = Fixed(16, 10)


def npu_unit():
    from sparseloom.units import all_units

    return all_units().get("npu")


# ----- the data -------------------------------------------------------------------------------------

def test_sampled_kernels_split_disjoint_and_reproducible():
    d = ar.dataset("inversek2j", 300, 120, 3)
    assert d.x_train.shape == (300, 2) and d.x_test.shape == (120, 2)
    assert np.array_equal(d.y_test, ax.inversek2j(d.x_test))
    train = {r.tobytes() for r in d.x_train}
    assert not any(r.tobytes() in train for r in d.x_test)
    # the two sets are the samplers' seeds 2s and 2s + 1: a neighbouring seed never reuses a stream
    assert np.array_equal(d.x_train, ax.sample("inversek2j", 300, 6))
    assert np.array_equal(d.x_test, ax.sample("inversek2j", 120, 7))
    assert not np.array_equal(ar.dataset("inversek2j", 300, 120, 4).x_train[:5], d.x_test[:5])
    again = ar.dataset("inversek2j", 300, 120, 3)
    assert np.array_equal(again.x_train, d.x_train) and np.array_equal(again.x_test, d.x_test)
    assert ar._shared_rows(d.x_train, np.concatenate([d.x_test, d.x_train[:4]])) == 4


def test_photo_split_is_a_partition():
    for n, seed in ((34, 0), (34, 5), (2, 1), (7, 3)):
        train, test = ar.photo_split(n, seed)
        assert not set(train) & set(test) and sorted(train + test) == list(range(n))
        assert test and train and len(test) == min(n - 1, max(1, round(n * 0.25)))
    assert ar.photo_split(34, 0) != ar.photo_split(34, 1)
    with pytest.raises(ValueError, match="at least 2"):
        ar.photo_split(1, 0)


def test_image_kernels_need_the_models_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "skimage" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install '\.\[models\]'.*skimage"):
        ar.dataset("sobel", 100, 20, 0)


def test_image_test_windows_come_from_test_photos_only():
    pytest.importorskip("skimage")
    pytest.importorskip("PIL")
    if importlib.util.find_spec("foolbox") is None:
        pytest.skip("foolbox's ImageNet JPEGs are not installed (make models)")
    d = ar.dataset("jpeg", 200, 40, 2)
    train, test = set(d.meta["train_photos"]), set(d.meta["test_photos"])
    photos = dict(ar.photographs())
    assert not train & test and train | test == set(photos) and len(test) >= 1
    assert d.y_test.shape == (40, 64) and np.array_equal(d.y_test, ax.jpeg(d.x_test))

    def blocks(names):
        out = set()
        for name in names:
            g = ax._grey(photos[name])
            for r in range(0, g.shape[0] - 7, 8):
                for c in range(0, g.shape[1] - 7, 8):
                    out.add(g[r:r + 8, c:c + 8].tobytes())
        return out

    in_test, in_train = blocks(test), blocks(train)
    assert all(row.tobytes() in in_test for row in d.x_test)            # every test block is a test photo's
    assert all(row.tobytes() in in_train for row in d.x_train)
    assert sum(row.tobytes() in in_train for row in d.x_test) == d.meta["test_rows_in_training"]
    assert d.meta["test_rows_in_training"] < len(d.x_test)              # not the training photos again


# ----- the command line ---------------------------------------------------------------------------------

def test_add_parser_registers_the_subcommand_with_its_defaults():
    p = argparse.ArgumentParser()
    ar.add_parser(p.add_subparsers(dest="command"))
    args = p.parse_args(["approx", "--benchmark", "sobel", "--method", "mcma", "--report", "r.json"])
    assert args.func is ar.cmd_approx and args.approximators is None and args.error_bound == ar.PAPER_BOUND
    assert (args.train, args.test, args.seed, args.config, args.rtl_inputs) == (4000, 1000, 0, "npu_default", 64)
    with pytest.raises(SystemExit) as e:
        p.parse_args(["approx", "--benchmark", "sobel", "--method", "mcma", "--report", "r", "--train", "x"])
    assert e.value.code == 2


@pytest.mark.parametrize("extra, mentions", [
    (["--benchmark", "canneal", "--method", "single"], ("--benchmark", "blackscholes, fft")),
    (["--benchmark", "sobel", "--method", "npu"], ("--method", "single, mcma, axnet")),
    (["--benchmark", "sobel", "--method", "mcma", "--approximators", "0"], ("--approximators", "1..64")),
    (["--benchmark", "sobel", "--method", "single", "--approximators", "3"], ("--approximators", "mcma")),
    (["--benchmark", "sobel", "--method", "mcma", "--approximators", "two"], ("--approximators",)),
    (["--benchmark", "fft", "--method", "axnet", "--error-bound", "0"], ("--error-bound", "> 0")),
    (["--benchmark", "fft", "--method", "axnet", "--error-bound", "nan"], ("--error-bound",)),
    (["--benchmark", "fft", "--method", "axnet", "--train", "5"], ("--train", "10..")),
    (["--benchmark", "fft", "--method", "axnet", "--test", "0"], ("--test", "1..")),
    (["--benchmark", "fft", "--method", "axnet", "--seed", "-1"], ("--seed",)),
    (["--benchmark", "fft", "--method", "axnet", "--test", "50", "--rtl-inputs", "51"], ("--rtl-inputs", "0..50")),
    (["--benchmark", "fft", "--method", "axnet", "--config", "npu_huge"], ("--config",)),
])
def test_bad_flags_are_refused_before_any_work(tmp_path, extra, mentions):
    from sparseloom.refusal import check_refused

    (tmp_path / "old.json").write_text("{}")
    check_refused(["approx", *extra, "--report", tmp_path / "r.json"], tmp_path, *mentions)


def test_a_bad_report_path_is_refused(tmp_path):
    from sparseloom.refusal import check_refused

    check_refused(["approx", "--benchmark", "fft", "--method", "single", "--report", tmp_path], tmp_path, "--report")


@pytest.mark.skipif(npu_unit() is None, reason="no npu unit (gen/npu/) here")
def test_a_program_too_big_for_the_npu_is_refused(tmp_path):
    from sparseloom.refusal import check_refused

    # npu_default holds 9 weight banks: the classifier and K <= 8 approximators
    check_refused(["approx", "--benchmark", "fft", "--method", "mcma", "--approximators", "9", "--report",
                   tmp_path / "r.json"], tmp_path, "--approximators", "does not fit")
    # AXNet's fused network for jpeg has 64 outputs and the safe logit: 65 neurons, npu_default holds 64
    check_refused(["approx", "--benchmark", "jpeg", "--method", "axnet", "--report", tmp_path / "r.json"], tmp_path,
                  "--method", "fused 64-16-65", "does not fit")


@pytest.mark.skipif(npu_unit() is None, reason="no npu unit (gen/npu/) here")
def test_an_image_kernel_without_the_models_extra_is_refused(tmp_path, monkeypatch):
    from sparseloom.refusal import check_refused

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "PIL" else real(name, *a))
    check_refused(["approx", "--benchmark", "sobel", "--method", "single", "--report", tmp_path / "r.json"], tmp_path,
                  "--benchmark sobel", "pip install '.[models]'", "PIL")


# ----- the pipeline -----------------------------------------------------------------------------------

KEYS = {"benchmark", "method", "approximators", "error_bound", "invocation", "mean_error", "mean_error_approximated",
        "per_approximator", "training_seconds", "float", "scalar_cycles_per_input", "speedup", "speedup_formula",
        "npu_cycles_per_input", "bound_source", "error_metric", "dataset"}


def test_a_tiny_run_reports_quality_on_the_fixed_point_model():
    pytest.importorskip("torch")
    r = ar.run("inversek2j", "mcma", approximators=2, error_bound=0.2, n_train=200, n_test=60, epochs=40, rounds=2,
               config=None)
    assert KEYS <= set(r) and json.loads(json.dumps(r)) == r
    assert r["npu"] is None and r["speedup"] is None and "quality only" in r["note"]
    assert 0 <= r["invocation"] <= 1 and len(r["per_approximator"]) == 2
    assert math.isclose(sum(r["per_approximator"]), r["invocation"])
    assert sum(r["per_approximator_inputs"]) == round(r["invocation"] * 60)
    assert math.isclose(r["mean_error"], r["invocation"] * r["mean_error_approximated"], abs_tol=1e-12)
    assert r["float"]["per_approximator_inputs"] == [round(s * 60) for s in r["float"]["per_approximator"]]
    assert r["scalar_cycles_per_input"] == ax.scalar_cycles("inversek2j") and r["training_seconds"] > 0
    assert r["networks"] == {"classifier": [2, 8, 3], "approximator": [2, 8, 2], "approximators": 2}
    # Fixed(16, 10) and PLAN's sigmoid: the hardware's route agrees with the float one on most inputs
    assert abs(r["invocation"] - r["float"]["invocation"]) <= 0.2


def test_fixed_point_quality_counts_routes_and_errors():
    """A hand-made program: input code > 0 goes to approximator 0 (which outputs 1.0), else exact."""
    from sparseloom.golden.approx import Standard
    from sparseloom.golden.npu import Layer, Mlp, Program

    one = 1 << FMT.frac
    clf = Mlp((Layer(np.array([[1], [-1]]), np.array([0, 0]), "linear"),), FMT, FMT)   # class 0 if x > 0
    net = Mlp((Layer(np.array([[0]]), np.array([one]), "linear"),), FMT, FMT)           # y = 1
    program = Program("routed", (clf, net))
    approx = types.SimpleNamespace(xs=Standard(np.zeros(1), np.ones(1)), ys=Standard(np.zeros(1), np.ones(1)))
    x = np.array([[0.5], [1.0], [-1.0], [2.0]])
    y = np.array([[1.0], [1.5], [7.0], [0.0]])
    codes, route, q = ar.fixed_point_quality(approx, program, x, y, np.ones(1), FMT, bound=0.6)
    assert codes[:, 0].tolist() == [512, 1024, -1024, 2048] and route.tolist() == [0, 0, -1, 0]
    assert q["invocation"] == 0.75 and q["per_approximator"] == [0.75] and q["per_approximator_inputs"] == [3]
    assert q["mean_error"] == pytest.approx((0 + 0.5 + 0 + 1.0) / 4)
    assert q["mean_error_approximated"] == pytest.approx(0.5) and q["routed_within_bound"] == pytest.approx(2 / 3)


def test_speedup_formula_on_hand_numbers():
    # 10 inputs of a 100-cycle kernel; the NPU takes 200 cycles for all; half fall back (5 x 100)
    assert ar.speedup(100, 10, 200, 0.5) == pytest.approx(1000 / 700)
    assert ar.speedup(100, 10, 100, 1.0) == pytest.approx(10.0)        # all approximated: 1000 / 100
    assert ar.speedup(100, 10, 0, 0.0) == pytest.approx(1.0)           # nothing approximated, no NPU time
    assert ar.speedup(100, 10, 500, 0.0) == pytest.approx(1000 / 1500)  # the classifier alone slows it down
    for bad in ((0, 10, 1, 0.5), (100, 0, 1, 0.5), (100, 10, -1, 0.5), (100, 10, 1, 1.5)):
        with pytest.raises(ValueError, match="speedup needs"):
            ar.speedup(*bad)
    with pytest.raises(ValueError, match="infinite"):
        ar.speedup(100, 10, 0, 1.0)


def test_formats_of_a_configuration():
    assert ar.formats(None) == (Fixed(16, 10), Fixed(16, 10))
    assert ar.formats(types.SimpleNamespace(weight=Fixed(8, 4), act=Fixed(12, 6))) == (Fixed(8, 4), Fixed(12, 6))
    c = types.SimpleNamespace(weight_bits=12, weight_frac=8, act_bits=16, act_frac=9)
    assert ar.formats(c) == (Fixed(12, 8), Fixed(16, 9))


# ----- the NPU and the RTL, against a stand-in unit ---------------------------------------------------

class FakePlan:
    def __init__(self, program, codes):
        self.shape, self.encoding, self.n = (len(codes),), "enc", len(codes)
        self.report = {"cycles_per_input": {"-1": 10, "0": 30}}

    def golden(self, program, codes):
        route, out = program.run(codes)
        return np.concatenate([route[:, None], out], axis=1).astype(np.int32)


class FakeUnit:
    name = "npu"

    def __init__(self, limit=None, golden_offset=0):
        self.limit, self.golden_offset = limit, golden_offset

    def plan(self, config, setting, program, codes):
        if self.limit is not None and program.approximators > self.limit:
            raise ValueError(f"K = {program.approximators} approximators need more than the {self.limit + 1} banks")
        plan = FakePlan(program, codes)
        if self.golden_offset:
            golden = plan.golden
            plan.golden = lambda p, c: golden(p, c) + self.golden_offset
        return plan

    def cycles(self, config, shape, encoding):
        return 7 * shape[0] + 100


def _program():
    from sparseloom.golden.npu import Layer, Mlp, Program

    clf = Mlp((Layer(np.array([[1], [-1]]), np.array([0, 0]), "linear"),), FMT, FMT)
    net = Mlp((Layer(np.array([[2048]]), np.array([3]), "linear"),), FMT, FMT)
    return Program("routed", (clf, net)), np.array([[5], [-5], [700], [0]])


def test_npu_cost_checks_the_units_golden_and_counts_cycles():
    program, codes = _program()
    cost = ar.npu_cost(FakeUnit(), types.SimpleNamespace(name="npu_fake"), program, codes)
    assert cost["cycles"] == 7 * 4 + 100 and cost["cycles_per_input"] == (7 * 4 + 100) / 4
    assert cost["config"] == "npu_fake" and cost["cycles_per_input_by_route"] == {"-1": 10, "0": 30}
    with pytest.raises(RuntimeError, match="plan.golden and golden.npu.Program.run disagree.*input 0, the route"):
        ar.npu_cost(FakeUnit(golden_offset=1), None, program, codes)


def test_check_fits_names_the_flag():
    ar.check_fits(FakeUnit(limit=8), None, "mcma", "fft", 8)
    with pytest.raises(ValueError, match=r"--approximators: --method mcma on fft \(classifier 1-4-4-10.*9 banks"):
        ar.check_fits(FakeUnit(limit=8), None, "mcma", "fft", 9)


def test_rtl_check_compares_words_and_cycles(monkeypatch):
    from sparseloom.sim import fast

    program, codes = _program()
    want = FakePlan(program, codes).golden(program, codes)
    behaviour = {"y": want, "cycles": 7 * 4 + 100}

    class FakeDriver:
        def __init__(self, config):
            pass

        def run_plan(self, plan, *, stall, rng):
            assert stall == 0.0
            return behaviour["y"], behaviour["cycles"], {}

    monkeypatch.setattr(fast, "Driver", FakeDriver)
    r = ar.rtl_check(FakeUnit(), None, program, codes)
    assert (r["rtl_cycles"], r["model_cycles"], r["golden_match"], r["rtl_inputs"]) == (128, 128, True, 4)
    wrong = want.copy()
    wrong[2, 1] += 1
    behaviour["y"] = wrong
    with pytest.raises(RuntimeError, match="differs from plan.golden at input 2, output 0"):
        ar.rtl_check(FakeUnit(), None, program, codes)
    behaviour.update(y=want, cycles=129)
    with pytest.raises(RuntimeError, match="took 129 cycles.*says 128"):
        ar.rtl_check(FakeUnit(), None, program, codes)


@pytest.mark.skipif(npu_unit() is None, reason="no npu unit (gen/npu/) here")
def test_a_tiny_run_on_the_npu_unit(tmp_path):
    pytest.importorskip("torch")
    from sparseloom.refusal import run

    report = tmp_path / "r.json"
    status, out, err = run(["approx", "--benchmark", "fft", "--method", "mcma", "--approximators", "2", "--train",
                            "200", "--test", "40", "--epochs", "30", "--rounds", "2", "--rtl-inputs", "0",
                            "--report", report])
    assert status == 0, err
    r = json.loads(report.read_text())
    assert json.loads(out) == r and KEYS <= set(r)
    assert r["npu"]["cycles"] > 0 and r["npu_cycles_per_input"] == r["npu"]["cycles"] / 40
    assert r["speedup"] == pytest.approx(ar.speedup(ax.scalar_cycles("fft"), 40, r["npu"]["cycles"],
                                                    r["invocation"]))


@pytest.mark.slow
@pytest.mark.skipif(npu_unit() is None, reason="no npu unit (gen/npu/) here")
def test_rtl_check_on_the_verilated_npu():
    pytest.importorskip("torch")
    r = ar.run("inversek2j", "mcma", approximators=2, n_train=300, n_test=40, epochs=60,
               rounds=2, rtl_inputs=16)
    assert r["golden_match"] is True and r["rtl_cycles"] == r["model_cycles"] and r["rtl"]["rtl_inputs"] == 16
