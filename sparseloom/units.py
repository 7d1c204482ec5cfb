"""Every unit record, collected from the generator packages: the one list every tool reads.

A generator package under ``gen/`` lists its records in ``UNITS`` (``gen/unit.py`` says what a
record holds); they are found here by walking the package, in package order, so adding a
unit is adding its package and its record.
"""
from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from sparseloom import gen
from sparseloom.gen.unit import Unit


@cache
def all_units() -> dict[str, Unit]:
    """Unit name -> record, for every generator package, packages in name order."""
    units: dict[str, Unit] = {}
    for info in sorted(pkgutil.iter_modules(gen.__path__), key=lambda i: i.name):
        if info.ispkg:
            for unit in getattr(importlib.import_module(f"{gen.__name__}.{info.name}"), "UNITS", ()):
                if unit.name in units:
                    raise RuntimeError(f"two units are named {unit.name!r}")
                units[unit.name] = unit
    return units


def unit(name: str) -> Unit:
    units = all_units()
    if name not in units:
        raise ValueError(f"unknown unit {name!r}; allowed: {', '.join(units)}")
    return units[name]


def unit_of(config) -> Unit:
    """The record whose configuration class ``config`` is an instance of."""
    for u in all_units().values():
        if type(config) is u.config_class:
            return u
    raise TypeError(f"no unit takes a {type(config).__name__}; known: {', '.join(all_units())}")


def load_config(name_or_file: str):
    """(unit, configuration) of a preset name or a JSON file of any unit's parameters or
    description (the unit whose configuration the file describes)."""
    units = all_units()
    for u in units.values():
        if name_or_file in u.presets:
            return u, u.presets[name_or_file]
    found, errors = [], []
    for u in units.values():
        try:
            found.append((u, u.load(name_or_file)))
        except (ValueError, TypeError) as e:
            errors.append(str(e))
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(f"config {name_or_file!r} fits the {' and '.join(u.name for u, _ in found)} units; "
                         f"give a description from rtl/, which names its generator")
    presets_list = ", ".join(name for u in units.values() for name in u.presets)
    if not errors or errors[0].startswith("config must be a preset"):
        raise ValueError(f"config must be a preset ({presets_list}) or a JSON file, got {name_or_file!r}")
    described = [e for e in errors if "describes" not in e and "unknown" not in e and "needs the parameters" not in e]
    raise ValueError((described or errors)[0])


def presets() -> list:
    """Every preset of every unit, in unit order: what ``make verilog`` writes to ``rtl/``."""
    return [config for u in all_units().values() for config in u.presets.values()]
