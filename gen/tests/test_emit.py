"""Emission: each JSON description matches its Verilog, output is byte-reproducible and committed."""
import json
import re
from pathlib import Path

import pytest

from sparseloom.gen import emit
from sparseloom.units import presets

RTL = Path(__file__).resolve().parents[2] / "rtl"
CONFIGS = {c.name: c for c in presets()}


def _verilog_ports(text: str, name: str) -> set:
    """(name, direction, width) of the top module's ports."""
    text = text[text.index(f"module {name}("):]
    text = text[:text.index("endmodule")]
    ports = set()
    for direction, width, port in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?\\?(\S+)\s*;", text, re.M):
        ports.add((port, "in" if direction == "input" else "out", int(width or 0) + 1))
    return ports


@pytest.mark.parametrize("name", list(CONFIGS))
def test_description_matches_committed_verilog(name):
    text = (RTL / f"{name}.v").read_text()
    desc = json.loads((RTL / f"{name}.json").read_text())
    described = {(p["name"], p["direction"], p["width"]) for p in desc["ports"]}
    assert described == _verilog_ports(text, name)
    assert desc["parameters"] == CONFIGS[name].parameters()
    for stream in desc["streams"].values():  # fields tile the payload exactly
        spans = sorted((f["offset"], f["width"]) for f in stream["fields"])
        assert spans[0][0] == 0 and sum(w for _, w in spans) == stream["width"]
        assert all(a + w == b for (a, w), (b, _) in zip(spans, spans[1:]))


def test_emission_is_reproducible_and_committed(tmp_path):
    first, _ = emit.write(CONFIGS["lut_small"], tmp_path / "a")
    second, _ = emit.write(CONFIGS["lut_small"], tmp_path / "b")
    text = first.read_text()
    assert text == second.read_text() == (RTL / "lut_small.v").read_text()
    assert "src =" not in text and str(Path.home()) not in text and "/work" not in text
