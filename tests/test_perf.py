"""The optimised code paths give what the plain ones give (no timings here: speed is `make bench`)."""
import warnings

import numpy as np
import pytest

from nnctl import config as config_mod, data as data_mod, optimizers, scaling, splitting, trainer as trainer_mod
from nnctl.mlp import MIN_SCALE, MLP


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


# [3, 70, 80, 4] has weight matrices above GEMM_MIN_WEIGHTS, so the fused BLAS path is covered too.
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
    fast = {k: v.copy() for k, v in net.minibatch_grads(X, y, idx).items()}
    assert J == pytest.approx(J_ref, rel=1e-12, abs=1e-12)
    for k in net.params:
        np.testing.assert_allclose(grads[k], ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(fast[k], ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
    assert list(grads) == list(net.params)


def test_minibatch_buffers_follow_new_params_and_batch_sizes():
    rng = np.random.default_rng(0)
    net = MLP([3, 5, 2], "tanh", 0.001, seed=0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, size=20)
    for size in (8, 3, 8):
        idx = rng.permutation(20)[:size]
        np.testing.assert_allclose(net.minibatch_grads(X, y, idx)["W1"], net.loss_and_grads(X[idx], y[idx])[1]["W1"],
                                   atol=1e-15)
    net.params = {k: v * 2 for k, v in net.params.items()}  # as a resume or L-BFGS does
    idx = np.arange(8)
    np.testing.assert_allclose(net.minibatch_grads(X, y.astype(np.int32), idx)["W2"],
                               net.loss_and_grads(X[idx], y[idx])[1]["W2"], atol=1e-15)



# [3, 70, 80, 4]: only W2 (5600 weights) has a gemm; [100, 64, 10]: W1 does, the output layer not.
@pytest.mark.parametrize("layers", [[3, 70, 80, 4], [100, 64, 10]])
@pytest.mark.parametrize("lam", [0.0, 0.01])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_sgd_step_equals_the_unfused_step(layers, lam, dtype):
    rng = np.random.default_rng(11)
    X, y = rng.normal(size=(60, layers[0])).astype(dtype), rng.integers(0, layers[-1], size=60)
    fused, plain = MLP(layers, "sigmoid", lam, seed=2, dtype=dtype), MLP(layers, "sigmoid", lam, seed=2, dtype=dtype)
    sgd = optimizers.SGD(0.3)
    for idx in (rng.permutation(60)[:16], rng.permutation(60)[:16], np.arange(16)):
        rest = fused.minibatch_grads(X, y, idx, sgd_alpha=sgd.alpha)
        assert [k for k in plain.params if k not in rest] == [f"W{l}" for l in range(1, len(layers))
                                                             if layers[l] * layers[l - 1] >= 4096]
        sgd.step(fused.params, rest)
        sgd.step(plain.params, plain.minibatch_grads(X, y, idx))
        for k, W in plain.params.items():
            assert fused.params[k].dtype == np.dtype(dtype)
            rtol = 1e-12 if dtype == "float64" else 1e-5
            np.testing.assert_allclose(fused.params[k], W, rtol=rtol, atol=rtol * float(np.abs(W).max()), err_msg=k)


def test_fused_epoch_equals_unfused_and_returns_the_whole_last_gradient():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(300, 100)), rng.integers(0, 10, size=300)
    nets = [MLP([100, 64, 10], "tanh", 1e-3, seed=0) for _ in range(2)]
    opts = [optimizers.SGD(0.1), optimizers.SGD(0.1)]
    opts[1].fused = False
    for _ in range(3):
        order = rng.permutation(300)
        grads = [dict(trainer_mod.train_steps(net, opt, X, y, order, 32)) for net, opt in zip(nets, opts)]
        assert list(grads[0]) == list(nets[0].params)  # the recorded grad_norm_W* see every gradient
        for k in nets[1].params:
            np.testing.assert_allclose(grads[0][k], grads[1][k], rtol=1e-11, atol=1e-15, err_msg=k)
            np.testing.assert_allclose(nets[0].params[k], nets[1].params[k], rtol=1e-12, atol=1e-14, err_msg=k)
    assert not optimizers.Momentum(0.1).fused and not optimizers.Adam(0.1).fused


# alpha·lambda = 0.15: the deferred factor 0.85^k falls below MIN_SCALE after 5 steps and is applied
# midway; 1e-4 never reaches it; lambda = 0 defers nothing.
@pytest.mark.parametrize("layers", [[3, 70, 80, 4], [100, 64, 10]])
@pytest.mark.parametrize("alpha, lam", [(0.1, 1e-3), (0.5, 0.3), (0.3, 0.0)])
def test_deferred_decay_equals_the_plain_step_and_leaves_true_weights(layers, alpha, lam):
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(200, layers[0])), rng.integers(0, layers[-1], size=200)
    deferred, plain = MLP(layers, "tanh", lam, seed=3), MLP(layers, "tanh", lam, seed=3)
    sgd = optimizers.SGD(alpha)
    batches = [rng.permutation(200)[:16] for _ in range(12)]
    with deferred.deferred_decay():
        for i, idx in enumerate(batches):
            sgd.step(deferred.params, deferred.minibatch_grads(X, y, idx, sgd_alpha=alpha))
            sgd.step(plain.params, plain.minibatch_grads(X, y, idx))
            if i == 3:  # a read through the class inside the block sees the true weights
                np.testing.assert_allclose(deferred.forward(X)[-1], plain.forward(X)[-1], rtol=1e-11, atol=1e-13)
        pending = dict(deferred._scales)
    if lam:
        assert pending and all(MIN_SCALE <= s < 1.0 for s in pending.values())  # a factor was still deferred
    assert deferred._scales is None
    for k, W in plain.params.items():
        np.testing.assert_allclose(deferred.params[k], W, rtol=1e-11, atol=1e-13, err_msg=k)


def test_deferred_decay_nested_blocks_and_a_changing_alpha_equal_the_plain_steps():
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(100, 100)), rng.integers(0, 10, size=100)
    deferred, plain = MLP([100, 64, 10], "sigmoid", 0.3, seed=1), MLP([100, 64, 10], "sigmoid", 0.3, seed=1)
    alphas = [0.5, 0.5, 1.9, 0.5, 0.2, 1.9, 0.1]  # αλ = 0.57 is not deferred: the pending factor goes into beta
    with deferred.deferred_decay():
        for i, alpha in enumerate(alphas):
            idx = rng.permutation(100)[:20]
            sgd = optimizers.SGD(alpha)
            if i == 4:  # a factor from step 3 is pending
                with deferred.deferred_decay():  # an inner block must not drop or apply the outer's factors
                    sgd.step(deferred.params, deferred.minibatch_grads(X, y, idx, sgd_alpha=alpha))
            else:
                sgd.step(deferred.params, deferred.minibatch_grads(X, y, idx, sgd_alpha=alpha))
            sgd.step(plain.params, plain.minibatch_grads(X, y, idx))
    for k, W in plain.params.items():
        np.testing.assert_allclose(deferred.params[k], W, rtol=1e-11, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("idx, n_y, message", [
    ([0, 100], 100, "idx must be row numbers 0..99, got 100"),
    ([3, -1], 100, "idx must be row numbers 0..99, got -1"),
    ([0.5, 1.0], 100, "idx must be a 1-D array of row numbers, got float64 of shape (2,)"),
    ([[0, 1]], 100, "idx must be a 1-D array of row numbers, got int64 of shape (1, 2)"),
    ([0, 1], 99, "X has 100 rows and y 99"),
])
def test_minibatch_grads_refuses_rows_it_cannot_pair(idx, n_y, message):
    from nnctl.errors import DataError

    net = MLP([100, 64, 10], "sigmoid", 0.0, seed=1)
    X, y = np.zeros((100, 100)), np.zeros(n_y, np.int32)
    with pytest.raises(DataError) as info:
        net.minibatch_grads(X, y, np.array(idx))
    assert str(info.value) == f"MLP.minibatch_grads: {message}"


def test_sigmoid_is_stable_and_equals_the_textbook_form():
    from nnctl.mlp import sigmoid

    z = np.linspace(-30.0, 30.0, 601)
    np.testing.assert_allclose(sigmoid(z), 1.0 / (1.0 + np.exp(-z)), rtol=0, atol=3e-16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sigmoid(np.array([-1e4, 1e4])).tolist() == [0.0, 1.0]
    assert sigmoid(np.zeros(3, np.float32)).dtype == np.float32


def test_float32_trains_in_float32_to_the_accuracy_of_float64(tmp_path):
    summaries = {}
    for dtype in ("float64", "float32"):
        config = config_mod.resolve(None, [f"model.dtype={dtype}", "model.layers=[2,8,2]", "train.epochs=15",
                                           "data.n_samples=600"])
        t = trainer_mod.Trainer(config, tmp_path / dtype, where="test")
        summaries[dtype] = t.fit()
        assert all(p.dtype == np.dtype(dtype) for p in t.net.params.values())
        assert t.data.splits["train"][0].dtype == np.dtype(dtype)
        if dtype == "float32":
            X, y = t.data.splits["train"]
            assert all(g.dtype == np.float32 for g in t.net.minibatch_grads(X, y, np.arange(32)).values())
    assert summaries["float32"]["val_acc"] == pytest.approx(summaries["float64"]["val_acc"], abs=0.02)
    assert summaries["float32"]["val_loss"] == pytest.approx(summaries["float64"]["val_loss"], rel=1e-3)


def test_chunked_evaluation_equals_one_pass(monkeypatch):
    rng = np.random.default_rng(3)
    net = MLP([4, 6, 3], "relu", 0.01, seed=0)
    X, y = rng.normal(size=(1000, 4)), rng.integers(0, 3, size=1000)
    whole = trainer_mod.evaluate(net, X, y)
    monkeypatch.setattr(trainer_mod, "EVAL_CHUNK", 97)
    chunked = trainer_mod.evaluate(net, X, y)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-13)
    assert chunked[1] == whole[1] == pytest.approx(float((net.predict(X) == y).mean()))
    assert whole[0] == pytest.approx(net.loss(X, y), rel=1e-13)


@pytest.mark.parametrize("seed", range(12))
def test_stratified_split_is_exactly_scikit_learns(seed):
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(20, 2000)), int(rng.integers(2, 6))
    codes = rng.choice(k, size=n, p=rng.dirichlet(np.ones(k))).astype(np.int8)
    codes[:2 * k] = np.repeat(np.arange(k), 2)  # every class at least twice
    n_test = int(rng.integers(k, n - k))
    state = int(rng.integers(0, 2**31 - 1))
    index = rng.permutation(n) + 3
    for idx in (index, None):
        rest, test = splitting.stratified_split(idx, codes, n_test, state)
        want_rest, want_test = train_test_split(np.arange(n) if idx is None else idx, test_size=n_test,
                                                stratify=codes, random_state=state)
        np.testing.assert_array_equal(rest, want_rest)
        np.testing.assert_array_equal(test, want_test)


def test_stratified_split_declines_what_scikit_learn_rejects():
    codes = np.array([0, 0, 0, 1], np.int8)  # class 1 has one member
    assert splitting.stratified_split(None, codes, 2, 0) is None
    with pytest.raises(Exception, match="least populated class"):
        data_mod._split(None, codes, 2, 0)


@pytest.mark.parametrize("name", ["standard", "minmax"])
def test_numpy_scalers_equal_scikit_learns(name):
    from sklearn import preprocessing

    rng = np.random.default_rng(5)
    X = rng.normal(size=(150_000, 4)) * [1.0, 1e3, 1e-3, 0.0] + [5.0, -2.0, 1e6, 7.0]  # last column constant
    fitted = scaling.fit(name, X)
    if name == "standard":
        s = preprocessing.StandardScaler().fit(X)
        center, scale = s.mean_, s.scale_
    else:
        s = preprocessing.MinMaxScaler().fit(X)
        center, scale = s.data_min_, np.where(s.data_range_ == 0, 1.0, s.data_range_)
    np.testing.assert_allclose(fitted["center"], center, rtol=1e-13)
    np.testing.assert_allclose(fitted["scale"], scale, rtol=1e-12)
    out = X[:10].copy()
    np.testing.assert_array_equal(scaling.apply(fitted, out, out=out), (X[:10] - fitted["center"]) / fitted["scale"])


def test_prepare_without_raw_gives_the_same_splits():
    config = config_mod.resolve(None, ["data.n_samples=500", "data.input_scale=1000"])
    kept, lean = data_mod.prepare(config), data_mod.prepare(config, keep_raw=False)
    assert lean.raw == {} and set(kept.raw) == set(data_mod.SPLITS)
    for name in data_mod.SPLITS:
        np.testing.assert_array_equal(kept.splits[name][0], lean.splits[name][0])
        np.testing.assert_array_equal(kept.splits[name][1], lean.splits[name][1])
        assert lean.splits[name][1].dtype == np.int64
        np.testing.assert_allclose(scaling.apply(kept.scaler, kept.raw[name]), kept.splits[name][0])


@pytest.mark.parametrize("labels", [np.array([5, 3, 5, 9]), np.array([1, 0, 1], np.uint8), np.array([0, 2, 1, 2]),
                                    np.array([-4, 7, -4])])
def test_integer_labels_encode_as_np_unique_does(labels):
    codes, names = data_mod.encode_labels(labels, "x")
    values, want = np.unique(labels, return_inverse=True)
    np.testing.assert_array_equal(codes, want)
    assert codes.dtype == np.int64
    assert names == [str(v) for v in values]


def test_make_bench_runs_as_a_quick_smoke_run():
    # Not a measurement (no figure is checked): `make bench` must not rot between the times someone runs it.
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "bench" / "bench.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--cases", "b,c"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    for line in ("scikit-learn MLPClassifier sgd", "nnctl × in each of the 1 rounds", "roofline: run_epoch",
                 "float32 / float64 speed:"):
        assert line in out.stdout, (line, out.stdout)
