"""YAML and JSON in: the model's descriptions, and Timeloop's (whose YAML tags are read as plain maps)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads any ``!Tag`` node as its plain map, list or scalar."""


def _untagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_Loader.add_multi_constructor("!", _untagged)


def load(path) -> dict | list:
    """A YAML or JSON file (JSON is YAML)."""
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    return yaml.load(text, Loader=_Loader)


def record(cls, d, what: str):
    """The frozen dataclass ``cls`` from the mapping ``d`` of its fields; anything else is a
    ValueError naming ``what``, the unknown keys and the allowed ones."""
    fields = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(d, dict):
        raise ValueError(f"{what}: must be a mapping of {', '.join(fields)}, got {type(d).__name__}")
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"{what}: unknown keys {unknown}; allowed: {', '.join(fields)}")
    try:
        return cls(**d)
    except TypeError as e:
        raise ValueError(f"{what}: {e}") from None
