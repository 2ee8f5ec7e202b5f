"""The network of the derivation, vectorized over a batch.

Shapes (one convention for the whole module): a batch holds ``m`` samples as rows.
``X``/``A[0]`` is ``(m, n0)``; ``W[l]`` is ``(n(l), n(l-1))``; ``b[l]`` is ``(n(l),)``;
``Z[l]`` and ``A[l]`` are ``(m, n(l))``; ``y`` is ``(m,)`` of class indices ``0..K-1``.
``Z[l] = A[l-1] @ W[l].T + b[l]`` is the derivation's ``z = W·a + b`` with samples as rows.
Hidden layers apply ``g``; the output layer is linear and scored by a row-wise softmax.

This module is the derivation written plainly, one equation a line. The training loop runs the same
equations in preallocated buffers (``fastpath.py``, speed only), tested equal to this one.
"""
from __future__ import annotations

import numpy as np

from ..choices import pick
from ..errors import DataError


def sigmoid(Z, out=None):
    # σ(z) = 1 / (1 + exp(−z)) in four in-place passes. For z < −709 (−88 in float32) exp(−z) overflows to
    # inf and σ to 0, the right limit, so that overflow is not a warning. NumPy's exp is several times
    # faster than its tanh, which the form (1 + tanh(z/2)) / 2 would need.
    out = np.negative(Z, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def sigmoid_grad(A, out=None):
    out = np.subtract(1.0, A, out=out)
    out *= A  # g'(z) = a(1 - a)
    return out


def tanh(Z, out=None):
    return np.tanh(Z, out=out)


def tanh_grad(A, out=None):
    out = np.multiply(A, A, out=out)
    return np.subtract(1.0, out, out=out)  # g'(z) = 1 - a²


def relu(Z, out=None):
    return np.maximum(Z, 0.0, out=out)


def relu_grad(A, out=None):
    if out is None:
        return (A > 0).astype(A.dtype)  # g'(z) = 1 if z > 0 else 0
    return np.greater(A, 0.0, out=out)


# name -> (g, g' written in terms of the output a = g(z)), so backprop needs only the stored A.
# Both take ``out=`` so that the training loop can run them in preallocated buffers (out=Z is allowed for g).
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
}


def xavier(fan_in, fan_out, rng):  # Glorot & Bengio (2010), uniform
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=(fan_out, fan_in))


def he(fan_in, fan_out, rng):  # He et al. (2015), normal
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))


def small_normal(fan_in, fan_out, rng):  # N(0, 0.01²)
    return rng.normal(0.0, 0.01, size=(fan_out, fan_in))


# name -> W(l) of shape (n(l), n(l-1)) drawn from rng
INITS = {"xavier": xavier, "he": he, "normal": small_normal}
DTYPES = {"float64": np.float64, "float32": np.float32}
EVAL_CHUNK = 1024  # rows per forward pass when evaluating a whole split (its activations stay in cache)


def init_params(layers, init, rng, dtype=np.float64):
    """Weights ``W1..WL`` of shape ``(n(l), n(l-1))`` drawn from ``rng``; biases ``b1..bL`` zero."""
    draw = pick(INITS, init, "init")
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(layers[:-1], layers[1:]), start=1):
        params[f"W{l}"] = draw(fan_in, fan_out, rng).astype(dtype)
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
        self.g, self.g_grad = pick(ACTIVATIONS, activation, "activation")
        self.activation = activation
        self.layers = [int(n) for n in layers]
        self.lam = float(lam)
        # a name from DTYPES, or a NumPy dtype (np.float32, np.dtype("float32")) as NumPy code passes one
        self.dtype = np.dtype(dtype if isinstance(dtype, (np.dtype, type)) else pick(DTYPES, dtype, "dtype"))
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
            Z = A[-1] @ P[f"W{l}"].T  # Z(l) = A(l-1)·W(l)ᵀ + b(l)
            Z += P[f"b{l}"]
            A.append(self.g(Z, out=Z) if l < self.L else Z)  # A(l) = g(Z(l)); the output layer stays linear
        return A

    def penalty(self):
        """The L2 term ``(λ/2) Σₗ ‖W(l)‖²_F`` (biases are not regularised)."""
        if self.lam == 0.0:
            return 0.0
        return 0.5 * self.lam * sum(float(np.vdot(W, W)) for k, W in self.params.items() if k[0] == "W")

    def check_batch(self, X, y):
        """``X, y`` as arrays, or a ``DataError``: a label ≥ K would otherwise index into the next row's scores."""
        X, y = np.asarray(X), np.asarray(y)
        K = self.layers[-1]
        if X.ndim != 2 or X.shape != (len(y), self.layers[0]) or y.ndim != 1:
            raise DataError(f"MLP: X must be (m, {self.layers[0]}) and y (m,), got X{X.shape} and y{y.shape}")
        if y.dtype.kind not in "iu" or (len(y) and (y.min() < 0 or y.max() >= K)):
            raise DataError(f"MLP: y must hold class indices 0..{K - 1}, got {y.dtype} values "
                            f"{y.min() if len(y) else ''}..{y.max() if len(y) else ''}")
        return X, y

    def loss(self, X, y):
        """``J = −(1/m) Σᵢ ln p(yᵢ) + (λ/2) Σₗ ‖W(l)‖²``."""
        X, y = self.check_batch(X, y)
        logp = log_softmax(self.forward(X)[-1])
        return -float(logp[np.arange(len(y)), y].mean()) + self.penalty()

    def loss_and_grads(self, X, y):
        """Return ``(J, grads)``; ``grads`` is keyed like ``params`` and each array has its parameter's shape."""
        X, y = self.check_batch(X, y)
        m, P = len(y), self.params
        A = self.forward(X)
        logp = log_softmax(A[-1])
        rows = np.arange(m)
        J = -float(logp[rows, y].mean()) + self.penalty()
        delta = np.exp(logp)  # p = softmax(A(L))
        delta[rows, y] -= 1.0
        delta /= m  # δ(L) = (p − onehot(y)) / m
        grads = {}
        for l in range(self.L, 0, -1):
            W = P[f"W{l}"]
            grads[f"W{l}"] = delta.T @ A[l - 1] + self.lam * W  # ∇W(l) = δ(l)ᵀ·A(l-1) + λW(l)
            grads[f"b{l}"] = delta.sum(axis=0)  # ∇b(l) = Σᵢ δ(l)ᵢ
            if l > 1:
                delta = (delta @ W) * self.g_grad(A[l - 1])  # δ(l-1) = (δ(l)·W(l)) ⊙ g'(Z(l-1))
        return J, {k: grads[k] for k in P}

    def predict_proba(self, X):
        """Class probabilities, shape ``(m, nL)``."""
        return np.exp(log_softmax(self.forward(X)[-1]))

    def predict(self, X):
        """Class indices, shape ``(m,)``."""
        return self.forward(X)[-1].argmax(axis=1)


def evaluate(net, X, y):
    """``(J, accuracy)`` of ``net`` on a whole split; ``(None, None)`` for an empty one."""
    if len(y) == 0:
        return None, None
    # In chunks: the activations of a whole large split would cost more memory than the data itself.
    neg_log_likelihood, correct = 0.0, 0
    for s in range(0, len(y), EVAL_CHUNK):
        logits, labels = net.forward(X[s:s + EVAL_CHUNK])[-1], y[s:s + EVAL_CHUNK]
        logp = log_softmax(logits)
        neg_log_likelihood -= float(np.take_along_axis(logp, labels[:, None], axis=1).sum())
        correct += int(np.count_nonzero(logits.argmax(axis=1) == labels))
    return neg_log_likelihood / len(y) + net.penalty(), correct / len(y)
