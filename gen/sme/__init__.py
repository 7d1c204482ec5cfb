"""SME bit-sliced crossbar engine: crossbar slices, squeeze-out input router, shift-add splicing."""
from .config import PRESETS, SmeConfig
from .engine import SmeEngine

__all__ = ["PRESETS", "SmeConfig", "SmeEngine"]
