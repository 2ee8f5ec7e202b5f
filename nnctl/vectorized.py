"""``nnctl sweep --vectorize``: the runs of a sweep that share a network shape, trained as one stacked program.

Runs group when they share what shapes the computation: the layers, activation, dtype, batch size, epochs,
optimizer and the number of train rows (``GROUP_KEYS`` decides from the configs; the data, once prepared,
confirms the layers and the rows). Only plain SGD groups (``optimizers.SGD``, the default), with any schedule,
early stopping and either ``output.train_metrics``. Everything else — another optimizer, TensorBoard event
files (``output.tensorboard``), a run alone in its group, a network with a layer ``SGD`` fuses into backprop
(``stacked.fusable_layers``) — is a normal run.

Each run of a group is a ``Trainer`` of its own: its data (prepared by the code a run alone uses), its network
(initialised from its seed), shuffling RNG, schedule, early stopping, run directory and checkpoints. Only the
epoch's minibatch steps are stacked (``training.stacked.Stack``); the network of each run holds views into
the stack, and everything after the steps is the run's own ``Trainer`` code, so its files are those of the run
trained alone. A run that diverges or stops early leaves the stack; the others go on.
"""
from __future__ import annotations

import time
from contextlib import ExitStack

import numpy as np

from . import config as config_mod
from .errors import Interrupted, NnctlError, TrainingDiverged
from .data.dataset import prepare
from .files import write_batch
from .training.loop import TRAIN_METRICS, epoch_figures, loss_limit
from .training.rundir import RunDir
from .training.stacked import Stack, fusable_layers

# config keys that runs of one group share: the shape of the computation and what sets the number of train rows
GROUP_KEYS = ("model.layers", "model.hidden", "model.activation", "model.dtype", "train.batch_size",
              "train.epochs", "train.optimizer", "data.source", "data.n_samples", "data.val_fraction",
              "data.test_fraction", "data.val_source", "data.test_source", "data.drop", "data.label")
STACKED_OPTIMIZERS = ("sgd",)
# runs in one stack at most: each holds its run directory's lock and metrics.jsonl open while it trains, and
# 2 × 256 files stay well inside the usual limit of 1024 open files
MAX_STACK = 256


def stackable(config):
    """Whether a run can be trained in a stack at all (before its data is read)."""
    model = config["model"]
    return (config["train"]["optimizer"] in STACKED_OPTIMIZERS and not config["output"]["tensorboard"]
            and (model["hidden"] is not None or not fusable_layers(model["layers"])))


def plan_groups(configs):
    """``(groups, rest)``: lists of two or more positions in ``configs`` (at most ``MAX_STACK``) to train stacked,
    and the others."""
    by_key = {}
    for i, config in enumerate(configs):
        if stackable(config):
            key = repr([config_mod.get(config, k) for k in GROUP_KEYS])
            by_key.setdefault(key, []).append(i)
    chunks = (g[s:s + MAX_STACK] for g in by_key.values() for s in range(0, len(g), MAX_STACK))
    groups = [g for g in chunks if len(g) > 1]
    grouped = {i for g in groups for i in g}
    return groups, [i for i in range(len(configs)) if i not in grouped]


def train_group(configs, wheres, force=False, resume=False, stop=None, on_result=None):
    """Train the runs ``configs`` (a group of ``plan_groups``) into their ``output.dir``; return one result per
    run, in order, as ``sweep.run_one`` does (figures, ``epochs``, ``status``, ``message``, ``seconds``).

    With ``resume``, a run whose directory holds ``checkpoints/last.npz`` continues from it. ``stop``, asked after
    every epoch, ends the group at that epoch boundary with every run's ``last.npz`` brought up to it and
    ``Interrupted`` raised. ``on_result(position, result)`` is called as each run ends.
    """
    from .training.trainer import Trainer

    results = [None] * len(configs)
    trainers = {}

    def done(i, result):
        results[i] = result
        if on_result:
            on_result(i, result)

    try:
        shared = {}  # the prepared data of each data section and seed: runs that differ elsewhere share it
        with write_batch():  # every run's config.yaml, metrics.jsonl and first checkpoints, synced together
            for i, config in enumerate(configs):
                began = time.perf_counter()
                try:
                    key = repr((config["data"], config["seed"]))
                    if key not in shared:
                        shared[key] = prepare(config, wheres[i], keep_raw=False)
                    again = resume and RunDir(config["output"]["dir"]).last.is_file()
                    trainers[i] = Trainer(config, config["output"]["dir"], resume=again, force=force,
                                          where=wheres[i], data=shared[key])
                except Exception as exc:  # noqa: BLE001 — one broken run is a row, as in sweep.run_one
                    done(i, _failed(exc, wheres[i], began))
        stacks = {}
        for i, t in trainers.items():
            if t.running and not fusable_layers(t.net.layers):
                shape = (tuple(t.net.layers), t.net.activation, t.net.dtype.name, t.config["train"]["batch_size"],
                         len(t.data.splits["train"][1]))
                stacks.setdefault(shape, []).append(i)
        for i in [i for i in trainers if not any(i in s and len(s) > 1 for s in stacks.values())]:
            began = time.perf_counter()  # a finished run, or one that found no partner in its data
            done(i, _fit_alone(trainers[i], stop, began))
        for members in (s for s in stacks.values() if len(s) > 1):
            _fit_stacked({i: trainers[i] for i in members}, stop, done)
    finally:
        for t in trainers.values():
            t.run_dir.release()
    return results


def _fit_alone(t, stop, began):
    """A run of a group trained on its own: its result, or its row for a failure, as ``sweep.run_one`` gives;
    an interrupt still ends the sweep (its run is resumable)."""
    try:
        summary = t.fit(stop=stop)
    except TrainingDiverged as exc:
        return _result(t, None, exc, time.perf_counter() - began)
    except Interrupted:
        raise
    except Exception as exc:  # noqa: BLE001 — one broken run is a row, as in sweep.run_one
        return _failed(exc, t.where, began)
    return _result(t, summary, seconds=time.perf_counter() - began)


def _fit_stacked(trainers, stop, done):
    """The epochs of the runs ``{position: Trainer}`` as one stack; ``done(position, result)`` as each ends."""
    first = next(iter(trainers.values()))
    stack = Stack(first.net.layers, first.net.activation, first.net.dtype,
                  [t.net.params for t in trainers.values()], [t.data.splits["train"] for t in trainers.values()],
                  [t.data.splits["val"] for t in trainers.values()])
    active = list(trainers.items())
    for k, (_, t) in enumerate(active):
        t.net.params = stack.views(k)
    batch_size, rows = first.config["train"]["batch_size"], len(first.data.splits["train"][1])
    with ExitStack() as files:
        logs = {i: files.enter_context(t.run_dir.open_metrics()) for i, t in active}
        # The files of the group's epochs are written together when a checkpoints/last.npz is due or a run
        # ends: best.npz and the rest wait (as they are) until then, so that the files on disk are always
        # those of one epoch per run, and a few syncs make them durable instead of two fsyncs a file.
        flush = files.enter_context(write_batch())
        while active:
            began = time.perf_counter()
            orders = np.stack([t.shuffle_rng.permutation(rows) if t.config["train"]["shuffle"] else np.arange(rows)
                               for _, t in active])
            running = [TRAIN_METRICS[t.config["output"]["train_metrics"]] for _, t in active]
            grads, tallies = stack.epoch(orders, [t.optimizer.alpha for _, t in active],
                                         [t.net.lam for _, t in active], batch_size, any(running))
            with np.errstate(all="ignore"):  # a diverging run's figures are not finite: it is told below
                scores = {"val": stack.evaluate("val"), "train": None if all(running) else stack.evaluate("train")}
            seconds = (time.perf_counter() - began) / len(active)  # each run's share of the stacked epoch
            keep, ended = [], []
            for k, (i, t) in enumerate(active):
                tally = tallies[k] if running[k] else None
                record, non_finite = epoch_figures(t.net, tally, t.data.splits["train"], t.data.splits["val"],
                                                   loss_limit(t.initial_loss),
                                                   {name: s[k] for name, s in scores.items() if s is not None})
                try:
                    record = t.end_epoch(record, {key: g[k] for key, g in grads.items()}, non_finite, seconds)
                except TrainingDiverged as exc:  # this run stops; its files are a diverged run's
                    ended.append((i, t, exc))
                    continue
                t.log_epoch(record, logs[i])
                if t.running:
                    keep.append(k)
                else:
                    ended.append((i, t, None))
            stopping = bool(keep) and stop is not None and stop()
            if ended or stopping or any(t.saved_epoch == t.epoch for _, t in active):
                flush()
            for i, t, diverged in ended:  # after the flush: finish() reads best.npz back
                done(i, _result(t, None, diverged) if diverged else _result(t, t.finish()))
            if ended:
                flush()  # their summary.json
            if len(keep) < len(active):
                stack.keep(keep)
                active = [active[k] for k in keep]
                for k, (_, t) in enumerate(active):
                    t.net.params = stack.views(k)
            if stopping:
                for _, t in active:
                    last = t.interrupt()  # the message of the last one
                flush()
                raise Interrupted(f"{last}, and the last.npz of the {len(active) - 1} other runs stacked with it "
                                  f"theirs; each resumes with: nnctl train RUN/config.yaml --out RUN --resume",
                                  getattr(stop, "exit_code", Interrupted.exit_code))


def _result(t, summary, diverged=None, seconds=None):
    """``sweep.run_one``'s result for the trainer ``t``; ``seconds`` by default the run's share of its stack's."""
    from .sweep import FIGURES

    result = dict.fromkeys(FIGURES)
    if diverged is not None:
        result.update(epochs=t.epoch - 1, status="diverged", message=str(diverged))
    else:
        result.update({k: summary[k] for k in FIGURES}, epochs=summary["epochs"], status="ok", message="")
    result["seconds"] = round(t.seconds if seconds is None else seconds, 3)
    return result


def _failed(exc, where, began):
    from .sweep import error_row

    message = str(exc) if isinstance(exc, NnctlError) else f"{where}: {type(exc).__name__}: {exc}"
    return error_row(message, round(time.perf_counter() - began, 3))
