"""Per-layer SME orchestration curves and their allocation, on random layers (no model needed)."""
import numpy as np

from sparseloom import network_sme as ns
from sparseloom.golden import sme
from sparseloom.golden import sme_orchestration as so

SEED = 20261202
CONFIG = sme.CrossbarSpec(16, 8)


def curve(seed, name="fc", m=40, k=72):
    rng = np.random.default_rng(seed)
    w = rng.laplace(0, 1, (m, k)).astype(np.float32)
    x_power = rng.uniform(0, 1, k) ** 3
    return ns.layer_curve(name, w, x_power, CONFIG)


def test_a_curve_starts_at_the_int8_codes_and_descends():
    c = curve(SEED)
    first = c.points[0]
    assert first.setting == (8, 0) and first.drops == 0 and first.cost == 0.0
    assert np.array_equal(c.codes(first), c.q)                  # un-permuted: the network's own order
    assert first.crossbars <= c.counts["crossbars_squeezed"]    # cumulation never hurts here
    for setting in c.plans:
        run = [p for p in c.points if p.setting == setting]
        assert all(b.crossbars < a.crossbars and b.cost >= a.cost for a, b in zip(run, run[1:]))
        last = run[-1]
        assert last.cost <= ns.MAX_COST
        codes = c.codes(last)
        coded, perm, _ = c.plans[setting]
        assert so.crossbars(codes[perm], CONFIG) == last.crossbars
        # the cost is the output error over the output power, recomputed from the codes
        err = ((c.scale[:, None] * (codes.astype(np.float64) - c.q)) ** 2 @ c.x_power).sum()
        assert np.isclose(err / so.output_power(c.q, c.scale, c.x_power), last.cost)


def test_mu_trades_crossbars_for_error():
    curves = [curve(SEED), curve(SEED + 1, "fc2", 24, 100)]
    free = ns.choose(curves, 1e12)
    greedy = ns.choose(curves, 0.0)
    assert all(p.cost < 1e-9 for p in free.values())   # only re-encodings of inputs that are ~never active
    for c in curves:
        assert greedy[c.name].crossbars == min(p.crossbars for p in c.points)
    middle = ns.choose(curves, 200.0)
    total = {k: sum(p.crossbars for p in v.values()) for k, v in (("free", free), ("mid", middle), ("greedy", greedy))}
    assert total["greedy"] <= total["mid"] <= total["free"]
    w = ns.weights_for(curves, free)
    assert all(np.array_equal(w[c.name], (c.q * c.scale[:, None]).astype(np.float32)) for c in curves
               if free[c.name].setting == (8, 0) and free[c.name].drops == 0)


def test_breakdown_counts_each_stage():
    c = curve(SEED)
    point = min(c.points, key=lambda p: p.crossbars)
    b = ns.breakdown(c, point, CONFIG)
    assert b["crossbars_dense"] == sme.squeeze(c.q, CONFIG).crossbars_dense
    assert b["crossbars_final"] == point.crossbars <= b["crossbars_dense"]
    assert b["weight_error"]["relative_l2"] > 0
