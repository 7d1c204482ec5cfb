"""The held-out evaluation (perplexity with intervals, agreement, KL, calibration statistics) on toy models
whose answers are known in closed form, and the Wikipedia split when gensim is installed."""
import numpy as np
import pytest

from sparseloom.models import evaluation


class ToyLM:
    """A two-block 'language model': logits = one-hot(token) @ E @ W0.T @ W1.T, blocks are the two linears."""

    def __init__(self, vocab=7, width=5, seed=3):
        rng = np.random.default_rng(seed)
        self.embed = rng.normal(size=(vocab, width)).astype(np.float32)
        self.w = {"blk.0.a.weight": rng.normal(size=(width, width)).astype(np.float32),
                  "blk.1.b.weight": rng.normal(size=(vocab, width)).astype(np.float32)}

    def block_inputs(self, tokens):
        x = self.embed[tokens]
        return [x, x @ self.w["blk.0.a.weight"].T]

    def forward(self, tokens, weights=None, act=None, matmul=None, resume=None):
        w = {**self.w, **(weights or {})}
        first, x = (0, self.embed[tokens]) if resume is None else resume
        for i, name in enumerate(w):
            if i >= first:
                x = x if act is None else act(name, x)
                x = x @ w[name].T if matmul is None else matmul(name, x)
        return x


def lm_eval(model=None):
    rng = np.random.default_rng(5)
    return evaluation.LanguageEval(model or ToyLM(), rng.integers(0, 7, (12, 9)), rng.integers(0, 7, (3, 9)))


def test_unmodified_model_scores_zero_departure_and_perplexity_by_hand():
    e = lm_eval()
    s = e.score()
    assert s["eval_tokens"] == 12 * 8 and s["agreement"] == 1.0 and abs(s["kl"]) < 1e-7  # reference log-probs kept in float32
    assert abs(s["perplexity_increase_pct"]) < 1e-9 and s["perplexity_increase_ci"] == pytest.approx([0, 0], abs=1e-9)
    logits = np.stack([e.model.forward(w) for w in e.windows])[:, :-1].astype(np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, e.windows[:, 1:, None], axis=-1).mean()
    assert s["perplexity"] == pytest.approx(np.exp(nll), rel=1e-6)
    lo, hi = s["perplexity_ci"]
    assert lo < s["perplexity"] < hi


def test_a_perturbed_model_departs_and_kl_is_by_hand():
    e = lm_eval()
    worse = {"blk.1.b.weight": e.model.w["blk.1.b.weight"] * 0.2}
    s = e.score(weights=worse)
    logits = [e.model.forward(w, worse)[:-1].astype(np.float64) for w in e.windows]
    kl = np.mean(np.concatenate([(np.exp(r) * (r - evaluation.log_softmax(o))).sum(-1)
                                 for r, o in zip(e.reference_logp, logits)]))
    assert s["kl"] == pytest.approx(kl, rel=1e-5) and s["kl"] > 0
    lo, hi = s["perplexity_increase_ci"]
    assert lo <= s["perplexity_increase_pct"] <= hi
    # the layer loss resumes at the layer's block: equal to the KL of the whole pass with that layer changed
    w0 = e.calibration[0]
    whole = evaluation.log_softmax(e.model.forward(w0, worse)[:-1])
    ref = evaluation.log_softmax(e.model.forward(w0)[:-1])
    assert e.loss("blk.1.b.weight", worse["blk.1.b.weight"]) == pytest.approx(
        float(np.mean((np.exp(ref) * (ref - whole)).sum(-1))), rel=1e-6)


def test_hessians_are_the_calibration_inputs_gram():
    e = lm_eval()
    h = e.hessians()
    x = np.concatenate([e.model.embed[w] for w in e.calibration]).astype(np.float64)
    assert np.allclose(h["blk.0.a.weight"], x.T @ x / len(x))
    assert h.rows["blk.0.a.weight"] == e.calibration.size


def test_bootstrap_is_seeded_and_covers_the_spread():
    values = np.arange(100.0)
    a = evaluation.bootstrap_ci(lambda i: values[i].mean(), 100)
    assert a == evaluation.bootstrap_ci(lambda i: values[i].mean(), 100)
    assert a[0] < 49.5 < a[1] and a[1] - a[0] == pytest.approx(2 * 1.96 * values.std() / 10, rel=0.15)


def test_wikipedia_split_is_disjoint_and_windows_round_robin():
    wikipedia = pytest.importorskip("sparseloom.models.wikipedia")
    pytest.importorskip("gensim")
    cal, ev = wikipedia.split("calibration"), wikipedia.split("evaluation")
    assert len(cal) + len(ev) == 106 and not {t for t, _ in cal} & {t for t, _ in ev}
    assert all("'''" not in text and "[[" not in text for _, text in ev)
    words = lambda text: [len(w) for w in text.split()]  # noqa: E731
    windows = wikipedia.token_windows(words, [ev[0][1], ev[1][1]], 3, 16)
    assert np.array_equal(windows[0], words(ev[0][1])[:16]) and np.array_equal(windows[1], words(ev[1][1])[:16])
    assert np.array_equal(windows[2], words(ev[0][1])[16:32])
    with pytest.raises(ValueError, match="asked for"):
        wikipedia.token_windows(words, [ev[0][1]], 10**6, 16)
    s = wikipedia.sentences([t for _, t in ev], 200)
    assert len(set(s)) == 200 and not set(s) & set(wikipedia.sentences([t for _, t in cal], 200))
    with pytest.raises(ValueError, match="split="):
        wikipedia.split("train")
