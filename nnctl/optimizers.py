"""Update rules. Each optimizer updates ``params`` in place from ``grads`` (same keys) and exposes
its state as plain arrays so that a checkpoint can hold it and a resume continues bit for bit."""
from __future__ import annotations


class SGD:
    """The derivation's rule: ``W ← W − α ∇W``, ``b ← b − α ∇b``."""

    name = "sgd"

    def __init__(self, alpha):
        self.alpha = alpha

    def step(self, params, grads):
        for k, g in grads.items():
            params[k] -= self.alpha * g

    def state(self):
        return {}

    def load_state(self, state):
        pass


def make(train_config):
    """The optimizer ``train_config`` (the config's ``train`` section) names."""
    return SGD(train_config["alpha"])
