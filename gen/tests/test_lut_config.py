"""LUT Tensor Core and MAC-baseline configurations: validation messages, matching peaks, cycles."""
import numpy as np
import pytest

from sparseloom.gen.lut import LUT, LUT_PRESETS, MAC, MAC_PRESETS, LutConfig, MacConfig
from sparseloom.gen.unit import GemmShape
from sparseloom.golden import lut

SMALL = LUT_PRESETS["lut_small"]


def small(**changes):
    return LutConfig(**{**SMALL.parameters(), **changes})


@pytest.mark.parametrize("changes, message", [
    ({"g": 0}, r"g must be in 1\.\.6, got 0"),
    ({"max_wbits": 5}, r"max_wbits must be in 1\.\.4, got 5"),
    ({"k_max": 63}, r"k_max must be a multiple of g=2, got 63"),
    ({"table_width": 9}, r"table_width=9 cannot hold a sum of g=2 8-bit activations exactly: need >= 10"),
    ({"acc_width": 18}, r"acc_width=18 can overflow: k_max=64 at max_wbits=4 needs acc_width >= 19"),
])
def test_invalid_lut_configuration_names_the_parameter(changes, message):
    with pytest.raises(ValueError, match=message):
        small(**changes)


@pytest.mark.parametrize("name", list(LUT_PRESETS))
def test_tables_are_symmetrised_and_hold_the_extreme_sums(name):
    """The stored half of the golden tables, for the activations with the largest |sums|, fits
    the table entries of the configuration."""
    c = LUT_PRESETS[name]
    assert c.entries == 2 ** (c.g - 1)
    for v in (-(2 ** (c.act_width - 1)), 2 ** (c.act_width - 1) - 1):
        stored = lut.stored_tables(np.full((c.g, 1), v, np.int8), c.g)
        assert stored.shape[-1] == c.entries
        assert np.abs(stored).max() <= 2 ** (c.table_width - 1) - 1


@pytest.mark.parametrize("name", ["lut_small", "lut_default"])
def test_baseline_matches_peak_weight_bit_throughput(name):
    c = LUT_PRESETS[name]
    mac = MAC_PRESETS[name.replace("lut", "mac")]
    assert isinstance(mac, MacConfig) and mac.wbit_macs_per_cycle == c.wbit_macs_per_cycle
    assert mac.n_tile == c.n_tile and mac.g == c.g and mac.k_max == c.k_max
    assert LUT.baseline.matching(c).parameters() == {**mac.parameters(), "name": f"{name}_mac"}


def test_baseline_needs_a_whole_number_of_macs():
    with pytest.raises(ValueError, match="m_tile\\*g=6 must be a multiple of max_wbits=4"):
        MacConfig.matching(small(m_tile=3), "mac_bad")


def test_formats_provisioned():
    assert small(max_wbits=1).supported_formats() == ["1"]
    assert SMALL.supported_formats() == ["1", "2", "3", "4", "ternary"]
    with pytest.raises(ValueError, match="wbits=3 is not provisioned on lut_small; allowed: 1, 2, ternary"):
        LutConfig(**{**SMALL.parameters(), "max_wbits": 2}).check_format(lut.weight_format(3))


@pytest.mark.parametrize("wbits, planes", [("1", 1), ("2", 2), ("3", 3), ("4", 4), ("ternary", 2)])
def test_cycles_by_hand(wbits, planes):
    """lut_small (4 x 2 tile, g = 2) on M=5, N=2, K=6: two row batches, one column tile, one K tile
    of 3 groups: load 3 groups, then 2 batches x 3 groups x ``planes`` beats, the result 3 cycles
    after the last; mac_small (2 x 2 MACs) takes three row batches of g = 2 beats per group
    whatever the width."""
    shape = GemmShape(5, 2, 6)
    fmt = lut.weight_format(wbits)
    assert LUT.cycles(SMALL, shape, fmt) == 3 + 2 * 3 * planes + 3
    assert MAC.cycles(MAC_PRESETS["mac_small"], shape, fmt) == 3 + 3 * 3 * 2 + 3
