"""Emit a generator configuration as reproducible Verilog plus a JSON description.

The description lists every port (name, direction, width, signedness), each stream's
payload fields with their bit offsets, all generator parameters and derived numbers,
so test benches and software read the same facts the Verilog was built from.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import data, wiring

from .highlight import DenseArray, DenseConfig, HighLightArray, HighLightConfig
from .lut import PRESETS as LUT_PRESETS
from .lut import LutConfig, MacConfig
from .lut.baseline import MacArray
from .lut.core import LutCore
from .sme import PRESETS as SME_PRESETS
from .sme import SmeConfig, SmeEngine

#: generator name -> (configuration class, component class, presets)
GENERATORS = {
    "highlight": (HighLightConfig, HighLightArray, HighLightConfig.presets()),
    "dense": (DenseConfig, DenseArray, DenseConfig.presets()),
    "lut": (LutConfig, LutCore, {n: c for n, c in LUT_PRESETS.items() if isinstance(c, LutConfig)}),
    "mac": (MacConfig, MacArray, {n: c for n, c in LUT_PRESETS.items() if isinstance(c, MacConfig)}),
    "sme": (SmeConfig, SmeEngine, SME_PRESETS),
}


def generator_of(config) -> str:
    for name, (cfg_cls, _, _) in GENERATORS.items():
        if isinstance(config, cfg_cls):
            return name
    raise TypeError(f"no generator takes a {type(config).__name__}; known: {', '.join(GENERATORS)}")


def default_configs() -> list:
    return [cfg for _, _, presets in GENERATORS.values() for cfg in presets.values()]


def build(config):
    """The elaboratable component of ``config``."""
    return GENERATORS[generator_of(config)][1](config)


def to_verilog(config, component=None) -> str:
    return verilog.convert(component or build(config), name=config.name, emit_src=False)


def layout_fields(layout, prefix=()) -> list[dict]:
    """Leaf fields of a ``lib.data`` layout with bit offsets, LSB first."""
    if not isinstance(layout, data.Layout):
        shape = Shape.cast(layout)
        return [{"field": ".".join(map(str, prefix)), "offset": 0,
                 "width": shape.width, "signed": shape.signed}]
    fields = []
    for key, field in layout:
        for leaf in layout_fields(field.shape, prefix + (key,)):
            fields.append({**leaf, "offset": leaf["offset"] + field.offset})
    return fields


def describe(config, component) -> dict:
    """The JSON-ready description of ``component``, generated from ``config``."""
    from sparseloom import __version__

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
        "generator": generator_of(config),
        "generator_version": __version__,
        "name": config.name,
        "parameters": config.parameters(),
        "derived": config.derived(),
        "ports": ports,
        "streams": streams,
    }


def write(config, out_dir) -> tuple[Path, Path]:
    """Write ``<name>.v`` and ``<name>.json``; both are produced before either is written."""
    component = build(config)
    desc = json.dumps(describe(config, component), indent=2) + "\n"
    text = to_verilog(config, component)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / f"{config.name}.v", out_dir / f"{config.name}.json")
    for path, content in zip(paths, (text, desc)):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
    return paths
