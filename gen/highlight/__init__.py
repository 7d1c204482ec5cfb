"""HighLight hierarchical-structured-sparsity PE array generator."""
from .array import HighLightArray
from .config import PRESETS, HighLightConfig

__all__ = ["HighLightArray", "HighLightConfig", "PRESETS"]
