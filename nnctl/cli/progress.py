"""``nnctl train``'s progress on stderr, within epochs as well as across them.

On a terminal, a tqdm bar of the epochs, and below it, once an epoch has run for ``BATCH_BAR_AFTER``
seconds, a bar of that epoch's minibatches with its ETA. Elsewhere (a CI log, a file), one line at most
every ``INTERVAL`` seconds, so that a log shows the run is alive without a line per step or per epoch.
The trainer calls the progress object between blocks of minibatches (``optimizers.Optimizer.epoch``),
so it costs nothing per step; with ``-q`` there is none.
"""
from __future__ import annotations

import math
import os
import time

import click

from ..text import number
from .options import note

INTERVAL = 5.0  # seconds between two progress lines when stderr is not a terminal
INTERVAL_VARIABLE = "NNCTL_PROGRESS_INTERVAL"  # environment variable that overrides INTERVAL
BATCH_BAR_AFTER = 1.0  # seconds an epoch runs on a terminal before its minibatches get a bar of their own


def make(stream, quiet):
    """The progress of a run on ``stream``: a ``Bars`` on a terminal, a ``Lines`` elsewhere, ``None`` with
    ``quiet`` or no stream. It shows nothing until ``start``."""
    if quiet or stream is None:
        return None
    try:
        tty = stream.isatty()
    except (OSError, ValueError):  # a closed stream: nothing to show progress on
        return None
    return Bars(stream) if tty else Lines(interval())


def interval():
    """``INTERVAL``, or the seconds that ``$NNCTL_PROGRESS_INTERVAL`` gives."""
    text = os.environ.get(INTERVAL_VARIABLE, "").strip()
    if not text:
        return INTERVAL
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise click.UsageError(f"{INTERVAL_VARIABLE}={text!r}: must be a number of seconds above 0")
    return seconds


class Lines:
    """One line on stderr at most every ``interval`` seconds:
    ``nnctl: epoch 3/100, 45% of the epoch, 12.3 s elapsed, ETA 40 s``.

    ``start(first_epoch, epochs)`` when training starts after ``first_epoch`` epochs (a resume), then
    ``progress(minibatches done, minibatches in the epoch)`` within an epoch and ``epoch_done`` after each."""

    def __init__(self, interval):
        self.interval = interval

    def start(self, first_epoch, epochs):
        self.epochs = epochs
        self.first, self.done = first_epoch, first_epoch  # epochs done when the run started, and now
        self.fraction = 0.0  # of the current epoch
        self.started = self.last_line = time.monotonic()

    def __call__(self, done, steps):
        self.fraction = done / steps if steps else 1.0
        self._maybe_line()

    def epoch_done(self, record):
        self.done, self.fraction = record["epoch"], 0.0
        if self.done < self.epochs:
            self._maybe_line()

    def close(self):
        pass

    def _maybe_line(self):
        now = time.monotonic()
        if now - self.last_line < self.interval:
            return
        self.last_line = now
        elapsed = now - self.started
        if self.fraction:
            where = f"epoch {self.done + 1}/{self.epochs}, {math.floor(100 * self.fraction)}% of the epoch"
        else:
            where = f"epoch {self.done}/{self.epochs} done"
        progress = self.done - self.first + self.fraction  # epochs trained in this process
        remaining = self.epochs - self.done - self.fraction
        eta = f", ETA {duration(elapsed * remaining / progress)}" if progress > 0 else ""
        note(f"nnctl: {where}, {duration(elapsed)} elapsed{eta}")


class Bars:
    """tqdm bars on a terminal: the epochs (with the last epoch's loss and validation accuracy), and the
    current epoch's minibatches once it has run ``BATCH_BAR_AFTER`` seconds."""

    def __init__(self, stream):
        self.stream = stream
        self.epoch_bar = self.batch_bar = None  # the minibatch bar is made when an epoch first runs long enough

    def start(self, first_epoch, epochs):
        from tqdm import tqdm

        self.tqdm = tqdm
        self.epoch_bar = tqdm(total=epochs, initial=first_epoch, unit="epoch", file=self.stream, leave=False)
        self.epoch = first_epoch + 1
        self.epoch_start = time.monotonic()

    def __call__(self, done, steps):
        if self.batch_bar is None:
            if time.monotonic() - self.epoch_start < BATCH_BAR_AFTER:
                return
            # started at ``done``: its rate and ETA count only the minibatches it has seen run
            self.batch_bar = self.tqdm(total=steps, initial=done, unit="batch", file=self.stream, leave=False,
                                       position=1, desc=f"epoch {self.epoch}")
        elif self.batch_bar.total != steps:
            self.batch_bar.total = steps
        self.batch_bar.update(done - self.batch_bar.n)

    def epoch_done(self, record):
        self.epoch_bar.update(1)
        self.epoch_bar.set_postfix(loss=number(record["train_loss"]), val_acc=f"{record['val_acc'] or 0:.3f}")
        self.epoch = record["epoch"] + 1
        self.epoch_start = time.monotonic()
        if self.batch_bar is not None:
            self.batch_bar.reset()
            self.batch_bar.set_description(f"epoch {self.epoch}", refresh=False)

    def close(self):
        for bar in (self.batch_bar, self.epoch_bar):
            if bar is not None:
                bar.close()


def duration(seconds):
    """``12.3 s``, ``12 min 5 s``, ``3 h 12 min``: as precise as a progress line needs."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min {int(seconds % 60)} s"
    return f"{minutes // 60} h {minutes % 60} min"
