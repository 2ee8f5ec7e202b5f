"""`nnctl explain`: the hand-worked TestNet numbers, agreement with MLP.loss_and_grads, the renderers, errors."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnctl.training import checkpoint
from nnctl.cli import cli
from nnctl.explain.compute import explain
from nnctl.explain.sample import class_index
from nnctl.errors import NnctlError
from nnctl.targets import network_and_data
from nnctl.model.network import MLP

ROOT = Path(__file__).resolve().parents[2]
TESTNET = str(ROOT / "configs" / "testnet.yaml")

# The hand-worked TestNet: fixed weights, one sample, λ and α; all as plain Python lists.
W1 = [[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]]
B1 = [0.01, -0.02, 0.03]
W2 = [[0.7, -0.8, 0.9], [-1.0, 1.1, -1.2]]
B2 = [0.05, -0.05]
LAM, ALPHA = 0.01, 0.5
X_RAW = [0.2, -0.2]                     # × input_scale 10 = [2, −2]; (x − [1, 2]) / [2, 4] = [0.5, −1]
CENTER, SCALE, INPUT_SCALE = [1.0, 2.0], [2.0, 4.0], 10.0
A0 = [0.5, -1.0]
Y = 1


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def hand_worked():
    """The derivation's formulas for one sample, in plain Python (no NumPy, nothing from nnctl)."""
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    matvec = lambda M, v: [sum(Mij * vj for Mij, vj in zip(row, v)) for row in M]  # noqa: E731
    z1 = [s + b for s, b in zip(matvec(W1, A0), B1)]                       # z(1) = W(1)·a(0) + b(1)
    a1 = [sig(v) for v in z1]                                              # a(1) = g(z(1))
    z2 = [s + b for s, b in zip(matvec(W2, a1), B2)]                       # z(2) = W(2)·a(1) + b(2)
    e = [math.exp(v) for v in z2]
    p = [v / sum(e) for v in e]                                            # p = softmax(a(2))
    penalty = LAM / 2 * sum(w * w for M in (W1, W2) for row in M for w in row)
    J = -math.log(p[Y]) + penalty
    d2 = [pj - (1.0 if j == Y else 0.0) for j, pj in enumerate(p)]        # δ(2) = p − onehot(y)
    dW2 = [[d2[i] * a1[j] + LAM * W2[i][j] for j in range(3)] for i in range(2)]
    WTd = [sum(W2[i][j] * d2[i] for i in range(2)) for j in range(3)]     # W(2)ᵀ·δ(2)
    d1 = [WTd[j] * a1[j] * (1 - a1[j]) for j in range(3)]                 # ⊙ a(1)(1 − a(1))
    dW1 = [[d1[i] * A0[j] + LAM * W1[i][j] for j in range(2)] for i in range(3)]
    col = lambda v: [[x] for x in v]  # noqa: E731
    step = lambda M, G: [[m - ALPHA * g for m, g in zip(rm, rg)] for rm, rg in zip(M, G)]  # noqa: E731
    return {
        "a0": col(A0), "z1": col(z1), "a1": col(a1), "z2": col(z2), "a2": col(z2), "p": col(p),
        "delta2": col(d2), "dW2": dW2, "db2": col(d2), "da1": col(WTd), "delta1": col(d1), "dW1": dW1,
        "db1": col(d1), "W1_new": step(W1, dW1), "b1_new": step(col(B1), col(d1)),
        "W2_new": step(W2, dW2), "b2_new": step(col(B2), col(d2)), "J": J, "penalty": penalty,
    }


@pytest.fixture(scope="module")
def testnet_ckpt(tmp_path_factory):
    """A real checkpoint (written by `nnctl train` with 0 epochs) with the hand-worked weights and scaler put in."""
    out = tmp_path_factory.mktemp("explain") / "run"
    result = run("train", TESTNET, "--out", out, "-q", "--set", "train.epochs=0", "--set", "data.n_samples=60",
                 "--set", f"train.lambda={LAM}", "--set", f"train.alpha={ALPHA}",
                 "--set", f"data.input_scale={INPUT_SCALE}")
    assert result.exit_code == 0, result.output + result.stderr
    path = out / "checkpoints" / "last.npz"
    ckpt = checkpoint.load(path)
    ckpt.params = {"W1": np.array(W1), "b1": np.array(B1), "W2": np.array(W2), "b2": np.array(B2)}
    ckpt.scaler = {"center": np.array(CENTER), "scale": np.array(SCALE)}
    checkpoint.save(path, ckpt)
    return path


def explain_json(*args):
    result = run("explain", *args, "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def test_hand_worked_testnet_through_json(testnet_ckpt):
    out = explain_json(testnet_ckpt, "--x", ",".join(map(str, X_RAW)), "--y", "1")
    expected = hand_worked()
    arrays = out["arrays"]
    for name, value in expected.items():
        if name in ("J", "penalty"):
            continue
        got = np.array(arrays[name])
        assert got.shape == np.array(value).shape, name
        np.testing.assert_allclose(got, value, rtol=0, atol=1e-12, err_msg=name)
    assert out["loss"]["J"] == pytest.approx(expected["J"], abs=1e-12)
    assert out["loss"]["penalty"] == pytest.approx(expected["penalty"], abs=1e-15)
    assert out["loss"]["data"] + out["loss"]["penalty"] == pytest.approx(out["loss"]["J"], abs=1e-15)
    predicted = int(np.argmax([row[0] for row in expected["p"]]))
    assert out["sample"] == {"split": None, "index": None, "x_raw": [2.0, -2.0], "y": 1, "label": "1",
                             "class_names": ["0", "1"], "predicted": predicted, "predicted_label": str(predicted)}
    assert out["network"] == {"layers": [2, 3, 2], "activation": "sigmoid", "lambda": LAM, "alpha": ALPHA}
    assert max(out["finite_difference"]["max_rel_error"].values()) < 1e-7
    assert set(out["finite_difference"]["max_rel_error"]) == {"dW1", "db1", "dW2", "db2"}


def test_printed_gradients_equal_loss_and_grads_of_the_same_sample(testnet_ckpt):
    relu = ["model.activation=relu", "model.layers=[2,4,5,2]", "train.lambda=0.05"]
    for target, args, overrides in ((testnet_ckpt, ["--index", "3"], []),
                                    (TESTNET, ["--index", "5", "--split", "val"], []),
                                    (TESTNET, [a for o in relu for a in ("--set", o)], relu)):
        out = explain_json(target, *args)
        net, data, _ = network_and_data(target, overrides)
        split, index = out["sample"]["split"], out["sample"]["index"]
        X, y = data.splits[split]
        np.testing.assert_array_equal(np.array(out["arrays"]["a0"])[:, 0], X[index])
        assert out["sample"]["y"] == y[index]
        J, grads = net.loss_and_grads(X[index:index + 1], y[index:index + 1])
        assert out["loss"]["J"] == pytest.approx(J, abs=1e-12)
        for name, g in grads.items():
            printed = np.array(out["arrays"][f"d{name}"])
            np.testing.assert_allclose(printed.reshape(g.shape), g, rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("layers, activation, lam", [([2, 3, 2], "sigmoid", 0.0), ([5, 7, 6, 3], "tanh", 0.1),
                                                     ([4, 6, 3], "relu", 0.05), ([3, 2], "sigmoid", 0.5)])
def test_library_matches_loss_and_grads_and_finite_differences(layers, activation, lam):
    rng = np.random.default_rng(7)
    net = MLP(layers, activation, lam, rng=rng)
    net.params = {k: v + rng.normal(0, 0.1, v.shape) for k, v in net.params.items()}  # non-zero biases too
    x = rng.normal(size=layers[0])
    before = {k: v.copy() for k, v in net.params.items()}
    ex = explain(net.params, x, 1, activation, lam, alpha=0.3)
    J, grads = net.loss_and_grads(x[None, :], np.array([1]))
    assert ex.loss["J"] == pytest.approx(J, abs=1e-12)
    for name, g in grads.items():
        np.testing.assert_allclose(ex.arrays[f"d{name}"].reshape(g.shape), g, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ex.arrays[f"{name}_new"].reshape(g.shape), before[name] - 0.3 * g,
                                   rtol=0, atol=1e-12)
    assert all(np.array_equal(net.params[k], before[k]) for k in before), "explain must not modify params"
    assert max(ex.fd_error.values()) < 1e-7
    assert ex.arrays[f"z{len(layers) - 1}"].shape == (layers[-1], 1)   # columns, as in the derivation


def test_markdown_holds_every_backward_equation(testnet_ckpt):
    result = run("explain", testnet_ckpt, "--index", "0", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    md = result.stdout
    for equation in (
        r"\delta^{(L)} = \frac{\partial J}{\partial z^{(L)}} = p - \mathrm{onehot}(y)",
        r"\frac{\partial J}{\partial W^{(l)}} = \delta^{(l)} \cdot (a^{(l-1)})^{T} + \lambda W^{(l)}",
        r"\frac{\partial J}{\partial b^{(l)}} = \delta^{(l)}",
        r"\delta^{(l-1)} = \left( (W^{(l)})^{T} \cdot \delta^{(l)} \right) \odot g'(z^{(l-1)})",
        r"g'(z) = a \odot (1 - a)",
        r"z^{(l)} = W^{(l)} \cdot a^{(l-1)} + b^{(l)}",
        r"W^{(l)} \leftarrow W^{(l)} - \alpha \frac{\partial J}{\partial W^{(l)}}",
        # and each one instantiated with this network's layer numbers
        r"\delta^{(2)} = \frac{\partial J}{\partial z^{(2)}} = \frac{\partial J}{\partial a^{(2)}} = p - \mathrm{onehot}(y) = \begin{bmatrix}",
        r"\frac{\partial J}{\partial W^{(1)}} = \delta^{(1)} \cdot (a^{(0)})^{T} + \lambda W^{(1)} = \begin{bmatrix}",
        r"\frac{\partial J}{\partial b^{(2)}} = \delta^{(2)} = \begin{bmatrix}",
        r"\delta^{(1)} = \frac{\partial J}{\partial z^{(1)}} = \left( (W^{(2)})^{T} \cdot \delta^{(2)} \right) \odot g'(z^{(1)}) = \begin{bmatrix}",
        r"g'(z^{(1)}) = a^{(1)} \odot (1 - a^{(1)}) = \begin{bmatrix}",
    ):
        assert equation in md, equation
    lines = md.splitlines()
    assert lines.count("$$") % 2 == 0 and lines.count("$$") >= 20
    assert md.count(r"\begin{bmatrix}") == md.count(r"\end{bmatrix}")
    assert "\\begin{bmatrix}\n0.7 & -0.8 & 0.9 \\\\\n-1 & 1.1 & -1.2\n\\end{bmatrix}" in md   # W(2), plugged in
    # GitHub keeps a matrix row break (two backslashes) inside $$ only at the end of a line
    assert all(line.endswith("\\\\") for line in lines if "\\\\" in line)


@pytest.mark.parametrize("activation, g_prime", [("tanh", r"g'(z) = 1 - a \odot a"),
                                                 ("relu", r"g'(z) = \mathbb{1}[z > 0]")])
def test_markdown_writes_g_prime_for_the_activation(activation, g_prime):
    result = run("explain", TESTNET, "--set", f"model.activation={activation}", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    assert g_prime in result.stdout


def test_text_output_for_config_and_checkpoint(testnet_ckpt):
    for target in (TESTNET, testnet_ckpt):
        result = run("explain", target, "--index", "2")
        assert result.exit_code == 0, result.stderr
        text = result.stdout
        for part in ("z(1) = W(1)·a(0) + b(1)", "p = softmax(a(2))", "δ(2) = ∂J/∂z(2) = ∂J/∂a(2) = p − onehot(y)",
                     "∂J/∂W(1) = δ(1)·a(0)ᵀ + λW(1)", "δ(1) = ∂J/∂z(1) = (W(2)ᵀ·δ(2)) ⊙ g'(z(1))", "W(2) ← W(2) − α·∂J/∂W(2)",
                     f"train[2] of {target}", "below 1e-07"):
            assert part in text, part
    hand = run("explain", testnet_ckpt, "--x", "0.2,-0.2", "--y", "1").stdout
    assert "given with --x" in hand and "raw x = [2, -2] (after × input_scale 10)" in hand
    assert f"= {hand_worked()['J']:.6g}" in hand


def test_large_matrices_are_summarised_unless_full():
    args = ["explain", TESTNET, "--set", "model.layers=[2,40,2]"]
    short, full = run(*args), run(*args, "--full")
    assert short.exit_code == 0 and full.exit_code == 0
    assert "80 entries; --full prints them" in short.stdout and "entries; --full" not in full.stdout
    assert len(full.stdout.splitlines()) > len(short.stdout.splitlines()) + 100
    md = run(*args, "--format", "markdown").stdout
    assert r"\text{40×2: min }" in md
    data = json.loads(run(*args, "--format", "json").stdout)
    assert np.array(data["arrays"]["W1"]).shape == (40, 2)   # JSON always in full


@pytest.mark.parametrize("args, message", [
    (["--index", "100000"], "--index 100000: the train split has"),
    (["--index", "-1"], "--index -1: the train split has"),
    (["--x", "1,2,3", "--y", "0"], "--x 1,2,3: expected 2 values"),
    (["--x", "1,abc", "--y", "0"], "--x 1,abc: expected 2 comma-separated numbers"),
    (["--x", "1,2", "--y", "cat"], "--y cat: not one of the classes (0, 1)"),
    (["--x", "1,2", "--y", "2"], "--y 2: not one of the classes"),
    (["--x", "1,2"], "--x and --y"),
    (["--y", "1"], "--x and --y"),
    (["--index", "0", "--x", "1,2", "--y", "1"], "--index and --x: give one of them, not both"),
    (["--format", "html"], "--format"),
    (["--set", "train.nope=1"], "train.nope"),
])
def test_bad_input_exits_2_with_one_error_line(args, message):
    result = run("explain", TESTNET, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error:") and message in lines[-1]
    assert "Traceback" not in result.stderr


def test_set_on_a_checkpoint_is_refused(testnet_ckpt):
    result = run("explain", testnet_ckpt, "--set", "train.alpha=0.1")
    assert result.exit_code == 2 and "not to a checkpoint" in result.stderr


def test_class_index_names_first_then_unambiguous_indices():
    assert class_index("versicolor", ["setosa", "versicolor", "virginica"]) == 1
    assert class_index("2", ["setosa", "versicolor", "virginica"]) == 2
    assert class_index("2", ["1", "2"]) == 1          # a class name wins over an index
    with pytest.raises(NnctlError, match="not one of the classes"):
        class_index("0", ["1", "2"])                  # numeric names: an index would be ambiguous
    with pytest.raises(NnctlError):
        class_index("3", ["setosa", "versicolor", "virginica"])


def test_finite_difference_verdict_tells_tiny_entries_from_a_wrong_gradient(monkeypatch):
    from nnctl.explain import compute as explain_mod
    from nnctl.explain.render import fd_verdict

    rng = np.random.default_rng(3)
    net = MLP([6, 5, 3], "sigmoid", 1e-6, rng=rng)
    x = np.array([0.0, 0.0, 1.3, -0.7, 0.0, 2.1])   # zero inputs: those dW(1) columns are only λW ≈ 1e-6
    ex = explain(net.params, x, 2, "sigmoid", 1e-6)
    assert max(ex.fd_error.values()) > 1e-7 and max(ex.fd_abs_error.values()) < 1e-9
    assert fd_verdict(ex).startswith("above 1e-07 only relative to tiny entries")
    assert fd_verdict(explain(net.params, np.ones(6), 2, "sigmoid", 0.1)) == "below 1e-07"
    monkeypatch.setitem(explain_mod.G_PRIME, "sigmoid", lambda z, a: a)   # a wrong g'
    broken = explain(net.params, x, 2, "sigmoid", 1e-6)
    assert fd_verdict(broken).startswith("NOT below 1e-07")


def test_the_softmax_step_taken_the_long_way_gives_p_minus_onehot():
    """∂p/∂a(L) = diag(p) − p·pᵀ, hand-written entry by entry; its chain with ∂J/∂p is δ(L) = p − onehot(y)."""
    ex = explain({"W1": W1, "b1": B1, "W2": W2, "b2": B2}, A0, Y, lam=LAM, alpha=ALPHA)
    p = [row[0] for row in hand_worked()["p"]]
    jacobian = [[p[i] * ((i == j) - p[j]) for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(ex.arrays["softmax_jacobian"], jacobian, rtol=1e-14)
    np.testing.assert_allclose(ex.arrays["dJ_dp"], [[0.0], [-1.0 / p[Y]]], rtol=1e-14)
    np.testing.assert_allclose(ex.arrays["dJ_da"], hand_worked()["delta2"], rtol=1e-12, atol=1e-15)
    text = run("explain", TESTNET, "--index", "0").output
    for title in ("∂p/∂a(2) = diag(p) − p·pᵀ", "∂J/∂a(2) = (∂p/∂a(2))ᵀ·∂J/∂p",
                  "δ(2) = ∂J/∂z(2) = ∂J/∂a(2) = p − onehot(y)", "δ(1) = ∂J/∂z(1) = (W(2)ᵀ·δ(2)) ⊙ g'(z(1))"):
        assert title in text, title


def test_the_predicted_class_is_the_networks():
    net, data, _ = network_and_data(TESTNET)
    X, y = data.splits["train"]
    for index in range(4):
        out = json.loads(run("explain", TESTNET, "--index", index, "--format", "json").output)
        assert out["sample"]["predicted"] == int(net.predict(X[index:index + 1])[0])
        text = run("explain", TESTNET, "--index", index).output
        k = out["sample"]["predicted"]
        verdict = "right" if k == int(y[index]) else "wrong"
        assert f'predicted class {k} ("{data.class_names[k]}", p = ' in text and f"; {verdict}" in text


def test_the_x1000_case_shows_the_saturated_units_and_what_they_do_to_the_gradient():
    scaled = json.loads(run("explain", TESTNET, "--index", "0", "--format", "json").output)
    assert scaled["saturated"] == {"layer1": []}
    args = ("explain", TESTNET, "--index", "0", "--set", "data.input_scale=1000", "--set", "data.scaler=none")
    raw = json.loads(run(*args, "--format", "json").output)
    g_prime = np.array(raw["arrays"]["g_prime1"])[:, 0]
    assert raw["saturated"]["layer1"] == [int(i) for i in np.flatnonzero(g_prime < 1e-3)] == [0, 1, 2]
    text = run(*args).output
    data_rows = np.abs(np.array(raw["arrays"]["dW1_data"])).max()
    assert (f"saturated: 3 of 3 units of layer 1 (unit 1, 2, 3) have g'(z) < 0.001, so their δ(1) is under a "
            f"thousandth of W(2)ᵀ·δ(2); in their rows of ∂J/∂W(1), δ(1)·a(0)ᵀ reaches {data_rows:.6g}") in text
    assert "not scaled (data.scaler none): a(0) = raw x" in text
    markdown = run(*args, "--format", "markdown").output
    assert "Saturated: 3 of 3 units of layer 1" in markdown


def test_a_batch_step_equals_one_training_step_of_the_network():
    """--batch M: the mean of the per-sample gradients plus λW, and the update, as SGD takes them on those rows."""
    from nnctl.training.optimizers import SGD

    net, data, config = network_and_data(TESTNET)
    X, y = data.splits["train"]
    out = json.loads(run("explain", TESTNET, "--index", "3", "--batch", "5", "--format", "json").output)
    assert out["batch"] == {"split": "train", "first": 3, "m": 5, "y": [int(v) for v in y[3:8]],
                            "labels": [data.class_names[v] for v in y[3:8]]}
    J, grads = net.loss_and_grads(X[3:8], y[3:8])
    assert out["loss"]["J"] == pytest.approx(J, rel=1e-13)
    sgd = SGD(config["train"]["alpha"])
    sgd.step(net.params, grads)  # net.params now hold the step's result
    for name, value in net.params.items():
        np.testing.assert_allclose(np.array(out["arrays"][f"{name}_new"]).reshape(value.shape), value, rtol=1e-12,
                                   atol=1e-15, err_msg=name)
    for i in range(5):  # each sample's term is the one-sample derivation's data term
        one = json.loads(run("explain", TESTNET, "--index", 3 + i, "--format", "json").output)["arrays"]
        for l in (1, 2):
            np.testing.assert_allclose(out["arrays"][f"dW{l}_sample{i}"], one[f"dW{l}_data"], rtol=1e-14)
    mean = np.mean([out["arrays"][f"dW1_sample{i}"] for i in range(5)], axis=0)
    lam = config["train"]["lambda"]
    # to rounding: a mean of five terms in another order, near-cancelling in places (1e-14 relative was seen)
    np.testing.assert_allclose(out["arrays"]["dW1"], mean + lam * np.array(out["arrays"]["W1"]), rtol=1e-13,
                               atol=1e-16)
    assert out["network_max_rel_error"] < 1e-12
    text = run("explain", TESTNET, "--batch", "2").output
    assert "∂J/∂W(1) = (1/m) Σᵢ δ(1)ᵢ·a(0)ᵢᵀ + λW(1)" in text and "δ(2)·a(1)ᵀ of sample 1" in text
    assert r"\frac{1}{m} \sum_i \delta^{(1)}_i" in run("explain", TESTNET, "--batch", "2", "--format", "markdown").output


@pytest.mark.parametrize("args, message", [
    (["--batch", "3", "--x", "0.1,0.2", "--y", "0"], "--batch takes its samples and their classes from a split"),
    (["--batch", "3", "--y", "0"], "--batch takes its samples and their classes from a split"),
    (["--batch", "3", "--index", "599", "--split", "train"], "--index 599 --batch 3: the train split has 600 samples, so a batch of 3 starts at 0..597"),
    (["--batch", "1"], "Invalid value for '--batch'"),
])
def test_bad_batches_exit_2(args, message):
    result = CliRunner().invoke(cli, ["explain", TESTNET, *args])
    assert result.exit_code == 2 and message in result.output


def test_an_underflowing_p_of_y_skips_the_long_way_and_the_json_stays_strict():
    args = ("explain", TESTNET, "--index", "5", "--set", "data.input_scale=1000", "--set", "data.scaler=none",
            "--set", "model.activation=relu")
    text = run(*args).output
    assert "p(y) underflows to 0 in float64, so −1/p(y) and the softmax's long way" in text
    assert "nan" not in text and "inf" not in text.replace("info", "")
    out = json.loads(run(*args, "--format", "json").output, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert "dJ_da" not in out["arrays"] and out["arrays"]["delta2"] == [[1.0], [-1.0]]


def test_a_batch_mean_is_taken_without_overflowing_the_sum():
    """Each term is divided by m before the sum: inputs near the float64 limit still give the network's gradient."""
    args = ("explain", TESTNET, "--set", "data.input_scale=1e307", "--set", "data.scaler=none",
            "--set", "model.activation=relu", "--batch", "64", "--format", "json")
    out = json.loads(run(*args).output)
    dW1 = np.array(out["arrays"]["dW1"])
    assert np.isfinite(dW1).all() and np.abs(dW1).max() > 1e300
    assert out["network_max_rel_error"] < 1e-12
