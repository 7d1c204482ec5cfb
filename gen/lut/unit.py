"""Unit records of the LUT Tensor Core and its dequantise-then-MAC baseline."""
from __future__ import annotations

from sparseloom.golden import lut

from ..tiles import TileRun
from ..unit import Baseline, Bench, GemmShape, Setting, Unit, Workload
from .baseline import MacArray
from .config import LUT_PRESETS, MAC_PRESETS, LutConfig, MacConfig
from .core import LutCore
from .plan import low_bit_tiling, plan_lut, plan_mac

WBITS = Setting("--wbits", "weight format: 1 = {-1,+1}, 2..4-bit two's complement, ternary {-1,0,+1}",
                lut.weight_format, choices=tuple(lut.FORMATS))


def lut_runs(config: LutConfig, shape: GemmShape, fmt: lut.WeightFormat, mapping=None) -> list[TileRun]:
    """A tile loads one group of activations per cycle (the tables build as they stream in)
    and issues one beat per weight plane, group and row batch: fewer bits, fewer cycles."""
    t = low_bit_tiling(config, shape, fmt, mapping)
    return [TileRun(loads=t.groups, beats=t.batches * t.groups * fmt.planes, tiles=t.tiles)]


def mac_runs(config: MacConfig, shape: GemmShape, fmt: lut.WeightFormat, mapping=None) -> list[TileRun]:
    """One beat per column of W and row batch, whatever the weight width."""
    t = low_bit_tiling(config, shape, fmt, mapping)
    return [TileRun(loads=t.groups, beats=t.batches * t.groups * config.g, tiles=t.tiles)]


def low_bit_workloads(c) -> list[Workload]:
    """W2 and W1 {-1, +1} weights x INT8 (the same for the LUT core and its baseline)."""
    shape = GemmShape(4 * c.m_tile, 2 * c.n_tile, min(c.k_max, 256))
    return [Workload(f"W{b}", shape, lut.weight_format(b), f"W{b} x INT8") for b in (2, 1)]


LUT = Unit(
    name="lut", summary="LUT Tensor Core: low-bit W (--wbits) x int8 X by table look-up",
    config_class=LutConfig, presets=LUT_PRESETS, default_preset="lut_default",
    component=LutCore, plan=plan_lut, tile_runs=lut_runs,
    peak_macs_per_cycle=lambda c, fmt: c.wbit_macs_per_cycle / fmt.planes,
    workloads=low_bit_workloads, setting=WBITS,
    baseline=Baseline("mac", lambda c: MacConfig.matching(c, f"{c.name}_mac"),
                      floors=(("eff_per_lc_ratio", ">=", 1.5),), dsp_off_only=True),
    bench=Bench("sparseloom.testbenches.lut_tb", configs=tuple(LUT_PRESETS.values())),
    ice40_presets=("lut_small",),
)

MAC = Unit(
    name="mac", summary="baseline: dequantise low-bit W (--wbits), then int8 MACs",
    config_class=MacConfig, presets=MAC_PRESETS, default_preset="mac_default",
    component=MacArray, plan=plan_mac, tile_runs=mac_runs,
    peak_macs_per_cycle=lambda c, fmt: c.m_tile * c.n_tile,
    workloads=low_bit_workloads, setting=WBITS,
    bench=Bench("sparseloom.testbenches.lut_tb", configs=tuple(MAC_PRESETS.values())),
    ice40_presets=("mac_small",),
)
