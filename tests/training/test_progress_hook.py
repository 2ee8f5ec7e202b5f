"""The progress hook within an epoch: the same minibatches in the same order, bit for bit, with it and
without it; called once a block of minibatches, never per minibatch."""
from __future__ import annotations

import numpy as np
import pytest

from nnctl.model.fastpath import Workspace
from nnctl.model.network import MLP
from nnctl.training import optimizers
from nnctl.training.loop import run_epoch

TRAIN = {"alpha": 0.1, "momentum": 0.9, "nesterov": True, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}


def train_epochs(name, layers, progress, rows=1000, batch_size=32, epochs=3):
    """Params, optimizer state, last gradients and running figures after ``epochs`` epochs."""
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(rows, layers[0])), rng.integers(0, layers[-1], size=rows)
    net = MLP(layers, "tanh", 1e-2, seed=0)
    workspace, optimizer = Workspace(net), optimizers.make({**TRAIN, "optimizer": name})
    shuffle = np.random.default_rng(7)
    train = {"shuffle": True, "batch_size": batch_size}
    records = []
    for _ in range(epochs):
        record, grads, _ = run_epoch(workspace, optimizer, shuffle, train, (X, y), (X[:50], y[:50]),
                                     running=True, progress=progress)
        records.append(record)
    return net.params, optimizer.state(), grads, records


def assert_identical(a, b):
    for key in a:
        assert np.array_equal(a[key], b[key]), key
        assert a[key].dtype == b[key].dtype, key


# [30, 80, 70, 4]: the fused SGD step and its deferred weight decay (80·70 ≥ FUSE_MIN_WEIGHTS), which
# λα = 1e-3 leaves pending across every block boundary; [2, 3, 2]: the plain path.
@pytest.mark.parametrize("layers", [[2, 3, 2], [30, 80, 70, 4]])
@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("block_seconds", [0.0, 1e9])  # blocks of one minibatch; blocks that double every time
@pytest.mark.parametrize("rows", [1000, 1024, 33, 7])  # a partial last minibatch, whole ones, one, less than one
def test_progress_changes_no_bit_of_the_results(monkeypatch, layers, name, block_seconds, rows):
    monkeypatch.setattr(optimizers, "PROGRESS_SECONDS", block_seconds)
    calls = []
    without = train_epochs(name, layers, None, rows)
    with_hook = train_epochs(name, layers, lambda done, steps: calls.append((done, steps)), rows)
    for a, b in zip(without[:3], with_hook[:3]):
        assert_identical(a, b)
    assert without[3] == with_hook[3]  # the epoch's running figures, bit for bit
    steps = -(-rows // 32)
    assert calls, "the hook was never called"
    assert calls[-1] == (steps, steps)
    assert all(s == steps for _, s in calls)
    per_epoch = [c for c, _ in calls]
    assert per_epoch.count(steps) == 3  # each epoch ends with all of its minibatches done
    if block_seconds == 0.0 and rows > 32:
        assert len(calls) == 3 * steps  # one minibatch a block: every block boundary is exercised


def test_the_hook_is_called_once_a_block_not_once_a_minibatch():
    calls = []
    train_epochs("sgd", [2, 3, 2], lambda done, steps: calls.append(done), rows=20000, batch_size=1, epochs=1)
    assert calls == sorted(calls) and calls[-1] == 20000
    # blocks double from one minibatch until one takes PROGRESS_SECONDS: a few dozen calls for 20,000 steps
    assert len(calls) < 200


def test_lbfgs_takes_the_hook_and_does_not_call_it():
    calls = []
    net = MLP([2, 3, 2], "sigmoid", 1e-3, seed=0)
    X, y = np.random.default_rng(0).normal(size=(50, 2)), np.arange(50) % 2
    optimizers.LBFGS(iters=3).epoch(Workspace(net), X, y, np.arange(50), 50, lambda *a: calls.append(a))
    assert calls == []
