"""The network of the derivation, vectorized over a batch.

Shapes (one convention for the whole module): a batch holds ``m`` samples as rows.
``X``/``A[0]`` is ``(m, n0)``; ``W[l]`` is ``(n(l), n(l-1))``; ``b[l]`` is ``(n(l),)``;
``Z[l]`` and ``A[l]`` are ``(m, n(l))``; ``y`` is ``(m,)`` of class indices ``0..K-1``.
``Z[l] = A[l-1] @ W[l].T + b[l]`` is the derivation's ``z = W·a + b`` with samples as rows.
Hidden layers apply ``g``; the output layer is linear and scored by a row-wise softmax.

Two paths compute the same gradients: ``loss_and_grads`` (fresh arrays, with the loss) and
``minibatch_grads`` (the training loop's: buffers kept per batch size, everything in place, no loss).
bench/bench.py times the second; tests/test_perf.py checks both against a plain reference.
For plain SGD, ``minibatch_grads(…, sgd_alpha=α)`` also takes the step of the large weight matrices
itself, inside backprop (one BLAS call each), and returns only the gradients still to be applied.
Inside ``with net.deferred_decay():`` those steps also leave the weight decay as a scalar factor
per matrix (no pass over W for it), applied when the block ends.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .errors import ConfigError, DataError


def sigmoid(Z, out=None):
    # σ(z) = (1 + tanh(z/2)) / 2: stable and warning-free for |z| = 1e4 (tanh saturates at ±1), and
    # NumPy's vectorised tanh is several times faster than exp-based forms. Values below ~1e-17 round
    # to 0 (absolute error ≤ 2.3e-16), which no gradient can tell apart.
    out = np.multiply(Z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


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
INITS = ("xavier", "he", "normal")
DTYPES = {"float64": np.float64, "float32": np.float32}
GEMM_MIN_WEIGHTS = 4096  # below this, NumPy's matmul call is cheaper than scipy's BLAS wrapper
MIN_SCALE = 0.5  # a deferred weight-decay factor is applied to W once a step takes it below this


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
        self._buffers = {}  # batch size -> _Buffers, reused by minibatch_grads
        self._scales = None  # inside deferred_decay: layer -> factor s, the true W(l) being s · params[W(l)]

    @property
    def L(self):
        return len(self.layers) - 1

    @contextmanager
    def deferred_decay(self):
        """A block of fused SGD steps (``minibatch_grads(…, sgd_alpha=α)``) that defers weight decay.

        A fused step is ``W ← (1 − αλ)W − α·δᵀA``; BLAS does the product in place but scales W by
        ``1 − αλ`` in a pass of its own. Inside this block W is kept as ``s · V`` instead: ``params``
        holds V, the step multiplies only the scalar ``s`` and adds ``(α/s)·δᵀA`` to V, and the products
        that read W fold ``s`` into their small outputs. ``s`` is applied to V after the step that takes
        it below ``MIN_SCALE``, when anything else reads the weights through this class, and when the
        block ends, so ``params`` holds the true weights outside it (a nested block leaves that to the
        outer one). Results equal the undeferred step's to rounding.
        """
        if self._scales is not None:  # nested: the outer block settles
            yield self
            return
        self._scales = {}
        try:
            yield self
        finally:
            self._settle()
            self._scales = None

    def _settle(self):
        """Apply the deferred factors: ``params[W(l)]`` becomes the true ``W(l)`` again."""
        if self._scales:
            for l, s in self._scales.items():
                self.params[f"W{l}"] *= s
            self._scales.clear()

    def forward(self, X):
        """Return the activations ``[A0, A1, …, AL]``; ``AL`` is the output layer's logits ``Z(L)``."""
        self._settle()
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
        self._settle()
        return 0.5 * self.lam * sum(float(np.vdot(W, W)) for k, W in self.params.items() if k[0] == "W")

    def _check_batch(self, X, y):
        # The public entry points only: a label ≥ K would otherwise index into the next row's scores.
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
        X, y = self._check_batch(X, y)
        logp = log_softmax(self.forward(X)[-1])
        return -float(logp[np.arange(len(y)), y].mean()) + self.penalty()

    def loss_and_grads(self, X, y):
        """Return ``(J, grads)``; ``grads`` is keyed like ``params`` and each array has its parameter's shape."""
        X, y = self._check_batch(X, y)
        buf = _Buffers(self.layers, len(y), self.dtype)
        buf.A[0][...] = X
        buf.y[...] = y
        J = self._backprop(buf, want_loss=True)
        return J, buf.grads

    def minibatch_grads(self, X, y, idx, sgd_alpha=None):
        """Gradients on the minibatch ``X[idx], y[idx]``, computed in buffers kept between calls.

        The training loop's fast path (``train_steps`` calls it as ``_minibatch_grads``, without the checks
        of ``idx`` and ``y``): no loss, no allocation. The returned arrays are overwritten by the next call,
        so copy them to keep them. ``idx`` holds row numbers ``0..len(X)-1`` of ``X`` and of ``y``
        (anything else is a DataError).

        With ``sgd_alpha`` (plain SGD's α), every weight matrix large enough for a BLAS ``gemm`` is
        stepped in place, ``W ← W − α ∇W``, during backprop, and its gradient is left out of the returned
        dict (it is never formed): the caller steps only the parameters returned.
        """
        idx, where = np.asarray(idx), "MLP.minibatch_grads"
        if len(y) != len(X):
            raise DataError(f"{where}: X has {len(X)} rows and y {len(y)}")
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise DataError(f"{where}: idx must be a 1-D array of row numbers, got {idx.dtype} of shape {idx.shape}")
        bad = idx[(idx < 0) | (idx >= len(X))]
        if len(bad):
            raise DataError(f"{where}: idx must be row numbers 0..{len(X) - 1}, got {bad[0]}")
        return self._minibatch_grads(X, y, idx, sgd_alpha)

    def _minibatch_grads(self, X, y, idx, sgd_alpha=None):
        # minibatch_grads without the check of idx, for trainer.train_steps (it passes slices of a
        # permutation, and for [2,3,2] the check would cost a tenth of a step).
        m = len(idx)
        buf = self._buffers.get(m)
        if buf is None or buf.A[0].dtype != self.dtype:
            buf = self._buffers[m] = _Buffers(self.layers, m, self.dtype)
        # mode="clip" (idx is known to be valid): with the default "raise", take gathers into a temporary
        # and copies that to ``out``, twice the time for a large minibatch.
        X.take(idx, axis=0, out=buf.A[0], mode="clip")  # casts to the network's dtype if X is wider
        if y.dtype == buf.y.dtype:
            y.take(idx, out=buf.y, mode="clip")
        else:
            buf.y[:] = y[idx]
        if sgd_alpha is not None and buf.gemm and self._fusable(buf):
            self._backprop(buf, sgd_alpha=sgd_alpha)
            return buf.unfused_grads
        self._backprop(buf)
        return buf.grads

    def _fusable(self, buf):
        # BLAS writes into W only through W.T as a writeable Fortran array of its own dtype (else it would
        # step a copy); anything else (never the case for params this package makes or loads) goes unfused.
        Ws = [self.params[buf.keys[l][0]] for l in buf.gemm]
        return all(W.flags.c_contiguous and W.flags.writeable and W.dtype == self.dtype for W in Ws)

    def _backprop(self, buf, want_loss=False, sgd_alpha=None):
        """Forward and backward pass over the batch in ``buf.A[0]``, ``buf.y``; gradients land in ``buf.grads``,
        except that with ``sgd_alpha`` the layers in ``buf.gemm`` get their SGD step instead of a gradient."""
        scales = self._scales if sgd_alpha is not None else None
        if scales is None:
            self._settle()
        P, A, m, keys = self.params, buf.A, buf.m, buf.keys
        L = len(keys) - 1
        for l in range(1, L + 1):
            Z = A[l]
            np.dot(A[l - 1], P[keys[l][0]].T, out=Z)  # Z(l) = A(l-1)·W(l)ᵀ + b(l)
            if scales and l in scales:
                Z *= scales[l]  # W(l) = s·V: scale the product, not the matrix
            Z += P[keys[l][1]]
            if l < L:
                self.g(Z, out=Z)  # A(l) = g(Z(l)) in place: backprop needs only A
        # δ(L) = (p − onehot(y)) / m, computed in place over the logits with a max-shifted softmax
        S = A[L]
        if S.shape[1] == 2:
            np.maximum(buf.S_cols[0], buf.S_cols[1], out=buf.row)
        else:
            np.maximum.reduce(S, axis=1, out=buf.row)
        S -= buf.row_column
        np.add(buf.row_base, buf.y, out=buf.flat_index)  # where onehot(y) is 1 in S.ravel()
        J = None
        if want_loss:
            shifted_true = buf.S_flat[buf.flat_index]
        np.exp(S, out=S)
        np.dot(S, buf.ones_k, out=buf.row)  # row sums of exp
        if want_loss:
            J = float(np.mean(np.log(buf.row) - shifted_true)) + self.penalty()
        buf.row *= m
        S /= buf.row_column
        buf.S_flat[buf.flat_index] -= buf.inv_m
        delta, grads = S, buf.grads
        for l in range(L, 0, -1):
            W, dW = P[keys[l][0]], grads[keys[l][0]]
            gemm = buf.gemm.get(l)
            fused = gemm is not None and sgd_alpha is not None
            # ∇W(l) = δ(l)ᵀ·A(l-1) + λW(l); a fused layer forms it only inside its SGD step, below
            if gemm is None:
                np.dot(delta.T, A[l - 1], out=dW)
                if self.lam:
                    np.multiply(W, self.lam, out=buf.lam_W[l])
                    dW += buf.lam_W[l]
            elif not fused:
                # Large layer: BLAS adds the product onto λW in place (beta=1), one pass over W
                # instead of three. Fortran views of the C arrays: ∇W(l)ᵀ = A(l-1)ᵀ·δ(l).
                if self.lam:
                    np.multiply(W, self.lam, out=dW)
                gemm(1.0, A[l - 1].T, delta.T, beta=1.0 if self.lam else 0.0, c=dW.T, trans_b=1, overwrite_c=1)
            np.dot(buf.ones_m, delta, out=grads[keys[l][1]])  # ∇b(l) = Σᵢ δ(l)ᵢ
            delta_l = delta
            if l > 1:
                # δ(l-1) = (δ(l)·W(l)) ⊙ g'(Z(l-1)), with g' written from A(l-1) = g(Z(l-1))
                g_prime = self.g_grad(A[l - 1], out=buf.g_prime[l - 1])
                np.dot(delta, W, out=buf.delta[l - 1])
                delta = buf.delta[l - 1]
                delta *= g_prime
                if scales and l in scales:
                    delta *= scales[l]
            if fused:
                # SGD step W ← W − α(δᵀA + λW) = (1 − αλ)W − α·δ(l)ᵀA(l-1), one BLAS call in place on W
                # (its Fortran view), after δ(l-1) has used the old W: no ∇W array, no λW pass, no
                # optimizer passes over W.
                self._fused_step(l, gemm, sgd_alpha, A[l - 1], delta_l, scales)
        return J

    def _fused_step(self, l, gemm, alpha, A_prev, delta, scales):
        W = self.params[f"W{l}"]
        decay = 1.0 - alpha * self.lam
        if scales is None or not self.lam or decay < MIN_SCALE:
            # not deferred; a factor still pending (α changed inside the block) goes into the same beta
            beta = decay * scales.pop(l, 1.0) if scales is not None else decay
            gemm(-alpha, A_prev.T, delta.T, beta=beta, c=W.T, trans_b=1, overwrite_c=1)
            return
        # deferred (see deferred_decay): s·V ← decay·s·V − α·δᵀA, i.e. s ← decay·s, V ← V − (α/s)·δᵀA
        s = scales.get(l, 1.0) * decay
        gemm(-alpha / s, A_prev.T, delta.T, beta=1.0, c=W.T, trans_b=1, overwrite_c=1)
        if s < MIN_SCALE:
            W *= s
            scales.pop(l, None)
        else:
            scales[l] = s

    def predict_proba(self, X):
        """Class probabilities, shape ``(m, nL)``."""
        return np.exp(log_softmax(self.forward(X)[-1]))

    def predict(self, X):
        """Class indices, shape ``(m,)``."""
        return self.forward(X)[-1].argmax(axis=1)


class _Buffers:
    """Every array one forward and backward pass over ``m`` rows needs, allocated once.

    ``A[l]`` is ``(m, n(l))`` and holds ``Z(l)`` then ``A(l)`` (``A[L]`` ends as ``δ(L)``);
    ``delta[l]`` and ``g_prime[l]`` are ``(m, n(l))`` for the hidden layers; ``grads`` is keyed like params.
    """

    def __init__(self, layers, m, dtype):
        L, K = len(layers) - 1, layers[-1]
        self.m = m
        self.inv_m = 1.0 / m
        self.keys = [None] + [(f"W{l}", f"b{l}") for l in range(1, L + 1)]
        self.A = [np.empty((m, n), dtype) for n in layers]
        self.y = np.empty(m, np.int64)
        self.delta = {l: np.empty((m, layers[l]), dtype) for l in range(1, L)}
        self.g_prime = {l: np.empty((m, layers[l]), dtype) for l in range(1, L)}
        self.lam_W = {l: np.empty((layers[l], layers[l - 1]), dtype) for l in range(1, L + 1)}
        self.gemm = {}  # layer -> BLAS gemm, for weights large enough that its call overhead pays
        big = [l for l in range(1, L + 1) if layers[l] * layers[l - 1] >= GEMM_MIN_WEIGHTS]
        if big:
            from scipy.linalg.blas import get_blas_funcs  # scipy only for large nets: start-up stays fast

            self.gemm = {l: get_blas_funcs("gemm", dtype=dtype) for l in big}
        self.grads = {}
        for l in range(1, L + 1):
            self.grads[f"W{l}"] = np.empty((layers[l], layers[l - 1]), dtype)
            self.grads[f"b{l}"] = np.empty(layers[l], dtype)
        # what a fused SGD minibatch returns: everything but the weights that BLAS has already stepped
        self.unfused_grads = {k: g for k, g in self.grads.items() if not (k[0] == "W" and int(k[1:]) in self.gemm)}
        self.S_flat = self.A[L].reshape(-1)
        self.S_cols = (self.A[L][:, 0], self.A[L][:, 1 % K])
        self.row = np.empty(m, dtype)
        self.row_column = self.row[:, None]
        self.row_base = np.arange(m, dtype=np.int64) * K
        self.flat_index = np.empty(m, np.int64)
        self.ones_m = np.ones(m, dtype)
        self.ones_k = np.ones(K, dtype)
