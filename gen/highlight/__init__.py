"""HighLight hierarchical-structured-sparsity PE array generator, and its dense baseline."""
from .array import HighLightArray
from .baseline import DenseArray
from .config import DENSE_PRESETS, HIGHLIGHT_PRESETS, DenseConfig, HighLightConfig
from .unit import DENSE, HIGHLIGHT

#: The unit records of this package (``sparseloom.units`` collects them).
UNITS = (HIGHLIGHT, DENSE)

__all__ = ["DENSE", "DENSE_PRESETS", "DenseArray", "DenseConfig", "HIGHLIGHT", "HIGHLIGHT_PRESETS",
           "HighLightArray", "HighLightConfig", "UNITS"]
