"""The run directory: its layout, and the one reader and writer of each of its files.

``config.yaml`` (the resolved config), ``metrics.jsonl`` (one JSON object per epoch, appended as training
goes), ``checkpoints/last.npz`` (what ``--resume`` continues from), ``checkpoints/best.npz``,
``checkpoints/epoch-NNNN.npz`` every ``output.checkpoint_every`` epochs, ``summary.json``, and with
``output.tensorboard`` the event files under ``tensorboard/`` (written by ``tensorboard.py``, named here).
Every file but ``metrics.jsonl`` and the event files is replaced atomically; ``metrics.jsonl`` is appended
unbuffered.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import re
from pathlib import Path

from ..errors import RunDirError
from ..files import remove_stale_temps, write_text

RUN_FILES = ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints", "tensorboard")
LOCK_FILE = ".nnctl.lock"  # held (flock) by the process writing the run; the OS releases it when that process dies
CHECKPOINT_NAME = re.compile(r"(last|best|epoch-\d{4,})\.npz")  # the checkpoints nnctl writes
# tensorboardX names an event file events.out.tfevents.<seconds>.<host><suffix>; nnctl's suffixes mark its own:
# .nnctl.<epoch the session started from, 10 digits> for a session's epochs, .nnctl.hparams for a run's end.
# Sorted by name (as TensorBoard reads them), the files of a run are in the order they were written.
EVENTS_SUFFIX = ".nnctl.{start:010d}"
HPARAMS_SUFFIX = ".nnctl.hparams"
EVENT_FILE = re.compile(r"events\.out\.tfevents\.\d+\..*\.nnctl\.(\d{10}|hparams)")
HPARAMS_FILE = re.compile(r"events\.out\.tfevents\.\d+\..*\.nnctl\.hparams")


class RunDir:
    """Paths and files of one run directory."""

    def __init__(self, path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.config = self.path / "config.yaml"
        self.metrics = self.path / "metrics.jsonl"
        self.summary = self.path / "summary.json"
        self.tensorboard = self.path / "tensorboard"
        self.last = self.checkpoints / "last.npz"
        self.best = self.checkpoints / "best.npz"
        self.lock = None  # a RunLock while this process writes the directory (see prepare)

    def __str__(self):
        return str(self.path)

    def epoch_checkpoint(self, epoch):
        return self.checkpoints / f"epoch-{epoch:04d}.npz"

    def checkpoint(self):
        """The checkpoint that stands for the run wherever a command takes a run directory for a checkpoint:
        ``checkpoints/best.npz`` (the best epoch, and with early stopping the network the run ended with)
        when it exists, else ``checkpoints/last.npz``. A directory with neither is not a run directory."""
        for path in (self.best, self.last):
            if path.is_file():
                return path
        raise RunDirError(f"{self.path}: not a run directory (no checkpoints/best.npz or checkpoints/last.npz); "
                          "give a run directory or a checkpoint file")

    def prepare(self, resume, force):
        """Make the directory ready to write and lock it for this process (``self.lock``): refuse to
        overwrite a run unless ``force``, to resume one without ``checkpoints/last.npz``, and a directory
        another process is writing; with ``force``, remove the old run's files (only those). Every
        refusal comes before anything is written."""
        self._refusals(resume, force)
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"{self.path}: cannot write the run directory ({exc.strerror or exc})") from None
        self.lock = RunLock(self.path / LOCK_FILE)
        try:
            self._refusals(resume, force)  # again, now that no other process can be writing it
            self._clear(resume, force)
        except BaseException:
            self.lock.release()
            raise
        return self

    def check(self, resume, force):
        """What ``prepare`` would refuse, without writing or locking anything (``train --dry-run``)."""
        self._refusals(resume, force)

    def _refusals(self, resume, force):
        existing = [name for name in RUN_FILES if (self.path / name).exists()
                    and not ((self.path / name).is_dir() and not any((self.path / name).iterdir()))]
        if existing and not (resume or force):
            raise RunDirError(f"{self.path}: already holds a run ({', '.join(existing)}); "
                              "use --resume to continue it or --force to replace it")
        for folder in (self.checkpoints, self.tensorboard):
            if force and not resume and folder.is_symlink():
                raise RunDirError(f"{self.path}: {folder.name} is a symbolic link; --force replaces only a run's "
                                  "own files, so remove the link or write the run elsewhere (--out)")
        if resume and not self.last.is_file():
            raise RunDirError(f"{self.path}: nothing to resume (no checkpoints/last.npz; a run stopped before its "
                              "first checkpoint has to start again with --force)")

    def _clear(self, resume, force):
        try:
            for directory in (self.path, self.checkpoints):
                remove_stale_temps(directory)
            if force and not resume:
                for path in (self.metrics, self.summary):
                    path.unlink(missing_ok=True)
                for old in self.checkpoints.iterdir():
                    if CHECKPOINT_NAME.fullmatch(old.name) and old.is_file() and not old.is_symlink():
                        old.unlink()
                self.remove_event_files(EVENT_FILE)
        except OSError as exc:
            raise RunDirError(f"{self.path}: cannot write the run directory ({exc.strerror or exc})") from None

    def event_files(self, pattern=EVENT_FILE):
        """nnctl's event files in ``tensorboard/`` whose name matches ``pattern``, sorted by name."""
        if not self.tensorboard.is_dir() or self.tensorboard.is_symlink():
            return []
        return sorted(p for p in self.tensorboard.iterdir()
                      if pattern.fullmatch(p.name) and p.is_file() and not p.is_symlink())

    def remove_event_files(self, pattern=EVENT_FILE):
        """Delete nnctl's event files matching ``pattern``, and ``tensorboard/`` if that leaves it empty."""
        try:
            for path in self.event_files(pattern):
                path.unlink()
            if self.tensorboard.is_dir() and not self.tensorboard.is_symlink() and not any(self.tensorboard.iterdir()):
                self.tensorboard.rmdir()
        except OSError as exc:
            raise RunDirError(f"{self.tensorboard}: cannot write ({exc.strerror or exc})") from None

    def release(self):
        """Let other processes write the run directory (also done by the OS when this process ends)."""
        if self.lock is not None:
            self.lock.release()

    def write_config(self, text):
        write_text(self.config, text)

    def write_summary(self, summary):
        write_text(self.summary, json.dumps(summary, indent=2) + "\n")

    def read_metrics(self, upto=None, missing_ok=False):
        """The records of ``metrics.jsonl`` (those of epochs ``1..upto`` when given: a killed run may have
        written later ones). A line cut short by a kill, or anything but a record, ends the list."""
        return read_metrics(self.metrics, upto, missing_ok)

    def rewrite_metrics(self, records):
        write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in records))

    def open_metrics(self):
        """A ``MetricsLog`` appending to ``metrics.jsonl``."""
        return MetricsLog(self.metrics)


def read_metrics(path, upto=None, missing_ok=False):
    """The records of the ``metrics.jsonl`` at ``path``; see ``RunDir.read_metrics``.

    A line that is not a whole record (cut short by a kill, damaged, edited) is passed over, and so is a
    record whose epoch does not follow the one before: what can be read is kept, nothing is made up.
    """
    path = Path(path)
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        if missing_ok:
            return []
        raise RunDirError(f"{path}: cannot read (No such file or directory)") from None
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read ({exc.strerror or exc})") from None
    records = []
    for line in lines:
        try:
            record = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            continue
        if not (isinstance(record, dict) and type(record.get("epoch")) is int):
            continue
        if records and record["epoch"] <= records[-1]["epoch"] or upto is not None and record["epoch"] > upto:
            continue
        records.append(record)
    return records


class RunLock:
    """An exclusive ``flock`` on ``path``, taken at once or refused with a ``RunDirError`` naming the holder.

    The file is nnctl's own and stays empty in the run directory; the holder's pid comes from the kernel's
    table of locks. An OS lock dies with its process, so a killed run never leaves a stale lock.
    """

    def __init__(self, path):
        self.path = path
        self._fd = None
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if path.is_symlink():
                raise RunDirError(f"{path}: is a symbolic link; nnctl follows no link out of a run directory") from None
            raise RunDirError(f"{path.parent}: cannot write the run directory ({exc.strerror or exc})") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _lock_holder(os.fstat(self._fd).st_ino)
            self.release()
            raise RunDirError(f"{path.parent}: in use by another nnctl ({holder}); wait for it to end, "
                              "or write elsewhere with --out") from None

    def release(self):
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __del__(self):
        self.release()


def _lock_holder(inode):
    """``"pid N"`` of the process holding a lock on the file with ``inode``, from Linux's /proc/locks."""
    try:
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[5].rsplit(":", 1)[-1] == str(inode):
                return f"pid {fields[4]}"
    except OSError:
        pass
    return "another process"


class MetricsLog:
    """``metrics.jsonl`` opened for appending, unbuffered: a failed write must not linger in a buffer
    that close() would retry and fail on again."""

    def __init__(self, path):
        self.path = path
        try:
            self._file = open(path, "ab", buffering=0)
        except OSError as exc:
            raise RunDirError(f"{path}: cannot write: {exc.strerror or exc}") from None

    def append(self, record):
        line = memoryview((json.dumps(record) + "\n").encode("utf-8"))
        try:
            while line:
                line = line[self._file.write(line):]
        except OSError as exc:
            raise RunDirError(f"{self.path}: cannot write: {exc.strerror or exc}") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()
        return False


def finite_or_none(value):
    return value if value is not None and math.isfinite(value) else None
