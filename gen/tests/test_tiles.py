"""The shared cycle model and tiling, on hand-worked cases and against a cycle-by-cycle simulation
of the ping-pong protocol (the RTL benches assert the model exactly)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.gen.tiles import RESULT_LATENCY, Tiling, TileRun
from sparseloom.gen.unit import GemmShape


def test_one_tile():
    # loads in cycles 0..3, issues 4..13, result handshake at 13 + 3 = 16 -> 17 cycles
    assert TileRun(4, 10).cycles() == 17


def test_second_tile_loads_while_the_first_computes():
    assert TileRun(4, 10, tiles=2).cycles() == 27


def test_load_bound_tiles_wait_for_their_half():
    # the third tile may load only after the first freed half 0 (cycle 10) and after the
    # second load (cycles 10..19): it loads 20..29 and issues at 30
    assert TileRun(10, 1, tiles=3).cycles() == 34


def stepped(run: TileRun) -> int:
    """The protocol played one cycle at a time: a loader that fills a free half one beat a cycle,
    an issuer that steps through a full half one beat a cycle from ``compute_from`` on, tiles in
    order, a half free again the cycle after its last step; then the result beats."""
    full_at = [None, None]      # cycle from which each half holds a complete tile
    free_at = [0, 0]            # cycle from which each half may be loaded
    loading, loaded_beats, issuing, issued = 0, 0, 0, 0
    cycle, last_step = 0, None
    while issuing < run.tiles:
        half = issuing % 2
        if full_at[half] is not None and cycle >= max(full_at[half], run.compute_from):
            issued += 1
            if issued == run.beats:
                last_step, issued, issuing = cycle, 0, issuing + 1
                full_at[half], free_at[half] = None, cycle + 1
        if loading < run.tiles and cycle >= free_at[loading % 2] and full_at[loading % 2] is None:
            loaded_beats += 1
            if loaded_beats == run.loads:
                full_at[loading % 2], loaded_beats, loading = cycle + 1, 0, loading + 1
        cycle += 1
    return last_step + RESULT_LATENCY + run.last_results


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 40), st.integers(0, 60), st.integers(1, 8))
def test_cycles_equal_a_cycle_by_cycle_simulation(loads, beats, tiles, compute_from, last_results):
    run = TileRun(loads, beats, tiles, compute_from, last_results)
    assert run.cycles() == stepped(run)


def test_many_tiles_are_modelled_in_constant_time():
    run = TileRun(7, 5, tiles=10**9)
    # load bound: tile i issues in cycles 7(i+1) .. 7(i+1)+4
    assert run.cycles() == 7 * 10**9 + 4 + RESULT_LATENCY + 1


class _Core:
    name, m_tile, n_tile = "core", 4, 3


def test_tiling_cuts_equal_k_tiles_and_refuses_too_many_batches():
    t = Tiling.of(_Core, GemmShape(9, 7, 50), group_len=4, max_groups=5)
    # 3 row batches, 3 column tiles; 13 groups of 4 in 3 equal K tiles of 5 groups
    assert (t.batches, t.n_tiles, t.k_tiles, t.groups, t.k_len, t.tiles) == (3, 3, 3, 5, 20, 9)
    with pytest.raises(ValueError, match=r"M=262144 needs 65536 row batches of 4; core allows at most 65535"):
        Tiling.of(_Core, GemmShape(4 * 65536, 1, 4), group_len=4, max_groups=5)
