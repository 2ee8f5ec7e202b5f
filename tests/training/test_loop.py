"""The epoch loop's figures: running ones taken in the training pass, or a full pass after the epoch."""
from __future__ import annotations

import numpy as np
import pytest

from nnctl import config
from nnctl.model.fastpath import Workspace
from nnctl.model.network import MLP, evaluate, log_softmax
from nnctl.training import optimizers
from nnctl.training.loop import run_epoch


def problem(dtype="float64"):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(203, 4)).astype(dtype)
    y = rng.integers(0, 3, size=203)
    return X, y


@pytest.mark.parametrize("layers", [[4, 5, 3], [4, 70, 80, 3]])  # the second has a fused (BLAS) layer
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("block", [1 << 16, 40, 8])  # rows kept before they are summed: all, several blocks, < m
def test_running_figures_are_each_minibatchs_before_its_step(layers, dtype, block, monkeypatch):
    from nnctl.model import fastpath

    monkeypatch.setattr(fastpath, "TALLY_BLOCK", block)
    X, y = problem(dtype)
    train = config.resolve(None, ["train.batch_size=16"])["train"]
    net = MLP(layers, "tanh", 1e-3, seed=0, dtype=dtype)
    plain = MLP(layers, "tanh", 1e-3, dtype=dtype, params={k: v.copy() for k, v in net.params.items()})
    record, _, non_finite = run_epoch(Workspace(net), optimizers.SGD(0.3), np.random.default_rng(9), train, (X, y),
                                      running=True)
    order = np.random.default_rng(9).permutation(len(y))
    losses, correct = [], 0
    for s in range(0, len(y), 16):  # the same epoch by hand: figures of each minibatch, then its step
        idx = order[s:s + 16]
        logits = plain.forward(X[idx])[-1]
        losses.extend(-log_softmax(logits.astype(np.float64))[np.arange(len(idx)), y[idx]])
        correct += int((logits.argmax(axis=1) == y[idx]).sum())
        _, grads = plain.loss_and_grads(X[idx], y[idx])
        for k in plain.params:
            plain.params[k] -= 0.3 * grads[k]
    rtol = 1e-10 if dtype == "float64" else 1e-4
    assert not non_finite
    assert record["train_loss"] == pytest.approx(np.mean(losses) + plain.penalty(), rel=rtol)
    assert record["train_acc"] == correct / len(y)
    assert record["val_loss"] is None


def test_full_figures_are_a_pass_after_the_epoch_and_lbfgs_always_gets_them():
    X, y = problem()
    train = config.resolve(None, ["train.batch_size=16"])["train"]
    for optimizer, running in ((optimizers.SGD(0.3), False), (optimizers.LBFGS(3), True)):
        net = MLP([4, 5, 3], "tanh", 1e-3, seed=0)
        record, _, _ = run_epoch(Workspace(net), optimizer, np.random.default_rng(9), train, (X, y), (X[:50], y[:50]),
                                 running=running)
        assert (record["train_loss"], record["train_acc"]) == evaluate(net, X, y)
        assert (record["val_loss"], record["val_acc"]) == evaluate(net, X[:50], y[:50])


def test_the_config_chooses_the_figures(run_cli, tiny_config, tmp_path):
    import json

    for kind in ("running", "full"):
        out = tmp_path / kind
        assert run_cli("train", tiny_config(), "--out", out, "-q", "--set", f"output.train_metrics={kind}").exit_code == 0
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        summary = json.loads((out / "summary.json").read_text())
        if kind == "full":  # the last epoch's full pass is the summary's train figure
            assert records[-1]["train_loss"] == pytest.approx(summary["train_loss"], rel=1e-12)
        else:
            assert records[-1]["train_loss"] != summary["train_loss"]
