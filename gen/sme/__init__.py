"""SME bit-sliced crossbar engine: crossbar slices, squeeze-out input router, shift-add splicing."""
from .config import PRESETS, SmeConfig
from .engine import SmeEngine
from .unit import SME

#: The unit records of this package (``sparseloom.units`` collects them).
UNITS = (SME,)

__all__ = ["PRESETS", "SME", "SmeConfig", "SmeEngine", "UNITS"]
