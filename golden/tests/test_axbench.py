"""Tests for the AxBench-style kernels: known values, identities and independent oracles."""
import numpy as np
import pytest

from sparseloom.golden import axbench as ax


def test_blackscholes_known_price_and_put_call_parity():
    x = np.array([[100, 100, 0.05, 0.2, 1.0, 0], [100, 100, 0.05, 0.2, 1.0, 1]], dtype=np.float64)
    call, put = ax.blackscholes(x)[:, 0]
    assert call == pytest.approx(10.4506, abs=1e-4)          # the textbook example
    assert call - put == pytest.approx(100 - 100 * np.exp(-0.05), rel=1e-12)
    xs = ax.sample("blackscholes", 200, 1)
    calls, puts = xs.copy(), xs.copy()
    calls[:, 5], puts[:, 5] = 0, 1
    parity = ax.blackscholes(calls) - ax.blackscholes(puts)
    assert np.allclose(parity[:, 0], xs[:, 0] - xs[:, 1] * np.exp(-xs[:, 2] * xs[:, 4]), rtol=1e-9, atol=1e-9)


def test_fft_twiddle_and_kmeans_and_sobel_values():
    assert np.allclose(ax.fft_twiddle(np.array([[0.0], [np.pi / 2]])), [[1, 0], [0, 1]])
    assert ax.kmeans(np.array([[0, 0, 0, 1, 1, 1.0]]))[0, 0] == pytest.approx(np.sqrt(3))
    edge = np.array([[0, 0, 1, 0, 0, 1, 0, 0, 1.0]])         # a vertical edge: gx = 4, gy = 0
    flat = np.full((1, 9), 0.5)
    half = np.array([[0, 0, 0.125, 0, 0, 0.125, 0, 0, 0.125]])
    assert ax.sobel(edge)[0, 0] == 1.0 and ax.sobel(flat)[0, 0] == 0.0
    assert ax.sobel(half)[0, 0] == pytest.approx(0.5)


def test_inversek2j_inverts_the_forward_kinematics():
    p = ax.sample("inversek2j", 500, 3)
    assert np.allclose(ax.forward_kinematics(ax.inversek2j(p)), p, atol=1e-9)


def separated(t1: np.ndarray, t2: np.ndarray) -> bool:
    """Separating-axis test for two triangles (3 x 3 each): the two normals and the nine edge
    cross products; an independent oracle for jmeint."""
    e1 = [t1[(i + 1) % 3] - t1[i] for i in range(3)]
    e2 = [t2[(i + 1) % 3] - t2[i] for i in range(3)]
    axes = [np.cross(e1[0], e1[1]), np.cross(e2[0], e2[1])] + [np.cross(a, b) for a in e1 for b in e2]
    for axis in axes:
        if np.linalg.norm(axis) < 1e-12:
            continue
        p1, p2 = t1 @ axis, t2 @ axis
        if p1.max() < p2.min() - 1e-12 or p2.max() < p1.min() - 1e-12:
            return True
    return False


def test_jmeint_agrees_with_the_separating_axis_test():
    x = ax.sample("jmeint", 3000, 7)
    got = ax.jmeint(x)
    assert set(np.unique(got.sum(axis=1))) == {1.0}          # one-hot
    want = np.array([not separated(r[:9].reshape(3, 3), r[9:].reshape(3, 3)) for r in x])
    assert np.array_equal(got[:, 0].astype(bool), want)
    assert 0.1 < want.mean() < 0.9                            # both answers occur
    swapped = np.concatenate([x[:, 9:], x[:, :9]], axis=1)
    assert np.array_equal(ax.jmeint(swapped), got)


def test_jpeg_of_a_flat_block_is_its_dc_and_the_rest_inverts():
    flat = np.full((1, 64), 200 / 255)
    coeff = ax.jpeg(flat).reshape(8, 8) * 64
    assert coeff[0, 0] == np.rint(8 * (200 - 128) / 16) and not coeff.reshape(-1)[1:].any()
    block = ax.sample("jpeg", 1, 5)
    q = ax.jpeg(block).reshape(8, 8) * 64 * ax.JPEG_LUMA
    d = ax._dct_matrix()
    back = (d.T @ q @ d + 128) / 255
    assert np.abs(back.reshape(-1) - block[0]).max() < 0.6     # within the quantisation of noise


def test_sample_is_reproducible_and_in_its_domain():
    for name, k in ax.KERNELS.items():
        a, b = ax.sample(name, 50, 11), ax.sample(name, 50, 11)
        assert np.array_equal(a, b) and a.shape == (50, k.topology[0])
        assert k.function(a).shape == (50, k.topology[-1])
        if name != "inversek2j":
            assert (a >= np.array(k.low)).all() and (a <= np.array(k.high)).all()
    with pytest.raises(ValueError, match="kernel must be one of blackscholes"):
        ax.sample("canneal", 5, 0)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        ax.sample("sobel", 0, 0)


def test_image_inputs_are_windows_of_the_photos():
    rng = np.random.default_rng(2)
    photo = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    grey = np.array([[0, 255, 0] * 8] * 16, dtype=np.uint8)[:16]
    s = ax.image_inputs("sobel", [photo], 30, 4)
    assert s.shape == (30, 9) and ax.image_inputs("sobel", [photo], 30, 4).tolist() == s.tolist()
    luma = photo @ np.array([0.299, 0.587, 0.114]) / 255
    windows = {tuple(np.round(luma[r:r + 3, c:c + 3].reshape(-1), 12)) for r in range(18) for c in range(22)}
    assert all(tuple(np.round(w, 12)) in windows for w in s)
    j = ax.image_inputs("jpeg", [grey], 5, 1)
    assert j.shape == (5, 64) and set(np.unique(j)) <= {0.0, 1.0}
    k = ax.image_inputs("kmeans", [photo, grey], 10, 3)
    assert k.shape == (10, 6) and (k >= 0).all() and (k <= 1).all()
    assert ax.sobel(s).shape == (30, 1) and ax.jpeg(j).shape == (5, 64)
    with pytest.raises(ValueError, match="kernel must be one of jpeg, kmeans, sobel"):
        ax.image_inputs("fft", [photo], 3, 0)
    with pytest.raises(ValueError, match="smaller than the 8 x 8 window"):
        ax.image_inputs("jpeg", [photo[:5]], 3, 0)


def test_scalar_cycles_match_hand_counts():
    # kmeans: 3 subtractions + 2 adds (1 cycle each), 3 squares (1 each), 1 sqrt (14)
    assert ax.scalar_cycles("kmeans") == 5 * 1 + 3 * 1 + 14
    # sobel: per gradient 6 non-zero taps = 2 doublings (mul) + 5 adds; gx^2 + gy^2 = 2 mul + 1 add;
    # sqrt 14; min(., 1) a compare (1) and a branch (2)
    assert ax.scalar_cycles("sobel") == (2 * 2 + 2) * 1 + (2 * 5 + 1) * 1 + 14 + 1 + 2
    # blackscholes: s/k and the division of d1 (2 x 14), log (20), sqrt(t) (14), exp(-r t) (20),
    # 2 erf (2 x 30); multiplies: v*v, *0.5, *t, v*sqrt(t), 2 per N(x) (x/sqrt2, 0.5*), r*t, k*exp,
    # *N(d2), s*N(d1) = 12; adds: r + v^2/2, log + ., d1 - v sqrt t, 1 + erf twice, the difference = 6;
    # the put flag's compare (1) and branch (2)
    assert ax.scalar_cycles("blackscholes") == 2 * 14 + 20 + 14 + 20 + 2 * 30 + 12 + 6 + 1 + 2
    # fft: one cos and one sin (24 each)
    assert ax.scalar_cycles("fft") == 48
    # jmeint: 6 Moller-Trumbore tests of 27 adds, 27 multiplies, 1 division (14), 6 compares and
    # 7 branches (2 each)
    assert ax.scalar_cycles("jmeint") == 6 * (27 + 27 + 14 + 6 + 7 * 2)


def test_scalar_cycles_are_positive_ordered_and_follow_the_latencies():
    cycles = {k: ax.scalar_cycles(k) for k in ax.KERNELS}
    assert all(isinstance(c, int) and c > 0 for c in cycles.values())
    assert set(ax.SCALAR_OPS) == set(ax.KERNELS)
    assert all(set(ops) <= set(ax.SCALAR_LATENCY) for ops in ax.SCALAR_OPS.values())
    # a 64-pixel DCT block costs most, a colour distance least; trigonometry beats a few adds
    assert max(cycles, key=cycles.get) == "jpeg" and min(cycles, key=cycles.get) == "kmeans"
    assert cycles["jpeg"] > cycles["jmeint"] > cycles["blackscholes"] > cycles["inversek2j"] > cycles["fft"] \
        > cycles["sobel"] > cycles["kmeans"]
    # a one-cycle divider saves jpeg's 64 divisions' 13 extra cycles each
    assert ax.scalar_cycles("jpeg", {"div": 1}) == cycles["jpeg"] - 64 * 13
    assert ax.scalar_cycles("fft", {"trig": 100}) == 200
    with pytest.raises(ValueError, match="kernel must be one of"):
        ax.scalar_cycles("canneal")
    with pytest.raises(ValueError, match="unknown operations"):
        ax.scalar_cycles("fft", {"fma": 1})
    with pytest.raises(ValueError, match="must be an integer >= 0"):
        ax.scalar_cycles("fft", {"trig": -1})
