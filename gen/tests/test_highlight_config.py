"""HighLight configuration: validation messages, loading, run-time patterns."""
import json
import re
from pathlib import Path

import pytest

from sparseloom.gen.highlight import PRESETS, HighLightArray, HighLightConfig
from sparseloom.golden.hss import HSSPattern

SMALL = PRESETS["highlight_small"]
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


@pytest.mark.parametrize("k, dw", [(1, 8), (2, 8), (64, 8), (1680, 8), (1000, 4), (7, 16)])
def test_min_acc_width_is_tight(k, dw):
    worst = k * 2 ** (2 * dw - 2)  # (-2^(dw-1))^2 summed k times
    w = HighLightConfig.min_acc_width(k, dw)
    assert worst <= 2 ** (w - 1) - 1 and worst > 2 ** (w - 2) - 1


def test_load_preset_and_files(tmp_path):
    assert HighLightConfig.load("highlight_small") is SMALL
    params = tmp_path / "p.json"
    params.write_text(json.dumps({**SMALL.parameters(), "name": "mine"}))
    assert HighLightConfig.load(str(params)).name == "mine"
    desc = tmp_path / "d.json"
    desc.write_text((RTL / "highlight_small.json").read_text())
    assert HighLightConfig.load(str(desc)) == SMALL
    with pytest.raises(ValueError, match="config must be a preset"):
        HighLightConfig.load("nope")
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


def test_provisioned_patterns_cover_every_density():
    pats = [HSSPattern.parse(p) for p in PRESETS["highlight_default"].provisioned_patterns()]
    for text in ["4:4,4:4", "4:5,4:4", "4:6,2:4", "4:7,1:4", "2:4,2:4", "1:7,1:4", "3:5,3:4"]:
        assert HSSPattern.parse(text) in pats
    assert len(pats) == len(set(pats)) == 4 * (7 + 6 + 5 + 4)


@pytest.mark.parametrize("g1, g0, beats", [(4, 4, 4), (4, 2, 2), (4, 1, 1), (2, 2, 1), (3, 3, 3), (3, 2, 2)])
def test_beats_per_group(g1, g0, beats):
    assert PRESETS["highlight_default"].beats_per_group(g1, g0) == beats
