"""The units as the analytical model sees them: architectures from their configurations, the
mapping their planners take, and counts that agree with the streams the planners pack (the
cocotb benches check the same counts against the beats the RTL took)."""
import itertools

import numpy as np
import pytest

from sparseloom.gen.sme.config import STEPS
from sparseloom.gen.tiles import ACCUMULATORS, BUFFER, HOST
from sparseloom.gen.unit import GemmShape
from sparseloom.golden import hss, lut
from sparseloom.model.mapping import LevelMapping, Mapping
from sparseloom.units import unit

HIGHLIGHT, DENSE, LUT, MAC, SME = unit("highlight"), unit("dense"), unit("lut"), unit("mac"), unit("sme")
SMALL = HIGHLIGHT.presets["highlight_small"]
PATTERN = hss.HSSPattern.parse("2:4,1:4")


def gemm(shape, pattern=None, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (shape.m, shape.k), dtype=np.int8)
    return (hss.prune(w, pattern) if pattern else w), rng.integers(-128, 128, (shape.k, shape.n), dtype=np.int8)


def beats(plan) -> dict:
    """The beats of every stream over all the plan's segments (the SME planner's programmings)."""
    segments = plan.segments()
    return {"act": sum(len(s.sources["act"]) for s in segments), "w": sum(len(s.sources["w"]) for s in segments),
            "result": sum(s.result_beats for s in segments)}


def assert_counts_are_beats(u, config, plan, result):
    for stream, (level, tensor, action, words) in u.traffic(config).items():
        stats = result.level(level)
        padding = plan.padding.get(stream, 0)   # zero rows filling a tile's last beat
        assert getattr(stats.tensors[tensor], action) * stats.instances == beats(plan)[stream] * words - padding, stream


@pytest.mark.parametrize("u, config, pattern", [
    (HIGHLIGHT, SMALL, PATTERN), (HIGHLIGHT, SMALL, hss.HSSPattern.parse("2:3,2:4")),
    (HIGHLIGHT, HIGHLIGHT.presets["highlight_default"], hss.HSSPattern.parse("3:5,3:4")),
    (HIGHLIGHT, HIGHLIGHT.presets["highlight_h8"], hss.HSSPattern.parse("2:4,4:8")),
    (DENSE, DENSE.presets["dense_small"], None), (DENSE, DENSE.presets["dense_h8"], None),
    (LUT, LUT.presets["lut_small"], lut.weight_format("3")), (LUT, LUT.presets["lut_default"], lut.weight_format("1")),
    (MAC, MAC.presets["mac_small"], lut.weight_format("ternary")),
])
@pytest.mark.parametrize("shape", [GemmShape(9, 5, 48), GemmShape(1, 1, 16), GemmShape(33, 17, 96)])
def test_model_counts_are_the_planned_stream_beats(u, config, pattern, shape):
    hss_pattern = pattern if isinstance(pattern, hss.HSSPattern) else None
    k = -(-shape.k // hss_pattern.group_size) * hss_pattern.group_size if hss_pattern else shape.k
    shape = GemmShape(shape.m, shape.n, k)
    w, x = gemm(shape, hss_pattern)
    if isinstance(pattern, lut.WeightFormat):
        w = np.clip(w, pattern.lo, pattern.hi).astype(np.int8) if 0 in pattern.values else np.where(w > 0, 1, -1).astype(np.int8)
    plan = u.plan(config, pattern, w, x)
    result = u.evaluate(config, shape, pattern)
    assert_counts_are_beats(u, config, plan, result)
    assert result.cycles == u.cycles(config, shape, pattern)


@pytest.mark.parametrize("preset", ["sme_small", "sme_tall", "sme_default", "sme_wide"])
@pytest.mark.parametrize("max_bits", [None, 1, 3])
@pytest.mark.parametrize("shape_of", [
    lambda c: GemmShape(9, 5, 30 if c.k_max > 30 else c.k_max - 1),   # a K tail, a part-filled output tile
    lambda c: GemmShape(1, 1, c.act_lanes - 1),                        # a vector shorter than a crossbar's rows
    lambda c: GemmShape(c.banks * c.xbar_cols + 3, 3, c.k_max),        # many programmings, several banks
])
def test_sme_counts_are_the_planned_beats_for_any_occupancy(preset, max_bits, shape_of):
    config = SME.presets[preset]
    shape = shape_of(config)
    w, x = gemm(shape, seed=shape.m + shape.k)
    if max_bits is None:   # sparse bits: whole slices empty, squeezed crossbars
        w = np.where(w % 3 == 0, w & 0x11, 0).astype(np.int8)
    plan = SME.plan(config, max_bits, w, x)
    result = SME.evaluate(config, shape, plan.encoding)
    assert_counts_are_beats(SME, config, plan, result)
    assert result.cycles == SME.cycles(config, shape, plan.encoding)
    # every loaded cell, every bit; the compute classification divides shares in floating point (+-1)
    assert abs(result.computes - beats(plan)["w"] * config.rows_per_beat * config.xbar_cols * shape.n * STEPS) <= 1


def test_sme_counts_without_any_crossbar():
    config = SME.presets["sme_small"]
    w, x = np.zeros((5, 7), np.int8), gemm(GemmShape(5, 3, 7))[1]
    plan = SME.plan(config, None, w, x)
    result = SME.evaluate(config, plan.shape, plan.encoding)
    assert_counts_are_beats(SME, config, plan, result)
    assert result.computes == 0 and not plan.programmings


def test_sme_model_takes_a_bit_budget_and_refuses_a_mapping():
    config, shape = SME.presets["sme_tall"], GemmShape(20, 6, 40)
    assert SME.evaluate(config, shape, 2).level(HOST).tensors["Weights"].reads > 0
    with pytest.raises(ValueError, match="the sme unit takes no mapping"):
        SME.evaluate(config, shape, None, Mapping(()))


def mapping_of(config, order, groups, shape, pattern):
    t = HIGHLIGHT.model(config, shape, pattern)[1]
    host, buf = t.at(HOST), t.at(BUFFER)
    k_tiles = -(-(shape.k // pattern.group_size) // groups)
    return Mapping((LevelMapping(HOST, {"N": host.temporal["N"], "K": k_tiles}, tuple(order)), buf,
                    LevelMapping(ACCUMULATORS, {"K": groups * pattern.group_size // config.lanes}, ("K",),
                                 {"K": config.lanes})))


@pytest.mark.parametrize("order, groups", [("NK", 1), ("KN", 1), ("NK", 3), ("KN", 2)])
def test_a_mapping_is_what_the_planner_and_the_models_run(order, groups):
    shape = GemmShape(5, 5, 6 * PATTERN.group_size)
    mapping = mapping_of(SMALL, order, groups, shape, PATTERN)
    w, x = gemm(shape, PATTERN)
    plan = HIGHLIGHT.plan(SMALL, PATTERN, w, x, mapping)
    assert plan.tiling.groups == groups and plan.tiling.order == order
    assert [t.k_index for t in plan.tiles][:2] == ([0, 1] if order == "KN" else [0, 0])
    assert np.array_equal(plan.assemble([[0] * plan.result_beats]), np.zeros((5, 5), np.int32))
    result = HIGHLIGHT.evaluate(SMALL, shape, PATTERN, mapping)
    assert result.cycles == HIGHLIGHT.cycles(SMALL, shape, PATTERN, mapping)
    # a beat is 4 banks x 4 rows of K x 2 columns; a K tile of 1-3 groups of 16 rows fills whole beats
    assert plan.padding["act"] == 0
    assert result.level(HOST).tensors["Inputs"].reads == beats(plan)["act"] * 32


@pytest.mark.parametrize("change, message", [
    (lambda m: Mapping((m.at(HOST), LevelMapping(BUFFER, {"M": 3, "K": 2}, ("K", "M"), dict(m.at(BUFFER).spatial)),
                        LevelMapping(ACCUMULATORS, {"K": 8}, ("K",), {"K": 2}))),
     "runs Buffer as temporal"),
    (lambda m: Mapping((m.at(HOST), LevelMapping(BUFFER, dict(m.at(BUFFER).temporal), ("K", "M"), {"M": 1, "N": 2}),
                        m.at("Accumulators"))), "runs Buffer as temporal"),
    (lambda m: Mapping((LevelMapping(HOST, {"N": 3, "K": 6}, ("K", "N")), m.at(BUFFER), m.at("Accumulators"))),
     "they must cover it with less than one tile"),
])
def test_mappings_the_hardware_cannot_run_are_refused(change, message):
    shape = GemmShape(5, 5, 6 * PATTERN.group_size)
    bad = change(mapping_of(SMALL, "KN", 2, shape, PATTERN))
    with pytest.raises(ValueError, match=message):
        HIGHLIGHT.evaluate(SMALL, shape, PATTERN, bad)


def test_a_tile_larger_than_the_buffer_is_refused():
    shape = GemmShape(2, 2, 8 * PATTERN.group_size)
    with pytest.raises(ValueError, match=r"a K tile of .* must be 1\.\.4 whole groups"):
        HIGHLIGHT.cycles(SMALL, shape, PATTERN, mapping_of(SMALL, "KN", 8, shape, PATTERN))



def tiling_of(mapping) -> tuple:
    """(host loop order where both loops run more than once, K tiles, K steps a tile)."""
    host, steps = mapping.at(HOST), mapping.at(ACCUMULATORS).temporal.get("K", 1)
    order = "".join(host.nest()[0])
    return (order if len(order) == 2 else "KN", host.temporal.get("K", 1), steps)


@pytest.mark.parametrize("u, config, encoding, group_len", [
    (HIGHLIGHT, SMALL, PATTERN, PATTERN.group_size),
    (DENSE, DENSE.presets["dense_small"], None, DENSE.presets["dense_small"].lanes),
    (LUT, LUT.presets["lut_small"], lut.weight_format("2"), LUT.presets["lut_small"].g),
    (MAC, MAC.presets["mac_small"], lut.weight_format("1"), MAC.presets["mac_small"].g),
])
@pytest.mark.parametrize("shape", [GemmShape(5, 9, 6 * PATTERN.group_size), GemmShape(3, 1, 20)])
def test_the_map_space_is_every_tiling_the_unit_accepts(u, config, encoding, group_len, shape):
    space = u.mappings(config, shape, encoding)
    evaluated = {tiling_of(m): u.evaluate(config, shape, encoding, m).cycles for m in space}
    assert len(evaluated) == len(space) > 1
    # brute force: every host order, K tile count and K steps a tile that the unit runs, less the
    # K tiles longer than K in whole groups
    default = u.model(config, shape, encoding)[1]
    host, acc = default.at(HOST), default.at(ACCUMULATORS)
    lanes, groups = acc.spatial.get("K", 1), -(-shape.k // group_len)
    accepted = set()
    for order, k_tiles, steps in itertools.product(("KN", "NK"), range(1, groups + 2),
                                                   range(1, config.k_max // lanes + 2)):
        mapping = Mapping((LevelMapping(HOST, {**host.temporal, "K": k_tiles}, tuple(order)), default.at(BUFFER),
                           LevelMapping(ACCUMULATORS, {**acc.temporal, "K": steps}, acc.permutation, acc.spatial)))
        try:
            u.cycles(config, shape, encoding, mapping)
        except ValueError:
            continue
        if steps * lanes <= groups * group_len:
            accepted.add(tiling_of(mapping))
    assert set(evaluated) == accepted
