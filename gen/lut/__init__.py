"""LUT Tensor Core (low-bit weight x INT8 GEMM by table look-up) and its MAC baseline."""
from .config import PRESETS, LutConfig, MacConfig

__all__ = ["LutConfig", "MacConfig", "PRESETS"]
