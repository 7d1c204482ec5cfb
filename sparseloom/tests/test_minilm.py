"""all-MiniLM-L6-v2's NumPy forward pass: matches sentence-transformers, and its hooks do what they say."""
import hashlib

import numpy as np
import pytest

from sparseloom.models import ModelsMissing
from sparseloom.models.minilm import MiniLM, model_dir

try:
    MODEL = MiniLM.load()
except ModelsMissing as e:
    pytest.skip(f"{e}", allow_module_level=True)

SENTENCES_SHA256 = "3ebbe3967c85690e285febb5e6aeb0e5853c289b686f5ab9a61868aec1c6c929"
FEW = MODEL.sentences[::15]  # hooks are checked on 4 sentences, to keep the module fast


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_evaluation_sentences_are_fixed():
    assert len(MODEL.sentences) == 60 and len(set(MODEL.sentences)) == 60 and all(MODEL.sentences)
    digest = hashlib.sha256("\n".join(MODEL.sentences).encode()).hexdigest()
    assert digest == SENTENCES_SHA256, "this Python's docstrings changed the evaluation set; results won't compare"


def test_matches_sentence_transformers(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is the reference to compare with")
    expected = st.SentenceTransformer(str(model_dir()), device="cpu").encode(MODEL.sentences, convert_to_numpy=True)
    got = MODEL.reference()
    assert got.shape == expected.shape == (60, 384) and got.dtype == np.float32
    cosines = [cosine(g, e) for g, e in zip(got, expected)]
    assert min(cosines) >= 0.9999, f"worst sentence: {MODEL.sentences[int(np.argmin(cosines))]!r}"


def test_linear_weights():
    weights = MODEL.linear_weights()
    assert len(weights) == 36 and all(w.dtype == np.float32 for w in weights.values())
    expected = {"attention.self.query": (384, 384), "attention.self.key": (384, 384),
                "attention.self.value": (384, 384), "attention.output.dense": (384, 384),
                "intermediate.dense": (1536, 384), "output.dense": (384, 1536)}
    assert {name: w.shape for name, w in weights.items()} == {
        f"layer.{i}.{linear}": shape for i in range(6) for linear, shape in expected.items()}


def test_weight_replacement():
    weights = MODEL.linear_weights()
    assert np.array_equal(MODEL.outputs(weights=weights), MODEL.reference())
    zeroed = MODEL.embed(FEW, weights={"layer.3.intermediate.dense": np.zeros((1536, 384), np.float32)})
    assert not np.allclose(zeroed, MODEL.embed(FEW), atol=1e-3)
    with pytest.raises(ValueError, match="layer.0.output.dense"):
        MODEL.outputs(weights={"layer.0.output.dense": weights["layer.0.output.dense"].T})
    with pytest.raises(KeyError, match="layer.6.output.dense"):
        MODEL.outputs(weights={"layer.6.output.dense": weights["layer.0.output.dense"]})


def test_activation_hook():
    seen = {}

    def identity(name, x):
        seen[name] = x.shape
        return x

    tokens = len(MODEL.tokenize(FEW)[0])
    assert np.array_equal(MODEL.embed(FEW, act=identity), MODEL.embed(FEW))
    assert seen == {name: (tokens, w.shape[1]) for name, w in MODEL.linear_weights().items()}
    silenced = MODEL.embed(FEW, act=lambda name, x: x * 0 if name == "layer.2.attention.self.value" else x)
    assert not np.allclose(silenced, MODEL.embed(FEW), atol=1e-3)


def test_quality():
    assert MODEL.quality(MODEL.reference()) == {"cosine_mean": pytest.approx(1, abs=1e-6),
                                                 "cosine_min": pytest.approx(1, abs=1e-6),
                                                 "nn_retained": 1.0, "headline": "cosine_mean"}
    noisy = MODEL.reference() + np.random.default_rng(0).normal(0, 0.05, MODEL.reference().shape)
    quality = MODEL.quality(noisy)
    assert quality["cosine_min"] <= quality["cosine_mean"] < 1 and 0 <= quality["nn_retained"] <= 1


def test_paraphrases_are_closer_than_unrelated_sentences():
    guitar, paraphrase, unrelated = MODEL.embed(
        ["A man is playing a guitar.", "Someone plays a guitar.", "The stock market fell sharply today."])
    assert cosine(guitar, paraphrase) > 0.7 > 0.2 > max(cosine(guitar, unrelated), cosine(paraphrase, unrelated))
