"""The NPU's configuration checks, its host-side packing and its cycle model, by hand."""
import numpy as np
import pytest

from sparseloom.gen.npu import PRESETS, NpuConfig
from sparseloom.gen.npu.plan import NetShape, NpuRun, NpuWork, bank_words, plan_npu
from sparseloom.golden.npu import Layer, Mlp, Program

SMALL = PRESETS["npu_small"]


@pytest.mark.parametrize("changes, mention", [
    ({"banks": 13}, "banks must be in 2..max_width=12"),
    ({"pes": 0}, "pes must be in 1..64"),
    ({"weight_frac": 0}, "weight_frac must be in 1..7"),
    ({"act_frac": 9}, "act_frac must be in 0..8"),
    ({"act_lanes": 13}, "act_lanes must be in 1..12"),
    ({"bank_words": 1}, "bank_words must be in 2..4096"),
    ({"max_layers": "3"}, "max_layers must be an int"),
])
def test_impossible_configurations_name_the_parameter(changes, mention):
    with pytest.raises((ValueError, TypeError), match=mention):
        NpuConfig(**{**SMALL.parameters(), **changes})


def test_a_sigmoid_needs_five_fractional_bits():
    assert SMALL.sigmoid and PRESETS["npu_default"].sigmoid
    coarse = NpuConfig(**{**SMALL.parameters(), "act_frac": 4})
    assert not coarse.sigmoid and coarse.derived()["activations"] == ["linear", "relu"]


def test_steps_per_network_by_hand():
    # jmeint's 18-32-8-2 on 8 PEs: 4 groups of 19 steps, 1 of 33, 1 of 9
    assert NetShape.of(Mlp(tuple(Layer(np.zeros((o, i), np.int64), np.zeros(o, np.int64), "linear")
                                 for i, o in [(18, 32), (32, 8), (8, 2)]), SMALL.weight, SMALL.act)).steps(8) == 118
    assert NetShape(((4, 5), (5, 2))).steps(4) == 2 * 5 + 1 * 6
    assert NetShape(((4, 5), (5, 2))).pass_cycles(4) == 16 + 2 * 3


def test_weight_words_follow_the_steps():
    """Layer 2-5 on 4 PEs: group 0 holds neurons 0..3, group 1 neuron 4 (PEs 1..3 zero); each
    group's steps are input 0, input 1, then the bias."""
    w = np.arange(10).reshape(5, 2) + 1
    b = np.array([-1, -2, -3, -4, -5])
    words = bank_words(SMALL, Mlp((Layer(w, b, "linear"),), SMALL.weight, SMALL.act))
    assert words.tolist() == [[1, 3, 5, 7], [2, 4, 6, 8], [-1, -2, -3, -4],
                              [9, 0, 0, 0], [10, 0, 0, 0], [-5, 0, 0, 0]]


def test_cycle_model_by_hand():
    """Two exact inputs of a 4-3 classifier on 4 PEs (5 steps, 3 gap cycles, the emit: 9 cycles
    each), 10 weight beats, 2 act beats, 2 result beats: the first input starts once the weights
    are in (cycle 10), emits at 18, the second emits at 27; its 2 beats end at 29: 30 cycles."""
    work = NpuWork("routed", NetShape(((4, 3),)), NetShape(((4, 5), (5, 2))), 10, 2, 2, (-1, -1))
    assert work.input_cycles(-1, 4) == 9 and work.input_cycles(0, 4) == 9 + 1 + 22
    assert NpuRun(work, 4).cycles() == 30
    # approximated by either approximator: 32 cycles each; 10 + 32 + 32 - 1 + 2 + 1
    assert NpuRun(NpuWork("routed", work.first, work.approximator, 10, 2, 2, (0, 1)), 4).cycles() == 76
    # two result beats an input are no bottleneck; 40 of them are: the second emit waits for 40 beats
    assert NpuRun(NpuWork("routed", work.first, work.approximator, 10, 2, 40, (-1, -1)), 4).cycles() == 10 + 8 + 40 + 41


def test_plan_refuses_a_setting_and_a_mapping():
    rng = np.random.default_rng(0)
    mlp = Mlp((Layer(rng.integers(-5, 5, (2, 3)), np.zeros(2, np.int64), "linear"),), SMALL.weight, SMALL.act)
    program = Program("routed", (mlp, mlp))
    x = np.zeros((2, 3), np.int64)
    assert plan_npu(SMALL, None, program, x).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="no setting"):
        plan_npu(SMALL, 3, program, x)
    with pytest.raises(ValueError, match="no mapping"):
        plan_npu(SMALL, None, program, x, mapping=object())
    with pytest.raises(ValueError, match="N >= 1"):
        plan_npu(SMALL, None, program, x[:0])
