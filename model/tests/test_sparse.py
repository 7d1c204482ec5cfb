"""Sparse acceleration on small designs: gating keeps cycles and skipping saves them, metadata in
units and bits (Sparseloop's formats and HighLight's HSS), compute-level actions, actual data as
a density model, the legacy ``skip`` shorthand, and the refusals that name what is allowed."""
import json

import numpy as np
import pytest

from sparseloom.model.analysis import analyse
from sparseloom.model.arch import Architecture, Compute, Level
from sparseloom.model.density import HSS, ActualData, Dense, FixedStructured
from sparseloom.model.formats import HSSFormat, TensorFormat
from sparseloom.model.mapping import LevelMapping, Mapping
from sparseloom.model.sparse import Action, Sparsity
from sparseloom.model.workload import Tensor, Workload

DOT = Workload("dot", {"K": 16, "M": 1}, (Tensor("A", (((1, "K"),),)), Tensor("B", (((1, "K"),),)),
                                          Tensor("Z", (((1, "M"),),), output=True)))
ARCH = Architecture("buffer", (Level("Buffer", capacity=64, read_bandwidth=3, write_bandwidth=1,
                                     energy={"read": 2.0, "write": 1.0, "update": 1.0, "metadata_read": 0.5}),),
                    Compute("mac", 1, energy=0.3))
FLAT = Mapping((LevelMapping("Buffer", {"K": 16}),))
SPARSE_A = {"A": FixedStructured(0.25)}


def on_a(kind, compressed=False, compute=()):
    """B and Z gated or skipped on A at the buffer (A compressed there or not), plus compute actions."""
    return Sparsity(SPARSE_A, {("Buffer", "A"): TensorFormat.parse(["CP"])} if compressed else {},
                    (Action("Buffer", kind, ("A",), "B"), Action("Buffer", kind, ("A",), "Z")) + tuple(compute))


def test_gating_takes_the_cycles_skipping_saves_them():
    gated = analyse(DOT, ARCH, FLAT, sparsity=on_a("gating"))
    skipped = analyse(DOT, ARCH, FLAT, sparsity=on_a("skipping", compressed=True))
    b, z = gated.level("Buffer").tensors["B"], gated.level("Buffer").tensors["Z"]
    assert (b.reads, b.gated["reads"], z.reads, z.gated["reads"], z.updates, z.gated["updates"]) == (4, 12, 3, 12, 4, 12)
    assert gated.cycles == 16   # 16 updates, gated or not, at one a cycle
    assert skipped.level("Buffer").tensors["B"].skipped["reads"] == 12 and skipped.cycles == 5
    assert gated.computes == skipped.computes == 4
    assert gated.compute_actions == {"algorithmic": 16, "effectual": 4, "gated": 0, "skipped": 0}
    assert skipped.energy_pj < gated.energy_pj
    json.dumps(skipped.to_dict())


def test_compressed_metadata_in_units_and_bits():
    a = analyse(DOT, ARCH, FLAT, sparsity=on_a("skipping", compressed=True)).level("Buffer").tensors["A"]
    assert (a.reads, a.algorithmic["reads"], a.format, a.occupancy) == (4, 16, "CP", 4.0)
    assert a.metadata["reads"]["actual"] == [[4, 0]]          # a coordinate per non-zero
    assert a.metadata_bits["reads"]["actual"] == 4 * 4        # of log2(16) bits: the format's own width
    worded = Architecture("b", (Level("Buffer", capacity=64, metadata_word_bits=5),), Compute("mac", 1))
    a = analyse(DOT, worded, FLAT, sparsity=on_a("skipping", compressed=True)).level("Buffer").tensors["A"]
    assert a.metadata_bits["reads"]["actual"] == 4 * 5        # the level's metadata word


def test_hss_stores_log2_m_bits_per_kept_element_per_rank():
    gemm = Workload.gemm(2, 1, 32)
    arch = Architecture("dram", (Level("DRAM"),), Compute("mac", 1))
    mapping = Mapping((LevelMapping("DRAM", {"M": 2, "K": 32}),))
    pattern = HSS.parse("2:4,2:4")
    result = analyse(gemm, arch, mapping, sparsity=Sparsity({"Weights": pattern},
                                                              {("DRAM", "Weights"): HSSFormat(pattern)}))
    w = result.level("DRAM").tensors["Weights"]
    assert w.reads == 16 and w.format == "HSS(2:4,2:4)"
    assert w.metadata["reads"]["actual"] == [[8, 0], [16, 0]]   # 8 kept blocks, 16 kept values
    assert w.metadata_bits["reads"]["actual"] == 8 * 2 + 16 * 2


def test_compute_actions_gate_stored_zeros_and_skip_absent_ones():
    gating = Action("mac", "gating", ("A", "B"))
    gated = analyse(DOT, ARCH, FLAT, sparsity=Sparsity(SPARSE_A, actions=(gating,)))
    assert gated.compute_actions == {"algorithmic": 16, "effectual": 4, "gated": 12, "skipped": 0}
    assert gated.cycles == 16
    skipping = Action("mac", "skipping", ("A", "B"))
    skipped = analyse(DOT, ARCH, FLAT, sparsity=Sparsity(SPARSE_A, {("Buffer", "A"): TensorFormat.parse("CP")},
                                                          (skipping,)))
    assert skipped.compute_actions == {"algorithmic": 16, "effectual": 4, "gated": 0, "skipped": 12}


def test_actual_data_drives_the_optimisations():
    a = np.zeros(16)
    a[[1, 6, 7, 12]] = 3
    result = analyse(DOT, ARCH, FLAT, sparsity=Sparsity({"A": ActualData(a)},
                                                         actions=(Action("Buffer", "gating", ("A",), "B"),)))
    assert result.level("Buffer").tensors["B"].gated["reads"] == 12 and result.computes == 4


def test_the_skip_shorthand_still_works():
    result = analyse(DOT, ARCH, FLAT, skip={"A": 0.25})
    assert result.computes == 4 and result.level("Buffer").tensors["B"].reads == 4
    assert result.compute_actions == {"algorithmic": 16, "effectual": 4, "gated": 0, "skipped": 12}
    assert analyse(DOT, ARCH, FLAT, sparsity=Sparsity()).computes == 16


@pytest.mark.parametrize("sparsity, message", [
    (lambda: Sparsity({"Q": Dense()}), r"has no tensor 'Q'; allowed: A, B, Z"),
    (lambda: Sparsity({"A": 0.5}), r"densities: A must be a density model"),
    (lambda: Sparsity(formats={("Nowhere", "A"): TensorFormat.parse("CP")}), r"no level 'Nowhere'; allowed: Buffer"),
    (lambda: Sparsity(formats={("Buffer", "A"): TensorFormat.parse("XYZ")}),
     r"format must be one of U, B, UB, CP, RLE, UOP, got 'XYZ'"),
    (lambda: Sparsity(actions=(Action("Nowhere", "gating", ("A",), "B"),)),
     r"unknown level 'Nowhere'; allowed: Buffer, mac \(the compute\)"),
    (lambda: Sparsity(actions=(Action("Buffer", "pruning", ("A",), "B"),)), r"kind must be one of gating, skipping"),
    (lambda: Sparsity(actions=(Action("Buffer", "gating", ("A",)),)), r"needs a target tensor; allowed: A, B, Z"),
    (lambda: Sparsity(actions=(Action("mac", "gating", ("A",), "B"),)), r"no target tensor"),
    (lambda: Sparsity(actions=(Action("Buffer", "gating", ("Q",), "B"),)), r"has no tensor 'Q'"),
    (lambda: Sparsity(actions=(Action("Buffer", "gating", (), "B"),)), r"condition_on needs at least one of A, B, Z"),
])
def test_bad_specs_name_what_is_allowed(sparsity, message):
    with pytest.raises(ValueError, match=message):
        analyse(DOT, ARCH, FLAT, sparsity=sparsity())


def test_a_format_needs_a_rank_per_loop_and_skip_excludes_sparsity():
    gemm = Workload.gemm(4, 1, 4)
    arch = Architecture("b", (Level("Buffer"),), Compute("mac", 1))
    mapping = Mapping((LevelMapping("Buffer", {"M": 4, "K": 4}),))
    with pytest.raises(ValueError, match=r"Weights at Buffer has 1 ranks \(CP\) but its tile needs more"):
        analyse(gemm, arch, mapping, sparsity=Sparsity(formats={("Buffer", "Weights"): TensorFormat.parse("CP")}))
    with pytest.raises(ValueError, match="give skip .* or sparsity"):
        analyse(DOT, ARCH, FLAT, skip={"A": 0.5}, sparsity=Sparsity())
