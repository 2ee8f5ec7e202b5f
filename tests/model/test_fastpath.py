"""The fast path (model/fastpath.py: buffers, fused SGD step, deferred decay) gives what the plain derivation gives."""
import numpy as np
import pytest

from nnctl.model.fastpath import MIN_SCALE, Workspace
from nnctl.model.network import MLP
from nnctl.training import optimizers


def reference_loss_and_grads(params, activation, lam, X, y):
    """The derivation written out with no buffers, no in-place updates and the textbook sigmoid."""
    g = {"sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}
    g_prime = {"sigmoid": lambda a: a * (1 - a), "tanh": lambda a: 1 - a ** 2, "relu": lambda a: (a > 0) * 1.0}
    L = len(params) // 2
    A = [X]
    for l in range(1, L + 1):
        Z = A[-1] @ params[f"W{l}"].T + params[f"b{l}"]
        A.append(g[activation](Z) if l < L else Z)
    S = A[-1] - A[-1].max(axis=1, keepdims=True)
    logp = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
    m = len(y)
    J = -logp[np.arange(m), y].mean() + 0.5 * lam * sum((params[f"W{l}"] ** 2).sum() for l in range(1, L + 1))
    delta = (np.exp(logp) - np.eye(A[-1].shape[1])[y]) / m
    grads = {}
    for l in range(L, 0, -1):
        grads[f"W{l}"] = delta.T @ A[l - 1] + lam * params[f"W{l}"]
        grads[f"b{l}"] = delta.sum(axis=0)
        if l > 1:
            delta = (delta @ params[f"W{l}"]) * g_prime[activation](A[l - 1])
    return J, grads


# [3, 70, 80, 4] has weight matrices above FUSE_MIN_WEIGHTS, so the fused SGD step is covered too.
@pytest.mark.parametrize("layers", [[2, 3, 2], [5, 7, 6, 3], [4, 3], [3, 70, 80, 4]])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("lam", [0.0, 0.01])
def test_fast_gradients_equal_the_reference(layers, activation, lam):
    rng = np.random.default_rng(len(layers) * 7 + int(lam * 100))
    net = MLP(layers, activation, lam, seed=1)
    X = rng.normal(0.0, 3.0, size=(40, layers[0]))
    y = rng.integers(0, layers[-1], size=40)
    idx = rng.permutation(40)[:13]
    J_ref, ref = reference_loss_and_grads(net.params, activation, lam, X[idx], y[idx])
    J, grads = net.loss_and_grads(X[idx], y[idx])
    fast = {k: v.copy() for k, v in Workspace(net).grads(X, y, idx).items()}
    assert J == pytest.approx(J_ref, rel=1e-12, abs=1e-12)
    for k in net.params:
        np.testing.assert_allclose(grads[k], ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(fast[k], ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
    assert list(grads) == list(net.params)


def test_minibatch_buffers_follow_new_params_and_batch_sizes():
    rng = np.random.default_rng(0)
    net = MLP([3, 5, 2], "tanh", 0.001, seed=0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, size=20)
    ws = Workspace(net)
    for size in (8, 3, 8):
        idx = rng.permutation(20)[:size]
        np.testing.assert_allclose(ws.grads(X, y, idx)["W1"], net.loss_and_grads(X[idx], y[idx])[1]["W1"],
                                   atol=1e-15)
    net.params = {k: v * 2 for k, v in net.params.items()}  # as a resume or L-BFGS does
    idx = np.arange(8)
    np.testing.assert_allclose(ws.grads(X, y.astype(np.int32), idx)["W2"],
                               net.loss_and_grads(X[idx], y[idx])[1]["W2"], atol=1e-15)


# [3, 70, 80, 4]: only W2 (5600 weights) is fused; [100, 64, 10]: W1 is, the output layer not.
@pytest.mark.parametrize("layers", [[3, 70, 80, 4], [100, 64, 10]])
@pytest.mark.parametrize("lam", [0.0, 0.01])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_sgd_step_equals_the_unfused_step(layers, lam, dtype):
    rng = np.random.default_rng(11)
    X, y = rng.normal(size=(60, layers[0])).astype(dtype), rng.integers(0, layers[-1], size=60)
    fused, plain = MLP(layers, "sigmoid", lam, seed=2, dtype=dtype), MLP(layers, "sigmoid", lam, seed=2, dtype=dtype)
    sgd = optimizers.SGD(0.3)
    fused_ws, plain_ws = Workspace(fused), Workspace(plain)
    for idx in (rng.permutation(60)[:16], rng.permutation(60)[:16], np.arange(16)):
        rest = fused_ws.sgd_step(X, y, idx, sgd.alpha)
        assert [k for k in plain.params if k not in rest] == [f"W{l}" for l in range(1, len(layers))
                                                             if layers[l] * layers[l - 1] >= 4096]
        sgd.step(fused.params, rest)
        sgd.step(plain.params, plain_ws.grads(X, y, idx))
        for k, W in plain.params.items():
            assert fused.params[k].dtype == np.dtype(dtype)
            rtol = 1e-12 if dtype == "float64" else 1e-5
            np.testing.assert_allclose(fused.params[k], W, rtol=rtol, atol=rtol * float(np.abs(W).max()), err_msg=k)


def test_fused_epoch_equals_unfused_and_returns_the_whole_last_gradient():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(300, 100)), rng.integers(0, 10, size=300)
    nets = [MLP([100, 64, 10], "tanh", 1e-3, seed=0) for _ in range(2)]
    sgd, workspaces = optimizers.SGD(0.1), [Workspace(net) for net in nets]
    for _ in range(3):
        order = rng.permutation(300)
        grads = [dict(sgd.epoch(workspaces[0], X, y, order, 32)),  # fused
                 dict(optimizers.Optimizer.epoch(sgd, workspaces[1], X, y, order, 32))]  # the generic loop
        assert list(grads[0]) == list(nets[0].params)  # the recorded grad_norm_W* see every gradient
        for k in nets[1].params:
            np.testing.assert_allclose(grads[0][k], grads[1][k], rtol=1e-11, atol=1e-15, err_msg=k)
            np.testing.assert_allclose(nets[0].params[k], nets[1].params[k], rtol=1e-12, atol=1e-14, err_msg=k)


# alpha·lambda = 0.15: the deferred factor 0.85^k falls below MIN_SCALE after 5 steps and is applied
# midway; 1e-4 never reaches it; lambda = 0 defers nothing.
@pytest.mark.parametrize("layers", [[3, 70, 80, 4], [100, 64, 10]])
@pytest.mark.parametrize("alpha, lam", [(0.1, 1e-3), (0.5, 0.3), (0.3, 0.0)])
def test_deferred_decay_equals_the_plain_step_and_leaves_true_weights(layers, alpha, lam):
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(200, layers[0])), rng.integers(0, layers[-1], size=200)
    deferred, plain = MLP(layers, "tanh", lam, seed=3), MLP(layers, "tanh", lam, seed=3)
    sgd = optimizers.SGD(alpha)
    ws, plain_ws = Workspace(deferred), Workspace(plain)
    batches = [rng.permutation(200)[:16] for _ in range(12)]
    with ws.deferred_decay():
        for i, idx in enumerate(batches):
            sgd.step(deferred.params, ws.sgd_step(X, y, idx, alpha))
            sgd.step(plain.params, plain_ws.grads(X, y, idx))
            if i == 3:  # a plain pass inside the block applies the pending factors first
                np.testing.assert_allclose(ws.grads(X, y, idx)["b1"], plain_ws.grads(X, y, idx)["b1"],
                                           rtol=1e-10, atol=1e-13)
                assert ws.pending_decay == {}
        pending = ws.pending_decay
    if lam:
        assert pending and all(MIN_SCALE <= s < 1.0 for s in pending.values())  # a factor was still deferred
    assert ws.pending_decay == {}
    for k, W in plain.params.items():
        np.testing.assert_allclose(deferred.params[k], W, rtol=1e-11, atol=1e-13, err_msg=k)


def test_deferred_decay_nested_blocks_and_a_changing_alpha_equal_the_plain_steps():
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(100, 100)), rng.integers(0, 10, size=100)
    deferred, plain = MLP([100, 64, 10], "sigmoid", 0.3, seed=1), MLP([100, 64, 10], "sigmoid", 0.3, seed=1)
    alphas = [0.5, 0.5, 1.9, 0.5, 0.2, 1.9, 0.1]  # αλ = 0.57 is not deferred: the pending factor goes into beta
    ws, plain_ws = Workspace(deferred), Workspace(plain)
    with ws.deferred_decay():
        for i, alpha in enumerate(alphas):
            idx = rng.permutation(100)[:20]
            sgd = optimizers.SGD(alpha)
            if i == 4:  # a factor from step 3 is pending
                assert ws.pending_decay
                with ws.deferred_decay():  # an inner block must not drop or apply the outer's factors
                    sgd.step(deferred.params, ws.sgd_step(X, y, idx, alpha))
                assert ws.pending_decay
            else:
                sgd.step(deferred.params, ws.sgd_step(X, y, idx, alpha))
            sgd.step(plain.params, plain_ws.grads(X, y, idx))
    for k, W in plain.params.items():
        np.testing.assert_allclose(deferred.params[k], W, rtol=1e-11, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("idx, n_y, message", [
    ([0, 100], 100, "idx must be row numbers 0..99, got 100"),
    ([3, -1], 100, "idx must be row numbers 0..99, got -1"),
    ([0.5, 1.0], 100, "idx must be a 1-D array of row numbers, got float64 of shape (2,)"),
    ([[0, 1]], 100, "idx must be a 1-D array of row numbers, got int64 of shape (1, 2)"),
    ([0, 1], 99, "X has 100 rows and y 99"),
])
def test_grads_refuses_rows_it_cannot_pair(idx, n_y, message):
    from nnctl.errors import DataError

    net = MLP([100, 64, 10], "sigmoid", 0.0, seed=1)
    X, y = np.zeros((100, 100)), np.zeros(n_y, np.int32)
    with pytest.raises(DataError) as info:
        Workspace(net).grads(X, y, np.array(idx))
    assert str(info.value) == f"Workspace.grads: {message}"
