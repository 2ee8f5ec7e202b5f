"""Update rules behind one protocol. The optimizer owns α and the step: ``epoch`` runs its steps over
one shuffled pass of the train split, ``step`` updates ``params`` in place from ``grads`` (same keys),
and ``state``/``load_state`` expose its state as plain arrays, so that a checkpoint can hold it and a
resume continues bit for bit.

``alpha`` is an attribute: the epoch loop sets it between epochs from the schedule (``schedules.py``).
``epoch`` takes an optional progress hook, called between blocks of minibatches (``_blocks``), never per
minibatch: the minibatches and their order are the same with it and without it.
Plain SGD runs its rule fused into backprop for the large weight matrices (``Workspace.sgd_step``).
Momentum and Adam follow scikit-learn's ``SGDOptimizer``/``AdamOptimizer`` (and Kingma & Ba, 2015) term
for term, so that their results can be compared with ``MLPClassifier``. L-BFGS is full batch: its epoch
is one call of ``scipy.optimize.minimize(method="L-BFGS-B")`` over the whole split.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..choices import pick

PROGRESS_SECONDS = 0.1  # a progress hook is called about this often within an epoch: blocks double until one takes this long


def _scratch(store, key, like):
    # Per-parameter work arrays kept between steps: the same arithmetic as ``alpha * g`` and friends,
    # without allocating (and page-faulting) parameter-sized temporaries every minibatch.
    buf = store.get(key)
    if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
        buf = store[key] = np.empty_like(like)
    return buf


def _blocks(stop, total, batch_size, progress):
    """``(start, end)`` row ranges of whole minibatches covering rows ``0..stop`` of an epoch of ``total`` rows,
    and ``progress(minibatches done, minibatches in the epoch)`` after each range.

    Without a hook, one range. With one, the first range is one minibatch and each range that took less
    than ``PROGRESS_SECONDS`` is followed by one twice as long, so the hook costs nothing per minibatch
    whatever a step costs. Ranges start at multiples of ``batch_size``: the minibatches are the same.
    """
    if progress is None:
        if stop > 0:
            yield 0, stop
        return
    steps = -(-total // batch_size)
    size, start = batch_size, 0
    while start < stop:
        end = min(start + size, stop)
        began = time.perf_counter()
        yield start, end
        if time.perf_counter() - began < PROGRESS_SECONDS:
            size *= 2
        progress(-(-end // batch_size), steps)
        start = end


class Optimizer:
    """The protocol: ``name``, ``alpha``, ``epoch``, ``step``, ``state``, ``load_state``."""

    name = None

    def __init__(self, alpha):
        self.alpha = alpha

    @property
    def full_batch(self):
        return self.name in FULL_BATCH

    def epoch(self, workspace, X, y, order, batch_size, progress=None):
        """One epoch of minibatch steps over ``X[order]``; returns the last minibatch's gradients.

        ``workspace`` is the network's ``model.fastpath.Workspace``; ``order`` is a permutation of the rows;
        ``progress``, if given, is called as ``progress(minibatches done, minibatches in the epoch)`` every
        block of minibatches (``_blocks``).
        """
        grads = {}
        params = workspace.net.params
        for start, end in _blocks(len(order), len(order), batch_size, progress):
            for s in range(start, end, batch_size):
                grads = workspace.unchecked_grads(X, y, order[s:s + batch_size])
                self.step(params, grads)
        return grads

    def step(self, params, grads):
        raise NotImplementedError

    def state(self):
        return {}

    def load_state(self, state):
        pass


class SGD(Optimizer):
    """The derivation's rule: ``W ← W − α ∇W``, ``b ← b − α ∇b``."""

    name = "sgd"

    def __init__(self, alpha):
        super().__init__(alpha)
        self._work = {}

    def epoch(self, workspace, X, y, order, batch_size, progress=None):
        """The rule fused into backprop (``Workspace.sgd_step``) for every minibatch but the last, which
        goes the plain way, so that the gradients returned (and recorded) are whole. ``progress`` as in
        ``Optimizer.epoch``; it is called inside the one deferred-decay block, which it does not touch, so
        the arithmetic is the same with it and without it."""
        grads = {}
        params = workspace.net.params
        n = len(order)
        last = (n - 1) // batch_size * batch_size  # start of the last minibatch
        with workspace.deferred_decay():  # weight decay as a scalar per matrix until the block ends
            for start, end in _blocks(last, n, batch_size, progress):
                for s in range(start, end, batch_size):
                    self.step(params, workspace.sgd_step(X, y, order[s:s + batch_size], self.alpha))
        if n:
            grads = workspace.unchecked_grads(X, y, order[last:last + batch_size])
            self.step(params, grads)
            if progress is not None:
                progress(-(-n // batch_size), -(-n // batch_size))
        return grads

    def step(self, params, grads):
        for k, g in grads.items():
            params[k] -= np.multiply(g, self.alpha, out=_scratch(self._work, k, g))


class Momentum(Optimizer):
    """``v ← μ v − α ∇``, then ``W ← W + v``; with Nesterov ``W ← W + μ v − α ∇`` (the new ``v``).

    The velocity holds α (scikit-learn's form), so a schedule's new α acts on new gradients only.
    """

    name = "momentum"

    def __init__(self, alpha, momentum=0.9, nesterov=False):
        super().__init__(alpha)
        self.momentum, self.nesterov = momentum, nesterov
        self.velocity = {}
        self._work = {}

    def step(self, params, grads):
        mu = self.momentum
        for k, g in grads.items():
            v = self.velocity.get(k)
            if v is None:
                v = self.velocity[k] = np.zeros_like(params[k])
            ag = np.multiply(g, self.alpha, out=_scratch(self._work, k, g))
            v *= mu
            v -= ag
            if self.nesterov:
                # ag becomes α∇ − μv, the Nesterov step with the sign flipped
                ag -= np.multiply(v, mu, out=_scratch(self._work, "mu_v_" + k, v))
                params[k] -= ag
            else:
                params[k] += v

    def state(self):
        return {f"v_{k}": v for k, v in self.velocity.items()}

    def load_state(self, state):
        self.velocity = {k[2:]: np.array(v) for k, v in state.items() if k.startswith("v_")}


class Adam(Optimizer):
    """Kingma & Ba (2015) with the bias correction folded into the step size, as scikit-learn:
    ``t ← t + 1``; ``m ← β1 m + (1−β1) ∇``; ``v ← β2 v + (1−β2) ∇²``;
    ``α_t = α √(1−β2ᵗ) / (1−β1ᵗ)``; ``W ← W − α_t m / (√v + ε)``.
    """

    name = "adam"

    def __init__(self, alpha, beta1=0.9, beta2=0.999, epsilon=1e-8):
        super().__init__(alpha)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.t = 0
        self.m, self.v = {}, {}
        self._work = {}

    def step(self, params, grads):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        lr = self.alpha * math.sqrt(1.0 - b2 ** self.t) / (1.0 - b1 ** self.t)
        for k, g in grads.items():
            m, v = self.m.get(k), self.v.get(k)
            if m is None:
                m = self.m[k] = np.zeros_like(params[k])
                v = self.v[k] = np.zeros_like(params[k])
            work = _scratch(self._work, k, g)
            denom = _scratch(self._work, "denom_" + k, g)
            m *= b1
            m += np.multiply(g, 1.0 - b1, out=work)
            v *= b2
            np.multiply(g, g, out=work)
            v += np.multiply(work, 1.0 - b2, out=work)
            np.sqrt(v, out=denom)
            denom += self.epsilon
            np.multiply(m, lr, out=work)
            params[k] -= np.divide(work, denom, out=work)

    def state(self):
        state = {f"m_{k}": m for k, m in self.m.items()}
        state.update({f"v_{k}": v for k, v in self.v.items()})
        state["t"] = np.array(self.t, dtype=np.int64)
        return state

    def load_state(self, state):
        self.m = {k[2:]: np.array(v) for k, v in state.items() if k.startswith("m_")}
        self.v = {k[2:]: np.array(v) for k, v in state.items() if k.startswith("v_")}
        self.t = int(state["t"]) if "t" in state else 0


class LBFGS(Optimizer):
    """Full-batch L-BFGS-B (scipy) on the flattened parameters, ``iters`` iterations per epoch.

    Each epoch is one fresh ``minimize`` call from the current weights, so the curvature memory restarts
    every epoch. That costs some speed against scikit-learn's single call, and buys exact resume: the
    weights are the whole state at an epoch boundary. ``alpha`` is unused; the line search sets the step.
    """

    name = "lbfgs"

    def __init__(self, iters=10, alpha=None):
        super().__init__(alpha)
        self.iters = iters

    def epoch(self, workspace, X, y, order=None, batch_size=None, progress=None):
        """Minimise ``J`` over the whole of ``X, y`` for up to ``iters`` iterations; return the final gradients.
        The order and the batch size do not matter: every evaluation sees the whole split. No progress
        within the epoch: ``progress`` is not called."""
        from scipy.optimize import minimize

        net = workspace.net
        keys = list(net.params)
        shapes = [net.params[k].shape for k in keys]
        ends = np.cumsum([int(np.prod(s)) for s in shapes])
        dtype = net.dtype

        def unflatten(x):
            return {k: part.reshape(s).astype(dtype) for k, part, s in zip(keys, np.split(x, ends[:-1]), shapes)}

        def fun(x):
            net.params = unflatten(x)
            J, grads = workspace.loss_and_grads(X, y)
            return J, np.concatenate([grads[k].ravel() for k in keys]).astype(np.float64)

        x0 = np.concatenate([net.params[k].ravel() for k in keys]).astype(np.float64)
        # scipy's default gtol/ftol, and scikit-learn's cap on function evaluations per call.
        result = minimize(fun, x0, jac=True, method="L-BFGS-B",
                          options={"maxiter": self.iters, "maxfun": 15000})
        net.params = unflatten(result.x)  # the last evaluation may have been a rejected line-search point
        return unflatten(result.jac)


# name -> the optimizer, built from the config's train section
OPTIMIZERS = {
    "sgd": lambda t: SGD(t["alpha"]),
    "momentum": lambda t: Momentum(t["alpha"], t["momentum"], t["nesterov"]),
    "adam": lambda t: Adam(t["alpha"], t["beta1"], t["beta2"], t["epsilon"]),
    "lbfgs": lambda t: LBFGS(t["lbfgs_iters"], t["alpha"]),
}
# full-batch optimizers: a learning-rate schedule means nothing to them
FULL_BATCH = ("lbfgs",)


def make(train_config):
    """The optimizer ``train_config`` (the config's ``train`` section) names."""
    return pick(OPTIMIZERS, train_config["optimizer"], "optimizer")(train_config)
