"""How much a compressed network departs from the unmodified one, on held-out text, with confidence intervals.

Language model (``LanguageEval``): fixed windows of evaluation tokens, each run on its own (no context across
windows); every token after a window's first is predicted. Per run: perplexity exp(mean NLL) over all predicted
tokens, next-token agreement with the unmodified model (argmax equal), and mean KL(reference || compressed) in
nats per predicted token. Sentence encoder (``SentenceEval``): cosine between each sentence's compressed and
reference embedding, whether its nearest other sentence is unchanged, and retrieval (the compressed
embedding's nearest reference embedding is its own sentence's).

Confidence intervals are percentile bootstraps (``RESAMPLES`` resamples, seeded, so a run is reproducible)
over the units that are independent here: windows for a language model, sentences for an encoder. The
perplexity increase's interval is paired: the reference and the compressed model on the same resample.

Calibration (``hessians``, ``loss``) reads only the calibration split (``wikipedia.split``), never the
evaluation windows or sentences.
"""
from __future__ import annotations

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, in float64."""
    x = logits.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def bootstrap_ci(statistic, n_units: int, seed: int = 0) -> tuple[float, float]:
    """The central CONFIDENCE interval of ``statistic(index array)`` over RESAMPLES resamples, with
    replacement, of ``n_units`` units."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n_units, n_units)) for _ in range(RESAMPLES)]
    tail = 100 * (1 - CONFIDENCE) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


class Hessians:
    """Per linear layer, H = X^T X / rows of its input activations on calibration data (float64), and the
    squared input norms diag(X^T X): GPTQ's and SparseGPT's proxy Hessian, Wanda's ||x_j||^2."""

    def __init__(self):
        self.sums: dict[str, np.ndarray] = {}
        self.rows: dict[str, int] = {}

    def hook(self, name: str, x: np.ndarray) -> np.ndarray:
        """An ``act`` hook: accumulates x (tokens x in) and passes it on unchanged."""
        x64 = np.asarray(x, dtype=np.float64)
        self.sums[name] = self.sums.get(name, 0) + x64.T @ x64
        self.rows[name] = self.rows.get(name, 0) + len(x64)
        return x

    def __getitem__(self, name: str) -> np.ndarray:
        return self.sums[name] / self.rows[name]


class LanguageEval:
    """A causal LM (``forward(tokens, weights, act, matmul, resume)``) on evaluation and calibration windows."""

    def __init__(self, model, windows: np.ndarray, calibration: np.ndarray, loss_windows: int = 1,
                 loss_tokens: int = 128):
        self.model, self.windows, self.calibration = model, windows, calibration
        self.reference_logp, nll = [], []
        for w in windows:  # log-probs kept in float32 for the KL (1.5 GB for 48 windows of SmolLM2)
            logp = log_softmax(model.forward(w)[:-1])
            nll.append(-logp[np.arange(len(logp)), w[1:]].sum())
            self.reference_logp.append(logp.astype(np.float32))
        self.reference_nll = np.asarray(nll)
        self._loss_windows = calibration[:loss_windows, :loss_tokens]
        self._loss_logp = [log_softmax(model.forward(w)[:-1]) for w in self._loss_windows]
        self._loss_inputs = [model.block_inputs(w) for w in self._loss_windows]

    @property
    def eval_tokens(self) -> int:
        return int(self.windows.shape[0] * (self.windows.shape[1] - 1))

    def score(self, weights=None, act=None, matmul=None) -> dict:
        nll, agree, kl = [], [], []
        for w, ref in zip(self.windows, self.reference_logp):
            logp = log_softmax(self.model.forward(w, weights, act, matmul)[:-1])
            nll.append(-logp[np.arange(len(logp)), w[1:]].sum())
            agree.append(np.sum(logp.argmax(-1) == ref.argmax(-1)))
            kl.append(np.sum(np.exp(ref) * (ref - logp)))
        nll, agree, kl = map(np.asarray, (nll, agree, kl))
        per_window = self.windows.shape[1] - 1

        def ppl(values, index):
            return float(np.exp(values[index].sum() / (len(index) * per_window)))

        everything = np.arange(len(nll))
        p, p_ref = ppl(nll, everything), ppl(self.reference_nll, everything)
        increase = bootstrap_ci(lambda i: 100 * (ppl(nll, i) / ppl(self.reference_nll, i) - 1), len(nll))
        return {"eval_tokens": self.eval_tokens, "perplexity": p,
                "perplexity_ci": list(bootstrap_ci(lambda i: ppl(nll, i), len(nll))),
                "perplexity_reference": p_ref, "perplexity_increase_pct": 100 * (p / p_ref - 1),
                "perplexity_increase_ci": list(increase),
                "agreement": float(agree.sum() / self.eval_tokens), "kl": float(kl.sum() / self.eval_tokens),
                "headline": "perplexity_increase_pct"}

    def reference_score(self) -> dict:
        """Perplexity of the unmodified model on the evaluation windows, with its interval."""
        everything = np.arange(len(self.windows))
        per_window = self.windows.shape[1] - 1
        ppl = lambda i: float(np.exp(self.reference_nll[i].sum() / (len(i) * per_window)))  # noqa: E731
        return {"eval_tokens": self.eval_tokens, "perplexity": ppl(everything),
                "perplexity_ci": list(bootstrap_ci(ppl, len(self.windows)))}

    def hessians(self) -> Hessians:
        """Every linear layer's input statistics on the calibration windows (unmodified model)."""
        h = Hessians()
        for w in self.calibration:
            self.model.forward(w, act=h.hook)
        return h

    def calibration_inputs(self, weights: dict, windows: int = 4) -> dict:
        """Every linear layer's input on the first calibration ``windows`` (model with ``weights``), stacked."""
        captured: dict = {}
        for w in self.calibration[:windows]:
            self.model.forward(w, weights, act=lambda name, x: captured.setdefault(name, []).append(x.copy()) or x)
        return {n: np.concatenate(xs) for n, xs in captured.items()}

    def loss(self, name: str, weight: np.ndarray) -> float:
        """Mean KL(reference || model with only layer ``name`` replaced) per token on the first ``loss_tokens``
        of the first calibration window(s): the network-output sensitivity of that layer to that replacement."""
        block = int(name.split(".")[1])
        total = count = 0.0
        for w, ref, inputs in zip(self._loss_windows, self._loss_logp, self._loss_inputs):
            logp = log_softmax(self.model.forward(w, {name: weight}, resume=(block, inputs[block]))[:-1])
            total += float(np.sum(np.exp(ref) * (ref - logp)))
            count += len(logp)
        return total / count


class SentenceEval:
    """A sentence encoder (``embed(texts, weights, act, matmul)``, L2-normalised) on evaluation and
    calibration sentences."""

    BATCH = 64

    def __init__(self, model, sentences: list[str], calibration: list[str], loss_sentences: int = 128):
        self.model, self.sentences, self.calibration = model, sentences, calibration
        self.reference = self.embed(sentences)
        self.reference_neighbours = nearest_other(self.reference, self.reference)
        self._loss_sentences = calibration[:loss_sentences]
        self._loss_reference = self.embed(self._loss_sentences)

    def embed(self, texts: list[str], weights=None, act=None, matmul=None) -> np.ndarray:
        """The model's embeddings of ``texts``, computed in batches of sentences of similar length (each
        sentence is encoded on its own, so batching changes only the padding attention works around)."""
        lengths = [len(ids) for ids in (e.ids for e in self.model.tokenizer.encode_batch(list(texts)))]
        order = np.argsort(lengths, kind="stable")
        parts = [self.model.embed([texts[i] for i in order[s:s + self.BATCH]], weights, act, matmul)
                 for s in range(0, len(texts), self.BATCH)]
        out = np.concatenate(parts)
        unsorted = np.empty_like(out)
        unsorted[order] = out
        return unsorted

    def score(self, weights=None, act=None, matmul=None) -> dict:
        out = self.embed(self.sentences, weights, act, matmul)
        cosine = (out * self.reference).sum(axis=1).astype(np.float64)
        retrieved = np.argmax(out @ self.reference.T, axis=1) == np.arange(len(out))
        ci = bootstrap_ci(lambda i: float(1 - cosine[i].mean()), len(cosine))
        return {"eval_sentences": len(self.sentences), "cosine_mean": float(cosine.mean()),
                "cosine_min": float(cosine.min()), "cosine_loss": float(1 - cosine.mean()), "cosine_loss_ci": list(ci),
                "nn_retained": float(np.mean(nearest_other(out, out) == self.reference_neighbours)),
                "retrieval_at1": float(retrieved.mean()), "headline": "cosine_loss"}

    def reference_score(self) -> dict:
        return {"eval_sentences": len(self.sentences), "calibration_sentences": len(self.calibration)}

    def calibration_inputs(self, weights: dict, sentences: int = 128) -> dict:
        """Every linear layer's input on the first calibration ``sentences`` (model with ``weights``)."""
        captured: dict = {}
        self.model.embed(self.calibration[:sentences], weights,
                         act=lambda name, x: captured.__setitem__(name, x.copy()) or x)
        return captured

    def hessians(self) -> Hessians:
        h = Hessians()
        self.embed(self.calibration, act=h.hook)
        return h

    def loss(self, name: str, weight: np.ndarray) -> float:
        """1 - mean cosine to the reference embeddings of the calibration sentences with only ``name``
        replaced: the network-output sensitivity of that layer to that replacement."""
        out = self.embed(self._loss_sentences, {name: weight})
        return float(1 - (out * self._loss_reference).sum(axis=1).astype(np.float64).mean())


def nearest_other(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """For each row of ``queries``, the index of the most similar row of ``keys`` other than its own."""
    similarity = queries @ keys.T
    np.fill_diagonal(similarity, -np.inf)
    return similarity.argmax(axis=1)
