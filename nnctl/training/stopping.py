"""Early stopping: watch a validation metric, remember the best epoch, say when and why to stop.

An epoch improves on the best when its ``val_loss`` is lower by more than ``min_delta`` (``val_acc``:
higher by more than ``min_delta``). After ``patience`` epochs without one, ``reason`` is set. The trainer
keeps the best epoch's weights in ``checkpoints/best.npz`` and restores them at the end.
"""
from __future__ import annotations

# the metrics early stopping can watch, and whether higher is better
MONITORS = {"val_loss": False, "val_acc": True}

class EarlyStopping:
    def __init__(self, monitor="val_loss", patience=10, min_delta=1e-4):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.best = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.reason = None

    @classmethod
    def from_config(cls, train_config):
        """An ``EarlyStopping`` if ``train.early_stopping`` is on, else ``None``."""
        t = train_config
        if not t.get("early_stopping"):
            return None
        return cls(t["monitor"], t["patience"], t["min_delta"])

    def update(self, epoch, record):
        """Take the metrics ``record`` of ``epoch``; return whether it is the new best."""
        value = record[self.monitor]
        if MONITORS[self.monitor]:
            improved = self.best is None or value > self.best + self.min_delta
        else:
            improved = self.best is None or value < self.best - self.min_delta
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            self.reason = (f"early stopping: {self.monitor} did not improve by {self.min_delta:g} for "
                           f"{self.patience} epochs; best epoch {self.best_epoch} restored")
        return improved

    def state(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "reason": self.reason}

    def load_state(self, state):
        if state:
            self.best, self.best_epoch = state["best"], state["best_epoch"]
            self.bad_epochs, self.reason = state["bad_epochs"], state["reason"]
