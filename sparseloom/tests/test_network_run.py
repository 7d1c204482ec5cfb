"""``sparseloom run``'s three passes (capture, simulate on the fast driver, replay) on a small
network of two linear layers, and on one real MiniLM layer when the models extra is installed.

The layers run on highlight_small under 30% random stalls: every word must match the golden
products, on one worker and on a two-worker Dask cluster alike (same seeds, same cycles), and a
stall-free run takes exactly the cycle model's cycles.
"""
import numpy as np
import pytest

from sparseloom import network_run as nr
from sparseloom.model.pool import pool
from sparseloom.units import unit

SEED = 20261202


def tiny_network(seed: int = SEED) -> nr.Network:
    rng = np.random.default_rng(seed)
    weights = {"fc1": rng.normal(size=(24, 64)).astype(np.float32), "fc2": rng.normal(size=(8, 24 + 8)).astype(np.float32)}
    x = rng.normal(size=(5, 64)).astype(np.float32)

    def forward(matmul):
        mm = matmul or (lambda name, h: h @ weights[name].T)
        h = np.maximum(mm("fc1", x), 0)
        return mm("fc2", np.concatenate([h, h[:, :8]], axis=1))
    reference = forward(None)
    calibration = rng.normal(size=(200, 64)).astype(np.float32) * rng.uniform(0.1, 3, 64).astype(np.float32)

    def calibrate(hook):
        h = np.maximum(hook("fc1", calibration) @ weights["fc1"].T, 0)
        hook("fc2", np.concatenate([h, h[:, :8]], axis=1))
    return nr.Network("tiny", "5 random rows", weights, forward,
                      lambda out: {"max_error": float(np.abs(out - reference).max())}, calibrate=calibrate)


def run_tiny(method_text: str, configs: list[str], stall: float, workers: int):
    network = tiny_network()
    method = nr.parse_method(method_text, "tiny", None)
    chosen = nr.method_configs(method, None, configs)
    programs, inputs = nr.capture(network, method, chosen)
    with pool(workers) as p:
        results = nr.simulate(programs, chosen, stall=stall, seed=SEED, pool=p)
    bad = nr.check(programs, results)
    out = nr.replay(network, programs, inputs, results)
    return nr.report(network, method, chosen, programs, results, network.quality(out), bad, {}), out, programs


def test_one_worker_and_a_cluster_agree_word_for_word():
    serial, out_serial, programs = run_tiny("hss:2:4,2:4", ["highlight_small"], 0.3, 1)
    cluster, out_cluster, _ = run_tiny("hss:2:4,2:4", ["highlight_small"], 0.3, 2)
    assert serial["golden_match"] and cluster["golden_match"]
    assert serial["cycles"] == cluster["cycles"] > serial["model_cycles"]
    assert [r["cycles"] for r in serial["layers"]] == [r["cycles"] for r in cluster["layers"]]
    assert np.array_equal(out_serial, out_cluster)
    # the replayed output is the golden one: every layer's float output from the RTL's words
    golden = tiny_network().forward(lambda name, h: programs[name].golden_output())
    assert np.array_equal(out_serial, golden)


def test_stall_free_cycles_are_the_models():
    report, _, programs = run_tiny("tasd:2:4+1:4", ["highlight_small"], 0.0, 1)
    assert report["golden_match"] and report["cycles"] == report["model_cycles"]
    u, config = unit("highlight"), unit("highlight").presets["highlight_small"]
    want = sum(u.cycles(config, u.plan(config, g.setting, g.w, g.x).shape, g.setting)
               for p in programs.values() for g in p.gemms)
    assert report["cycles"] == want


@pytest.mark.parametrize("method_text, configs", [
    ("sdq-gptq:1:8+W4g8", ["highlight_small", "lut_small"]),
    ("hss-sparsegpt:2:4,2:4", ["highlight_small"]),
    ("hss-wanda:1:1,2:4", ["highlight_small"]),
])
def test_calibrated_methods_run_on_the_rtl_with_the_golden_codes(method_text, configs):
    """The calibrated codes (from the network's calibration rows, not its inputs) run word-exact under
    stalls, and are the golden model's: GPTQ / SparseGPT / Wanda of each layer against its own Hessian."""
    from sparseloom.golden import gptq, hss, sdq, sparsegpt

    report, out, programs = run_tiny(method_text, configs, 0.3, 1)
    assert report["golden_match"] and report["cycles"] > report["model_cycles"]
    network, x = tiny_network(), {}
    network.calibrate(lambda name, a: x.setdefault(name, a.astype(np.float64)))
    kind, _, arg = method_text.partition(":")
    for name, program in programs.items():
        w, h = network.weights[name], gptq.hessian(x[name])
        if kind == "sdq-gptq":
            d = gptq.gptq_sdq(w, h, sdq.SDQConfig.parse(arg), outlier_score=gptq.activation_score(w, h), clip=True)
            assert np.array_equal(program.gemms[0].w, d.sparse)
            assert np.array_equal(np.concatenate([g.w for g in program.gemms[1:]], axis=1), d.quant)
            assert not np.array_equal(d.quant, sdq.decompose(w, d.config).quant)  # calibration changed codes
        else:
            pattern = hss.HSSPattern.parse(arg)
            codes = (sparsegpt.sparsegpt(w, h, pattern)[0] if kind == "hss-sparsegpt" else
                     sparsegpt.wanda(w, np.sqrt(np.diag(h)), pattern)[0])
            (g,) = program.gemms
            assert np.array_equal(g.w[:, :w.shape[1]], codes) and hss.satisfies(g.w, pattern)


def test_a_calibrated_method_needs_calibration_data():
    network = tiny_network()
    network.calibrate = None
    method = nr.parse_method("sdq-gptq:1:8+W4g8", "tiny", None)
    with pytest.raises(ValueError, match="needs calibration data"):
        nr.capture(network, method, nr.method_configs(method, None, []))
    with pytest.raises(RuntimeError, match="needs calibrate"):
        method.program("fc1", network.weights["fc1"], np.ones((2, 64), np.float32))


def test_a_wrong_word_is_caught():
    network = tiny_network()
    method = nr.parse_method("int8", "tiny", "highlight")
    chosen = nr.method_configs(method, "highlight", ["highlight_default"])
    programs, _ = nr.capture(network, method, chosen)
    results = {name: {"gemms": [{"y": g.golden().astype(np.int32)} for g in p.gemms]} for name, p in programs.items()}
    results["fc2"]["gemms"][0]["y"][3, 1] += 1
    bad = nr.check(programs, results)
    assert len(bad) == 1 and bad[0].startswith("fc2") and "Y[3, 1]" in bad[0]


def test_one_real_minilm_layer_end_to_end():
    """The first query projection of MiniLM on two real sentences, on the RTL (models extra)."""
    from sparseloom.models import ModelsMissing

    try:
        network = nr.load_network("minilm", 2)
    except ModelsMissing as e:
        pytest.skip(str(e))
    method = nr.parse_method("hss:2:4,2:4", "minilm", None)
    chosen = nr.method_configs(method, None, ["highlight_small"])
    programs, inputs = nr.capture(network, method, chosen)
    first = "layer.0.attention.self.query"
    results = nr.simulate({first: programs[first]}, chosen, stall=0.0, seed=SEED, pool=pool(1))
    assert not nr.check({first: programs[first]}, results)
    (g,), (r,) = programs[first].gemms, results[first]["gemms"]
    assert g.w.shape == (384, 384) and g.x.shape[0] == 384 and r["cycles"] == r["model_cycles"]


@pytest.mark.slow
def test_minilm_through_the_rtl(tmp_path):
    """The README's run: MiniLM, HSS 2:4,2:4, 16 sentences on highlight_default, within 1% of the model."""
    import json

    from sparseloom.cli import main
    from sparseloom.models import ModelsMissing

    try:
        nr.load_network("minilm", 1)
    except ModelsMissing as e:
        pytest.skip(str(e))
    assert main(["run", "--network", "minilm", "--method", "hss:2:4,2:4", "--inputs", "16",
                 "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["golden_match"] and abs(report["cycles"] / report["model_cycles"] - 1) < 0.01
