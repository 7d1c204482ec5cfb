"""HighLight and dense-baseline configurations: validation messages, loading, run-time patterns."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from sparseloom.gen.highlight import (DENSE, DENSE_PRESETS, HIGHLIGHT, HIGHLIGHT_PRESETS, DenseConfig, HighLightArray,
                                      HighLightConfig)
from sparseloom.gen.unit import GemmShape
from sparseloom.golden.hss import HSSPattern
from sparseloom.units import unit

SMALL = HIGHLIGHT_PRESETS["highlight_small"]
RTL = Path(__file__).resolve().parents[2] / "rtl"


def small(**changes):
    return HighLightConfig(**{**SMALL.parameters(), **changes})


@pytest.mark.parametrize("changes, message", [
    ({"rows": 0}, r"rows must be in 1\.\.64, got 0"),
    ({"g0_max": 5}, r"g0_max must be in 1\.\.4, got 5"),
    ({"g1_max": 5}, r"g1_max must be in 1\.\.4, got 5"),
    ({"h0": 1}, r"h0 must be in 2\.\.16, got 1"),
    ({"k_max": 66}, r"k_max must be a multiple of h0=4, got 66"),
    ({"k_max": 8}, r"k_max must be in 16\.\.65536, got 8"),
    ({"acc_width": 21}, r"acc_width=21 can overflow: k_max=64 .* need acc_width >= 22 \(allowed 22\.\.32\)"),
    ({"name": "has space"}, r"name must be a Verilog-safe identifier"),
])
def test_invalid_configuration_names_the_parameter(changes, message):
    with pytest.raises(ValueError, match=message):
        small(**changes)


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="cols must be an int, got str"):
        small(cols="2")
    with pytest.raises(TypeError, match="config must be a HighLightConfig"):
        HighLightArray({"rows": 2})


def test_load_preset_and_files(tmp_path):
    assert HIGHLIGHT.load("highlight_small") is SMALL
    params = tmp_path / "p.json"
    params.write_text(json.dumps({**SMALL.parameters(), "name": "mine"}))
    assert HIGHLIGHT.load(str(params)).name == "mine"
    desc = tmp_path / "d.json"
    desc.write_text((RTL / "highlight_small.json").read_text())
    assert HIGHLIGHT.load(str(desc)) == SMALL
    with pytest.raises(ValueError, match="config must be a preset"):
        HIGHLIGHT.load("nope")
    with pytest.raises(ValueError, match=r"unknown HighLightConfig keys \['lanes'\]"):
        HighLightConfig.from_dict({**SMALL.parameters(), "lanes": 3})


@pytest.mark.parametrize("text, message", [
    ("2:4,4:4", "g0 must be in 1..2"),
    ("3:4,2:4", "g1 must be in 1..2"),
    ("2:5,2:4", "h1 must be in 2..4"),
    ("2:4,2:8", "h0 must be 4"),
])
def test_pattern_the_array_cannot_hold(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SMALL.check_pattern(HSSPattern.parse(text))
    with pytest.raises(ValueError, match=re.escape(message)):  # the cycle model refuses it too
        HIGHLIGHT.cycles(SMALL, GemmShape(2, 2, 64), HSSPattern.parse(text))


def test_provisioned_patterns_cover_every_density():
    pats = [HSSPattern.parse(p) for p in HIGHLIGHT_PRESETS["highlight_default"].provisioned_patterns()]
    for text in ["4:4,4:4", "4:5,4:4", "4:6,2:4", "4:7,1:4", "2:4,2:4", "1:7,1:4", "3:5,3:4"]:
        assert HSSPattern.parse(text) in pats
    assert len(pats) == len(set(pats)) == 4 * (7 + 6 + 5 + 4)


@pytest.mark.parametrize("changes, message", [
    ({"lanes": 0}, r"lanes must be in 1\.\.16, got 0"),
    ({"k_max": 63}, r"k_max must be a multiple of lanes=2, got 63"),
    ({"acc_width": 21}, r"acc_width=21 can overflow: k_max=64 .* need acc_width >= 22 \(allowed 22\.\.32\)"),
])
def test_dense_baseline_configuration_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        DenseConfig(**{**DENSE_PRESETS["dense_small"].parameters(), **changes})


@pytest.mark.parametrize("name", ["highlight_small", "highlight_default", "highlight_h8"])
def test_dense_baseline_has_the_arrays_multipliers(name):
    array, dense = HIGHLIGHT_PRESETS[name], DENSE_PRESETS[name.replace("highlight", "dense")]
    assert isinstance(dense, DenseConfig) and dense.multipliers == array.multipliers
    assert (dense.rows, dense.cols, dense.lanes, dense.k_max) == (array.rows, array.cols, array.lanes, array.k_max)
    assert HIGHLIGHT.baseline.matching(array).parameters() == {**dense.parameters(), "name": f"{name}_dense"}


def test_dense_plan_takes_no_setting():
    w, x = np.ones((2, 5), np.int8), np.ones((5, 3), np.int8)
    with pytest.raises(ValueError, match="the dense array takes int8 weights and no run-time setting"):
        DENSE.plan(DENSE_PRESETS["dense_small"], HSSPattern.parse("2:4,2:4"), w, x)


@pytest.mark.parametrize("n, cycles", [
    # K=5 pads to 3 blocks of 2, one load beat of 8 blocks: load 1 beat, issue 3 beats, the
    # result 3 cycles after the last
    (2, 1 + 3 + 3),
    # N=3 is two column tiles: the second loads while the first computes, then issues 3 beats
    (3, 1 + 3 + 3 + 3),
])
def test_dense_cycles_by_hand(n, cycles):
    assert DENSE.cycles(DENSE_PRESETS["dense_small"], GemmShape(2, n, 5), None) == cycles


def test_back_to_back_cycles_by_hand():
    """Two one-tile GEMMs on dense_small (K=5: one load beat, three weight beats): the second's
    configuration is taken the cycle after the first's load beat (cycle 1), its load beat comes in
    cycle 2 while the first computes (1-3), its beats issue in 4-6, its result 3 cycles later:
    10 cycles, against 7 + 7 one at a time."""
    config, shape = DENSE_PRESETS["dense_small"], GemmShape(2, 2, 5)
    assert DENSE.cycles(config, shape, None) == 7
    assert DENSE.back_to_back_cycles(config, [(shape, None), (shape, None)]) == 10
    # a second GEMM of two column tiles: tile 2 loads in cycle 4, once tile 0's half is free (its
    # last beat was in cycle 3), and issues after tile 1, in 7-9
    assert DENSE.back_to_back_cycles(config, [(shape, None), (GemmShape(2, 3, 5), None)]) == 13
    with pytest.raises(ValueError, match="the lut unit runs one GEMM at a time"):
        unit("lut").back_to_back_cycles(unit("lut").presets["lut_small"], [])


def test_highlight_cycles_by_hand():
    """highlight_small (2 x 2 PEs, 2 lanes), 2:4,1:4 on M=3, N=2, K=32: two row batches, one column
    tile, 2 groups of 4 blocks; a beat holds lanes // g0 = 2 kept blocks, so g1 = 2 takes one beat
    per group and batch: load 8 blocks in 2 beats of 4 (one per bank), then 2 batches x 2 groups =
    4 beats, result 3 cycles later."""
    assert HIGHLIGHT.cycles(SMALL, GemmShape(3, 2, 32), HSSPattern.parse("2:4,1:4")) == 2 + 4 + 3
    # 2:4,2:4: g0 = 2 fills both lanes with one block, so g1 = 2 blocks take two beats per group
    assert HIGHLIGHT.cycles(SMALL, GemmShape(3, 2, 32), HSSPattern.parse("2:4,2:4")) == 2 + 8 + 3
