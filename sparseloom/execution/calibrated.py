"""Calibrated compression on the cores: the same integer formats as SDQ and HSS, chosen with calibration data.

``sdq-gptq:C`` is SDQ with its outliers picked by |w| * ||x|| and its remainder quantised with GPTQ's error
compensation and a searched clipping range per group (``golden.gptq.gptq_sdq(clip=True)``); ``hss-sparsegpt:P`` prunes and quantises to int8 with SparseGPT's
updates (``golden.sparsegpt.sparsegpt``); ``hss-wanda:P`` prunes the int8 codes by |w| * ||x||
(``golden.sparsegpt.wanda``). Each needs ``calibrate(hessians)`` first: per layer, H = X^T X / rows of its input
on calibration data (``sparseloom.models.evaluation.Hessians``). The GEMMs, the host's scaling and the units
are those of ``SdqMethod`` and ``HssMethod``: only the codes differ. Where K is padded, H is padded with zero
rows and columns (dead inputs, whose weights the calibrated methods set to zero).
"""
from __future__ import annotations

import numpy as np

from sparseloom.golden import gptq, sparsegpt

from .pruned import HssMethod
from .sdq import SdqMethod


class _Calibrated:
    """The calibration statistics of a method, and a layer's H padded to its padded K."""

    hessians = None

    def calibrate(self, hessians) -> None:
        self.hessians = hessians

    def hessian(self, name: str, k: int) -> np.ndarray:
        if self.hessians is None:
            raise RuntimeError(f"method {self.text} needs calibrate(hessians) before program()")
        h = self.hessians[name]
        return np.pad(h, ((0, k - h.shape[0]), (0, k - h.shape[0])))


class SdqGptqMethod(_Calibrated, SdqMethod):
    """``sdq-gptq:N:M+WBgG``: activation-aware outliers, GPTQ-compensated remainder, on HighLight and LUT."""

    def __init__(self, config_text: str):
        super().__init__(config_text.removeprefix("sdq-gptq:"))
        self.text = f"sdq-gptq:{self.config}"

    def decompose(self, name: str, w: np.ndarray):
        h = self.hessian(name, w.shape[1])
        return gptq.gptq_sdq(w, h, self.config, outlier_score=gptq.activation_score(w, h), clip=True)


class HssSparseGptMethod(_Calibrated, HssMethod):
    """``hss-sparsegpt:G1:H1,G0:H0``: SparseGPT's joint pruning and int8 quantisation, on HighLight."""

    def __init__(self, pattern: str):
        super().__init__(pattern)
        self.text = f"hss-sparsegpt:{self.pattern}"

    def compress(self, name: str, w: np.ndarray):
        return sparsegpt.sparsegpt(w, self.hessian(name, w.shape[1]), self.pattern)


class HssWandaMethod(_Calibrated, HssMethod):
    """``hss-wanda:G1:H1,G0:H0``: the int8 codes pruned by |w| * ||x||, on HighLight."""

    def __init__(self, pattern: str):
        super().__init__(pattern)
        self.text = f"hss-wanda:{self.pattern}"

    def compress(self, name: str, w: np.ndarray):
        return sparsegpt.wanda(w, np.sqrt(np.diag(self.hessian(name, w.shape[1]))), self.pattern)
