"""Unit records of the HighLight array and its dense baseline: cycle models, peaks, workloads,
and the two as the analytical model sees them."""
from __future__ import annotations

from sparseloom.golden.hss import HSSPattern, beats_per_group
from sparseloom.model import energy
from sparseloom.model import workload as einsum
from sparseloom.model.arch import Architecture, Compute, Level

from ..tiles import ACCUMULATORS, BUFFER, HOST, TileRun
from ..unit import Baseline, Bench, GemmShape, Setting, Unit, Workload
from .array import HighLightArray
from .baseline import DenseArray
from .config import DENSE_PRESETS, HIGHLIGHT_PRESETS, DenseConfig, HighLightConfig
from .plan import dense_mappings, dense_tiling, highlight_mappings, highlight_tiling, plan_dense, plan_highlight


def highlight_runs(config: HighLightConfig, shape: GemmShape, pattern: HSSPattern, mapping=None) -> list[TileRun]:
    """A tile loads its K slice ``banks`` blocks a beat and issues ``beats_per_group`` weight beats
    per group and row batch: empty blocks cost nothing, sparser blocks pack tighter."""
    t = highlight_tiling(config, shape, pattern, mapping)
    return [TileRun(loads=-(-t.groups * pattern.h1 // config.banks), beats=t.batches * t.groups * beats_per_group(pattern, config.lanes),
                    tiles=t.tiles)]


def dense_runs(config: DenseConfig, shape: GemmShape, encoding=None, mapping=None) -> list[TileRun]:
    """``load_blocks`` blocks of activations a load beat; one weight beat per block of ``lanes``
    weights and row batch, zero or not."""
    t = dense_tiling(config, shape, mapping)
    return [TileRun(loads=-(-t.groups // config.load_blocks), beats=t.batches * t.groups, tiles=t.tiles)]


def lane_array(config, table: energy.EnergyTable = energy.DEFAULT) -> Architecture:
    """HighLight or its dense baseline as the model sees it: the host's memory (W streams from
    it straight to the PEs), the double-buffered activation buffer (``k_max`` x ``cols`` words a
    half), one accumulator per PE (summing one row batch of one tile, then sent to the host, which
    adds the K tiles),
    and the multipliers (each with its adder into the PE's sum). Energies and areas from
    ``sparseloom.model.energy``'s defaults; HighLight's selection muxes are in no table, so its
    area here is the dense array's (the FPGA table measures the difference)."""
    e, dw, aw = table, config.data_width, config.acc_width
    buffer_bits = config.derived()["activation_buffer_bits"]
    pes = config.rows * config.cols
    return Architecture(config.name, (
        Level(HOST, word_bits=dw, energy={action: e.dram(dw) for action in ("read", "write", "update")}),
        Level(BUFFER, capacity=config.k_max * config.cols, word_bits=dw, keeps=("Inputs",),
              energy={"read": e.sram(buffer_bits, dw), "write": e.sram(buffer_bits, dw)},
              area_um2=e.storage_area(buffer_bits)),
        Level(ACCUMULATORS, instances=pes, capacity=1, word_bits=aw, keeps=("Outputs",), flushes=True,
              energy={action: e.sram(aw, aw) for action in ("read", "write", "update")}, area_um2=e.storage_area(aw)),
    ), Compute("Multipliers", pes * config.lanes, e.multiply(dw, dw) + e.add(aw), dw,
               area_um2=e.multiply_area(dw, dw) + e.add_area(aw)))


def highlight_model(config: HighLightConfig, shape: GemmShape, pattern: HSSPattern, mapping=None):
    """The padded GEMM the array runs, its mapping, and the multiplies it skips: a group of
    ``h1 x h0`` weights takes ``beats_per_group`` beats of ``lanes`` multipliers, so that is the
    share of the dense multiplies it does (the pattern's density where its blocks fill the beats,
    more where some lanes carry padding zeros)."""
    t = highlight_tiling(config, shape, pattern, mapping)
    slots = beats_per_group(pattern, config.lanes) * config.lanes / pattern.group_size
    return _lane_gemm(config, t), t.mapping(config, config.lanes), {"Weights": slots}


def lane_array_traffic(config) -> dict:
    """Each stream's beat as the model's words at the host: a block of activations, a beat of
    weight values (``lanes`` per PE row), a row batch of results."""
    act = config.act_layout
    return {"act": (HOST, "Inputs", "reads", act.length * act.elem_shape.length),
            "w": (HOST, "Weights", "reads", config.rows * config.lanes),
            "result": (HOST, "Outputs", "updates", config.rows * config.cols)}


def dense_model(config: DenseConfig, shape: GemmShape, encoding=None, mapping=None):
    """The padded GEMM the dense array runs, every weight a multiply."""
    t = dense_tiling(config, shape, mapping)
    return _lane_gemm(config, t), t.mapping(config, config.lanes), None


def _lane_gemm(config, tiling):
    """The padded GEMM; a weight slot's width is its share of the RTL's weight beat (on HighLight
    the value with its rank-0 offset and its share of the rank-1 block index)."""
    p = tiling.padded(config)
    slots = config.rows * config.lanes
    bits = config.weight_layout.size // slots if config.weight_layout.size % slots == 0 else (
        config.weight_layout.size / slots)
    return einsum.Workload.gemm(p["M"], p["N"], p["K"], name="gemm").with_bits(
        Weights=bits, Inputs=config.data_width, Outputs=config.acc_width)


def highlight_workloads(c: HighLightConfig) -> list[Workload]:
    """25% dense where the array provisions it (2:4 over half-full blocks, e.g. 2:4,2:4)."""
    pattern = HSSPattern(min(2, c.g1_max), min(4, c.h1_max), min(c.h0 // 2, c.g0_max), c.h0)
    shape = GemmShape(8 * c.rows, 4 * c.cols, min(c.k_max, 16 * pattern.group_size))
    return [Workload(str(pattern), shape, pattern, "M=8 rows, K<=16 groups")]


def dense_workloads(c: DenseConfig) -> list[Workload]:
    """The HighLight workload's shape; a dense array does every weight, zero or not."""
    shape = GemmShape(8 * c.rows, 4 * c.cols, min(c.k_max, 256))
    return [Workload("int8", shape, None, "the HighLight workload's shape, every weight a slot")]


HIGHLIGHT = Unit(
    name="highlight", summary="HighLight HSS array: Y = W @ X, W satisfying --pattern",
    config_class=HighLightConfig, presets=HIGHLIGHT_PRESETS, default_preset="highlight_default",
    component=HighLightArray, plan=plan_highlight, tile_runs=highlight_runs,
    peak_macs_per_cycle=lambda c, pattern: c.multipliers / pattern.density,
    workloads=highlight_workloads,
    setting=Setting("--pattern", "G1:H1,G0:H0 that W satisfies, e.g. 2:4,2:4", HSSPattern.parse),
    baseline=Baseline("dense", lambda c: DenseConfig.matching(c, f"{c.name}_dense"), floors=(
        ("logic_overhead", "<=", 0.25), ("fmax_ratio", ">=", 0.95), ("eff_per_lc_ratio", ">=", 3.0))),
    bench=Bench("sparseloom.testbenches.highlight_tb",
                configs=tuple(c for c in HIGHLIGHT_PRESETS.values() if c.name != "highlight_ecp5"),
                slow_configs=(HIGHLIGHT_PRESETS["highlight_ecp5"],), slow_tests=("large_gemm_sweep",)),
    ice40_presets=("highlight_small",), architecture=lane_array, model=highlight_model, traffic=lane_array_traffic,
    mappings=highlight_mappings,
)

DENSE = Unit(
    name="dense", summary="baseline: dense int8 array with HighLight's multipliers",
    config_class=DenseConfig, presets=DENSE_PRESETS, default_preset="dense_default",
    component=DenseArray, plan=plan_dense, tile_runs=dense_runs,
    peak_macs_per_cycle=lambda c, _: c.multipliers,
    workloads=dense_workloads,
    # dense_small is highlight_small's baseline; a 3 x 2 array of 4-lane PEs is non-square with
    # wider PEs at a shallow buffer, two blocks a load beat.
    bench=Bench("sparseloom.testbenches.dense_tb",
                configs=(DENSE_PRESETS["dense_small"],
                         DenseConfig("dense_3x2x4", rows=3, cols=2, lanes=4, k_max=32, load_blocks=2)),
                slow_configs=(DENSE_PRESETS["dense_default"], DENSE_PRESETS["dense_ecp5"])),
    ice40_presets=("dense_small",), architecture=lane_array, model=dense_model, traffic=lane_array_traffic,
    mappings=dense_mappings,
)
