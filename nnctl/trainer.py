"""Training: minibatch gradient descent over the train split, with a run directory on disk.

Run directory: ``config.yaml``, ``metrics.jsonl`` (one JSON object per epoch), ``checkpoints/last.npz``,
``checkpoints/best.npz``, ``checkpoints/epoch-NNNN.npz`` every ``output.checkpoint_every`` epochs, and
``summary.json``. ``last.npz`` is what ``--resume`` continues from; it is only ever replaced atomically.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from . import checkpoint, config as config_mod, data as data_mod, optimizers, schedules, seeding
from .errors import ConfigError, Interrupted, RunDirError, TrainingDiverged
from .mlp import MLP, log_softmax
from .stopping import EarlyStopping

RUN_FILES = ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints")
RESUMABLE_KEYS = ("train.epochs", "output.dir", "output.checkpoint_every")
EVAL_CHUNK = 1024  # rows per forward pass when evaluating a whole split (its activations stay in cache)


def build_network(config, params=None):
    """The network ``config`` describes, initialised from its seed (or given ``params``)."""
    m = config["model"]
    return MLP(m["layers"], activation=m["activation"], lam=config["train"]["lambda"], init=m["init"],
               rng=seeding.rng(config["seed"], "init"), dtype=m["dtype"], params=params)


def evaluate(net, X, y):
    """``(J, accuracy)`` on a whole split; ``(None, None)`` for an empty one."""
    if len(y) == 0:
        return None, None
    # In chunks: the activations of a whole large split would cost more memory than the data itself.
    neg_log_likelihood, correct = 0.0, 0
    for s in range(0, len(y), EVAL_CHUNK):
        logits, labels = net.forward(X[s:s + EVAL_CHUNK])[-1], y[s:s + EVAL_CHUNK]
        logp = log_softmax(logits)
        neg_log_likelihood -= float(np.take_along_axis(logp, labels[:, None], axis=1).sum())
        correct += int(np.count_nonzero(logits.argmax(axis=1) == labels))
    return neg_log_likelihood / len(y) + net.penalty(), correct / len(y)


def train_steps(net, optimizer, X, y, order, batch_size):
    """One epoch of minibatch steps over ``X[order]``; returns the last minibatch's gradients.

    The benchmark (bench/bench.py) times this function, so it is the whole of the training loop.
    """
    grads = {}
    step, minibatch_grads = optimizer.step, net._minibatch_grads  # order is a permutation: no index check
    last = (len(order) - 1) // batch_size * batch_size  # start of the last minibatch
    if optimizer.fused:
        # Plain SGD: the network steps its large weight matrices itself and returns the rest to step.
        # The last minibatch goes the unfused way, so the gradients returned (and recorded) are whole.
        alpha = optimizer.alpha
        with net.deferred_decay():  # weight decay as a scalar per matrix until the block ends
            for s in range(0, last, batch_size):
                step(net.params, minibatch_grads(X, y, order[s:s + batch_size], sgd_alpha=alpha))
    else:
        for s in range(0, last, batch_size):
            step(net.params, minibatch_grads(X, y, order[s:s + batch_size]))
    if len(order):
        grads = minibatch_grads(X, y, order[last:last + batch_size])
        step(net.params, grads)
    return grads


def run_epoch(net, optimizer, rng, train_config, train, val=None):
    """One epoch of the training rule on ``train = (X, y)`` (reshuffled from ``rng`` if configured), then
    ``(J, accuracy)`` on the train split and on ``val``.

    Returns ``(record, grads, non_finite)``: the epoch's metrics, the last minibatch's gradients, and the
    names of whatever became non-finite (parameters, or ``"loss"``), which the caller reports as divergence.
    """
    X, y = train
    order = rng.permutation(len(y)) if train_config["shuffle"] else np.arange(len(y))
    with np.errstate(all="ignore"):  # overflow is returned in non_finite and reported as divergence
        if optimizer.full_batch:  # L-BFGS: a chunk of iterations over the whole split
            grads = optimizer.run_epoch(net, X, y)
        else:
            grads = train_steps(net, optimizer, X, y, order, train_config["batch_size"])
        train_loss, train_acc = evaluate(net, X, y)
        val_loss, val_acc = evaluate(net, *val) if val is not None else (None, None)
    non_finite = [k for k, p in net.params.items() if not np.isfinite(p).all()]
    if not non_finite and not math.isfinite(train_loss):
        non_finite = ["loss"]
    record = {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc}
    return record, grads, non_finite


def _flat_differences(a, b, prefix=""):
    for key in a:
        if isinstance(a[key], dict):
            yield from _flat_differences(a[key], b.get(key, {}), f"{prefix}{key}.")
        elif a[key] != b.get(key):
            yield f"{prefix}{key}"


def _prepare_dir(run_dir, resume, force):
    run_dir = Path(run_dir)
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
    if existing and not (resume or force):
        raise RunDirError(f"{run_dir}: already holds a run ({', '.join(existing)}); "
                          "use --resume to continue it or --force to replace it")
    if resume and not (run_dir / "checkpoints" / "last.npz").is_file():
        raise RunDirError(f"{run_dir}: nothing to resume (no checkpoints/last.npz; a run stopped before its "
                          "first checkpoint has to start again with --force)")
    try:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        for directory in (run_dir, run_dir / "checkpoints"):
            checkpoint.remove_stale_temps(directory)
        if force and not resume:
            for name in ("metrics.jsonl", "summary.json"):
                (run_dir / name).unlink(missing_ok=True)
            for old in (run_dir / "checkpoints").glob("*.npz"):
                old.unlink()
    except OSError as exc:
        raise RunDirError(f"{run_dir}: cannot write the run directory ({exc.strerror or exc})") from None
    return run_dir


def _read_metrics(path, upto):
    """The metrics records of epochs ``1..upto`` (a killed run may have written later ones)."""
    records = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                break  # a line cut short by a kill
            if record.get("epoch", 0) <= upto:
                records.append(record)
    return records


class Trainer:
    """Owns one run: its data, network, optimizer, shuffling RNG and run directory."""

    def __init__(self, config, run_dir, resume=False, force=False, where="config"):
        self.config = config
        self.where = where
        self.data = data_mod.prepare(config, where, keep_raw=False)
        data_mod.check_fits(config["model"]["layers"], self.data.n_features, len(self.data.class_names), where)
        self.net = build_network(config)  # before the run directory: a network too big for memory writes nothing
        self.run_dir = _prepare_dir(run_dir, resume, force)
        self.ckpt_dir = self.run_dir / "checkpoints"
        if self.net.dtype != np.float64:  # cast the data once, not every minibatch
            self.data.splits = {k: (X.astype(self.net.dtype), y) for k, (X, y) in self.data.splits.items()}
        self.optimizer = optimizers.make(config["train"])
        self.schedule = schedules.Schedule(config["train"], self.optimizer)
        self.stopper = EarlyStopping.from_config(config["train"])  # None unless train.early_stopping
        self.shuffle_rng = seeding.rng(config["seed"], "shuffle")
        self.epoch = 0
        self.saved_epoch = 0  # the epoch checkpoints/last.npz holds
        self.divergence = None  # the summary of a diverged run, once it has diverged
        self.best_val_loss = math.inf
        self.best_epoch = 0
        self.metrics = []
        self.seconds = 0.0
        if resume:
            self._restore()
        else:
            self._write_text("config.yaml", config_mod.dump(config))
            self._write_text("metrics.jsonl", "")
            self._save_checkpoints(initial=True)

    def _write_text(self, name, text):
        checkpoint.atomic_write(self.run_dir / name, lambda f: f.write(text.encode("utf-8")))

    def _restore(self):
        ckpt = checkpoint.load(self.ckpt_dir / "last.npz")
        stored = config_mod.of_checkpoint(ckpt.config, self.ckpt_dir / "last.npz")
        changed = [k for k in _flat_differences(self.config, stored) if k not in RESUMABLE_KEYS]
        if changed:
            raise ConfigError(f"{self.where}: {changed[0]}: differs from the run being resumed "
                              f"({config_mod.get(stored, changed[0])!r} there); only "
                              f"{', '.join(RESUMABLE_KEYS)} may change")
        # Refused rather than ignored: config.yaml would otherwise claim fewer epochs than the weights have had.
        if self.config["train"]["epochs"] < ckpt.meta["epoch"]:
            raise ConfigError(f"{self.where}: train.epochs: {self.config['train']['epochs']} is below epoch "
                              f"{ckpt.meta['epoch']}, which the run being resumed has reached")
        dtype = self.net.dtype
        self.net.params = {k: v.astype(dtype, copy=True) for k, v in ckpt.params.items()}
        self.optimizer.load_state(ckpt.opt_state)
        self.schedule.load_state(ckpt.meta.get("schedule"))
        if self.stopper is not None:
            self.stopper.load_state(ckpt.meta.get("early_stopping"))
        self.shuffle_rng.bit_generator.state = ckpt.meta["rng_state"]
        self.epoch = self.saved_epoch = ckpt.meta["epoch"]
        best = ckpt.meta["best_val_loss"]  # None until an epoch has been validated
        self.best_val_loss = math.inf if best is None else best
        self.best_epoch = ckpt.meta["best_epoch"]
        self.seconds = ckpt.meta["seconds"]
        self.metrics = _read_metrics(self.run_dir / "metrics.jsonl", self.epoch)
        self._write_text("config.yaml", config_mod.dump(self.config))
        self._write_text("metrics.jsonl", "".join(json.dumps(r) + "\n" for r in self.metrics))

    def _checkpoint(self):
        meta = {
            "config": self.config,
            "epoch": self.epoch,
            "class_names": self.data.class_names,
            "feature_names": self.data.feature_names,
            "n_features": self.data.n_features,
            "rng_state": self.shuffle_rng.bit_generator.state,
            "optimizer": self.optimizer.name,
            "schedule": self.schedule.state(),
            "early_stopping": self.stopper.state() if self.stopper is not None else None,
            "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None,
            "best_epoch": self.best_epoch,
            "seconds": self.seconds,
            "nnctl_version": _version(),
        }
        return checkpoint.Checkpoint(self.net.params, self.data.scaler, meta, self.optimizer.state())

    def _save_checkpoints(self, initial=False, improved=False):
        every = self.config["output"]["checkpoint_every"]
        final = self.epoch == self.config["train"]["epochs"] or self._stopped_early()
        ckpt = self._checkpoint()
        if improved or initial:
            checkpoint.save(self.ckpt_dir / "best.npz", ckpt)
        if initial or final or self.epoch % every == 0:
            if self.epoch % every == 0 and not initial:
                checkpoint.save(self.ckpt_dir / f"epoch-{self.epoch:04d}.npz", ckpt)
            checkpoint.save(self.ckpt_dir / "last.npz", ckpt)
            self.saved_epoch = self.epoch

    def run_epoch(self):
        """One pass over the shuffled train split in minibatches; returns the epoch's metrics record."""
        start = time.perf_counter()
        train = self.config["train"]
        record, grads, non_finite = run_epoch(self.net, self.optimizer, self.shuffle_rng, train,
                                              self.data.splits["train"], self.data.splits["val"])
        self.epoch += 1
        if non_finite:
            what = ("the loss became non-finite" if non_finite == ["loss"]
                    else f"the weights {', '.join(non_finite)} became non-finite")
            lower = "" if self.optimizer.full_batch else " or lower train.alpha"
            message = (f"{self.where}: training diverged at epoch {self.epoch}: {what} "
                       f"(train.alpha={train['alpha']}, data.scaler={self.config['data']['scaler']}, "
                       f"data.input_scale={self.config['data']['input_scale']}); scale the inputs "
                       f"(data.scaler=standard){lower}. "
                       f"{self.ckpt_dir / 'last.npz'} still holds epoch {self.saved_epoch}")
            self._record_divergence(message)
            raise TrainingDiverged(message)
        seconds = time.perf_counter() - start
        self.seconds += seconds
        record = {"epoch": self.epoch, **record}
        record.update({f"grad_norm_{k}": float(np.linalg.norm(g)) for k, g in grads.items() if k[0] == "W"})
        record["seconds"] = seconds
        return record

    def _record_divergence(self, message):
        # summary.json says why the run stopped; the checkpoints are left exactly as they were.
        summary = {"epochs": self.epoch - 1, "stopped_reason": "diverged", "diverged_at_epoch": self.epoch,
                   "message": message, "run_dir": str(self.run_dir)}
        self.divergence = summary
        try:
            self._write_text("summary.json", json.dumps(summary, indent=2) + "\n")
        except (OSError, RunDirError):
            pass  # the divergence, not the failed note about it, is what the user must hear

    def fit(self, on_epoch=None, stop=None):
        """Train up to ``train.epochs``; return the summary (also written to ``summary.json``).

        ``stop`` is asked after every epoch; when it answers true, ``last.npz`` is brought up to that
        epoch and ``Interrupted`` is raised, so ``--resume`` continues exactly from there.
        """
        epochs = self.config["train"]["epochs"]
        with self._open_metrics() as log:
            while self.epoch < epochs and not self._stopped_early():
                record = self.run_epoch()
                if self.schedule.kind != "constant":
                    record["alpha"] = self.optimizer.alpha  # the α this epoch used
                self.metrics.append(record)
                self._append_metrics(log, record)
                monitored = record["val_loss"] if record["val_loss"] is not None else record["train_loss"]
                if self.stopper is None:
                    improved = monitored < self.best_val_loss
                else:  # best.npz then follows the monitored metric and min_delta
                    improved = self.stopper.update(self.epoch, record)
                if improved:
                    self.best_val_loss, self.best_epoch = monitored, self.epoch
                self.schedule.epoch_end(self.epoch, len(self.data.splits["train"][1]), record)
                self._save_checkpoints(improved=improved)
                if on_epoch:
                    on_epoch(record)
                if stop is not None and self.epoch < epochs and stop():
                    checkpoint.save(self.ckpt_dir / "last.npz", self._checkpoint())
                    self.saved_epoch = self.epoch
                    raise Interrupted(f"{self.where}: interrupted after epoch {self.epoch} of {epochs}; "
                                      f"{self.ckpt_dir / 'last.npz'} holds it")
        if self.stopper is not None:
            # last.npz stays the last epoch trained (the resume point); the network and the summary
            # become the best epoch's, which best.npz holds.
            best = checkpoint.load(self.ckpt_dir / "best.npz")
            self.net.params = {k: v.astype(self.net.dtype, copy=True) for k, v in best.params.items()}
        return self.summary()

    def _stopped_early(self):
        return self.stopper is not None and self.stopper.reason is not None

    def stopped_reason(self):
        epochs = self.config["train"]["epochs"]
        if self._stopped_early():
            return self.stopper.reason
        if self.stopper is not None:
            return f"reached train.epochs ({epochs}); best epoch {self.best_epoch} restored"
        return f"reached train.epochs ({epochs})"

    def _open_metrics(self):
        # Unbuffered: a failed write must not linger in a buffer that close() would retry and fail on again.
        path = self.run_dir / "metrics.jsonl"
        try:
            return open(path, "ab", buffering=0)
        except OSError as exc:
            raise RunDirError(f"{path}: cannot write: {exc.strerror or exc}") from None

    def _append_metrics(self, log, record):
        line = memoryview((json.dumps(record) + "\n").encode("utf-8"))
        try:
            while line:
                line = line[log.write(line):]
        except OSError as exc:
            raise RunDirError(f"{self.run_dir / 'metrics.jsonl'}: cannot write: {exc.strerror or exc}") from None

    def summary(self):
        out = {"epochs": self.epoch, "seconds": round(self.seconds, 3),
               "best_epoch": self.best_epoch,
               "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None}
        for name in data_mod.SPLITS:
            loss, acc = evaluate(self.net, *self.data.splits[name])
            out[f"{name}_loss"], out[f"{name}_acc"] = loss, acc
        out["stopped_reason"] = self.stopped_reason()
        out["run_dir"] = str(self.run_dir)
        self._write_text("summary.json", json.dumps(out, indent=2) + "\n")
        return out


def _version():
    from . import __version__

    return __version__
