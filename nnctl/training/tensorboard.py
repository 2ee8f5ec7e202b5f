"""TensorBoard event files of a run (``output.tensorboard``), written with tensorboardX, which needs neither
TensorFlow nor PyTorch. This module is imported only when the key is true.

Under ``RUN_DIR/tensorboard/`` (``rundir`` names the files; sorted by name they are in the order written):

- one event file per training session (the run, then each ``--resume``): per epoch, at step = epoch, one
  event holding the epoch's figures of metrics.jsonl under the tags of ``scalars`` (float32, as TensorBoard
  stores every scalar). It begins with TensorBoard's purge mark at its first epoch (tensorboardX's
  ``purge_step``): TensorBoard drops whatever earlier files hold from that step on, so the epochs a killed run
  had logged after its last checkpoint are shown once, with the values of the run that continued;
- when the run ends, one more file: the HParams plugin's session (every config key but ``output.*``, named
  by its dotted key, with the same names and types in every run, so that the runs of a sweep compare in one
  TensorBoard) and the final figures of summary.json under ``final/``, at the last epoch's step (the
  HParams view shows the last value of every tag of a run as its metrics). A run that
  diverged gets the session marked failed, without figures. A resume that trains on removes this file
  (``Trainer``), with or without the key: the run has not ended any more, and TensorBoard keeps the first
  hyperparameters it reads for a run.

tensorboardX's own ``add_hparams`` is not used: it writes into a new subfolder named by the time (another run
in TensorBoard), and its event file would be named like the session's within the same second, which
truncates it.
"""
from __future__ import annotations

import json
import time

from ..config import DEFAULTS, SCHEMA, get
from ..data.splitting import SPLITS
from ..errors import MissingExtra, RunDirError
from .rundir import EVENTS_SUFFIX, HPARAMS_SUFFIX

INSTALL = "pip install 'nnctl[tensorboard]'"
FLUSH_SECONDS = 1.0  # how stale a live TensorBoard may be (a flush is an fsync: not once an epoch)
FINAL = tuple(f"{split}_{figure}" for split in SPLITS for figure in ("loss", "acc"))  # summary.json's keys


def check(run_dir, where):
    """Refuse, before anything is written, what would stop the event files: tensorboardX not installed, or
    ``tensorboard/`` a symbolic link (nnctl follows no link out of a run directory) or a file."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise MissingExtra(f"{where}: output.tensorboard: needs tensorboardX, which is not installed; "
                          f"{INSTALL}") from None
    if run_dir.tensorboard.is_symlink():
        raise RunDirError(f"{run_dir.tensorboard}: is a symbolic link; nnctl follows no link out of a run "
                          "directory")
    if run_dir.tensorboard.exists() and not run_dir.tensorboard.is_dir():
        raise RunDirError(f"{run_dir.tensorboard}: is a file; output.tensorboard writes a folder of that name")


def scalars(record, alpha):
    """``{tag: value}`` of one epoch's metrics record: ``loss/train``, ``loss/val``, ``accuracy/train``,
    ``accuracy/val``, ``alpha`` (the α the epoch used; ``None`` for a full-batch optimizer, whose line search
    sets the step) and ``grad_norm/W1`` … (‖∇W(l)‖ of the epoch's last minibatch). Missing figures (no
    validation split) are left out."""
    tags = {"loss/train": record["train_loss"], "loss/val": record["val_loss"],
            "accuracy/train": record["train_acc"], "accuracy/val": record["val_acc"], "alpha": alpha}
    tags.update({f"grad_norm/{k.removeprefix('grad_norm_')}": v for k, v in record.items()
                 if k.startswith("grad_norm_")})
    return {tag: value for tag, value in tags.items() if value is not None}


def hyperparameters(config):
    """The config's keys but ``output.*`` as TensorBoard hyperparameters: booleans, numbers (a float for every
    numeric key) and text (strings as they are, anything else — lists, null — as JSON)."""
    out = {}
    for key in SCHEMA:
        if key.startswith("output."):
            continue
        value, default = get(config, key), get(DEFAULTS, key)
        if isinstance(default, bool):
            out[key] = value
        elif isinstance(default, (int, float)):
            out[key] = float(value)
        else:
            out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


class EventLog:
    """The event files of one training session; a context manager that closes them.

    Written in this thread with tensorboardX's ``EventsWriter`` (what its ``SummaryWriter`` runs in a thread
    behind a bounded queue), so that a failed write is an error here rather than a thread dying while the
    queue fills and training stalls. The events reach the disk every ``FLUSH_SECONDS``, on ``flush`` (the
    trainer's, before it writes last.npz: a kill never loses an epoch that a resume would not train again)
    and on closing. The purge mark is the two events ``SummaryWriter`` writes for ``purge_step``.
    """

    def __init__(self, run_dir, start_epoch):
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        self.run_dir = run_dir
        self.step = start_epoch
        self._file = self._open(EVENTS_SUFFIX.format(start=start_epoch))
        self._write(Event(step=start_epoch + 1, file_version="brain.Event:2"))
        self._write(Event(step=start_epoch + 1, session_log=SessionLog(status=SessionLog.START)))
        self.flush()

    def epoch(self, record, alpha):
        """Log one epoch's record (see ``scalars``) at step = its epoch, as one event."""
        from tensorboardX.proto.event_pb2 import Event

        self.step = record["epoch"]
        self._write(Event(step=self.step, summary=_summary(scalars(record, alpha))))
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()

    def end(self, config, summary=None):
        """Write the run's end: hyperparameters and ``summary``'s final figures, or, with ``summary`` None (the
        run diverged), the hyperparameters of a failed session."""
        from tensorboardX.proto.api_pb2 import Status
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
        from tensorboardX.summary import hparams

        # Only the session: without an experiment summary TensorBoard builds the experiment from all the
        # runs' sessions, and then knows which hyperparameters differ between them and shows those first.
        _, start, end = hparams(hyperparameters(config), {})
        if summary is None:
            content = HParamsPluginData.FromString(end.value[0].metadata.plugin_data.content)
            content.session_end_info.status = Status.Value("STATUS_FAILURE")
            end.value[0].metadata.plugin_data.content = content.SerializeToString()
        parts = [start, end]
        if summary is not None:
            parts.append(_summary({f"final/{k}": summary[k] for k in FINAL if summary[k] is not None}))
        file = self._open(HPARAMS_SUFFIX)
        try:
            for part in parts:
                self._write(Event(step=self.step, summary=part), file)
        finally:
            self._close(file)

    def _open(self, suffix):
        from tensorboardX.event_file_writer import EventsWriter

        try:
            self.run_dir.tensorboard.mkdir(exist_ok=True)
            return EventsWriter(str(self.run_dir.tensorboard / "events"), suffix)
        except OSError as exc:
            raise self._error(exc) from None

    def _write(self, event, file=None):
        event.wall_time = time.time()
        try:
            (file or self._file).write_event(event)
        except OSError as exc:
            raise self._error(exc) from None

    def flush(self):
        """Bring the session's events to the disk (tensorboardX's flush: write and fsync)."""
        try:
            self._file.flush()
        except OSError as exc:
            raise self._error(exc) from None
        self._flushed = time.monotonic()

    def _error(self, exc):
        return RunDirError(f"{self.run_dir.tensorboard}: cannot write: {exc.strerror or exc}")

    def close(self):
        self._close(self._file)

    def _close(self, file):
        try:
            file.close()
        except OSError as exc:
            raise self._error(exc) from None

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        try:
            self.close()
        except RunDirError:
            if kind is None:  # otherwise the error already on its way is the one to report
                raise
        return False


def _summary(tags):
    """One ``Summary`` holding a scalar per tag (a ``simple_value``, as tensorboardX's ``add_scalar`` writes
    it, without its per-value NumPy checks)."""
    from tensorboardX.proto.summary_pb2 import Summary

    return Summary(value=[Summary.Value(tag=tag, simple_value=number) for tag, number in tags.items()])
