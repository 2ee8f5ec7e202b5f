"""Ctrl-C and SIGTERM during training: the first asks the trainer to stop after the current epoch.

Stopping at an epoch boundary means ``last.npz`` can be brought up to a consistent point (weights,
optimizer and shuffling RNG all after the same epoch), so ``--resume`` continues bit for bit. SIGTERM is
what ``timeout``, docker and batch schedulers send, so it gets the same treatment as Ctrl-C; the exit code
is 128 + the signal's number (130, 143). A second signal raises ``Aborted`` at once, for a user who will
not wait; ``atomic_write`` still leaves every file whole.
"""
from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Aborted(KeyboardInterrupt):
    """A second stop signal: abort now. ``signum`` says which signal it was."""

    def __init__(self, signum=signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


class StopRequest:
    """Context manager; inside it, SIGINT and SIGTERM set ``signum`` (and call ``notify`` once) instead of
    ending the process. Calling it answers whether a stop was asked for."""

    def __init__(self, notify=None):
        self.signum = None
        self.notify = notify
        self._previous = {}

    def __call__(self):
        return self.signum is not None

    @property
    def exit_code(self):
        return 128 + (self.signum or signal.SIGINT)

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise Aborted(signum)
        self.signum = signum
        if self.notify is not None:
            self.notify()

    def __enter__(self):
        # signal.signal only works in the main thread (e.g. not under some test runners' workers).
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, previous in self._previous.items():
            signal.signal(s, previous)
        self._previous = {}
        return False


class TerminateAsInterrupt:
    """Context manager: SIGTERM raises ``KeyboardInterrupt`` in the main thread, as Ctrl-C does, so that a
    command's own clean-up (a sweep stopping its workers) runs for both; leaving the block, the interrupt
    becomes ``Aborted`` with the signal that caused it (libraries re-raise a plain KeyboardInterrupt)."""

    def __init__(self):
        self.signum = signal.SIGINT
        self._previous = None

    def _handle(self, signum, frame):
        self.signum = signum
        raise Aborted(signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, kind, exc, tb):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        if kind is not None and issubclass(kind, KeyboardInterrupt) and not isinstance(exc, Aborted):
            raise Aborted(self.signum) from None
        return False
