"""YAML and JSON in: the model's descriptions, and Timeloop's (whose YAML tags are read as plain maps)."""
from __future__ import annotations

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
