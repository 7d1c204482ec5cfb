"""Timeloop's and Sparseloop's ``timeloop-*.stats.txt`` read into numbers (what the reference
tests compare the model with).

``parse(text)`` gives ``levels``: level -> tensor -> fields, ``compute``: the compute level's
fields, and the summary's ``cycles``, ``computes`` and ``fj_per_compute``. A tensor's fields:
``tile``, ``occupancy`` (Sparseloop's largest utilized capacity), ``instances``, ``energy``,
``reads``/``fills``/``updates`` (Timeloop's scalar accesses, Sparseloop's actual ones), and
Sparseloop's ``algorithmic_``, ``gated_`` and ``skipped_`` accesses; its metadata accesses
``format_reads`` (and ``gated_``/``skipped_``, fills, updates) are ``[(metadata, payload)]``
units per rank, outermost rank first. The compute's: ``computes`` (actual), and
``algorithmic_computes``, ``gated_computes``, ``skipped_computes``.
"""
from __future__ import annotations

import re

_NAMES = {"Utilized capacity": "tile", "Data tile shape": "tile", "Max utilized data storage capacity": "occupancy",
          "Utilized instances (max)": "instances", "Energy (total)": "energy", "Computes (total)": "computes",
          "Actual Computes (total)": "computes", "Gated Computes (total)": "gated_computes",
          "Skipped Computes (total)": "skipped_computes", "Algorithmic Computes (total)": "algorithmic_computes"}
_ACCESS = re.compile(r"(Actual |Gated |Skipped |Algorithmic )?[Ss]calar (format )?(reads|fills|updates) \(per-instance\)")
_RANK = re.compile(r"\s+Rank \d+ \(metadata, payload\): \((\d+),\s*(\d+)\)")


def _key(name: str) -> str | None:
    if m := _ACCESS.fullmatch(name):
        kind = (m[1] or "Actual ").strip().lower()
        return ("" if kind == "actual" else f"{kind}_") + ("format_" if m[2] else "") + m[3]
    return _NAMES.get(name)


def parse(text: str) -> dict:
    levels: dict[str, dict] = {}
    scopes: dict[str, dict] = {}
    level = tensor = pending = None
    body = text.split("Summary Stats")[0].split("Operational Intensity Stats")[0]
    for line in body.splitlines():
        if m := re.match(r"=== (\S+) ===", line.strip()):
            level, tensor, pending = m[1], None, None
            levels.setdefault(level, {})
            scopes.setdefault(level, {})
        elif m := re.match(r"\s{4}(\w+):\s*$", line):
            tensor, pending = m[1], None
            levels[level][tensor] = {}
        elif m := _RANK.match(line):
            if pending is not None:
                pending.append((int(m[1]), int(m[2])))
        elif level is not None:
            name, colon, value = line.partition(":")
            key = _key(name.strip())
            fields = levels[level][tensor] if tensor else scopes[level]
            pending = None
            if key is None:
                continue
            number = re.match(r"\s*([\d.]+)", value) if colon else None
            if number:
                fields[key] = float(number[1])
            else:
                pending = fields[key] = []   # a block of ranks follows
    summary = text.split("Summary Stats")[1]
    compute = next(s for s in scopes.values() if "computes" in s)
    return {"levels": levels, "compute": compute, "computes": int(compute["computes"]),
            "cycles": int(re.search(r"Cycles: (\d+)", summary)[1]),
            "fj_per_compute": float(re.search(r"fJ/Compute.*?\n\s+Total\s+=\s+([\d.]+)", summary, re.DOTALL)[1])}
