"""The derivation's computation for one sample, every intermediate array kept: what ``nnctl explain`` shows.

Shapes follow the derivation (not ``model/network.py``'s rows-are-samples batches): one sample is a column.
``a(0) = x`` is ``(n0, 1)``; ``W(l)`` is ``(n(l), n(l-1))``; ``b(l)``, ``z(l)``, ``a(l)``, ``δ(l)`` are
``(n(l), 1)``; ``p`` and ``onehot(y)`` are ``(nL, 1)``. With ``m = 1`` there is no ``1/m``.

Everything is computed here from the equations, step by step, in float64 — deliberately not by calling
``MLP.loss_and_grads`` — so that comparing the two (the tests do) checks one against the other. The
finite-difference check differentiates the network's own ``MLP.loss``, so it, too, sets these equations
against nnctl's network rather than against themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..choices import pick
from ..errors import ConfigError
from ..model.gradcheck import numeric_gradient, relative_error
from ..model.network import ACTIVATIONS, MLP

SATURATED = 1e-3  # a unit whose g'(z) is below this is saturated: it passes on less than a thousandth of δ

# g'(z(l)) per activation, as a function of (z, a = g(z)); the derivation writes the sigmoid's as a(1 − a).
G_PRIME = {
    "sigmoid": lambda z, a: a * (1.0 - a),
    "tanh": lambda z, a: 1.0 - a * a,
    "relu": lambda z, a: (z > 0).astype(np.float64),
}


@dataclass
class Explanation:
    """One sample through the network and one gradient-descent step, every array by name.

    ``arrays`` (insertion order = computation order): ``a0``; per layer ``W{l}``, ``b{l}``, ``z{l}``,
    ``a{l}``; ``p``, ``onehot``; backwards from ``l = L``: ``delta{l}``, ``dW{l}_data`` (``δ(l)·a(l-1)ᵀ``),
    ``dW{l}``, ``db{l}`` and, for ``l > 1``, ``da{l-1}`` (``W(l)ᵀ·δ(l)``), ``g_prime{l-1}``,
    ``delta{l-1}``; then ``W{l}_new``, ``b{l}_new`` (after one step) and ``fd_dW{l}``, ``fd_db{l}``
    (centred finite differences of ``J``).
    """

    layers: list
    activation: str
    lam: float
    alpha: float
    y: int
    arrays: dict
    loss: dict        # {"data": −ln p(y), "penalty": (λ/2) Σ ‖W(l)‖², "J": their sum}
    fd_error: dict    # "dW{l}"/"db{l}" -> largest relative difference analytic vs finite difference
    fd_abs_error: dict  # the same keys -> largest absolute difference
    eps: float

    @property
    def L(self):
        return len(self.layers) - 1

    @property
    def predicted(self):
        """The class the network predicts for the sample: the largest p."""
        return int(np.argmax(self.arrays["p"]))

    def saturated(self, l):
        """Indexes of hidden layer ``l``'s units whose g'(z) is below ``SATURATED``: flat, passing on almost no
        gradient (a sigmoid at |z| > 6.9, tanh at |z| > 4.1; never a ReLU, whose g' is 0 or 1)."""
        if self.activation == "relu":
            return []
        return [int(i) for i in np.flatnonzero(self.arrays[f"g_prime{l}"][:, 0] < SATURATED)]


def _column(v):
    return np.asarray(v, dtype=np.float64).reshape(-1, 1)


def explain(params, x, y, activation="sigmoid", lam=0.0, alpha=0.1, eps=1e-5, check=True):
    """Forward pass, loss, backward pass, one update and a finite-difference check for one sample.

    ``params``: ``W1…WL`` ``(n(l), n(l-1))`` and ``b1…bL`` ``(n(l),)`` (not modified); ``x``: ``(n0,)``
    scaled features; ``y``: class index ``0..nL−1``; ``lam`` λ; ``alpha`` α; ``eps`` the finite-difference step;
    without ``check``, no finite differences (``fd_error`` stays empty).
    """
    g_prime = pick(G_PRIME, activation, "activation")
    g = ACTIVATIONS[activation][0]
    L = sum(1 for k in params if k.startswith("W"))
    W = {l: np.array(params[f"W{l}"], dtype=np.float64) for l in range(1, L + 1)}
    b = {l: _column(params[f"b{l}"]) for l in range(1, L + 1)}
    layers = [W[1].shape[1]] + [W[l].shape[0] for l in range(1, L + 1)]
    a = {0: _column(x)}
    if a[0].shape[0] != layers[0]:
        raise ConfigError(f"explain: the sample has {a[0].shape[0]} features, the network takes {layers[0]}")
    y = int(y)
    if not 0 <= y < layers[-1]:
        raise ConfigError(f"explain: label index {y} is outside 0..{layers[-1] - 1}")
    arrays = {"a0": a[0]}
    z = {}
    for l in range(1, L + 1):
        z[l] = W[l] @ a[l - 1] + b[l]                 # z(l) = W(l)·a(l-1) + b(l)
        a[l] = g(z[l]) if l < L else z[l]             # a(l) = g(z(l)); the output layer is linear
        arrays.update({f"W{l}": W[l], f"b{l}": b[l], f"z{l}": z[l], f"a{l}": a[l]})

    # p = softmax(a(L)), shifted by the max so that large logits neither overflow nor lose ln p.
    shifted = a[L] - a[L].max()
    log_p = shifted - np.log(np.exp(shifted).sum())
    p = np.exp(log_p)
    onehot = np.zeros_like(p)
    onehot[y, 0] = 1.0
    arrays.update({"p": p, "onehot": onehot})
    # The softmax step: ∂p/∂a(L) is the Jacobian diag(p) − p·pᵀ, ∂J/∂p is −1/p(y) at the true class and 0
    # elsewhere, and the chain rule (∂p/∂a(L))ᵀ·∂J/∂p gives p − onehot(y): the δ(L) below, taken the long way.
    # When p(y) underflows (a logit far below the others: the ×1000 case), 1/p(y) is not a float64 and the long
    # way cannot be taken; the arrays are then left out and δ(L) comes from the log-softmax alone.
    jacobian = np.diagflat(p) - p @ p.T
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        dJ_dp = np.where(onehot > 0, -np.exp(-log_p), 0.0)      # −1/p(y), from ln p(y)
        dJ_da = jacobian.T @ dJ_dp
    if np.isfinite(dJ_dp).all() and np.isfinite(dJ_da).all():
        arrays.update({"softmax_jacobian": jacobian, "dJ_dp": dJ_dp, "dJ_da": dJ_da})
    data_term = -float(log_p[y, 0])                   # −Σⱼ 1(y=j) ln p(y=j)
    penalty = 0.5 * lam * sum(float(np.sum(W[l] * W[l])) for l in W)   # (λ/2) Σₗ ‖W(l)‖²_F

    delta = p - onehot                                # δ(L) = ∂J/∂z(L) = ∂J/∂a(L) = p − onehot(y)
    arrays[f"delta{L}"] = delta
    grads = {}
    for l in range(L, 0, -1):
        outer = delta @ a[l - 1].T                    # δ(l)·a(l-1)ᵀ, the data term of ∂J/∂W(l)
        grads[f"W{l}"] = outer + lam * W[l]           # ∂J/∂W(l) = δ(l)·a(l-1)ᵀ + λW(l)
        grads[f"b{l}"] = delta                        # ∂J/∂b(l) = δ(l)
        arrays.update({f"dW{l}_data": outer, f"dW{l}": grads[f"W{l}"], f"db{l}": delta})
        if l > 1:
            da = W[l].T @ delta                       # ∂J/∂a(l-1) = W(l)ᵀ·δ(l)
            gp = g_prime(z[l - 1], a[l - 1])          # g'(z(l-1))
            delta = da * gp                           # δ(l-1) = (W(l)ᵀ·δ(l)) ⊙ g'(z(l-1))
            arrays.update({f"da{l - 1}": da, f"g_prime{l - 1}": gp, f"delta{l - 1}": delta})

    for l in range(1, L + 1):                         # W ← W − α ∂J/∂W, b ← b − α ∂J/∂b
        arrays[f"W{l}_new"] = W[l] - alpha * grads[f"W{l}"]
        arrays[f"b{l}_new"] = b[l] - alpha * grads[f"b{l}"]

    fd_error, fd_abs_error = {}, {}
    if not check:
        return Explanation(layers, activation, float(lam), float(alpha), y, arrays,
                           {"data": data_term, "penalty": penalty, "J": data_term + penalty}, fd_error, fd_abs_error, eps)
    net = MLP(layers, activation, lam, dtype="float64",
              params={k: np.array(v, dtype=np.float64) for k, v in params.items()})
    X, Y = a[0].T, np.array([y])
    for l in range(1, L + 1):
        for kind in ("W", "b"):
            name = f"{kind}{l}"
            numeric = numeric_gradient(net, X, Y, name, np.arange(net.params[name].size), eps)
            numeric = numeric.reshape(grads[name].shape)
            arrays[f"fd_d{name}"] = numeric
            fd_error[f"d{name}"] = float(relative_error(grads[name], numeric).max())
            fd_abs_error[f"d{name}"] = float(np.abs(grads[name] - numeric).max())

    return Explanation(layers, activation, float(lam), float(alpha), y, arrays,
                       {"data": data_term, "penalty": penalty, "J": data_term + penalty}, fd_error, fd_abs_error, eps)


@dataclass
class BatchExplanation:
    """One minibatch step, as training takes it: each sample's gradient (the one-sample derivation with λ = 0),
    their mean, the λW term, the update, and the same step by nnctl's network (``MLP.loss_and_grads``).

    ``arrays``: per layer ``dW{l}_sample{i}`` and ``db{l}_sample{i}`` (``δ(l)ᵢ·a(l-1)ᵢᵀ`` and ``δ(l)ᵢ``),
    ``dW{l}_mean``, ``db{l}``, ``lamW{l}`` (``λW(l)``), ``dW{l}`` (``mean + λW``), ``W{l}``, ``b{l}``,
    ``W{l}_new``, ``b{l}_new``. ``network_error``: the largest relative difference between these gradients
    and the network's on the same rows.
    """

    layers: list
    activation: str
    lam: float
    alpha: float
    ys: list
    arrays: dict
    loss: dict
    network_error: float

    @property
    def L(self):
        return len(self.layers) - 1

    @property
    def m(self):
        return len(self.ys)


def explain_batch(params, X, ys, activation="sigmoid", lam=0.0, alpha=0.1):
    """``W ← W − α[(1/m) Σᵢ ∂Jᵢ/∂W + λW]`` for the rows ``X`` ``(m, n0)`` (scaled) with classes ``ys``."""
    X, ys = np.asarray(X, dtype=np.float64), [int(v) for v in ys]
    samples = [explain(params, x, y, activation, lam=0.0, alpha=alpha, check=False) for x, y in zip(X, ys)]
    first = samples[0]
    m, L = len(samples), first.L
    arrays = {}
    for l in range(L, 0, -1):
        W, b = np.array(params[f"W{l}"], dtype=np.float64), _column(params[f"b{l}"])
        for i, ex in enumerate(samples):
            arrays[f"dW{l}_sample{i}"] = ex.arrays[f"dW{l}_data"]
            arrays[f"db{l}_sample{i}"] = ex.arrays[f"db{l}"]
        mean = sum(ex.arrays[f"dW{l}_data"] / m for ex in samples)     # (1/m) Σᵢ δ(l)ᵢ·a(l-1)ᵢᵀ, each term
        db = sum(ex.arrays[f"db{l}"] / m for ex in samples)            # divided first: no overflow of the sum
        arrays.update({f"W{l}": W, f"b{l}": b, f"dW{l}_mean": mean, f"lamW{l}": lam * W,
                       f"dW{l}": mean + lam * W, f"db{l}": db})
    for l in range(1, L + 1):
        arrays[f"W{l}_new"] = arrays[f"W{l}"] - alpha * arrays[f"dW{l}"]
        arrays[f"b{l}_new"] = arrays[f"b{l}"] - alpha * arrays[f"db{l}"]
    data = sum(ex.loss["data"] for ex in samples) / m
    penalty = 0.5 * lam * sum(float(np.sum(arrays[f"W{l}"] ** 2)) for l in range(1, L + 1))
    net = MLP(first.layers, activation, lam, dtype="float64",
              params={k: np.array(v, dtype=np.float64) for k, v in params.items()})
    J, grads = net.loss_and_grads(X, np.array(ys))
    error = max(float(relative_error(arrays[f"d{k[0]}{k[1:]}"].reshape(v.shape), v).max()) for k, v in grads.items())
    return BatchExplanation(first.layers, activation, float(lam), float(alpha), ys, arrays,
                            {"data": data, "penalty": penalty, "J": data + penalty, "network_J": float(J)}, error)
