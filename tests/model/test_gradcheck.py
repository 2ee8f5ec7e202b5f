"""Backprop against centred differences: several depths, activations and λ; broken backward passes are caught."""
from __future__ import annotations

import numpy as np
import pytest

from nnctl.model import gradcheck
from nnctl.model.network import MLP

TOL = 1e-7


NAMES = ["W1", "b1", "W2", "b2"]


def random_problem(layers, activation, lam, seed=0, m=12):
    """A network with non-zero biases and a batch of ``m`` samples of standard normal inputs."""
    rng = np.random.default_rng(seed)
    net = MLP(layers, activation=activation, lam=lam, seed=seed)
    for k in net.params:
        if k.startswith("b"):
            net.params[k] = rng.normal(0.0, 0.5, size=net.params[k].shape)
    X = rng.normal(size=(m, layers[0]))
    y = rng.integers(0, layers[-1], size=m)
    return net, X, y


def assert_passes(report, names):
    assert [t["name"] for t in report["tensors"]] == names
    worst = max(t["max_rel_error"] for t in report["tensors"])
    assert report["passed"], gradcheck.format_report(report)
    assert worst < TOL


class TestLibrary:
    @pytest.mark.parametrize("layers, names", [
        ([2, 3, 2], NAMES),
        ([5, 7, 6, 3], NAMES + ["W3", "b3"]),
    ])
    @pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
    @pytest.mark.parametrize("lam", [0.0, 0.01])
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_smooth_activations(self, layers, names, activation, lam, seed):
        net, X, y = random_problem(layers, activation, lam, seed)
        assert_passes(gradcheck.check(net, X, y), names)

    @pytest.mark.parametrize("layers", [[2, 3, 2], [5, 7, 6, 3]])
    @pytest.mark.parametrize("lam", [0.0, 0.01])
    def test_relu_away_from_its_kinks(self, layers, lam):
        net, X, y = random_problem(layers, "relu", lam, seed=3, m=40)
        # Keep only samples whose every hidden pre-activation is far from 0 compared with eps·|input|,
        # where the centred difference would straddle the kink.
        A = net.forward(X)
        far = np.ones(len(y), dtype=bool)
        for l in range(1, net.L):
            Z = A[l - 1] @ net.params[f"W{l}"].T + net.params[f"b{l}"]
            far &= (np.abs(Z) > 1e-2).all(axis=1)
        assert far.sum() >= 8
        report = gradcheck.check(net, X[far], y[far])
        assert_passes(report, [t["name"] for t in report["tensors"]])

    def test_testnet_float32_is_checked_in_float64(self):
        net, X, y = random_problem([2, 3, 2], "sigmoid", 0.001)
        net32 = MLP([2, 3, 2], "sigmoid", 0.001, dtype="float32",
                    params={k: v.astype(np.float32) for k, v in net.params.items()})
        assert_passes(gradcheck.check(net32, X, y), NAMES)

    def test_every_entry_of_a_small_tensor_is_checked(self):
        net, X, y = random_problem([5, 7, 6, 3], "tanh", 0.01)
        report = gradcheck.check(net, X, y)
        assert [t["checked"] for t in report["tensors"]] == [35, 7, 42, 6, 18, 3]
        assert [t["shape"] for t in report["tensors"]] == [[7, 5], [7], [6, 7], [6], [3, 6], [3]]

    def test_large_tensors_get_a_subset_and_every_tensor_appears(self):
        net, X, y = random_problem([30, 20, 3], "sigmoid", 0.01, m=6)
        report = gradcheck.check(net, X, y, max_entries=25)
        assert [(t["name"], t["checked"]) for t in report["tensors"]] == [
            ("W1", 25), ("b1", 20), ("W2", 25), ("b2", 3)]
        assert_passes(report, NAMES)

    def test_subset_is_seeded(self):
        net, X, y = random_problem([30, 20, 3], "sigmoid", 0.01, m=6)
        a = gradcheck.check(net, X, y, max_entries=10, rng=np.random.default_rng(4))
        b = gradcheck.check(net, X, y, max_entries=10, rng=np.random.default_rng(4))
        assert a == b

    @pytest.mark.parametrize("how", ["scaled by 1 + 1e-6", "without λW", "bias term off"])
    def test_small_backprop_errors_are_caught(self, monkeypatch, how):
        """The floor under the relative error does not hide errors a real bug would make."""
        right = MLP.loss_and_grads

        def wrong(self, X, y):
            J, grads = right(self, X, y)
            if how == "scaled by 1 + 1e-6":
                grads = {k: g * (1.0 + 1e-6) for k, g in grads.items()}
            elif how == "without λW":
                grads["W1"] = grads["W1"] - self.lam * self.params["W1"]
            else:
                grads["b2"] = grads["b2"] * 0.999
            return J, grads

        monkeypatch.setattr(MLP, "loss_and_grads", wrong)
        net, X, y = random_problem([2, 3, 2], "sigmoid", 0.001)
        report = gradcheck.check(net, X, y)
        assert not report["passed"]

    def test_relative_error(self):
        rel = gradcheck.relative_error([1.0, 0.0, -2.0, 1e-9], [1.1, 0.0, -2.0, 2e-9])
        np.testing.assert_allclose(rel, [0.1 / 1.1, 0.0, 0.0, 0.5])
        floored = gradcheck.relative_error([1.0, 1e-9], [1.1, 2e-9], floor=1e-3)
        np.testing.assert_allclose(floored, [0.1 / 1.1, 1e-6])

    def test_floor_is_the_resolution_of_centred_differences(self):
        # ≈ 10·u/(eps·tol): 2.2e-3 at the defaults; it grows with J above 1 and as eps or tol shrink.
        assert gradcheck.resolution_floor(0.5, 1e-5, 1e-7) == pytest.approx(2.22e-3, rel=1e-2)
        assert gradcheck.resolution_floor(3.0, 1e-5, 1e-7) == pytest.approx(3 * 2.22e-3, rel=1e-2)
        assert gradcheck.resolution_floor(0.5, 1e-6, 1e-7) == pytest.approx(2.22e-2, rel=1e-2)

    def test_numeric_gradient_restores_the_parameters(self):
        net, X, y = random_problem([2, 3, 2], "sigmoid", 0.0)
        before = {k: v.copy() for k, v in net.params.items()}
        gradcheck.numeric_gradient(net, X, y, "W1", np.arange(6), 1e-5)
        for k in before:
            np.testing.assert_array_equal(net.params[k], before[k])


def test_a_non_finite_gradient_is_never_ok():
    nan, inf = float("nan"), float("inf")
    rel = gradcheck.relative_error([nan, 1.0, inf, 0.0, 1.0], [1.0, nan, 1.0, 0.0, 1.0])
    assert list(rel) == [inf, inf, inf, 0.0, 0.0]
    net, X, y = random_problem([2, 3, 2], "sigmoid", 0.0, 0)
    net.params["W1"][0, 0] = nan
    report = gradcheck.check(net, X, y)
    assert not report["passed"] and not report["tensors"][0]["passed"]
