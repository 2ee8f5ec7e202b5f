"""K networks of one shape trained as one NumPy program: plain SGD's epoch with a leading run axis.

Shapes: ``K`` runs, minibatches of ``m`` rows, ``N`` train rows per run. The stacked parameters are
``W(l)`` ``(K, n(l), n(l-1))`` and ``b(l)`` ``(K, n(l))``; ``A(l)``, ``Z(l)`` and ``δ(l)`` are
``(K, m, n(l))``; each run's train split is ``X`` ``(K, N, n(0))``, ``y`` ``(K, N)``; each run's ``α`` and ``λ``
are length-``K`` vectors. Run ``k``'s slice of every array is what ``model.fastpath.Workspace`` holds for
that run alone.

Every operation is the one ``Workspace._backprop`` and ``optimizers.SGD`` apply to one run, in the same
order, with ``np.matmul`` over the leading axis where they call ``np.dot``. NumPy's ``matmul`` calls, for
each ``k``, the BLAS kernel that ``dot`` calls on run ``k``'s matrices (gemm, or gemv for a product with a
vector), with the same shapes and strides, so every run's numbers are bit for bit those of the run trained
alone (tests/training/test_vectorized.py holds them equal). That holds for the plain path only: networks
with a layer of ``fastpath.FUSE_MIN_WEIGHTS`` weights or more, which ``SGD`` steps inside backprop, are
not stacked (``fusable_layers``).
"""
from __future__ import annotations

import numpy as np

from ..model.fastpath import FUSE_MIN_WEIGHTS, TALLY_BLOCK
from ..model.network import ACTIVATIONS, EVAL_CHUNK


def fusable_layers(layers):
    """The layers that ``SGD`` would step inside backprop (``Workspace.sgd_step``) for a network of ``layers``."""
    return [l for l in range(1, len(layers)) if layers[l] * layers[l - 1] >= FUSE_MIN_WEIGHTS]


class Stack:
    """The parameters and train splits of ``K`` runs of one network shape, stacked on a leading axis.

    ``params`` is a list of ``K`` parameter dicts (``W1…``, ``b1…``), ``train`` a list of ``K`` ``(X, y)`` with
    the same number of rows. ``views(k)`` gives run ``k``'s parameters as views into the stack: the run's own
    network reads and checkpoints them in place.
    """

    def __init__(self, layers, activation, dtype, params, train, val=None):
        self.layers = list(layers)
        self.g, self.g_grad = ACTIVATIONS[activation]
        self.dtype = np.dtype(dtype)
        self.keys = list(params[0])
        self.P = {key: np.stack([p[key] for p in params]).astype(self.dtype, copy=False) for key in self.keys}
        self.X = np.stack([X for X, _ in train])
        self.y = np.stack([y for _, y in train])
        # each run's val split, when they have the same number of rows: (K, n, n(0)) and (K, n)
        self.val = None
        if val is not None and len({len(y) for _, y in val}) == 1:
            self.val = (np.stack([X for X, _ in val]), np.stack([y for _, y in val]))
        self._buffers = {}
        self._work = {}
        self._tally = None

    def views(self, k):
        return {key: self.P[key][k] for key in self.keys}

    def keep(self, runs):
        """Keep only the runs at positions ``runs`` (a list), in that order: finished runs leave the stack."""
        self.P = {key: np.ascontiguousarray(P[runs]) for key, P in self.P.items()}
        self.X, self.y = np.ascontiguousarray(self.X[runs]), np.ascontiguousarray(self.y[runs])
        if self.val is not None:
            self.val = tuple(np.ascontiguousarray(a[runs]) for a in self.val)
        self._buffers.clear()
        self._work.clear()
        self._tally = None

    def epoch(self, orders, alpha, lam, batch_size, running):
        """One epoch of SGD for every run: run ``k`` steps through its rows in ``orders[k]`` (``(K, N)``), with
        ``α = alpha[k]`` and ``λ = lam[k]``. Returns ``(grads, tallies)``: the last minibatch's gradients, stacked
        (``grads[key][k]`` is run ``k``'s), and with ``running`` each run's ``(mean −ln p(y), accuracy)`` over
        the epoch's minibatches, each taken before its step (``Workspace.take_tally``), else ``None``."""
        K, N = orders.shape
        alpha = np.asarray(alpha, self.dtype)
        lam = np.asarray(lam, self.dtype)
        steps = {key: alpha.reshape((K,) + (1,) * (P.ndim - 1)) for key, P in self.P.items()}
        tally = None
        if running:  # a block as long as the epoch (up to TALLY_BLOCK): folded where one run's would be
            if self._tally is None or self._tally.true.shape != (K, min(N, TALLY_BLOCK)):
                self._tally = _Tally(K, min(N, TALLY_BLOCK), self.dtype)
            tally = self._tally
            tally.start()
        base = (np.arange(K, dtype=np.int64) * N)[:, None]  # run k's rows start at k·N in X viewed as (K·N, n0)
        grads = {}
        with np.errstate(all="ignore"):  # overflow is found after the epoch and reported as divergence
            for s in range(0, N, batch_size):
                buf = self._gather(orders[:, s:s + batch_size] + base)
                grads = self._backprop(buf, lam, tally)
                for key, g in grads.items():  # SGD.step: W ← W − α∇W, b ← b − α∇b
                    self.P[key] -= np.multiply(g, steps[key], out=self._scratch(key, g))
        return grads, (tally.take() if tally is not None else None)

    def evaluate(self, split):
        """``network.evaluate`` of every run on its ``"train"`` or ``"val"`` split, without the L2 term: a list of
        ``(mean −ln p(y), accuracy)``, the same numbers as one run's (the products are ``matmul``'s per run, and
        each run's sum is its own, in ``EVAL_CHUNK`` chunks); ``None`` when the stack holds no such split."""
        X, y = (self.X, self.y) if split == "train" else (self.val or (None, None))
        if X is None:
            return None
        K, n = y.shape
        if n == 0:
            return [(None, None)] * K
        P, L = self.P, len(self.layers) - 1
        neg_log_likelihood, correct = [0.0] * K, [0] * K
        for s in range(0, n, EVAL_CHUNK):
            A, labels = X[:, s:s + EVAL_CHUNK], y[:, s:s + EVAL_CHUNK]
            for l in range(1, L + 1):  # MLP.forward
                Z = np.matmul(A, P[f"W{l}"].transpose(0, 2, 1))
                Z += P[f"b{l}"][:, None, :]
                A = self.g(Z, out=Z) if l < L else Z
            shifted = A - A.max(axis=2, keepdims=True)  # network.log_softmax
            logp = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
            picked = np.take_along_axis(logp, labels[..., None], axis=2)
            hits = np.count_nonzero(A.argmax(axis=2) == labels, axis=1)
            for k in range(K):
                neg_log_likelihood[k] -= float(picked[k].sum())
                correct[k] += int(hits[k])
        return [(nll / n, c / n) for nll, c in zip(neg_log_likelihood, correct)]

    def _scratch(self, key, like):
        work = self._work.get(key)
        if work is None or work.shape != like.shape:
            work = self._work[key] = np.empty_like(like)
        return work

    def _gather(self, index):
        K, m = index.shape
        buf = self._buffers.get(m)
        if buf is None or buf.K != K:
            buf = self._buffers[m] = _Buffers(self.layers, K, m, self.dtype)
        flat = index.reshape(-1)  # every run's minibatch in one take
        self.X.reshape(-1, self.X.shape[2]).take(flat, axis=0, out=buf.A[0].reshape(K * m, -1), mode="clip")
        self.y.reshape(-1).take(flat, out=buf.y.reshape(-1), mode="clip")
        return buf

    def _backprop(self, buf, lam, tally):
        """``Workspace._backprop`` (unfused) for every run at once; the gradients land in ``buf.grads``."""
        P, A, m, keys = self.P, buf.A, buf.m, buf.keys
        L = len(keys) - 1
        for l in range(1, L + 1):
            Z = A[l]
            np.matmul(A[l - 1], P[keys[l][0]].transpose(0, 2, 1), out=Z)  # Z(l) = A(l-1)·W(l)ᵀ + b(l)
            Z += P[keys[l][1]][:, None, :]
            if l < L:
                self.g(Z, out=Z)  # A(l) = g(Z(l))
        # δ(L) = (p − onehot(y)) / m, in place over the logits with a max-shifted softmax
        S = A[L]
        if S.shape[2] == 2:
            np.maximum(S[..., 0], S[..., 1], out=buf.row)
        else:
            np.maximum.reduce(S, axis=2, out=buf.row)
        S -= buf.row[..., None]
        np.add(buf.row_base, buf.y, out=buf.flat_index)  # where onehot(y) is 1 in S.ravel()
        if tally is not None:
            rows = tally.next_rows(m)
            tally.true[:, rows] = buf.S_flat.take(buf.flat_index, out=buf.true, mode="clip")
        np.exp(S, out=S)
        np.matmul(S, buf.ones_k, out=buf.row)  # row sums of exp
        if tally is not None:
            np.log(buf.row, out=tally.log_sum[:, rows])  # −ln p(yᵢ) = ln Σⱼ exp(shifted) − shifted true score
        buf.row *= m
        S /= buf.row[..., None]
        buf.S_flat[buf.flat_index] -= buf.inv_m
        delta, grads = S, buf.grads
        decayed = lam != 0  # a run with λ = 0 adds no λW, as Workspace skips it
        for l in range(L, 0, -1):
            W, dW = P[keys[l][0]], grads[keys[l][0]]
            np.matmul(delta.transpose(0, 2, 1), A[l - 1], out=dW)  # ∇W(l) = δ(l)ᵀ·A(l-1) + λW(l)
            if decayed.any():
                np.multiply(W, lam[:, None, None], out=buf.lam_W[l])
                np.add(dW, buf.lam_W[l], out=dW, where=decayed[:, None, None])
            np.matmul(buf.ones_m, delta, out=grads[keys[l][1]])  # ∇b(l) = Σᵢ δ(l)ᵢ
            if l > 1:
                # δ(l-1) = (δ(l)·W(l)) ⊙ g'(Z(l-1)), with g' written from A(l-1) = g(Z(l-1))
                g_prime = self.g_grad(A[l - 1], out=buf.g_prime[l - 1])
                np.matmul(delta, W, out=buf.delta[l - 1])
                delta = buf.delta[l - 1]
                delta *= g_prime
        return grads


class _Tally:
    """``fastpath._Tally`` for ``K`` runs: per run and row, the log of the softmax denominator and the true
    class's shifted score, summed run by run a block of ``TALLY_BLOCK`` rows at a time, as one run sums them."""

    def __init__(self, K, block, dtype):
        self.log_sum = np.empty((K, block), dtype)
        self.true = np.empty((K, block), dtype)
        self.start()

    def start(self):
        K = len(self.true)
        self.at, self.rows = 0, 0
        self.loss, self.correct = [0.0] * K, [0] * K

    def next_rows(self, m):
        if self.at + m > self.true.shape[1]:
            self.fold()
            if m > self.true.shape[1]:
                shape = (len(self.true), m)
                self.log_sum, self.true = np.empty(shape, self.true.dtype), np.empty(shape, self.true.dtype)
        rows = slice(self.at, self.at + m)
        self.at += m
        return rows

    def fold(self):
        n = self.at
        for k in range(len(self.true)):
            true = self.true[k, :n]
            self.loss[k] += float(self.log_sum[k, :n].sum(dtype=np.float64) - true.sum(dtype=np.float64))
            self.correct[k] += int(np.count_nonzero(true == 0))
        self.rows += n
        self.at = 0

    def take(self):
        """Each run's ``(mean −ln p(y), accuracy)``, or ``None`` for each when no row was counted."""
        self.fold()
        if not self.rows:
            return [None] * len(self.loss)
        return [(loss / self.rows, correct / self.rows) for loss, correct in zip(self.loss, self.correct)]


class _Buffers:
    """``fastpath._Buffers`` for ``K`` runs: every array of one stacked pass over ``m`` rows a run."""

    def __init__(self, layers, K, m, dtype):
        L, C = len(layers) - 1, layers[-1]
        self.K, self.m, self.inv_m = K, m, 1.0 / m
        self.keys = [None] + [(f"W{l}", f"b{l}") for l in range(1, L + 1)]
        self.A = [np.empty((K, m, n), dtype) for n in layers]
        self.y = np.empty((K, m), np.int64)
        self.delta = {l: np.empty((K, m, layers[l]), dtype) for l in range(1, L)}
        self.g_prime = {l: np.empty((K, m, layers[l]), dtype) for l in range(1, L)}
        self.lam_W = {l: np.empty((K, layers[l], layers[l - 1]), dtype) for l in range(1, L + 1)}
        self.grads = {}
        for l in range(1, L + 1):
            self.grads[f"W{l}"] = np.empty((K, layers[l], layers[l - 1]), dtype)
            self.grads[f"b{l}"] = np.empty((K, layers[l]), dtype)
        self.S_flat = self.A[L].reshape(-1)
        self.row = np.empty((K, m), dtype)
        self.row_base = np.arange(K * m, dtype=np.int64).reshape(K, m) * C
        self.flat_index = np.empty((K, m), np.int64)
        self.true = np.empty((K, m), dtype)
        self.ones_m = np.ones(m, dtype)
        self.ones_k = np.ones(C, dtype)
