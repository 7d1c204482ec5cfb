"""The simulated units: configuration class and host-side planner of each."""
from sparseloom.gen.highlight import HighLightConfig
from sparseloom.gen.lut import LutConfig, MacConfig

from .highlight_plan import plan_gemm
from .lut_plan import plan_lut, plan_mac

#: unit -> (configuration class, planner(config, spec, W, X)); spec is the HSS pattern
#: for ``highlight`` and the weight format (wbits) for ``lut`` and ``mac``.
UNITS = {
    "highlight": (HighLightConfig, plan_gemm),
    "lut": (LutConfig, plan_lut),
    "mac": (MacConfig, plan_mac),
}
