"""The training loop's fast path: the equations of ``network.py`` in buffers kept between minibatches.

Speed only: every function here gives what ``MLP.loss_and_grads`` gives (tests/model/test_fastpath.py
checks it against a plain reference). Shapes as in ``network.py``: samples are rows.

A ``Workspace`` belongs to one network and holds, per batch size, every array one forward and backward
pass needs. ``grads`` fills them in place, no allocation. ``sgd_step`` is plain SGD's rule fused into
backprop for the large weight matrices: ``W ← (1 − αλ)W − α·δᵀA`` with the factor ``−α`` taken into the
small ``δ`` before the product and the product added to W, no ``λW`` pass and no optimizer pass over W; the
optimizer that owns α calls it (``training/optimizers.py``) and steps the rest. Inside ``with
workspace.deferred_decay():`` those steps also leave the weight decay ``1 − αλ`` as a scalar per matrix (no
pass over W for it), applied when the block ends. Every product is NumPy's, so one BLAS library (NumPy's)
and its one thread pool do all the work.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..errors import DataError

FUSE_MIN_WEIGHTS = 4096  # weight matrices this large get the fused SGD step; below, the plain step is as fast
MIN_SCALE = 0.5  # a deferred weight-decay factor is applied to W once a step takes it below this
TALLY_BLOCK = 1 << 16  # rows of running figures kept before they are summed (1 MB of float64)


class Workspace:
    """Buffers and in-place passes for the network ``net`` (which keeps its own ``params``)."""

    def __init__(self, net):
        self.net = net
        self._buffers = {}  # batch size -> _Buffers
        self._scales = None  # inside deferred_decay: layer -> factor s, the true W(l) being s · params[W(l)]
        self.tally = None  # while counting: a _Tally of the rows the passes see

    def start_tally(self):
        """Keep the running figures of the next passes (see ``take_tally``)."""
        if self.tally is None or self.tally.true.dtype != self.net.dtype:
            self.tally = _Tally(self.net.dtype)
        self.tally.start()

    def take_tally(self):
        """``(mean −ln p(y), accuracy)`` over the rows the passes since ``start_tally`` saw, each computed in
        the pass of its minibatch's step, before the step: an epoch's running figures. A row counts as
        correct when its true class has the largest score (a tie counts for it). ``None`` if no pass
        counted. Stops counting."""
        tally = self.tally
        if tally is None or not tally.on:
            return None
        tally.on = False
        tally.fold()
        if not tally.rows:
            return None
        return tally.loss / tally.rows, tally.correct / tally.rows

    def grads(self, X, y, idx):
        """Gradients on the minibatch ``X[idx], y[idx]``, in buffers that the next call overwrites.

        ``idx`` holds row numbers ``0..len(X)-1`` of ``X`` and of ``y`` (anything else is a ``DataError``).
        """
        idx, where = np.asarray(idx), "Workspace.grads"
        if len(y) != len(X):
            raise DataError(f"{where}: X has {len(X)} rows and y {len(y)}")
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise DataError(f"{where}: idx must be a 1-D array of row numbers, got {idx.dtype} of shape {idx.shape}")
        bad = idx[(idx < 0) | (idx >= len(X))]
        if len(bad):
            raise DataError(f"{where}: idx must be row numbers 0..{len(X) - 1}, got {bad[0]}")
        return self.unchecked_grads(X, y, idx)

    def unchecked_grads(self, X, y, idx):
        """``grads`` without the check of ``idx``, for the epoch loop: it passes slices of a permutation,
        and for [2,3,2] the check would cost a tenth of a step."""
        buf = self._gather(X, y, idx)
        self._backprop(buf)
        return buf.grads

    def sgd_step(self, X, y, idx, alpha):
        """Plain SGD on the minibatch ``X[idx], y[idx]`` for the large weight matrices, inside backprop.

        Returns the gradients of the parameters it did not step (all of them when no matrix is large
        enough or the params cannot be written in place); the caller steps those. ``idx`` is not checked.
        """
        buf = self._gather(X, y, idx)
        if buf.fused and self._fusable(buf):
            self._backprop(buf, sgd_alpha=alpha)
            return buf.unfused_grads
        self._backprop(buf)
        return buf.grads

    def loss_and_grads(self, X, y):
        """``MLP.loss_and_grads`` through this path (fresh buffers): L-BFGS evaluates it on the whole split."""
        X, y = self.net.check_batch(X, y)
        buf = _Buffers(self.net.layers, len(y), self.net.dtype)
        buf.A[0][...] = X
        buf.y[...] = y
        J = self._backprop(buf, want_loss=True)
        return J, buf.grads

    @contextmanager
    def deferred_decay(self):
        """A block of ``sgd_step`` calls that defers weight decay.

        A fused step is ``W ← (1 − αλ)W − α·δᵀA``; BLAS does the product in place but scales W by
        ``1 − αλ`` in a pass of its own. Inside this block W is kept as ``s · V`` instead: ``params``
        holds V, the step multiplies only the scalar ``s`` and adds ``(α/s)·δᵀA`` to V, and the products
        that read W fold ``s`` into their small outputs. ``s`` is applied to V after the step that takes
        it below ``MIN_SCALE``, before any pass that is not a fused step, and when the block ends, so
        ``params`` holds the true weights outside it (a nested block leaves that to the outer one).
        Results equal the undeferred step's to rounding.
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

    @property
    def pending_decay(self):
        """``{layer: s}`` of the factors deferred so far in the current block (empty outside one)."""
        return dict(self._scales or {})

    def _settle(self):
        """Apply the deferred factors: ``params[W(l)]`` becomes the true ``W(l)`` again."""
        if self._scales:
            for l, s in self._scales.items():
                self.net.params[f"W{l}"] *= s
            self._scales.clear()

    def _gather(self, X, y, idx):
        net, m = self.net, len(idx)
        buf = self._buffers.get(m)
        if buf is None or buf.A[0].dtype != net.dtype or buf.layers != net.layers:
            buf = self._buffers[m] = _Buffers(net.layers, m, net.dtype)
        # mode="clip" (idx is known to be valid): with the default "raise", take gathers into a temporary
        # and copies that to ``out``, twice the time for a large minibatch.
        X.take(idx, axis=0, out=buf.A[0], mode="clip")  # casts to the network's dtype if X is wider
        if y.dtype == buf.y.dtype:
            y.take(idx, out=buf.y, mode="clip")
        else:
            buf.y[:] = y[idx]
        return buf

    def _fusable(self, buf):
        # The step writes into W in place: a read-only W or one of another dtype (never the case for params
        # this package makes or loads) goes unfused, and its optimizer steps it.
        Ws = [self.net.params[buf.keys[l][0]] for l in buf.fused]
        return all(W.flags.writeable and W.dtype == self.net.dtype for W in Ws)

    def _backprop(self, buf, want_loss=False, sgd_alpha=None):
        """Forward and backward pass over the batch in ``buf.A[0]``, ``buf.y``; gradients land in ``buf.grads``,
        except that with ``sgd_alpha`` the layers in ``buf.fused`` get their SGD step instead of a gradient."""
        scales = self._scales if sgd_alpha is not None else None
        if scales is None:
            self._settle()
        net = self.net
        P, A, m, keys = net.params, buf.A, buf.m, buf.keys
        L = len(keys) - 1
        for l in range(1, L + 1):
            Z = A[l]
            np.dot(A[l - 1], P[keys[l][0]].T, out=Z)  # Z(l) = A(l-1)·W(l)ᵀ + b(l)
            if scales and l in scales:
                Z *= scales[l]  # W(l) = s·V: scale the product, not the matrix
            Z += P[keys[l][1]]
            if l < L:
                net.g(Z, out=Z)  # A(l) = g(Z(l)) in place: backprop needs only A
        # δ(L) = (p − onehot(y)) / m, computed in place over the logits with a max-shifted softmax
        S = A[L]
        if S.shape[1] == 2:
            np.maximum(buf.S_cols[0], buf.S_cols[1], out=buf.row)
        else:
            np.maximum.reduce(S, axis=1, out=buf.row)
        S -= buf.row_column
        np.add(buf.row_base, buf.y, out=buf.flat_index)  # where onehot(y) is 1 in S.ravel()
        J = None
        tally = self.tally if self.tally is not None and self.tally.on else None
        if want_loss:
            shifted_true = buf.S_flat[buf.flat_index]
        if tally is not None:  # the running figures, kept per row and summed a block of rows at a time
            rows = tally.next_rows(m)
            buf.S_flat.take(buf.flat_index, out=tally.true[rows])
        np.exp(S, out=S)
        np.dot(S, buf.ones_k, out=buf.row)  # row sums of exp
        if tally is not None:
            np.log(buf.row, out=tally.log_sum[rows])  # −ln p(yᵢ) = ln Σⱼ exp(shifted) − shifted true score
        if want_loss:
            J = float(np.mean(np.log(buf.row) - shifted_true)) + net.penalty()
        buf.row *= m
        S /= buf.row_column
        buf.S_flat[buf.flat_index] -= buf.inv_m
        delta, grads, lam = S, buf.grads, net.lam
        for l in range(L, 0, -1):
            W, dW = P[keys[l][0]], grads[keys[l][0]]
            fused = sgd_alpha is not None and l in buf.fused
            if not fused:  # ∇W(l) = δ(l)ᵀ·A(l-1) + λW(l); a fused layer forms it only inside its SGD step, below
                np.dot(delta.T, A[l - 1], out=dW)
                if lam:
                    np.multiply(W, lam, out=buf.lam_W[l])
                    dW += buf.lam_W[l]
            np.dot(buf.ones_m, delta, out=grads[keys[l][1]])  # ∇b(l) = Σᵢ δ(l)ᵢ
            delta_l = delta
            if l > 1:
                # δ(l-1) = (δ(l)·W(l)) ⊙ g'(Z(l-1)), with g' written from A(l-1) = g(Z(l-1))
                g_prime = net.g_grad(A[l - 1], out=buf.g_prime[l - 1])
                np.dot(delta, W, out=buf.delta[l - 1])
                delta = buf.delta[l - 1]
                delta *= g_prime
                if scales and l in scales:
                    delta *= scales[l]
            if fused:
                # SGD step W ← W − α(δᵀA + λW) = (1 − αλ)W − α·δ(l)ᵀA(l-1), after δ(l-1) has used the old W
                self._fused_step(l, sgd_alpha, A[l - 1], delta_l, dW, scales)
        return J

    def _fused_step(self, l, alpha, A_prev, delta, work, scales):
        # −α (or −α/s) scales δ (m × n(l), no longer needed) rather than the product (the size of W); the
        # product lands in ``work`` and is added to W: one pass over W besides the product.
        W = self.net.params[f"W{l}"]
        decay = 1.0 - alpha * self.net.lam
        if scales is None or not self.net.lam or decay < MIN_SCALE:
            # not deferred; a factor still pending (α changed inside the block) is applied with this one
            factor = decay * scales.pop(l, 1.0) if scales is not None else decay
            if factor != 1.0:
                W *= factor
            delta *= -alpha
            W += np.dot(delta.T, A_prev, out=work)
            return
        # deferred (see deferred_decay): s·V ← decay·s·V − α·δᵀA, i.e. s ← decay·s, V ← V − (α/s)·δᵀA
        s = scales.get(l, 1.0) * decay
        delta *= -alpha / s
        W += np.dot(delta.T, A_prev, out=work)
        if s < MIN_SCALE:
            W *= s
            scales.pop(l, None)
        else:
            scales[l] = s


class _Tally:
    """The running figures of an epoch. Per row, until a block of ``TALLY_BLOCK`` rows fills: the log of its softmax
    denominator and its true class's shifted score (0 where that class has the largest score); then the
    block is summed into ``loss`` and ``correct``. No reduction per minibatch, and memory that does not grow
    with the data."""

    def __init__(self, dtype):
        self.log_sum = np.empty(TALLY_BLOCK, dtype)
        self.true = np.empty(TALLY_BLOCK, dtype)
        self.on = False
        self.start()

    def start(self):
        self.at, self.loss, self.correct, self.rows = 0, 0.0, 0, 0
        self.on = True

    def next_rows(self, m):
        """The slice of the block the next ``m`` rows go to (the block is folded first if they do not fit)."""
        if self.at + m > len(self.true):
            self.fold()
            if m > len(self.true):  # a minibatch larger than a block: blocks that fit it
                self.log_sum, self.true = np.empty(m, self.true.dtype), np.empty(m, self.true.dtype)
        rows = slice(self.at, self.at + m)
        self.at += m
        return rows

    def fold(self):
        n, true = self.at, self.true[:self.at]
        self.loss += float(self.log_sum[:n].sum(dtype=np.float64) - true.sum(dtype=np.float64))
        self.correct += int(np.count_nonzero(true == 0))
        self.rows += n
        self.at = 0


class _Buffers:
    """Every array one forward and backward pass over ``m`` rows needs, allocated once.

    ``A[l]`` is ``(m, n(l))`` and holds ``Z(l)`` then ``A(l)`` (``A[L]`` ends as ``δ(L)``);
    ``delta[l]`` and ``g_prime[l]`` are ``(m, n(l))`` for the hidden layers; ``grads`` is keyed like params.
    """

    def __init__(self, layers, m, dtype):
        L, K = len(layers) - 1, layers[-1]
        self.layers = list(layers)
        self.m = m
        self.inv_m = 1.0 / m
        self.keys = [None] + [(f"W{l}", f"b{l}") for l in range(1, L + 1)]
        self.A = [np.empty((m, n), dtype) for n in layers]
        self.y = np.empty(m, np.int64)
        self.delta = {l: np.empty((m, layers[l]), dtype) for l in range(1, L)}
        self.g_prime = {l: np.empty((m, layers[l]), dtype) for l in range(1, L)}
        self.lam_W = {l: np.empty((layers[l], layers[l - 1]), dtype) for l in range(1, L + 1)}
        self.fused = {l for l in range(1, L + 1) if layers[l] * layers[l - 1] >= FUSE_MIN_WEIGHTS}
        self.grads = {}
        for l in range(1, L + 1):
            self.grads[f"W{l}"] = np.empty((layers[l], layers[l - 1]), dtype)
            self.grads[f"b{l}"] = np.empty(layers[l], dtype)
        # what a fused SGD minibatch returns: everything but the weights that BLAS has already stepped
        self.unfused_grads = {k: g for k, g in self.grads.items() if not (k[0] == "W" and int(k[1:]) in self.fused)}
        self.S_flat = self.A[L].reshape(-1)
        self.S_cols = (self.A[L][:, 0], self.A[L][:, 1 % K])
        self.row = np.empty(m, dtype)
        self.row_column = self.row[:, None]
        self.row_base = np.arange(m, dtype=np.int64) * K
        self.flat_index = np.empty(m, np.int64)
        self.ones_m = np.ones(m, dtype)
        self.ones_k = np.ones(K, dtype)
