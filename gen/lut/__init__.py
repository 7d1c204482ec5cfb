"""LUT Tensor Core (low-bit weight x INT8 GEMM by table look-up) and its MAC baseline."""
from .config import LUT_PRESETS, MAC_PRESETS, LutConfig, MacConfig
from .unit import LUT, MAC

#: The unit records of this package (``sparseloom.units`` collects them).
UNITS = (LUT, MAC)

__all__ = ["LUT", "LUT_PRESETS", "LutConfig", "MAC", "MAC_PRESETS", "MacConfig", "UNITS"]
