"""The math of ``nnctl.mlp`` against the derivation, worked by hand on TestNet, and its numerical safety."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from nnctl.config import SCHEMA
from nnctl.errors import ConfigError
from nnctl.model.network import ACTIVATIONS, MLP, init_params

# TestNet of the derivation: 2 inputs, 3 sigmoid hidden units, 2 outputs, with numbers small enough to follow.
W1 = [[0.1, -0.2],
      [0.4, 0.3],
      [-0.5, 0.6]]
b1 = [0.01, -0.02, 0.03]
W2 = [[0.7, -0.1, 0.2],
      [-0.3, 0.5, -0.6]]
b2 = [0.05, -0.05]
x = [1.0, -2.0]
label = 1
lam = 0.1


def make_testnet(lam=lam):
    params = {"W1": np.array(W1), "b1": np.array(b1), "W2": np.array(W2), "b2": np.array(b2)}
    return MLP([2, 3, 2], activation="sigmoid", lam=lam, params=params)


def by_hand():
    """The derivation's equations for one sample, one element at a time, with nothing but ``math``."""
    n0, n1, n2 = 2, 3, 2
    z1 = [b1[i] + sum(W1[i][j] * x[j] for j in range(n0)) for i in range(n1)]     # z(1) = W(1)·a(0) + b(1)
    a1 = [1.0 / (1.0 + math.exp(-z)) for z in z1]                                 # a(1) = g(z(1))
    z2 = [b2[k] + sum(W2[k][i] * a1[i] for i in range(n1)) for k in range(n2)]    # z(2) = W(2)·a(1) + b(2)
    total = sum(math.exp(z) for z in z2)
    p = [math.exp(z) / total for z in z2]                                         # p = softmax(z(2))
    penalty = lam / 2 * (sum(w * w for row in W1 for w in row) + sum(w * w for row in W2 for w in row))
    J = -math.log(p[label]) + penalty                                             # J = −ln p(y) + (λ/2)Σ‖W‖²
    delta2 = [p[k] - (1.0 if k == label else 0.0) for k in range(n2)]            # δ(2) = p − onehot(y)
    dW2 = [[delta2[k] * a1[i] + lam * W2[k][i] for i in range(n1)] for k in range(n2)]  # δ(2)·a(1)ᵀ + λW(2)
    db2 = delta2                                                                  # ∂J/∂b(2) = δ(2)
    delta1 = [sum(W2[k][i] * delta2[k] for k in range(n2)) * a1[i] * (1.0 - a1[i])  # (W(2)ᵀ·δ(2)) ⊙ a(1)(1−a(1))
              for i in range(n1)]
    dW1 = [[delta1[i] * x[j] + lam * W1[i][j] for j in range(n0)] for i in range(n1)]   # δ(1)·a(0)ᵀ + λW(1)
    db1 = delta1                                                                  # ∂J/∂b(1) = δ(1)
    return {"z1": z1, "a1": a1, "z2": z2, "p": p, "J": J,
            "W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


class TestTestNetByHand:
    def test_z1_is_the_weighted_sum_worked_out(self):
        # 0.01 + 0.1·1 − 0.2·(−2), −0.02 + 0.4·1 + 0.3·(−2), 0.03 − 0.5·1 + 0.6·(−2)
        assert by_hand()["z1"] == pytest.approx([0.51, -0.22, -1.67], abs=1e-15)

    def test_forward(self):
        hand = by_hand()
        A0, A1, A2 = make_testnet().forward(np.array([x]))
        np.testing.assert_array_equal(A0, [x])
        np.testing.assert_allclose(A1[0], hand["a1"], rtol=1e-14)
        np.testing.assert_allclose(A2[0], hand["z2"], rtol=1e-14)  # the output layer stays linear

    def test_probabilities_and_prediction(self):
        hand = by_hand()
        net = make_testnet()
        np.testing.assert_allclose(net.predict_proba(np.array([x]))[0], hand["p"], rtol=1e-14)
        assert net.predict(np.array([x]))[0] == int(np.argmax(hand["p"]))

    def test_loss(self):
        hand = by_hand()
        net = make_testnet()
        assert net.loss(np.array([x]), np.array([label])) == pytest.approx(hand["J"], rel=1e-14)
        J, _ = net.loss_and_grads(np.array([x]), np.array([label]))
        assert J == pytest.approx(hand["J"], rel=1e-14)

    @pytest.mark.parametrize("name", ["W1", "b1", "W2", "b2"])
    def test_gradient(self, name):
        hand = by_hand()
        _, grads = make_testnet().loss_and_grads(np.array([x]), np.array([label]))
        np.testing.assert_allclose(grads[name], hand[name], rtol=1e-12, atol=1e-15)

    def test_biases_are_not_regularised(self):
        _, with_lam = make_testnet(lam=lam).loss_and_grads(np.array([x]), np.array([label]))
        _, without = make_testnet(lam=0.0).loss_and_grads(np.array([x]), np.array([label]))
        for name in ("b1", "b2"):
            np.testing.assert_array_equal(with_lam[name], without[name])
        for name, W in (("W1", W1), ("W2", W2)):
            np.testing.assert_allclose(with_lam[name] - without[name], lam * np.array(W), rtol=1e-12)

    def test_loss_and_grads_leaves_params_alone(self):
        net = make_testnet()
        before = {k: v.copy() for k, v in net.params.items()}
        net.loss_and_grads(np.array([x]), np.array([label]))
        for k in before:
            np.testing.assert_array_equal(net.params[k], before[k])


def random_net(layers, activation="sigmoid", lam=0.0, seed=0):
    net = MLP(layers, activation=activation, lam=lam, seed=seed)
    rng = np.random.default_rng(seed + 100)
    for k in net.params:
        if k.startswith("b"):  # non-zero biases, so that a wrong bias term shows
            net.params[k] = rng.normal(0.0, 0.5, size=net.params[k].shape)
    return net


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("lam_", [0.0, 0.05])
def test_batch_is_the_mean_of_per_sample_gradients_plus_lambda_W(activation, lam_):
    layers = [4, 5, 3]
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(7, 4)), rng.integers(0, 3, size=7)
    net = random_net(layers, activation, lam_)
    data_only = MLP(layers, activation, lam=0.0, params=net.params)
    J, grads = net.loss_and_grads(X, y)
    per_sample = [data_only.loss_and_grads(X[i:i + 1], y[i:i + 1]) for i in range(len(y))]
    assert J == pytest.approx(np.mean([Ji for Ji, _ in per_sample]) + net.penalty(), rel=1e-12)
    for name, param in net.params.items():
        mean = np.mean([g[name] for _, g in per_sample], axis=0)
        expected = mean + lam_ * param if name.startswith("W") else mean
        np.testing.assert_allclose(grads[name], expected, rtol=1e-10, atol=1e-14)


def test_penalty_is_half_lambda_squared_frobenius_norms():
    net = random_net([3, 4, 2], lam=0.3)
    expected = 0.15 * (np.sum(net.params["W1"] ** 2) + np.sum(net.params["W2"] ** 2))
    assert net.penalty() == pytest.approx(expected, rel=1e-14)
    assert MLP([3, 4, 2], lam=0.0).penalty() == 0.0


class TestShapes:
    layers = [5, 7, 6, 3]

    def test_params(self):
        net = MLP(self.layers)
        assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
        for l in range(1, 4):
            assert net.params[f"W{l}"].shape == (self.layers[l], self.layers[l - 1])
            assert net.params[f"b{l}"].shape == (self.layers[l],)
        assert net.L == 3

    def test_forward_grads_and_predictions(self):
        m = 9
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(m, 5)), rng.integers(0, 3, size=m)
        net = MLP(self.layers, lam=0.01)
        A = net.forward(X)
        assert [a.shape for a in A] == [(m, n) for n in self.layers]
        J, grads = net.loss_and_grads(X, y)
        assert isinstance(J, float)
        assert list(grads) == list(net.params)
        assert all(grads[k].shape == net.params[k].shape for k in grads)
        P = net.predict_proba(X)
        assert P.shape == (m, 3)
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-14)
        assert net.predict(X).shape == (m,)
        np.testing.assert_array_equal(net.predict(X), P.argmax(axis=1))

    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    def test_dtype(self, dtype):
        net = MLP([2, 3, 2], dtype=dtype)
        assert all(p.dtype == np.dtype(dtype) for p in net.params.values())
        X = np.ones((4, 2))
        assert all(a.dtype == np.dtype(dtype) for a in net.forward(X))
        _, grads = net.loss_and_grads(X, np.array([0, 1, 0, 1]))
        assert all(g.dtype == np.dtype(dtype) for g in grads.values())


class TestNumericalSafety:
    """Huge logits and saturated units give finite numbers and no floating-point warning at all."""

    @pytest.fixture(autouse=True)
    def warnings_are_errors(self):
        with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
            warnings.simplefilter("error")
            yield

    @staticmethod
    def assert_finite(net, X, y):
        J, grads = net.loss_and_grads(X, y)
        assert math.isfinite(J)
        assert all(np.isfinite(g).all() for g in grads.values())
        assert np.isfinite(net.predict_proba(X)).all()
        assert math.isfinite(net.loss(X, y))
        return J, grads

    @pytest.mark.parametrize("sign", [1.0, -1.0])
    def test_logits_of_ten_thousand(self, sign):
        net = make_testnet(lam=0.0)
        net.params["W2"][:] = 0.0
        net.params["b2"][:] = [sign * 1e4, -sign * 1e4]
        X, y = np.array([x, x]), np.array([0, 1])
        J, grads = self.assert_finite(net, X, y)
        assert J == pytest.approx(1e4, rel=1e-12)  # one sample scores 0 (ln 1), the other −2e4: mean 1e4
        np.testing.assert_allclose(net.predict_proba(X), [[1.0, 0.0], [1.0, 0.0]] if sign > 0 else
                                   [[0.0, 1.0], [0.0, 1.0]], atol=1e-300)

    @pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
    def test_hidden_inputs_of_ten_thousand(self, activation):
        net = MLP([2, 3, 2], activation=activation, lam=0.01, params=make_testnet().params)
        net.params["b1"][:] = [1e4, -1e4, 0.0]
        A1 = net.forward(np.array([x]))[1]
        assert np.isfinite(A1).all()
        self.assert_finite(net, np.array([x, [0.0, 0.0]]), np.array([1, 0]))

    def test_huge_inputs(self):
        net = make_testnet(lam=0.01)
        self.assert_finite(net, np.array([[1e6, -1e6], [-1e6, 1e6]]), np.array([0, 1]))

    @pytest.mark.parametrize("z", [1e4, -1e4, 745.0, -745.0, 0.0])
    def test_sigmoid_saturates_without_overflow(self, z):
        sigmoid = ACTIVATIONS["sigmoid"][0]
        a = sigmoid(np.array([z]))[0]
        assert 0.0 <= a <= 1.0
        assert a == pytest.approx(1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0, abs=1e-15)


class TestInit:
    fan_in, fan_out = 300, 200

    def weights(self, init, seed=0):
        return init_params([self.fan_in, self.fan_out], init, np.random.default_rng(seed))

    def test_xavier_is_uniform_within_the_glorot_bound(self):
        params = self.weights("xavier")
        W = params["W1"]
        bound = math.sqrt(6.0 / (self.fan_in + self.fan_out))
        assert W.shape == (self.fan_out, self.fan_in)
        assert np.abs(W).max() <= bound
        assert np.abs(W).max() > 0.99 * bound  # uniform: reaches the edge
        assert abs(W.mean()) < 0.01 * bound
        assert W.std() == pytest.approx(math.sqrt(2.0 / (self.fan_in + self.fan_out)), rel=0.02)

    def test_he_is_normal_with_variance_two_over_fan_in(self):
        W = self.weights("he")["W1"]
        std = math.sqrt(2.0 / self.fan_in)
        assert abs(W.mean()) < 0.02 * std
        assert W.std() == pytest.approx(std, rel=0.02)
        assert np.abs(W).max() > 3.5 * std  # normal tails, not a uniform box

    def test_normal_is_small(self):
        W = self.weights("normal")["W1"]
        assert W.std() == pytest.approx(0.01, rel=0.02)
        assert abs(W.mean()) < 0.0005

    @pytest.mark.parametrize("init", ["xavier", "he", "normal"])
    def test_biases_start_at_zero(self, init):
        params = self.weights(init)
        np.testing.assert_array_equal(params["b1"], np.zeros(self.fan_out))

    @pytest.mark.parametrize("init", ["xavier", "he", "normal"])
    def test_seeding(self, init):
        a = MLP([4, 6, 3], init=init, seed=7).params
        b = MLP([4, 6, 3], init=init, seed=7).params
        c = MLP([4, 6, 3], init=init, seed=8).params
        d = MLP([4, 6, 3], init=init, rng=np.random.default_rng(7)).params
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
            np.testing.assert_array_equal(a[k], d[k])
        assert not np.array_equal(a["W1"], c["W1"])
        assert not np.array_equal(a["W2"], c["W2"])

    def test_unknown_init_is_a_config_error(self):
        with pytest.raises(ConfigError, match="^init: must be one of xavier, he, normal, got 'zeros'$"):
            MLP([2, 3, 2], init="zeros")


class TestActivationTable:
    @pytest.mark.parametrize("name", sorted(ACTIVATIONS))
    def test_derivative_from_the_output_equals_a_finite_difference(self, name):
        g, g_grad = ACTIVATIONS[name]
        z = np.linspace(-4.0, 4.0, 81)
        z = z[np.abs(z) > 0.05]  # away from relu's kink
        h = 1e-6
        numeric = (g(z + h) - g(z - h)) / (2.0 * h)
        np.testing.assert_allclose(g_grad(g(z)), numeric, rtol=1e-8, atol=1e-9)

    @pytest.mark.parametrize("name, reference", [
        ("sigmoid", lambda z: 1.0 / (1.0 + math.exp(-z))),
        ("tanh", math.tanh),
        ("relu", lambda z: max(z, 0.0)),
    ])
    def test_functions(self, name, reference):
        g = ACTIVATIONS[name][0]
        z = np.linspace(-6.0, 6.0, 25)
        np.testing.assert_allclose(g(z), [reference(v) for v in z], rtol=1e-14, atol=1e-15)

    def test_the_config_accepts_exactly_the_table(self):
        for name in ACTIVATIONS:
            assert SCHEMA["model.activation"](name) == name
        with pytest.raises(ValueError):
            SCHEMA["model.activation"]("softplus")

    def test_unknown_activation_is_a_config_error(self):
        with pytest.raises(ConfigError, match="^activation: must be one of sigmoid, tanh, relu, got"):
            MLP([2, 3, 2], activation="softplus")
