"""Learning-rate schedules: how α changes between epochs. ``Schedule.epoch_end`` returns the next α;
the epoch loop hands it to the optimizer, which owns α.

- ``constant``: α never changes.
- ``invscaling``: α₀ / (t + 1)^power_t with t the training samples seen so far, updated after each epoch —
  scikit-learn's ``learning_rate="invscaling"``.
- ``step``: α₀ · gamma^(epoch // step_size).
- ``plateau``: α ← gamma · α once the validation loss (the train loss when there is no validation split)
  has not improved by more than ``min_delta`` for ``plateau_patience`` epochs.

The state is a small JSON-able dict that the checkpoint's ``meta`` carries, so a resume continues exactly.
"""
from __future__ import annotations

import math

from ..choices import pick


def _constant(s, epoch, n_samples, record):
    pass


def _invscaling(s, epoch, n_samples, record):
    s.samples += n_samples
    s.alpha = s.alpha0 / (s.samples + 1) ** s.power_t


def _step(s, epoch, n_samples, record):
    s.alpha = s.alpha0 * s.gamma ** (epoch // s.step_size)


def _plateau(s, epoch, n_samples, record):
    loss = record["val_loss"] if record.get("val_loss") is not None else record["train_loss"]
    if loss < s.best - s.min_delta:
        s.best, s.bad_epochs = loss, 0
    else:
        s.bad_epochs += 1
        if s.bad_epochs >= s.patience:
            s.alpha *= s.gamma
            s.bad_epochs = 0


# name -> update(schedule, epoch, n_samples, record), which moves schedule.alpha after an epoch
SCHEDULES = {"constant": _constant, "invscaling": _invscaling, "step": _step, "plateau": _plateau}


class Schedule:
    def __init__(self, train_config):
        t = train_config
        self.kind = t["schedule"]
        self._update = pick(SCHEDULES, self.kind, "schedule")
        self.alpha0 = t["alpha"]
        self.power_t, self.step_size, self.gamma = t["power_t"], t["step_size"], t["gamma"]
        self.patience, self.min_delta = t["plateau_patience"], t["min_delta"]
        self.alpha = self.alpha0
        self.samples = 0          # invscaling: training samples seen
        self.best = math.inf      # plateau: best monitored loss so far
        self.bad_epochs = 0       # plateau: epochs since it last improved by more than min_delta

    def epoch_end(self, epoch, n_samples, record):
        """α for the next epoch, after ``epoch`` (1-based) went over ``n_samples`` samples and produced ``record``."""
        self._update(self, epoch, n_samples, record)
        return self.alpha

    def state(self):
        best = self.best if math.isfinite(self.best) else None
        return {"alpha": self.alpha, "samples": self.samples, "best": best, "bad_epochs": self.bad_epochs}

    def load_state(self, state):
        """Restore ``state`` (from a checkpoint's meta; ``None`` keeps the start); returns the α to continue with."""
        if state:
            self.alpha = state["alpha"]
            self.samples = state["samples"]
            self.best = math.inf if state["best"] is None else state["best"]
            self.bad_epochs = state["bad_epochs"]
        return self.alpha
