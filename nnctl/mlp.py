"""The network of the derivation, vectorized over a batch.

Shapes (one convention for the whole module): a batch holds ``m`` samples as rows.
``X``/``A[0]`` is ``(m, n0)``; ``W[l]`` is ``(n(l), n(l-1))``; ``b[l]`` is ``(n(l),)``;
``Z[l]`` and ``A[l]`` are ``(m, n(l))``; ``y`` is ``(m,)`` of class indices ``0..K-1``.
``Z[l] = A[l-1] @ W[l].T + b[l]`` is the derivation's ``z = W·a + b`` with samples as rows.
Hidden layers apply ``g``; the output layer is linear and scored by a row-wise softmax.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError


def sigmoid(Z):
    # exp of a non-positive number only, so |Z| = 1e4 neither overflows nor warns.
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E)).astype(Z.dtype, copy=False)


def sigmoid_grad(A):
    return A * (1.0 - A)  # g'(z) = a(1 - a)


def tanh_grad(A):
    return 1.0 - A * A  # g'(z) = 1 - a²


def relu(Z):
    return np.maximum(Z, 0.0)


def relu_grad(A):
    return (A > 0).astype(A.dtype)  # g'(z) = 1 if z > 0 else 0


# name -> (g, g' written in terms of the output a = g(z)), so backprop needs only the stored A.
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (np.tanh, tanh_grad),
    "relu": (relu, relu_grad),
}
INITS = ("xavier", "he", "normal")
DTYPES = {"float64": np.float64, "float32": np.float32}


def init_params(layers, init, rng, dtype=np.float64):
    """Weights ``W1..WL`` of shape ``(n(l), n(l-1))`` drawn from ``rng``; biases ``b1..bL`` zero."""
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(layers[:-1], layers[1:]), start=1):
        if init == "xavier":  # Glorot & Bengio (2010), uniform
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-bound, bound, size=(fan_out, fan_in))
        elif init == "he":  # He et al. (2015), normal
            W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
        elif init == "normal":
            W = rng.normal(0.0, 0.01, size=(fan_out, fan_in))
        else:
            raise ConfigError(f"model.init: must be one of {', '.join(INITS)}, got {init!r}")
        params[f"W{l}"] = W.astype(dtype)
        params[f"b{l}"] = np.zeros(fan_out, dtype=dtype)
    return params


def log_softmax(S):
    """Row-wise ``ln softmax(S)``, max-shifted so that logits of ±1e4 stay finite."""
    shifted = S - S.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class MLP:
    """A fully connected network ``layers = [n0, …, nL]`` with L2 strength ``lam`` (λ, not divided by m)."""

    def __init__(self, layers, activation="sigmoid", lam=0.0, init="xavier", seed=0, rng=None,
                 dtype="float64", params=None):
        if activation not in ACTIVATIONS:
            raise ConfigError(f"model.activation: must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.layers = [int(n) for n in layers]
        self.activation = activation
        self.g, self.g_grad = ACTIVATIONS[activation]
        self.lam = float(lam)
        self.dtype = np.dtype(DTYPES.get(dtype, dtype))
        if params is None:
            rng = np.random.default_rng(seed) if rng is None else rng
            params = init_params(self.layers, init, rng, self.dtype)
        self.params = params

    @property
    def L(self):
        return len(self.layers) - 1

    def forward(self, X):
        """Return the activations ``[A0, A1, …, AL]``; ``AL`` is the output layer's logits ``Z(L)``."""
        P = self.params
        A = [np.asarray(X, dtype=self.dtype)]
        for l in range(1, self.L + 1):
            Z = A[-1] @ P[f"W{l}"].T + P[f"b{l}"]  # Z(l) = A(l-1)·W(l)ᵀ + b(l)
            A.append(self.g(Z) if l < self.L else Z)  # A(l) = g(Z(l)); the output layer stays linear
        return A

    def penalty(self):
        """The L2 term ``(λ/2) Σₗ ‖W(l)‖²_F`` (biases are not regularised)."""
        if self.lam == 0.0:
            return 0.0
        return 0.5 * self.lam * sum(float(np.vdot(W, W)) for k, W in self.params.items() if k[0] == "W")

    def loss(self, X, y):
        """``J = −(1/m) Σᵢ ln p(yᵢ) + (λ/2) Σₗ ‖W(l)‖²``."""
        logp = log_softmax(self.forward(X)[-1])
        return -float(logp[np.arange(len(y)), y].mean()) + self.penalty()

    def loss_and_grads(self, X, y):
        """Return ``(J, grads)``; ``grads`` is keyed like ``params`` and each array has its parameter's shape."""
        y = np.asarray(y)
        m = len(y)
        P = self.params
        A = self.forward(X)
        logp = log_softmax(A[-1])
        rows = np.arange(m)
        J = -float(logp[rows, y].mean()) + self.penalty()
        # δ(L) = (p − onehot(y)) / m
        delta = np.exp(logp)
        delta[rows, y] -= 1.0
        delta /= m
        grads = {}
        for l in range(self.L, 0, -1):
            W = P[f"W{l}"]
            # ∇W(l) = δ(l)ᵀ·A(l-1) + λW(l)
            grads[f"W{l}"] = delta.T @ A[l - 1] + self.lam * W if self.lam else delta.T @ A[l - 1]
            # ∇b(l) = Σᵢ δ(l)ᵢ
            grads[f"b{l}"] = delta.sum(axis=0)
            if l > 1:
                # δ(l-1) = (δ(l)·W(l)) ⊙ g'(Z(l-1)), with g' written from A(l-1) = g(Z(l-1))
                delta = (delta @ W) * self.g_grad(A[l - 1])
        return J, {k: grads[k] for k in P}

    def predict_proba(self, X):
        """Class probabilities, shape ``(m, nL)``."""
        return np.exp(log_softmax(self.forward(X)[-1]))

    def predict(self, X):
        """Class indices, shape ``(m,)``."""
        return self.forward(X)[-1].argmax(axis=1)
