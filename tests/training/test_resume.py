"""Resuming from the initial checkpoint (epoch 0), and the MLP API refusing labels it cannot score."""
from __future__ import annotations

import numpy as np
import pytest

from nnctl import MLP
from nnctl.training import checkpoint
from nnctl.errors import DataError


def arrays(run):
    ckpt = checkpoint.load(run / "checkpoints" / "last.npz")
    return ckpt.meta["epoch"], ckpt.params


def test_resume_from_the_epochs_0_checkpoint_equals_a_straight_run(run_cli, tiny_config, tmp_path):
    # last.npz of epoch 0 has no validated epoch yet (best_val_loss null); a resume must start from it.
    config = tiny_config()
    split, whole = tmp_path / "split", tmp_path / "whole"
    assert run_cli("train", config, "--out", split, "-q", "--set", "train.epochs=0").exit_code == 0
    result = run_cli("train", config, "--out", split, "-q", "--resume", "--set", "train.epochs=3")
    assert result.exit_code == 0, result.stderr
    assert run_cli("train", config, "--out", whole, "-q").exit_code == 0
    (e1, p1), (e2, p2) = arrays(split), arrays(whole)
    assert e1 == e2 == 3
    for k in p2:
        assert p1[k].tobytes() == p2[k].tobytes(), k


def test_a_run_that_diverged_before_its_first_checkpoint_resumes_into_the_same_answer(
        run_cli, tiny_config, tmp_path):
    config = tiny_config(train={"alpha": 1e6, "epochs": 8},
                         model={"activation": "relu"}, data={"input_scale": 1000.0, "scaler": "none"})
    run = tmp_path / "run"
    first = run_cli("train", config, "--out", run, "-q")
    assert first.exit_code == 1 and "still holds epoch 0" in first.stderr
    again = run_cli("train", config, "--out", run, "-q", "--resume")
    assert again.exit_code == 1, again.stderr
    assert again.stderr == first.stderr  # same epoch, same message; no traceback
    assert arrays(run)[0] == 0


@pytest.mark.parametrize("y", [[2, 0], [-1, 0], [0.5, 1.0]])
def test_labels_outside_0_to_K_minus_1_are_refused(y):
    net = MLP([2, 3, 2], seed=0)
    X = np.zeros((2, 2))
    with pytest.raises(DataError, match=r"y must hold class indices 0\.\.1"):
        net.loss_and_grads(X, np.array(y))
    with pytest.raises(DataError, match=r"y must hold class indices 0\.\.1"):
        net.loss(X, np.array(y))


def test_x_of_the_wrong_shape_is_refused():
    net = MLP([2, 3, 2], seed=0)
    with pytest.raises(DataError, match=r"X must be \(m, 2\)"):
        net.loss_and_grads(np.zeros((3, 2)), np.array([0, 1]))


def test_a_run_written_before_a_config_key_existed_still_resumes_and_evaluates(run_cli, tiny_config, tmp_path):
    """Keys added to DEFAULTS later get their defaults when an older checkpoint's config is read."""
    import json

    config = tiny_config()
    run = tmp_path / "run"
    assert run_cli("train", config, "--out", run, "-q", "--set", "train.epochs=2").exit_code == 0
    last = run / "checkpoints" / "last.npz"
    old = checkpoint.load(last)
    del old.meta["config"]["train"]["schedule"], old.meta["config"]["model"]["dtype"]  # as if they were new
    checkpoint.save(last, old)
    result = run_cli("eval", last, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["samples"] > 0
    result = run_cli("train", config, "--out", run, "-q", "--resume", "--set", "train.epochs=3")
    assert result.exit_code == 0, result.stderr
    assert checkpoint.load(last).meta["epoch"] == 3
