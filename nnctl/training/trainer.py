"""Training one run: epochs, the best epoch, early stopping, divergence, resume — and nothing else.

The epoch itself is ``loop.run_epoch``; the files are ``rundir.RunDir`` and ``checkpoint``.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import math
import time

import numpy as np

from .. import config as config_mod, seeding
from ..data.dataset import fingerprint_change, prepare_sized, sized
from ..data.splitting import SPLITS
from ..errors import ConfigError, DataError, Interrupted, RunDirError, TrainingDiverged
from ..model.fastpath import Workspace
from ..model.network import EVAL_CHUNK, evaluate
from ..text import number
from . import checkpoint, optimizers
from .loop import DIVERGENCE_FACTOR, TRAIN_METRICS, loss_limit, run_epoch
from .rundir import HPARAMS_FILE, RunDir, finite_or_none
from .schedules import Schedule
from .stopping import EarlyStopping

RESUMABLE_KEYS = ("train.epochs", "output.dir", "output.checkpoint_every", "output.tensorboard")


def _flat_differences(a, b, prefix=""):
    for key in a:
        if isinstance(a[key], dict):
            yield from _flat_differences(a[key], b.get(key, {}), f"{prefix}{key}.")
        elif a[key] != b.get(key):
            yield f"{prefix}{key}"


class Trainer:
    """Owns one run: its data, network, optimizer, schedule, shuffling RNG and run directory."""

    def __init__(self, config, run_dir, resume=False, force=False, where="config", data=None):
        """``data``: the prepared data of ``config``'s data section and seed (``dataset.prepare``, without raw
        arrays) when the caller has it (runs of a stacked sweep share it), else read here."""
        self.config = config
        self.where = where
        if config["output"]["tensorboard"]:
            from . import tensorboard

            tensorboard.check(RunDir(run_dir), where)
        # model.layers from the data, for model.hidden
        self.data = prepare_sized(config, where, keep_raw=False) if data is None else sized(config, data, where)
        self.net = checkpoint.build_network(config)  # before the run directory: a network too big for memory writes nothing
        self.workspace = Workspace(self.net)
        self.run_dir = RunDir(run_dir).prepare(resume, force)  # locked until fit() ends
        try:
            self._start(config, resume)
        except BaseException:
            self.run_dir.release()
            raise

    def _start(self, config, resume):
        if self.net.dtype != np.float64:  # cast the data once, not every minibatch
            self.data = copy.copy(self.data)  # shared data is not changed
            self.data.splits = {k: (X.astype(self.net.dtype), y) for k, (X, y) in self.data.splits.items()}
        self.optimizer = optimizers.make(config["train"])
        self.schedule = Schedule(config["train"])
        self.stopper = EarlyStopping.from_config(config["train"])  # None unless train.early_stopping
        self.shuffle_rng = seeding.rng(config["seed"], "shuffle")
        self.epoch = 0
        self.saved_epoch = 0  # the epoch checkpoints/last.npz holds
        self.divergence = None  # the summary of a diverged run, once it has diverged
        self.best_val_loss = math.inf
        self.best_epoch = 0
        self.metrics = []
        self.seconds = 0.0
        self.initial_loss = None  # the initial network's train loss: divergence is measured against it
        self.finished = False  # resuming a run that has nothing left to train: no file is written
        if resume:
            self._restore()
        else:
            with np.errstate(all="ignore"):  # on the first rows: the divergence bound needs no more
                X, y = self.data.splits["train"]
                self.initial_loss = evaluate(self.net, X[:EVAL_CHUNK], y[:EVAL_CHUNK])[0]
            self.run_dir.write_config(config_mod.dump(config))
            self.run_dir.rewrite_metrics([])
            self._save_checkpoints(initial=True)

    def _restore(self):
        ckpt = checkpoint.load(self.run_dir.last)
        stored = ckpt.config
        changed = [k for k in _flat_differences(self.config, stored) if k not in RESUMABLE_KEYS]
        if changed:
            raise ConfigError(f"{self.where}: {changed[0]}: differs from the run being resumed "
                              f"({config_mod.get(stored, changed[0])!r} there); only "
                              f"{', '.join(RESUMABLE_KEYS)} may change")
        change = fingerprint_change(ckpt.meta.get("data_fingerprint", self.data.fingerprint), self.data.fingerprint)
        if change:  # resuming would fit the scaler and the rest of the run on other data than its first epochs
            raise DataError(f"{self.where}: data.source: {self.data.source} has changed since the run being resumed "
                            f"was trained on it ({change}); restore the data, or train afresh with --force")
        # Refused rather than ignored: config.yaml would otherwise claim fewer epochs than the weights have had.
        if self.config["train"]["epochs"] < ckpt.meta["epoch"]:
            raise ConfigError(f"{self.where}: train.epochs: {self.config['train']['epochs']} is below epoch "
                              f"{ckpt.meta['epoch']}, which the run being resumed has reached")
        dtype = self.net.dtype
        self.net.params = {k: v.astype(dtype, copy=True) for k, v in ckpt.params.items()}
        self.optimizer.load_state(ckpt.opt_state)
        self.optimizer.alpha = self.schedule.load_state(ckpt.meta["schedule"])
        if self.stopper is not None:
            self.stopper.load_state(ckpt.meta["early_stopping"])
        self.shuffle_rng.bit_generator.state = ckpt.meta["rng_state"]
        self.epoch = self.saved_epoch = ckpt.meta["epoch"]
        best = ckpt.meta["best_val_loss"]  # None until an epoch has been validated
        self.best_val_loss = math.inf if best is None else best
        self.best_epoch = ckpt.meta["best_epoch"]
        self.seconds = ckpt.meta["seconds"]
        self.metrics = self.run_dir.read_metrics(upto=self.epoch, missing_ok=True)
        self.initial_loss = ckpt.meta.get("initial_loss")
        self.finished = self.epoch == self.config["train"]["epochs"] or self._stopped_early()
        if not self.finished:
            self.run_dir.write_config(config_mod.dump(self.config))
            self.run_dir.rewrite_metrics(self.metrics)
            self.run_dir.remove_event_files(HPARAMS_FILE)  # TensorBoard's note of the run's end: it goes on

    def _checkpoint(self):
        meta = {
            "config": self.config,
            "epoch": self.epoch,
            "class_names": self.data.class_names,
            "feature_names": self.data.feature_names,
            "n_features": self.data.n_features,
            "columns": [c.to_json() for c in self.data.preprocessor.read_columns],
            "data_fingerprint": self.data.fingerprint,
            "initial_loss": finite_or_none(self.initial_loss),
            "rng_state": self.shuffle_rng.bit_generator.state,
            "optimizer": self.optimizer.name,
            "schedule": self.schedule.state(),
            "early_stopping": self.stopper.state() if self.stopper is not None else None,
            "best_val_loss": finite_or_none(self.best_val_loss),
            "best_epoch": self.best_epoch,
            "seconds": self.seconds,
            "nnctl_version": _version(),
        }
        return checkpoint.Checkpoint(self.net.params, self.data.scaler, meta, self.optimizer.state())

    def _save_checkpoints(self, initial=False, improved=False, board=None):
        every = self.config["output"]["checkpoint_every"]
        final = self.epoch == self.config["train"]["epochs"] or self._stopped_early()
        ckpt = self._checkpoint()
        if improved or initial:
            checkpoint.save(self.run_dir.best, ckpt)
        if initial or final or self.epoch % every == 0:
            if self.epoch % every == 0 and not initial:
                checkpoint.save(self.run_dir.epoch_checkpoint(self.epoch), ckpt)
            if board is not None:  # the events of every epoch a resume will not train again are on disk first
                board.flush()
            checkpoint.save(self.run_dir.last, ckpt)
            self.saved_epoch = self.epoch

    def run_epoch(self, progress=None):
        """One pass over the shuffled train split in minibatches; returns the epoch's metrics record.
        ``progress`` as in ``fit``."""
        start = time.perf_counter()
        record, grads, non_finite = run_epoch(self.workspace, self.optimizer, self.shuffle_rng, self.config["train"],
                                              self.data.splits["train"], self.data.splits["val"],
                                              limit=loss_limit(self.initial_loss),
                                              running=TRAIN_METRICS[self.config["output"]["train_metrics"]],
                                              progress=progress)
        return self.end_epoch(record, grads, non_finite, time.perf_counter() - start)

    def end_epoch(self, record, grads, non_finite, seconds):
        """Count an epoch that ``loop.run_epoch`` (or ``stacked.Stack.epoch``) trained in ``seconds``, with what
        it returned: raise ``TrainingDiverged`` if ``non_finite``, else return the metrics record."""
        train = self.config["train"]
        self.epoch += 1
        if non_finite:
            loss = record["train_loss"]
            if non_finite != ["loss"]:
                what = f"the weights {', '.join(non_finite)} became non-finite"
            elif np.isfinite(loss):
                what = (f"the train loss grew to {number(loss)}, over {DIVERGENCE_FACTOR:g} times the initial "
                        f"network's {number(self.initial_loss)}")
            else:
                what = "the loss became non-finite"
            lower = "" if self.optimizer.full_batch else " or lower train.alpha"
            message = (f"{self.where}: training diverged at epoch {self.epoch}: {what} "
                       f"(train.alpha={train['alpha']}, data.scaler={self.config['data']['scaler']}, "
                       f"data.input_scale={self.config['data']['input_scale']}); scale the inputs "
                       f"(data.scaler=standard){lower}. "
                       f"{self.run_dir.last} still holds epoch {self.saved_epoch}")
            self._record_divergence(message)
            raise TrainingDiverged(message)
        self.seconds += seconds
        record = {"epoch": self.epoch, **record}
        record.update({f"grad_norm_{k}": float(np.linalg.norm(g)) for k, g in grads.items() if k[0] == "W"})
        record["seconds"] = seconds
        return record

    def _record_divergence(self, message):
        # summary.json says why the run stopped; the checkpoints are left exactly as they were.
        summary = {"epochs": self.epoch - 1, "stopped": "diverged", "stopped_reason": "diverged",
                   "diverged_at_epoch": self.epoch,
                   "message": message, "run_dir": str(self.run_dir)}
        self.divergence = summary
        try:
            self.run_dir.write_summary(summary)
        except (OSError, RunDirError):
            pass  # the divergence, not the failed note about it, is what the user must hear

    def fit(self, on_epoch=None, stop=None, progress=None):
        """Train up to ``train.epochs``; return the summary (also written to ``summary.json``).

        ``stop`` is asked after every epoch; when it answers true, ``last.npz`` is brought up to that
        epoch and ``Interrupted`` is raised, so ``--resume`` continues exactly from there. ``progress``, if
        given, is called within each epoch as ``progress(minibatches done, minibatches in the epoch)``, once
        a block of minibatches (``optimizers.Optimizer.epoch``), never per minibatch.
        """
        try:
            return self._fit(on_epoch, stop, progress)
        finally:
            self.run_dir.release()

    def _fit(self, on_epoch, stop, progress=None):
        epochs = self.config["train"]["epochs"]
        with self.run_dir.open_metrics() as log, self._event_log() as board:
            while self.running:
                try:
                    record = self.run_epoch(progress)
                except TrainingDiverged:
                    if board is not None:
                        board.end(self.config)
                    raise
                self.log_epoch(record, log, board)
                if on_epoch:
                    on_epoch(record)
                if stop is not None and self.epoch < epochs and stop():
                    raise self.interrupt(board)
            summary = self.finish()
            if board is not None:
                board.end(self.config, summary)
        return summary

    @property
    def running(self):
        """Whether epochs are left to train: not all of ``train.epochs`` done, and not stopped early."""
        return self.epoch < self.config["train"]["epochs"] and not self._stopped_early()

    def log_epoch(self, record, log, board=None):
        """After an epoch: its record to ``metrics.jsonl`` (``log``, a ``MetricsLog``) and to TensorBoard's
        ``board`` (an ``EventLog``, if any), the best epoch, early stopping, the schedule's next α, and the
        checkpoints due."""
        if self.schedule.kind != "constant":
            record["alpha"] = self.optimizer.alpha  # the α this epoch used
        self.metrics.append(record)
        log.append(record)
        if board is not None:
            board.epoch(record, None if self.optimizer.full_batch else self.optimizer.alpha)
        monitored = record["val_loss"] if record["val_loss"] is not None else record["train_loss"]
        if self.stopper is None:
            improved = monitored < self.best_val_loss
        else:  # best.npz then follows the monitored metric and min_delta
            improved = self.stopper.update(self.epoch, record)
        if improved:
            self.best_val_loss, self.best_epoch = monitored, self.epoch
        self.optimizer.alpha = self.schedule.epoch_end(self.epoch, len(self.data.splits["train"][1]), record)
        self._save_checkpoints(improved=improved, board=board)

    def interrupt(self, board=None):
        """Bring ``last.npz`` (and ``board``'s events) up to the epoch trained; return the ``Interrupted`` to raise."""
        if board is not None:
            board.flush()
        checkpoint.save(self.run_dir.last, self._checkpoint())
        self.saved_epoch = self.epoch
        return Interrupted(f"{self.where}: interrupted after epoch {self.epoch} of {self.config['train']['epochs']}; "
                           f"{self.run_dir.last} holds it")

    def finish(self):
        """The run has ended: with early stopping the network becomes the best epoch's; return the summary."""
        if self.stopper is not None:
            # last.npz stays the last epoch trained (the resume point); the network and the summary
            # become the best epoch's, which best.npz holds.
            best = checkpoint.load(self.run_dir.best)
            self.net.params = {k: v.astype(self.net.dtype, copy=True) for k, v in best.params.items()}
        # a finished run resumed: its summary.json already says this (unless a kill came before it was written)
        return self.summary(write=not (self.finished and self.run_dir.summary.is_file()))

    def _event_log(self):
        """The TensorBoard event files of this session (``output.tensorboard``), else ``None``; none for a
        resumed run that has nothing left to train, which writes no file."""
        if not self.config["output"]["tensorboard"] or self.finished:
            return contextlib.nullcontext()
        from .tensorboard import EventLog

        return EventLog(self.run_dir, self.epoch)

    def _stopped_early(self):
        return self.stopper is not None and self.stopper.reason is not None

    def stopped_reason(self):
        epochs = self.config["train"]["epochs"]
        if self._stopped_early():
            return self.stopper.reason
        if self.stopper is not None:
            return f"reached train.epochs ({epochs}); best epoch {self.best_epoch} restored"
        return f"reached train.epochs ({epochs})"

    def summary(self, write=True, interrupted=False):
        """The final figures; written to ``summary.json`` when ``write``. ``stopped`` says why training ended:
        ``epochs`` (all of train.epochs), ``early_stopping``, or ``interrupted`` (the summary of an interrupted
        run is only printed: summary.json is for runs that ended)."""
        out = {"epochs": self.epoch, "seconds": round(self.seconds, 3),
               "best_epoch": self.best_epoch, "best_val_loss": finite_or_none(self.best_val_loss)}
        for name in SPLITS:
            loss, acc = evaluate(self.net, *self.data.splits[name])
            out[f"{name}_loss"], out[f"{name}_acc"] = loss, acc
        if interrupted:
            out["stopped"] = "interrupted"
            out["stopped_reason"] = f"interrupted after epoch {self.epoch} of {self.config['train']['epochs']}"
        else:
            out["stopped"] = "early_stopping" if self._stopped_early() else "epochs"
            out["stopped_reason"] = self.stopped_reason()
        out["run_dir"] = str(self.run_dir)
        if write:
            self.run_dir.write_summary(out)
        return out


@functools.cache
def _version():  # read from the package metadata once a process, not at every checkpoint
    from .. import __version__

    return __version__
