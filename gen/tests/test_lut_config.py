"""LUT Tensor Core and MAC-baseline configurations: validation messages and matching peaks."""
import pytest

from sparseloom.gen.lut import PRESETS, LutConfig, MacConfig
from sparseloom.golden import lut

SMALL = PRESETS["lut_small"]


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


def test_tables_are_symmetrised_and_exact():
    for c in (SMALL, PRESETS["lut_default"]):
        assert c.entries == lut.table_entries_stored(c.g) == 2 ** (c.g - 1)
        assert c.table_width >= lut.table_width(c.g, c.act_width)


@pytest.mark.parametrize("name", ["lut_small", "lut_default"])
def test_baseline_matches_peak_weight_bit_throughput(name):
    c = PRESETS[name]
    mac = PRESETS[name.replace("lut", "mac")]
    assert isinstance(mac, MacConfig) and mac.wbit_macs_per_cycle == c.wbit_macs_per_cycle
    assert mac.n_tile == c.n_tile and mac.g == c.g and mac.k_max == c.k_max


def test_baseline_needs_a_whole_number_of_macs():
    with pytest.raises(ValueError, match="m_tile\\*g=6 must be a multiple of max_wbits=4"):
        MacConfig.matching(small(m_tile=3), "mac_bad")


def test_formats_provisioned():
    assert small(max_wbits=1).supported_formats() == ["1"]
    assert SMALL.supported_formats() == ["1", "2", "3", "4", "ternary"]
    with pytest.raises(ValueError, match="wbits=3 is not provisioned on lut_small; allowed: 1, 2, ternary"):
        LutConfig(**{**SMALL.parameters(), "max_wbits": 2}).check_format(lut.weight_format(3))
