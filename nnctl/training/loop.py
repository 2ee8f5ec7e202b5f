"""The epoch loop that ``Trainer`` and ``NNClassifier`` share: one shuffled pass of the optimizer's steps,
then the epoch's figures, and word of divergence.

Divergence: a parameter or the loss becomes non-finite, or the loss on the train split grows past
``DIVERGENCE_FACTOR`` times the initial network's (at least 1): a finite loss of 1e300 is no success.
Cross-entropy that high means logits apart by thousands, which no run that is learning reaches; the
runs of the scaling experiment that do converge stay below 10 times their initial loss.
"""
from __future__ import annotations

import math

import numpy as np

from ..model.network import evaluate

DIVERGENCE_FACTOR = 1e4
# output.train_metrics: what metrics.jsonl's train_loss and train_acc are (see run_epoch)
TRAIN_METRICS = {"running": True, "full": False}


def loss_limit(initial_loss):
    """The train loss above which a run has diverged, given the initial network's loss."""
    if initial_loss is None or not math.isfinite(initial_loss):
        return math.inf
    return DIVERGENCE_FACTOR * max(initial_loss, 1.0)


def run_epoch(workspace, optimizer, rng, train_config, train, val=None, limit=math.inf, running=False,
              progress=None):
    """One epoch of the training rule on ``train = (X, y)`` (reshuffled from ``rng`` if configured), then
    ``(J, accuracy)`` on the train split and on ``val``.

    With ``running``, the train figures are the epoch's running ones, as scikit-learn's ``loss_curve_`` and
    Keras report them: the mean over the epoch's rows of −ln p(y) and of correct predictions, each taken
    in the pass that computes its minibatch's step (before that step), plus the L2 term of the weights the
    epoch ends with. They cost nothing; without ``running`` (and for a full-batch optimizer) they come from
    a pass over the whole train split after the epoch, as the validation figures always do.

    ``progress`` is the optimizer's hook within the epoch (``optimizers.Optimizer.epoch``), ``None`` for none.

    ``workspace`` is the network's ``model.fastpath.Workspace``. Returns ``(record, grads, non_finite)``:
    the epoch's metrics, the last minibatch's gradients, and the names of whatever became non-finite
    (parameters, or ``"loss"``; also ``"loss"`` when the train loss exceeds ``limit``), which the caller
    reports as divergence.
    """
    net = workspace.net
    X, y = train
    order = rng.permutation(len(y)) if train_config["shuffle"] else np.arange(len(y))
    running = running and not optimizer.full_batch
    with np.errstate(all="ignore"):  # overflow is returned in non_finite and reported as divergence
        if running:
            workspace.start_tally()
        grads = optimizer.epoch(workspace, X, y, order, train_config["batch_size"], progress)
        tally = workspace.take_tally() if running else None
    record, non_finite = epoch_figures(net, tally, train, val, limit)
    return record, grads, non_finite


def epoch_figures(net, tally, train, val=None, limit=math.inf, scores=None):
    """``(record, non_finite)`` of ``run_epoch`` for the network ``net`` after its epoch, given that epoch's
    running figures ``tally`` (``Workspace.take_tally``; ``None``: a pass over ``train`` instead). ``scores``
    may hold ``network.evaluate``'s figures of a split without the L2 term, computed already (by a stack of
    runs: ``stacked.Stack.evaluate``), as ``{"train": (J, accuracy), "val": …}``."""
    scores = scores or {}

    def figures(name, X, y):
        if name not in scores:
            return evaluate(net, X, y)
        loss, acc = scores[name]
        return (None, None) if loss is None else (loss + net.penalty(), acc)

    with np.errstate(all="ignore"):
        if tally is not None:
            train_loss, train_acc = tally[0] + net.penalty(), tally[1]
        else:
            train_loss, train_acc = figures("train", *train)
        val_loss, val_acc = figures("val", *val) if val is not None else (None, None)
    non_finite = [k for k, p in net.params.items() if not np.isfinite(p).all()]
    if not non_finite and not train_loss <= limit:  # NaN is not ≤ anything
        non_finite = ["loss"]
    record = {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc}
    return record, non_finite
