"""``sparseloom search --network``: a real network's layers searched on a described
architecture or a unit, warm-started and sparsity-aware, with the same result on 1 and 2 Dask
workers (byte-identical best.json); the evaluators' sparse results checked against the model."""
import json
import math

import numpy as np
import pytest

from sparseloom.cli import main
from sparseloom.model.analysis import analyse
from sparseloom.model.mapspace import MapSpace
from sparseloom.model.templates import Systolic
from sparseloom.model.workload import Workload
from sparseloom.network_search import OnArchitecture, weight_sparsity

ARCH = Systolic("sys8", 8, 8, buffer_words=16384).architecture()


@pytest.fixture
def arch_file(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(ARCH.to_dict()))
    return path


def search(tmp_path, name, *argv):
    out = tmp_path / name
    assert main(["search", *map(str, argv), "--out", str(out)]) == 0
    return out, json.loads((out / "best.json").read_text())


def test_one_seed_one_result_on_one_and_two_workers(arch_file, tmp_path):
    common = ("--arch", arch_file, "--network", "minilm", "--method", "hss:2:4,1:4", "--mapper", "ga",
              "--budget", "60", "--seed", "4")
    runs = [search(tmp_path, f"w{n}{len(extra)}", *common, "--workers", n, *extra)[0]
            for n, extra in ((1, ()), (2, ()), (1, ("--warm-start",)), (2, ("--warm-start",)))]
    for a, b in (runs[:2], runs[2:]):
        for f in ("best.json", "convergence.json", *(f"layers/{p.name}" for p in (a / "layers").iterdir())):
            assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (runs[0] / "best.json").read_bytes() != (runs[2] / "best.json").read_bytes()


def test_warm_start_begins_each_layer_at_its_neighbours_best(arch_file, tmp_path):
    out, best = search(tmp_path, "warm", "--arch", arch_file, "--network", "minilm", "--mapper", "sa",
                       "--budget", "40", "--warm-start", "--workers", "1")
    layers = best["layers"]
    # the first layer of each set of dimensions (projections, attention) has no neighbour yet
    seen = []
    for r in layers:
        assert (r["warm_starts"] == 0) == (set(r["dims"]) not in seen) and r["warm_starts"] <= 3
        seen.append(set(r["dims"]))
    # the q, k and v projections have one shape: k and v start from q's best, which is optimal
    # for them too, so their first evaluation is already q's EDP
    q, k = layers[0], layers[1]
    assert q["dims"] == k["dims"]
    first = json.loads((out / "convergence.json").read_text())["layers"][k["name"]][0][1]
    assert first == q["edp"] and k["edp"] <= q["edp"]
    assert sum(r["count"] * r["cycles"] for r in layers) == best["cycles"]


def test_sparsity_aware_search_evaluates_under_the_layers_density(arch_file, tmp_path):
    _, aware = search(tmp_path, "aware", "--arch", arch_file, "--network", "minilm", "--method", "hss:2:4,1:4",
                      "--layer", "0", "--mapper", "random", "--budget", "30", "--sparsity-aware", "--workers", "1")
    _, dense = search(tmp_path, "dense", "--arch", arch_file, "--network", "minilm", "--method", "hss:2:4,1:4",
                      "--layer", "0", "--mapper", "random", "--budget", "30", "--workers", "1")
    (a,), (d,) = aware["layers"], dense["layers"]
    assert a["weight_density"] == d["weight_density"] == pytest.approx(0.125)   # 2/4 x 1/4
    assert a["edp"] == a["edp_at_density"]          # searched under the density it reports at
    assert d["edp"] > d["edp_at_density"]           # searched dense, reported sparse
    assert a["mapping"] == aware["mapping"]         # one layer: best.json is its --mapping


def test_across_densities_is_the_geometric_mean_of_each():
    workload = Workload.gemm(32, 64, 48)
    mapping = MapSpace(workload, ARCH).sample(np.random.default_rng(0))
    each = [OnArchitecture(workload, ARCH, (d,))(mapping) for d in (0.25, 0.5, 1.0)]
    across = OnArchitecture(workload, ARCH, (0.25, 0.5, 1.0))(mapping)
    assert across.edp == pytest.approx(math.prod(r.edp for r in each) ** (1 / 3))
    assert each[2].edp == analyse(workload, ARCH, mapping).edp
    # fewer weights, fewer computes and less traffic: EDP falls with the density
    assert each[0].edp < each[1].edp < each[2].edp
    assert each[0].computes == pytest.approx(workload.computes * 0.25, rel=0.01)
    assert weight_sparsity(workload, ARCH, 1.0) is None


def test_a_network_on_a_unit_searches_its_gemm_layers(tmp_path):
    _, best = search(tmp_path, "unit", "--config", "highlight_small", "--network", "minilm", "--pattern", "2:4,1:4",
                     "--mapper", "exhaustive", "--budget", "1000", "--workers", "1")
    assert [r["name"] for r in best["not_mapped"]] == ["encoder.layer.*.attention.scores",
                                                       "encoder.layer.*.attention.context"]
    assert all(r["evaluations"] == r["space_size"] for r in best["layers"])   # the whole space: the optimum
    assert best["edp"] == best["cycles"] * best["energy_pj"]


def test_mind_mappings_trains_its_surrogate_once_and_reuses_it(arch_file, tmp_path):
    pytest.importorskip("torch")
    argv = ("--arch", arch_file, "--network", "minilm", "--layer", "0", "--mapper", "mindmappings", "--surrogate",
            tmp_path / "surrogates", "--train-samples", "300", "--budget", "30", "--workers", "1")
    _, first = search(tmp_path, "first", *argv)
    _, again = search(tmp_path, "again", *argv)
    (trained,), (loaded,) = first["surrogates"], again["surrogates"]
    assert trained["trained_now"] and not loaded["trained_now"] and trained["samples"] == 300
    assert trained["train_seconds"] > 0 and 0 < trained["held_out"]["edp_median_relative_error"] < 1
    assert (tmp_path / "surrogates" / "sys8-MNK.pt").is_file()
    assert first["mapping"] == again["mapping"] and first["edp"] == again["edp"] and first["evaluations"] == 30


def test_tpe_searches_a_layer(arch_file, tmp_path):
    pytest.importorskip("optuna")
    _, best = search(tmp_path, "tpe", "--arch", arch_file, "--network", "minilm", "--layer", "encoder.layer.*.intermediate.dense", "--mapper", "tpe",
                     "--budget", "40", "--workers", "1")
    (layer,) = best["layers"]
    assert layer["name"] == "encoder.layer.*.intermediate.dense" and layer["evaluations"] == 40
