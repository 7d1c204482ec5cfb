"""Unit records of the LUT Tensor Core and its dequantise-then-MAC baseline."""
from __future__ import annotations

from sparseloom.golden import lut
from sparseloom.model import energy
from sparseloom.model import workload as einsum
from sparseloom.model.arch import Architecture, Compute, Level

from ..tiles import ACCUMULATORS, BUFFER, HOST, TileRun
from ..unit import Baseline, Bench, GemmShape, Setting, Unit, Workload
from .baseline import MacArray
from .config import LUT_PRESETS, MAC_PRESETS, LutConfig, MacConfig
from .core import LutCore
from .plan import low_bit_mappings, low_bit_tiling, plan_lut, plan_mac

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


def low_bit_architecture(config, table: energy.EnergyTable = energy.DEFAULT) -> Architecture:
    """The LUT core or its baseline as the model sees it: the host's memory, the buffer a tile
    loads into one group of ``g`` activations a cycle (the LUT core's tables, the baseline's
    activations), one accumulator per output of the tile (from zero; the host adds K tiles),
    and the compute units: a weight bit times an activation by table look-up on the LUT core
    (``g`` of them a look-up), a dequantised weight times an activation on the baseline."""
    e, aw, xw = table, config.acc_width, config.act_width
    units = config.m_tile * config.n_tile
    if isinstance(config, LutConfig):
        memory_bits = config.derived()["table_memory_bits"]
        buffer_energy = e.sram(memory_bits, config.table_width) / config.g  # one entry serves g activations
        compute = Compute("LookUps", units * config.g, e.add(aw) / config.g, 1, area_um2=e.add_area(aw) / config.g)
    else:
        memory_bits = 2 * config.max_groups * config.g * config.n_tile * xw
        buffer_energy = e.sram(memory_bits, xw)
        compute = Compute("Multipliers", units, e.multiply(config.max_wbits + 1, xw) + e.add(aw), xw,
                          area_um2=e.multiply_area(config.max_wbits + 1, xw) + e.add_area(aw))
    return Architecture(config.name, (
        Level(HOST, word_bits=xw, energy={action: e.dram(xw) for action in ("read", "write", "update")}),
        Level(BUFFER, capacity=config.k_max * config.n_tile, word_bits=xw, keeps=("Inputs",),
              energy={"read": buffer_energy, "write": buffer_energy}, area_um2=e.storage_area(memory_bits)),
        Level(ACCUMULATORS, instances=units, capacity=1, word_bits=aw, keeps=("Outputs",), flushes=True,
              energy={action: e.sram(aw, aw) for action in ("read", "write", "update")}, area_um2=e.storage_area(aw)),
    ), compute)


def lut_model(config: LutConfig, shape: GemmShape, fmt: lut.WeightFormat, mapping=None):
    """The padded bit-serial GEMM the LUT core runs (``planes`` weight bits per weight)."""
    t = low_bit_tiling(config, shape, fmt, mapping)
    p = t.padded(config)
    workload = einsum.Workload.bitserial_gemm(p["M"], p["N"], p["K"], fmt.planes, name="gemm")
    return (workload.with_bits(Weights=1, Inputs=config.act_width, Outputs=config.acc_width),
            t.mapping(config, config.g, fmt.planes), None)


def mac_model(config: MacConfig, shape: GemmShape, fmt: lut.WeightFormat, mapping=None):
    """The padded GEMM the baseline runs, one dequantised weight a MAC."""
    t = low_bit_tiling(config, shape, fmt, mapping)
    p = t.padded(config)
    workload = einsum.Workload.gemm(p["M"], p["N"], p["K"], name="gemm")
    return (workload.with_bits(Weights=fmt.planes, Inputs=config.act_width, Outputs=config.acc_width),
            t.mapping(config, 1), None)


def low_bit_traffic(config) -> dict:
    """A beat of ``g`` activations per column, a beat of weight bits (``g`` plane bits per row
    on the LUT core, one weight per row on the baseline), a row batch of results."""
    per_row = config.g if isinstance(config, LutConfig) else 1
    return {"act": (HOST, "Inputs", "reads", config.g * config.n_tile),
            "w": (HOST, "Weights", "reads", config.m_tile * per_row),
            "result": (HOST, "Outputs", "updates", config.m_tile * config.n_tile)}


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
    ice40_presets=("lut_small",), architecture=low_bit_architecture, model=lut_model, traffic=low_bit_traffic,
    mappings=low_bit_mappings,
)

MAC = Unit(
    name="mac", summary="baseline: dequantise low-bit W (--wbits), then int8 MACs",
    config_class=MacConfig, presets=MAC_PRESETS, default_preset="mac_default",
    component=MacArray, plan=plan_mac, tile_runs=mac_runs,
    peak_macs_per_cycle=lambda c, fmt: c.m_tile * c.n_tile,
    workloads=low_bit_workloads, setting=WBITS,
    bench=Bench("sparseloom.testbenches.lut_tb", configs=tuple(MAC_PRESETS.values())),
    ice40_presets=("mac_small",), architecture=low_bit_architecture, model=mac_model, traffic=low_bit_traffic,
    mappings=low_bit_mappings,
)
