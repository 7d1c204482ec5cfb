"""ZigZag on the dense array (``sparseloom.peers.zigzag``); skipped without the ``peers`` extra."""
import pytest

from sparseloom.gen.highlight.unit import DENSE
from sparseloom.gen.unit import GemmShape

pytest.importorskip("zigzag", reason="ZigZag comes with the peers extra: pip install '.[peers]'")

from sparseloom.peers import zigzag


@pytest.fixture(scope="module")
def config():
    return DENSE.presets["dense_small"]


def test_zigzag_runs_every_mac_of_the_gemm_no_faster_than_the_array_allows(config):
    m, n, k = 4 * config.rows, 2 * config.cols, 8 * config.lanes   # whole tiles: nothing padded
    result = zigzag.evaluate(config, GemmShape(m, n, k))
    assert result.macs == m * k * n
    assert result.ideal_cycles == m * k * n / config.multipliers
    assert result.cycles >= m * k * n / config.multipliers
    assert result.energy_pj > 0 and result.seconds > 0


def test_zigzag_sees_our_array_and_mapping(config):
    shape = GemmShape(4 * config.rows, 2 * config.cols, 8 * config.lanes)
    data = zigzag.inputs(config, shape)
    array = data["accelerator"]["operational_array"]
    assert array["sizes"] == [config.rows, config.cols, config.lanes]
    assert data["mapping"][0]["spatial_mapping"] == {"D1": [f"M, {config.rows}"], "D2": [f"N, {config.cols}"],
                                                      "D3": [f"K, {config.lanes}"]}
    buffer = data["accelerator"]["memories"]["Buffer"]
    assert buffer["size"] == config.derived()["activation_buffer_bits"]
    assert data["workload"][0]["loop_sizes"] == [shape.m, shape.n, shape.k]


def test_zigzag_cycles_are_the_rtl_cycles_less_its_missing_pipeline(config):
    """One K tile, double-buffered loads: ZigZag has the first load and the compute right and
    writes the last results back in one cycle, where the array's pipeline takes RESULT_LATENCY."""
    from sparseloom.gen.tiles import RESULT_LATENCY

    shape = GemmShape(4 * config.rows, 2 * config.cols, 8 * config.lanes)
    assert zigzag.evaluate(config, shape).cycles == DENSE.cycles(config, shape, None) - (RESULT_LATENCY - 1)


def test_the_zigzag_translation_refuses_other_units():
    from sparseloom.gen.highlight.config import HIGHLIGHT_PRESETS

    with pytest.raises(TypeError, match="dense unit only"):
        zigzag.inputs(HIGHLIGHT_PRESETS["highlight_small"], GemmShape(8, 8, 16))
