"""HighLight hierarchical-structured-sparsity PE array generator, and its dense baseline."""
from .array import HighLightArray
from .baseline import DenseArray
from .config import PRESETS, DenseConfig, HighLightConfig

__all__ = ["DenseArray", "DenseConfig", "HighLightArray", "HighLightConfig", "PRESETS"]
