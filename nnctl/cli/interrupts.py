"""Ctrl-C during training: the first SIGINT asks the trainer to stop after the current epoch.

Stopping at an epoch boundary means ``last.npz`` can be brought up to a consistent point (weights,
optimizer and shuffling RNG all after the same epoch), so ``--resume`` continues bit for bit. A second
SIGINT raises ``KeyboardInterrupt`` at once for a user who will not wait; ``atomic_write`` still leaves
every file whole.
"""
from __future__ import annotations

import signal
import threading


class StopRequest:
    """Context manager; inside it, SIGINT sets ``requested`` (and calls ``notify`` once) instead of raising."""

    def __init__(self, notify=None):
        self.requested = False
        self.notify = notify
        self._previous = None

    def __call__(self):
        return self.requested

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.notify is not None:
            self.notify()

    def __enter__(self):
        # signal.signal only works in the main thread (e.g. not under some test runners' workers).
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
