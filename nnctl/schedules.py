"""Learning-rate schedules: how α changes between epochs. The schedule sets ``optimizer.alpha``.

- ``constant``: α never changes (and is never touched, so plain SGD stays bit-identical).
- ``invscaling``: α₀ / (t + 1)^power_t with t the training samples seen so far, updated after each epoch —
  scikit-learn's ``learning_rate="invscaling"``.
- ``step``: α₀ · gamma^(epoch // step_size).
- ``plateau``: α ← gamma · α once the validation loss (the train loss when there is no validation split)
  has not improved by more than ``min_delta`` for ``plateau_patience`` epochs.

The state is a small JSON-able dict that the checkpoint's ``meta`` carries, so a resume continues exactly.
"""
from __future__ import annotations

import math

class Schedule:
    def __init__(self, train_config, optimizer):
        t = train_config
        self.kind = t.get("schedule", "constant")
        self.optimizer = optimizer
        self.alpha0 = t["alpha"]
        self.power_t, self.step_size, self.gamma = t.get("power_t", 0.5), t.get("step_size", 10), t.get("gamma", 0.5)
        self.patience, self.min_delta = t.get("plateau_patience", 5), t.get("min_delta", 0.0)
        self.alpha = self.alpha0
        self.samples = 0          # invscaling: training samples seen
        self.best = math.inf      # plateau: best monitored loss so far
        self.bad_epochs = 0       # plateau: epochs since it last improved by more than min_delta

    def epoch_end(self, epoch, n_samples, record):
        """Update α after ``epoch`` (1-based) that went over ``n_samples`` samples and produced ``record``."""
        if self.kind == "constant":
            return
        if self.kind == "invscaling":
            self.samples += n_samples
            self.alpha = self.alpha0 / (self.samples + 1) ** self.power_t
        elif self.kind == "step":
            self.alpha = self.alpha0 * self.gamma ** (epoch // self.step_size)
        elif self.kind == "plateau":
            loss = record["val_loss"] if record.get("val_loss") is not None else record["train_loss"]
            if loss < self.best - self.min_delta:
                self.best, self.bad_epochs = loss, 0
            else:
                self.bad_epochs += 1
                if self.bad_epochs >= self.patience:
                    self.alpha *= self.gamma
                    self.bad_epochs = 0
        self.optimizer.alpha = self.alpha

    def state(self):
        best = self.best if math.isfinite(self.best) else None
        return {"alpha": self.alpha, "samples": self.samples, "best": best, "bad_epochs": self.bad_epochs}

    def load_state(self, state):
        if not state:
            return
        self.alpha = state["alpha"]
        self.samples = state["samples"]
        self.best = math.inf if state["best"] is None else state["best"]
        self.bad_epochs = state["bad_epochs"]
        if self.kind != "constant":
            self.optimizer.alpha = self.alpha
