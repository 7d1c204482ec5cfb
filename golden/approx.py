"""Neural approximate computing: approximators of a kernel, and the classifiers that decide when to use them.

An approximator is a small MLP standing in for a kernel (``golden.axbench``); a classifier decides
per input whether approximating stays within the quality bound. The share of inputs sent to an
approximator is the invocation. Three ways to build them, trained with PyTorch on the CPU
(full-batch Adam on standardised inputs and outputs, seeded, reproducible):

* ``single``: one approximator trained on every input, then a binary classifier trained on
  "its error here <= bound" (the two trained separately, the baseline);
* ``mcma``: K approximators of one topology and a (K + 1)-class classifier, class K meaning "run
  the exact function". Co-training: inputs start split by a seeded random assignment; then each
  round every approximator is retrained on its inputs and each input is reassigned to the
  approximator with the smallest error; the classifier learns the final assignment, inputs that
  no approximator serves within the bound being class K;
* ``axnet``: one network, a shared trunk with an approximation head and a safe-to-approximate
  head, trained end to end on mse + BCE(safe, error <= bound), the safe targets recomputed from
  the approximation head every ``refresh`` epochs.

``npu_mlp`` turns a trained approximator into the NPU's fixed-point MLP (``golden.npu``), and
``npu_approximate`` runs it there; the NPU's sigmoid is PLAN's, not the logistic function the
training used, which the fixed-point outputs carry as part of their error.

An input's error is the mean over outputs of |approximation - exact| / scale, scale being the
per-output standard deviation of the exact training outputs (``output_scale``). ``evaluate``
gives the invocation and the mean error over every input (an input routed to the exact function
has error 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

METHODS = ("single", "mcma", "axnet")


def output_scale(y: np.ndarray) -> np.ndarray:
    """Per-output standard deviation of exact outputs (1 where an output is constant)."""
    s = np.asarray(y, dtype=np.float64).std(axis=0)
    return np.where(s > 0, s, 1.0)


def input_error(pred: np.ndarray, exact: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per input: mean over outputs of |pred - exact| / scale."""
    return (np.abs(np.asarray(pred, np.float64) - exact) / scale).mean(axis=1)


def _torch(seed: int):
    try:
        import torch
    except ImportError:
        raise ImportError("training approximators needs PyTorch (CPU): pip install '.[search]'") from None
    torch.manual_seed(seed)
    return torch


def _mlp(sizes, hidden_activation: str = "sigmoid"):
    import torch.nn as nn

    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Sigmoid() if hidden_activation == "sigmoid" else nn.ReLU())
    return nn.Sequential(*layers)


@dataclass
class Standard:
    """Standardisation of a batch: (x - mean) / std, kept to apply to new inputs and undo on outputs."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, a: np.ndarray) -> "Standard":
        return cls(a.mean(axis=0), np.where(a.std(axis=0) > 0, a.std(axis=0), 1.0))

    def to(self, a):
        return (a - self.mean) / self.std

    def back(self, a):
        return a * self.std + self.mean


def _fit(net, x: np.ndarray, target: np.ndarray, seed: int, epochs: int, loss: str = "mse", lr: float = 0.02):
    torch = _torch(seed)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(target)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    fn = torch.nn.MSELoss() if loss == "mse" else torch.nn.CrossEntropyLoss()
    yt = yt.float() if loss == "mse" else yt.long()
    for _ in range(epochs):
        opt.zero_grad()
        fn(net(xt), yt).backward()
        opt.step()
    return net


def _run(net, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return net(torch.tensor(x, dtype=torch.float32)).double().numpy()


@dataclass
class Approximators:
    """A trained method: ``route(x)`` gives each input's approximator (-1: the exact function),
    ``approximate(x, k)`` approximator k's outputs."""

    method: str
    topology: tuple[int, ...]
    nets: list
    classifier: object
    xs: Standard
    ys: Standard
    meta: dict = field(default_factory=dict)

    def approximate(self, x: np.ndarray, k: int) -> np.ndarray:
        out = _run(self.nets[k], self.xs.to(x))
        return self.ys.back(out[:, :self.topology[-1]])

    def route(self, x: np.ndarray) -> np.ndarray:
        scores = _run(self.classifier, self.xs.to(x))
        if self.method == "axnet":   # the fused network's last output is the safe logit
            return np.where(scores[:, self.topology[-1]] > 0, 0, -1)
        choice = scores.argmax(axis=1)
        return np.where(choice == len(self.nets), -1, choice)


def _classifier(topology, classes: int, xn: np.ndarray, labels: np.ndarray, seed: int, epochs: int):
    net = _mlp((topology[0], *topology[1:-1], classes))
    return _fit(net, xn, labels, seed, epochs, loss="ce")


def train(method: str, x: np.ndarray, y: np.ndarray, topology: tuple[int, ...], bound: float, *, seed: int = 0,
          approximators: int = 2, epochs: int = 600, rounds: int = 8, refresh: int = 50) -> Approximators:
    """Train ``method`` (``single``, ``mcma`` with ``approximators`` K, or ``axnet``) on exact pairs."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or x.shape[1] != topology[0] or y.shape[1] != topology[-1]:
        raise ValueError(f"x must be (N, {topology[0]}) and y (N, {topology[-1]}) for topology {topology}, "
                         f"got {x.shape} and {y.shape}")
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound!r}")
    if method == "mcma" and not (isinstance(approximators, int) and approximators >= 1):
        raise ValueError(f"approximators must be an integer >= 1, got {approximators!r}")
    xs, ys = Standard.of(x), Standard.of(y)
    xn, yn = xs.to(x), ys.to(y)
    scale = output_scale(y)
    torch = _torch(seed)

    def error(net):
        return input_error(ys.back(_run(net, xn)[:, :topology[-1]]), y, scale)

    if method == "single":
        net = _fit(_mlp(topology), xn, yn, seed, epochs)
        safe = (error(net) <= bound).astype(np.int64)
        clf = _classifier(topology, 2, xn, 1 - safe, seed + 1, epochs)   # class 0: approximator 0, 1: exact
        return Approximators(method, topology, [net], clf, xs, ys, {"trained_safe": float(safe.mean())})
    if method == "mcma":
        k = approximators
        assign = np.random.default_rng(seed).integers(0, k, len(x))
        nets = [_mlp(topology) for _ in range(k)]
        for r in range(rounds):
            for i in range(k):
                mine = assign == i
                if mine.any():
                    nets[i] = _fit(_mlp(topology), xn[mine], yn[mine], seed + 100 * r + i, epochs)
            errors = np.stack([error(net) for net in nets], axis=1)
            assign = errors.argmin(axis=1)
        labels = np.where(errors.min(axis=1) <= bound, assign, k)
        clf = _classifier(topology, k + 1, xn, labels, seed + 1, epochs)
        return Approximators(method, topology, nets, clf, xs, ys,
                             {"trained_safe": float((labels < k).mean()), "shares": np.bincount(labels, minlength=k + 1)
                              .tolist()})
    # axnet: trunk + approximation head + safe head, one network with outputs [approx..., safe logit]
    net = _mlp((*topology[:-1], topology[-1] + 1))
    xt, yt = torch.tensor(xn, dtype=torch.float32), torch.tensor(yn, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    mse, bce = torch.nn.MSELoss(), torch.nn.BCEWithLogitsLoss()
    safe = torch.zeros(len(x))
    for epoch in range(epochs):
        if epoch % refresh == 0:
            safe = torch.tensor((error(net) <= bound).astype(np.float32))
        opt.zero_grad()
        out = net(xt)
        (mse(out[:, :topology[-1]], yt) + bce(out[:, topology[-1]], safe)).backward()
        opt.step()
    return Approximators(method, topology, [net], net, xs, ys, {"trained_safe": float(safe.mean())})


def evaluate(approx: Approximators, x: np.ndarray, y: np.ndarray, scale: np.ndarray) -> dict:
    """Invocation and mean error over every input of ``x`` (exact outputs ``y``): routed inputs at
    their approximator's error, the others at 0; and the mean error of the routed ones alone."""
    route = approx.route(x)
    err = np.zeros(len(x))
    for k in range(len(approx.nets)):
        mine = route == k
        if mine.any():
            err[mine] = input_error(approx.approximate(x[mine], k), y[mine], scale)
    used = route >= 0
    return {"invocation": float(used.mean()), "mean_error": float(err.mean()),
            "mean_error_approximated": float(err[used].mean()) if used.any() else 0.0,
            "per_approximator": np.bincount(route[used], minlength=len(approx.nets)).tolist()}


def npu_mlp(net, weight, act):
    """A trained torch MLP (``_mlp``: Linear layers, sigmoid between them) as the NPU computes it:
    weights and biases quantised to ``weight`` codes (round half to even, saturating), sigmoid
    hidden layers (PLAN on the NPU), a linear last layer. Inputs and outputs stay standardised:
    the host standardises what it sends and undoes it on what comes back."""
    import torch.nn as nn

    from .npu import Layer, Mlp, quantise

    linears = [m for m in net if isinstance(m, nn.Linear)]
    layers = tuple(Layer(quantise(m.weight.detach().double().numpy(), weight),
                         quantise(m.bias.detach().double().numpy(), weight),
                         "linear" if i == len(linears) - 1 else "sigmoid")
                   for i, m in enumerate(linears))
    return Mlp(layers, weight, act)


def npu_approximate(approx: Approximators, x: np.ndarray, k: int, weight, act) -> np.ndarray:
    """Approximator ``k``'s outputs for ``x`` computed by the fixed-point NPU model (``npu_mlp``)."""
    from .npu import quantise

    mlp = npu_mlp(approx.nets[k], weight, act)
    codes = mlp.forward(quantise(approx.xs.to(np.asarray(x, np.float64)), act))
    return approx.ys.back(act.value(codes)[:, :approx.topology[-1]])


def npu_program(approx: Approximators, weight, act):
    """The trained method as the NPU holds it (``golden.npu.Program``): ``single`` and ``mcma``
    routed (the classifier in bank 0, the approximators after it), ``axnet`` fused. Inputs and
    outputs stay standardised, as in ``npu_mlp``."""
    from .npu import Program

    if approx.method == "axnet":
        return Program("fused", (npu_mlp(approx.nets[0], weight, act),))
    return Program("routed", (npu_mlp(approx.classifier, weight, act),
                              *(npu_mlp(net, weight, act) for net in approx.nets)))
