"""The shared tile cycle model on hand-worked cases (the RTL benches assert it exactly)."""
from sparseloom.gen.tiles import tile_cycles


def test_one_tile():
    # loads in cycles 0..3, issues 4..13, result handshake at 13 + 3 = 16 -> 17 cycles
    assert tile_cycles([(4, 10)]) == 17


def test_second_tile_loads_while_the_first_computes():
    assert tile_cycles([(4, 10), (4, 10)]) == 27


def test_load_bound_tiles_wait_for_their_half():
    # the third tile may load only after the first freed half 0 (cycle 10) and after the
    # second load (cycles 10..19): it loads 20..29 and issues at 30
    assert tile_cycles([(10, 1), (10, 1), (10, 1)]) == 34
