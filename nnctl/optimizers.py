"""Update rules. Each optimizer updates ``params`` in place from ``grads`` (same keys) and exposes
its state as plain arrays so that a checkpoint can hold it and a resume continues bit for bit.

``alpha`` is an attribute, not a constant: a schedule (``schedules.py``) may change it between epochs.
``fused`` says the rule is plain SGD, which the network may apply itself inside backprop
(``MLP.minibatch_grads(…, sgd_alpha=alpha)``) to the weight matrices it multiplies with BLAS.
Momentum and Adam follow scikit-learn's ``SGDOptimizer``/``AdamOptimizer`` (and Kingma & Ba, 2015) term
for term, so that their results can be compared with ``MLPClassifier``. L-BFGS is full batch: instead of
``step`` it has ``run_epoch(net, X, y)``, one call of ``scipy.optimize.minimize(method="L-BFGS-B")``.
"""
from __future__ import annotations

import math

import numpy as np


def _scratch(store, key, like):
    # Per-parameter work arrays kept between steps: the same arithmetic as ``alpha * g`` and friends,
    # without allocating (and page-faulting) parameter-sized temporaries every minibatch.
    buf = store.get(key)
    if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
        buf = store[key] = np.empty_like(like)
    return buf


class SGD:
    """The derivation's rule: ``W ← W − α ∇W``, ``b ← b − α ∇b``."""

    name = "sgd"
    full_batch = False
    fused = True  # no state: W ← W − α∇W can be done by the network in one BLAS call

    def __init__(self, alpha):
        self.alpha = alpha
        self._work = {}

    def step(self, params, grads):
        for k, g in grads.items():
            params[k] -= np.multiply(g, self.alpha, out=_scratch(self._work, k, g))

    def state(self):
        return {}

    def load_state(self, state):
        pass


class Momentum:
    """``v ← μ v − α ∇``, then ``W ← W + v``; with Nesterov ``W ← W + μ v − α ∇`` (the new ``v``).

    The velocity holds α (scikit-learn's form), so a schedule's new α acts on new gradients only.
    """

    name = "momentum"
    full_batch = False
    fused = False

    def __init__(self, alpha, momentum=0.9, nesterov=False):
        self.alpha, self.momentum, self.nesterov = alpha, momentum, nesterov
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


class Adam:
    """Kingma & Ba (2015) with the bias correction folded into the step size, as scikit-learn:
    ``t ← t + 1``; ``m ← β1 m + (1−β1) ∇``; ``v ← β2 v + (1−β2) ∇²``;
    ``α_t = α √(1−β2ᵗ) / (1−β1ᵗ)``; ``W ← W − α_t m / (√v + ε)``.
    """

    name = "adam"
    full_batch = False
    fused = False

    def __init__(self, alpha, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.alpha, self.beta1, self.beta2, self.epsilon = alpha, beta1, beta2, epsilon
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


class LBFGS:
    """Full-batch L-BFGS-B (scipy) on the flattened parameters, ``iters`` iterations per epoch.

    Each epoch is one fresh ``minimize`` call from the current weights, so the curvature memory restarts
    every epoch. That costs some speed against scikit-learn's single call, and buys exact resume: the
    weights are the whole state at an epoch boundary. ``alpha`` is unused; the line search sets the step.
    """

    name = "lbfgs"
    full_batch = True
    fused = False

    def __init__(self, iters=10, alpha=None):
        self.iters, self.alpha = iters, alpha

    def run_epoch(self, net, X, y):
        """Minimise ``J`` over the whole of ``X, y`` for up to ``iters`` iterations; return the final gradients."""
        from scipy.optimize import minimize

        keys = list(net.params)
        shapes = [net.params[k].shape for k in keys]
        ends = np.cumsum([int(np.prod(s)) for s in shapes])
        dtype = net.dtype

        def unflatten(x):
            return {k: part.reshape(s).astype(dtype) for k, part, s in zip(keys, np.split(x, ends[:-1]), shapes)}

        def fun(x):
            net.params = unflatten(x)
            J, grads = net.loss_and_grads(X, y)
            return J, np.concatenate([grads[k].ravel() for k in keys]).astype(np.float64)

        x0 = np.concatenate([net.params[k].ravel() for k in keys]).astype(np.float64)
        # scipy's default gtol/ftol, and scikit-learn's cap on function evaluations per call.
        result = minimize(fun, x0, jac=True, method="L-BFGS-B",
                          options={"maxiter": self.iters, "maxfun": 15000})
        net.params = unflatten(result.x)  # the last evaluation may have been a rejected line-search point
        return unflatten(result.jac)

    def state(self):
        return {}

    def load_state(self, state):
        pass


def make(train_config):
    """The optimizer ``train_config`` (the config's ``train`` section) names."""
    t = train_config
    name = t.get("optimizer", "sgd")
    if name == "momentum":
        return Momentum(t["alpha"], t["momentum"], t["nesterov"])
    if name == "adam":
        return Adam(t["alpha"], t["beta1"], t["beta2"], t["epsilon"])
    if name == "lbfgs":
        return LBFGS(t["lbfgs_iters"], t["alpha"])
    return SGD(t["alpha"])
