"""Unit records of the HighLight array and its dense baseline: cycle models, peaks, workloads."""
from __future__ import annotations

from sparseloom.golden.hss import HSSPattern, beats_per_group

from ..tiles import TileRun
from ..unit import Baseline, Bench, GemmShape, Setting, Unit, Workload
from .array import HighLightArray
from .baseline import DenseArray
from .config import DENSE_PRESETS, HIGHLIGHT_PRESETS, DenseConfig, HighLightConfig
from .plan import dense_tiling, highlight_tiling, plan_dense, plan_highlight


def highlight_runs(config: HighLightConfig, shape: GemmShape, pattern: HSSPattern) -> list[TileRun]:
    """A tile loads its K slice block by block and issues ``beats_per_group`` weight beats per
    group and row batch: empty blocks cost nothing, sparser blocks pack tighter."""
    t = highlight_tiling(config, shape, pattern)
    return [TileRun(loads=t.groups * pattern.h1, beats=t.batches * t.groups * beats_per_group(pattern, config.lanes),
                    tiles=t.tiles)]


def dense_runs(config: DenseConfig, shape: GemmShape, encoding=None) -> list[TileRun]:
    """One beat per block of ``lanes`` weights and row batch, zero or not."""
    t = dense_tiling(config, shape)
    return [TileRun(loads=t.groups, beats=t.batches * t.groups, tiles=t.tiles)]


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
        ("logic_overhead", "<=", 0.25), ("fmax_ratio", ">=", 0.90), ("eff_per_lc_ratio", ">=", 3.0))),
    bench=Bench("sparseloom.testbenches.highlight_tb", configs=tuple(HIGHLIGHT_PRESETS.values()),
                slow_tests=("large_gemm_sweep",)),
    ice40_presets=("highlight_small",),
)

DENSE = Unit(
    name="dense", summary="baseline: dense int8 array with HighLight's multipliers",
    config_class=DenseConfig, presets=DENSE_PRESETS, default_preset="dense_default",
    component=DenseArray, plan=plan_dense, tile_runs=dense_runs,
    peak_macs_per_cycle=lambda c, _: c.multipliers,
    workloads=dense_workloads,
    # dense_small is highlight_small's baseline; a 3 x 2 array of 4-lane PEs is non-square with
    # wider PEs at a shallow buffer.
    bench=Bench("sparseloom.testbenches.dense_tb",
                configs=(DENSE_PRESETS["dense_small"], DenseConfig("dense_3x2x4", rows=3, cols=2, lanes=4, k_max=32)),
                slow_configs=(DENSE_PRESETS["dense_default"],)),
    ice40_presets=("dense_small",),
)
