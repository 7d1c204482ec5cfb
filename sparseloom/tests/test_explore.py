"""``sparseloom.explore`` without a simulator or an FPGA tool: the logic-cell calibration, a
small co-design search (deterministic, within its area budget, its Pareto front non-dominated)
and its refusals of bad input. The winner's RTL check is in cocotb_tests/test_explore_rtl.py."""
import argparse
import json
from pathlib import Path

import pytest

from sparseloom import explore as ex
from sparseloom.fpga import calibration as cal
from sparseloom.gen.highlight.config import HIGHLIGHT_PRESETS, HighLightConfig

#: The fit reproduces every measured point to within this (relative) error ...
FIT_TOLERANCE = 0.06
#: ... and predicts each from the others (leave-one-out) to within this.
LOO_TOLERANCE = 0.15
#: The packing estimate reproduces every placed-and-routed run to within this.
PACKING_TOLERANCE = 0.10

#: A small search: MiniLM on 4 tokens, 2:4,2:4 weights, 3 x 2 x 2 x 2 configurations.
SMALL = dict(network="minilm", tokens=4, method="hss:2:4,2:4", rtl=False, fpga=False,
             space={"rows": (1, 2, 4), "cols": (1, 2), "g0_max": (2, 4), "h1_max": (4,), "g1_max": (2,),
                    "k_max": (64, 128)})


def test_calibration_reproduces_its_measured_points():
    rows = cal.residuals()
    assert len(rows) >= len(cal.FEATURES) + 4   # more points than coefficients, by a margin
    worst = max(rows, key=lambda r: abs(r["relative_error"]))
    assert abs(worst["relative_error"]) <= FIT_TOLERANCE, worst
    # the two presets placed and routed (bench/results/fpga.json) are among the points, measured
    measured = {r["config"]: r for r in rows if r["source"].startswith("place-and-route")}
    assert measured["highlight_small"]["logic_cells"] == 3094
    assert measured["highlight_h8"]["logic_cells"] == 12760
    assert sum(1 for r in rows if r["source"].startswith("place-and-route")) >= 8
    assert all(c >= 0 for c in cal.fit()["coefficients"].values())
    for r in cal.cross_validation():
        assert abs(r["relative_error"]) <= LOO_TOLERANCE, r


def test_packing_estimates_placed_runs():
    fit = cal.packing()
    assert len(fit["points"]) >= 6
    for p in fit["points"]:
        assert abs(p["relative_error"]) <= PACKING_TOLERANCE, p


def test_the_buffer_memory_rule_predicts_the_measured_rams():
    points = [p for p in cal.load_points() if p["source"] == "synthesis"]
    assert {cal.buffer_memory(HighLightConfig.from_dict(p["parameters"]))["kind"] for p in points} == \
        {"LUT RAM", "block RAM"}
    for p in points:
        memory = cal.buffer_memory(HighLightConfig.from_dict(p["parameters"]))
        assert (memory["lutrams"], memory["brams"]) == (p["lutrams"], p["brams"]), p["config"]


def test_bigger_configurations_predict_more_cells():
    base = dict(rows=2, cols=2, h0=4, g0_max=2, h1_max=4, g1_max=2, k_max=64)
    small = cal.logic_cells(HighLightConfig("a", **base))
    for bigger in ({"rows": 4}, {"cols": 4}, {"g0_max": 4}, {"h1_max": 8}, {"k_max": 256}):
        assert cal.logic_cells(HighLightConfig("b", **{**base, **bigger})) > small, bigger
    assert cal.logic_cells(HIGHLIGHT_PRESETS["highlight_h8"]) > cal.logic_cells(HIGHLIGHT_PRESETS["highlight_small"])


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    budget = cal.logic_cells(HighLightConfig("x", rows=2, cols=2, h0=4, g0_max=4, h1_max=4, g1_max=2, k_max=128))
    runs = [ex.explore(**SMALL, area_budget=budget, out=tmp_path_factory.mktemp(f"run{i}"), budget=100, seed=3)
            for i in range(2)]
    return budget, runs


def test_small_explore_is_deterministic_and_within_budget(small_run):
    budget, (a, b) = small_run
    assert a["winner"] == b["winner"] and a["edp"] == b["edp"] and a["layers"] == b["layers"]
    rows = json.loads((Path(a["out"]) / "pareto.json").read_text())["configs"]
    rows_b = json.loads((Path(b["out"]) / "pareto.json").read_text())["configs"]
    assert rows == rows_b
    assert a["evaluated"] == a["candidates"] == len(rows) > 4   # the budget covers every candidate
    assert all(r["logic_cells"] <= budget for r in rows)
    assert a["logic_cells"] <= budget
    assert a["edp"] == min(r["edp"] for r in rows)
    assert a["cycles"] == pytest.approx(sum(layer["count"] * layer["cycles"] for layer in a["layers"]))


def test_pareto_front_is_non_dominated(small_run):
    _, (a, _) = small_run
    rows = json.loads((Path(a["out"]) / "pareto.json").read_text())["configs"]
    front = [r for r in rows if r["pareto"]]
    assert front and any(r["name"] == a["winner"] for r in front)
    for p in front:
        assert not any(q["logic_cells"] <= p["logic_cells"] and q["edp"] <= p["edp"] and
                       (q["logic_cells"], q["edp"]) != (p["logic_cells"], p["edp"]) for q in rows)
    for p in rows:   # every other point is dominated by one on the front
        if not p["pareto"]:
            assert any(q["logic_cells"] <= p["logic_cells"] and q["edp"] <= p["edp"] for q in front)


def test_outputs_are_written_and_loadable(small_run):
    from sparseloom.units import unit

    _, (a, _) = small_run
    out = Path(a["out"])
    best = json.loads((out / "best.json").read_text())
    config = unit("highlight").load(str(out / "config.json"))
    assert config.name == a["winner"] == best["parameters"]["name"]
    assert (out / "rtl" / f"{config.name}.v").read_text().startswith("/* Generated by Amaranth")
    assert json.loads((out / "rtl" / f"{config.name}.json").read_text())["parameters"] == config.parameters()
    assert "| config |" in (out / "pareto.md").read_text()
    assert {layer["name"] for layer in best["layers"]} >= {"encoder.layer.*.intermediate.dense"}
    assert not (out / "rtl_check.json").exists() and not (out / "fpga").exists()


def test_a_budget_below_the_candidates_searches_the_neighbourhood_deterministically(tmp_path):
    budget = cal.logic_cells(HighLightConfig("x", rows=4, cols=2, h0=4, g0_max=4, h1_max=4, g1_max=2, k_max=128))
    a = ex.explore(**SMALL, area_budget=budget, out=tmp_path / "a", budget=5, seed=1)
    b = ex.explore(**SMALL, area_budget=budget, out=tmp_path / "b", budget=5, seed=1)
    assert a["evaluated"] == 5 < a["candidates"]
    assert (tmp_path / "a" / "pareto.json").read_text() == (tmp_path / "b" / "pareto.json").read_text()


def test_a_two_worker_cluster_finds_the_same(tmp_path, small_run):
    from sparseloom.model.pool import DaskPool

    budget, (a, _) = small_run
    with DaskPool(2) as pool:
        there = ex.explore(**SMALL, area_budget=budget, out=tmp_path, budget=100, seed=3, pool=pool)
    assert there["winner"] == a["winner"] and there["edp"] == a["edp"] and there["layers"] == a["layers"]


@pytest.mark.parametrize("change, message", [
    ({"generator": "sme"}, "unknown generator 'sme'; explore takes: highlight"),
    ({"network": "resnet"}, "unknown network 'resnet'; allowed:"),
    ({"budget": 0}, "budget must be an integer >= 1"),
    ({"area_budget": 10}, "area budget 10 logic cells is below the smallest configuration of the space"),
    ({"method": "dense"}, "method must be hss:G1:H1,G0:H0"),
    ({"tokens": 0}, "tokens must be an integer >= 1"),
    ({"space": {"depth": (1,)}}, "space: unknown parameters ['depth']"),
])
def test_bad_input_is_a_clear_error_before_any_file(tmp_path, change, message):
    args = {**SMALL, "area_budget": 1e6, "out": tmp_path / "out", "budget": 4, **change}
    with pytest.raises(ValueError) as e:
        ex.explore(**args)
    assert message in str(e.value)
    assert not (tmp_path / "out").exists()


def test_command_line_hook(tmp_path, capsys):
    from sparseloom.files import UsageError

    p = argparse.ArgumentParser()
    ex.add_parser(p.add_subparsers(dest="command"))
    base = ["explore", "--network", "minilm", "--tokens", "4", "--out", str(tmp_path / "o"), "--no-rtl", "--no-fpga",
            "--budget", "3"]
    with pytest.raises(UsageError, match="area budget 5 logic cells is below"):
        ex.run(p.parse_args(base + ["--area-budget", "5"]))
    assert not (tmp_path / "o").exists()
    args = p.parse_args(base + ["--area-budget", "3000"])
    args.func(args)
    assert "explore: 3 of" in capsys.readouterr().out
    assert json.loads((tmp_path / "o" / "best.json").read_text())["logic_cells"] <= 3000
