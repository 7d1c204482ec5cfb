"""Emit a generator configuration as reproducible Verilog plus a JSON description.

The description lists every port (name, direction, width, signedness), each stream's
payload fields with their bit offsets, all generator parameters and derived numbers,
so test benches and software read the same facts the Verilog was built from.
"""
from __future__ import annotations

import json
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import data

from sparseloom import __version__
from sparseloom.files import Outputs
from sparseloom.sim.bits import layout_fields
from sparseloom.units import unit_of


def build(config):
    """The elaboratable component of ``config``."""
    return unit_of(config).component(config)


def to_verilog(config, component=None) -> str:
    return verilog.convert(component or build(config), name=config.name, emit_src=False)


def describe(config, component) -> dict:
    """The JSON-ready description of ``component``, generated from ``config``."""
    ports = [{"name": "clk", "direction": "in", "width": 1, "signed": False},
             {"name": "rst", "direction": "in", "width": 1, "signed": False}]
    streams = {}
    for path, member, _ in component.signature.flatten(component):
        shape = Shape.cast(member.shape)
        ports.append({"name": "__".join(map(str, path)), "direction": member.flow.value.lower(),
                      "width": shape.width, "signed": shape.signed})
        if path[-1] == "payload" and isinstance(member.shape, data.Layout):
            streams[path[0]] = {"width": shape.width, "fields": layout_fields(member.shape)}
    return {
        "generator": unit_of(config).name,
        "generator_version": __version__,
        "name": config.name,
        "parameters": config.parameters(),
        "derived": config.derived(),
        "ports": ports,
        "streams": streams,
    }


def render(config) -> dict[str, str]:
    """``<name>.v`` and ``<name>.json`` of ``config``: file name -> text."""
    component = build(config)
    return {f"{config.name}.v": to_verilog(config, component),
            f"{config.name}.json": json.dumps(describe(config, component), indent=2) + "\n"}


def write(config, out_dir) -> tuple[Path, Path]:
    """Write ``<name>.v`` and ``<name>.json`` into ``out_dir``, both or neither."""
    outputs = Outputs()
    files = {outputs.add(Path(out_dir) / name, "out"): text for name, text in render(config).items()}
    outputs.write(files)
    return tuple(files)
