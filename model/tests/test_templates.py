"""The systolic templates against counts derived by hand from their dataflows."""
import math

import pytest

from sparseloom.model.templates import Systolic


def up(x, step):
    return -(-x // step) * step


def piece(size, rows, cols, words):
    """The largest divisor of ``size`` whose stream, with the array's stationary tile, fits ``words``."""
    return max(d for d in range(1, size + 1) if size % d == 0 and (rows + cols) * d + rows * cols <= words)


@pytest.mark.parametrize("rows,cols", [(16, 16), (8, 4), (3, 5)])
@pytest.mark.parametrize("m,n,k", [(100, 50, 300), (16, 16, 16), (7, 129, 33)])
def test_weight_stationary_moves_each_weight_once_per_buffer_piece(rows, cols, m, n, k):
    t = Systolic("ws", rows, cols, "weight_stationary", buffer_words=4096)
    r = t.evaluate(m, n, k)
    mp, kp = up(m, cols), up(k, rows)
    pn = piece(n, rows, cols, 4096)
    dram = r.level("DRAM").tensors
    assert dram["Weights"].reads == mp * kp * (n // pn)          # every weight tile once per piece of N
    assert dram["Inputs"].reads == (mp // cols) * kp * n          # every input again for each column tile
    assert dram["Outputs"].updates == mp * n                      # K innermost: each output leaves once
    assert r.level("PERegister").tensors["Weights"].fills == (mp // cols) * (kp // rows) * (n // pn)
    assert r.cycles == mp * kp * n / (rows * cols)


@pytest.mark.parametrize("rows,cols", [(16, 16), (4, 8)])
@pytest.mark.parametrize("m,n,k", [(100, 50, 300), (33, 7, 2000)])
def test_output_stationary_keeps_each_output_in_its_pe(rows, cols, m, n, k):
    t = Systolic("os", rows, cols, "output_stationary", buffer_words=2048)
    r = t.evaluate(m, n, k)
    mp, np_ = up(m, rows), up(n, cols)
    dram = r.level("DRAM").tensors
    assert dram["Weights"].reads == (np_ // cols) * mp * k
    assert dram["Inputs"].reads == (mp // rows) * k * np_
    assert dram["Outputs"].updates == mp * np_
    pe = r.level("PERegister").tensors["Outputs"]
    tiles = (mp // rows) * (np_ // cols)   # outputs each PE holds in turn
    assert (pe.updates, pe.reads, pe.fills) == (tiles * k, tiles * (k - 1), 0)   # none fetched: they start at 0
    assert r.cycles == math.prod((mp, np_, k)) / (rows * cols)


@pytest.mark.parametrize("field,value", [("rows", 0), ("cols", -1), ("buffer_words", 1.5), ("dataflow", "row")])
def test_impossible_templates_are_refused(field, value):
    kw = {"rows": 4, "cols": 4, "dataflow": "weight_stationary"} | {field: value}
    with pytest.raises(ValueError, match=field):
        Systolic("bad", **kw)


def test_area_is_the_cited_figures_summed():
    """16 x 16 int8 MACs with 32-bit sums (Horowitz: 282 + 137 um^2), 64 Ki words of SRAM at
    0.346 um^2 a bit over 70% efficiency, one 8-bit flip-flop register (4.522 um^2 a bit) per PE."""
    r = Systolic("ws", 16, 16, "weight_stationary", buffer_words=65536).evaluate(64, 64, 64)
    want = 256 * (282 + 137) + 65536 * 8 * 0.346 / 0.7 + 256 * 8 * 4.522
    assert r.area_um2 == pytest.approx(want)
    assert r.to_dict()["area_um2"] == r.area_um2
