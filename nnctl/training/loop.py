"""The epoch loop that ``Trainer`` and ``NNClassifier`` share: one shuffled pass of the optimizer's steps,
then the epoch's figures, and word of anything that became non-finite."""
from __future__ import annotations

import math

import numpy as np

from ..model.network import evaluate


def run_epoch(workspace, optimizer, rng, train_config, train, val=None):
    """One epoch of the training rule on ``train = (X, y)`` (reshuffled from ``rng`` if configured), then
    ``(J, accuracy)`` on the train split and on ``val``.

    ``workspace`` is the network's ``model.fastpath.Workspace``. Returns ``(record, grads, non_finite)``:
    the epoch's metrics, the last minibatch's gradients, and the names of whatever became non-finite
    (parameters, or ``"loss"``), which the caller reports as divergence.
    """
    net = workspace.net
    X, y = train
    order = rng.permutation(len(y)) if train_config["shuffle"] else np.arange(len(y))
    with np.errstate(all="ignore"):  # overflow is returned in non_finite and reported as divergence
        grads = optimizer.epoch(workspace, X, y, order, train_config["batch_size"])
        train_loss, train_acc = evaluate(net, X, y)
        val_loss, val_acc = evaluate(net, *val) if val is not None else (None, None)
    non_finite = [k for k, p in net.params.items() if not np.isfinite(p).all()]
    if not non_finite and not math.isfinite(train_loss):
        non_finite = ["loss"]
    record = {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc}
    return record, grads, non_finite
