"""Neural-approximation NPU: a fixed-point MLP engine with weight banks swapped in one cycle."""
from .config import PRESETS, NpuConfig
from .core import NpuCore
from .unit import NPU

#: The unit records of this package (``sparseloom.units`` collects them).
UNITS = (NPU,)

__all__ = ["NPU", "NpuConfig", "NpuCore", "PRESETS", "UNITS"]
