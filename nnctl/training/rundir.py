"""The run directory: its layout, and the one reader and writer of each of its files.

``config.yaml`` (the resolved config), ``metrics.jsonl`` (one JSON object per epoch, appended as training
goes), ``checkpoints/last.npz`` (what ``--resume`` continues from), ``checkpoints/best.npz``,
``checkpoints/epoch-NNNN.npz`` every ``output.checkpoint_every`` epochs, and ``summary.json``.
Every file but ``metrics.jsonl`` is replaced atomically; ``metrics.jsonl`` is appended unbuffered.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ..errors import RunDirError
from ..files import remove_stale_temps, write_text

RUN_FILES = ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints")
CHECKPOINT_NAME = re.compile(r"(last|best|epoch-\d{4,})\.npz")  # the checkpoints nnctl writes


class RunDir:
    """Paths and files of one run directory."""

    def __init__(self, path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.config = self.path / "config.yaml"
        self.metrics = self.path / "metrics.jsonl"
        self.summary = self.path / "summary.json"
        self.last = self.checkpoints / "last.npz"
        self.best = self.checkpoints / "best.npz"

    def __str__(self):
        return str(self.path)

    def epoch_checkpoint(self, epoch):
        return self.checkpoints / f"epoch-{epoch:04d}.npz"

    def prepare(self, resume, force):
        """Make the directory ready to write: refuse to overwrite a run unless ``force``, and to resume
        one without ``checkpoints/last.npz``; with ``force``, remove the old run's files (only those)."""
        existing = [name for name in RUN_FILES if (self.path / name).exists()]
        if existing and not (resume or force):
            raise RunDirError(f"{self.path}: already holds a run ({', '.join(existing)}); "
                              "use --resume to continue it or --force to replace it")
        if force and not resume and self.checkpoints.is_symlink():
            raise RunDirError(f"{self.path}: checkpoints is a symbolic link; --force replaces only a run's own "
                              "files, so remove the link or write the run elsewhere (--out)")
        if resume and not self.last.is_file():
            raise RunDirError(f"{self.path}: nothing to resume (no checkpoints/last.npz; a run stopped before its "
                              "first checkpoint has to start again with --force)")
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            for directory in (self.path, self.checkpoints):
                remove_stale_temps(directory)
            if force and not resume:
                for path in (self.metrics, self.summary):
                    path.unlink(missing_ok=True)
                for old in self.checkpoints.iterdir():
                    if CHECKPOINT_NAME.fullmatch(old.name) and old.is_file() and not old.is_symlink():
                        old.unlink()
        except OSError as exc:
            raise RunDirError(f"{self.path}: cannot write the run directory ({exc.strerror or exc})") from None
        return self

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
