"""The simulated units: configuration class and host-side planner of each."""
from sparseloom.gen.highlight import DenseConfig, HighLightConfig
from sparseloom.gen.lut import LutConfig, MacConfig
from sparseloom.gen.sme import SmeConfig

from .highlight_plan import plan_dense, plan_gemm
from .lut_plan import plan_lut, plan_mac
from .sme_plan import plan_sme

#: unit -> (configuration class, planner(config, spec, W, X)); spec is the HSS pattern
#: for ``highlight``, "int8" for ``dense``, the weight format (wbits) for ``lut`` and ``mac``, and the largest
#: number of set bits per weight ("none": no orchestration) for ``sme``.
UNITS = {
    "highlight": (HighLightConfig, plan_gemm),
    "dense": (DenseConfig, plan_dense),
    "lut": (LutConfig, plan_lut),
    "mac": (MacConfig, plan_mac),
    "sme": (SmeConfig, plan_sme),
}
