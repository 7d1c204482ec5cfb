"""Real pretrained weights, read offline without PyTorch, through the SME golden model."""
import numpy as np
import pytest

from sparseloom import models
from sparseloom.golden import sme

try:
    STATE = models.efficientnet_lite0()
except models.ModelsMissing as e:
    pytest.skip(f"{e}", allow_module_level=True)


def test_efficientnet_lite0_state_dict():
    convs = {k: v for k, v in STATE.items() if k.endswith("weight") and v.ndim in (2, 4)}
    assert len(convs) == 50
    assert STATE["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert STATE["_fc.weight"].shape == (1000, 1280) and STATE["_fc.weight"].dtype == np.float32
    # trained weights, not zeros or noise of one scale: BN running variances are positive
    variances = [v for k, v in STATE.items() if k.endswith("running_var")]
    assert all((v >= 0).all() for v in variances) and np.mean([v.mean() for v in variances]) > 0
    assert 0.01 < np.abs(STATE["_conv_head.weight"]).mean() < 1


def test_squeezed_real_layer_is_exact():
    w = STATE["_blocks.15._project_conv.weight"].reshape(320, -1)
    q = np.clip(np.rint(w / (np.abs(w).max(axis=1, keepdims=True) / 127)), -127, 127).astype(np.int8)
    q = sme.orchestrate(q, 2)
    config = sme.CrossbarSpec(128, 64)
    x = np.random.default_rng(0).integers(-128, 128, size=(q.shape[1], 3), dtype=np.int8)
    mapping = sme.squeeze(q, config)
    assert mapping.crossbars_physical < mapping.crossbars_dense
    assert np.array_equal(sme.mvm(mapping, x), q.astype(np.int64) @ x.astype(np.int64))
