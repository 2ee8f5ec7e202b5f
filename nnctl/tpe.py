"""``nnctl sweep --search tpe --trials N``: Optuna's TPE over a ``nnctl/search.py`` space, the study kept in the
sweep directory.

The study is ``SWEEP_DIR/study.journal``, Optuna's journal file storage (appended under its own lock file), so
a search run again on the same directory continues it, up to N trials in all, and several processes, on one
machine or sharing the directory's file system, can run it together. Trials are claimed under
``claims.lock`` (an flock): a process asks for new trials only while the study holds fewer than N, and first
adopts the unfinished trials of processes that died (whose ``workers/<id>.lock`` nobody holds any more),
training them again with the same parameters; so a killed search neither loses nor repeats a trial. Each trial
is a normal run directory ``trial-NNN_<values>`` and a row of ``results.csv``. The objective is the run's best
``val_loss``, or its ``val_acc`` when ``train.early_stopping`` monitors that; a run that diverges or fails is a
failed trial, which TPE leaves out.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config as config_mod
from . import seeding
from .errors import ConfigError, MissingExtra, RunDirError
from .files import write_text
from .search import DIGITS, space
from .sweep_state import PLAN
from .sweep import RESULTS, _execute, _override, error_row, format_table, run_names, to_csv
from .text import number
from .training.rundir import RunDir

JOURNAL = "study.journal"
CLAIMS = "claims.lock"
WORKERS = "workers"  # one lock file per searching process, held while it lives
STUDY = "nnctl"


def require_optuna():
    try:
        import optuna
    except ImportError:
        raise MissingExtra("--search tpe: needs the optuna package, which is not installed: "
                           "pip install 'nnctl[optuna]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial on stderr: the sweep has its own
    return optuna


@dataclass(frozen=True)
class Objective:
    column: str     # best_val_loss | best_val_acc: the results table's column
    direction: str  # minimize | maximize

    @classmethod
    def of(cls, config):
        train = config["train"]
        if train["early_stopping"] and train["monitor"] == "val_acc":
            return cls("best_val_acc", "maximize")
        return cls("best_val_loss", "minimize")

    def value(self, run_dir):
        """The finished run's score from its ``summary.json`` (early stopping restores the best epoch, so its
        ``val_acc`` is the best one), or ``None`` if it is not a finite number."""
        summary = json.loads(RunDir(run_dir).summary.read_text(encoding="utf-8"))
        value = summary["val_acc" if self.column == "best_val_acc" else "best_val_loss"]
        return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _suggest(trial, d):
    """The trial's value for ``Dist`` ``d``: drawn by the sampler, or the one already drawn (an adopted trial)."""
    if d.kind == "choice":  # Optuna's choices are scalars: the values go in as their JSON text
        return json.loads(trial.suggest_categorical(d.key, [json.dumps(v) for v in d.values]))
    if d.kind in ("int", "intlog"):
        return trial.suggest_int(d.key, d.low, d.high, log=d.kind == "intlog")
    return trial.suggest_float(d.key, d.low, d.high, log=d.kind == "loguniform")


def trial_name(number, keys, point):
    shown = [float(f"{v:.{DIGITS}g}") if isinstance(v, float) else v for v in point]
    return f"trial-{number:03d}_{run_names(keys, [shown])[0]}"


@contextlib.contextmanager
def _flock(path, blocking=True):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)  # releases the lock


def _alive(out_dir, worker):
    """Whether the process that registered as ``worker`` still holds its lock (the OS drops it at death)."""
    path = out_dir / WORKERS / f"{worker}.lock"
    if not worker or not path.is_file():
        return False
    try:
        with _flock(path, blocking=False):
            pass
    except BlockingIOError:
        return True
    path.unlink(missing_ok=True)
    return False


class Search:
    """One process's part of a search: claim trials, train them, tell the study, rewrite ``results.csv``."""

    def __init__(self, config_path, grids, dists, overrides, out, trials, seed, force):
        self.optuna = require_optuna()
        self.config_path, self.overrides, self.trials = config_path, list(overrides), trials
        self.space = space(config_path, grids, dists, overrides)
        self.keys = [d.key for d in self.space]
        base = config_mod.load(config_path, overrides)
        self.objective = Objective.of(base)
        for key in ("train.early_stopping", "train.monitor"):
            if key in self.keys:
                raise ConfigError(f"--search: {key} decides what a trial is scored by; fix it with --set")
        if base["data"]["val_fraction"] == 0 and base["data"]["val_source"] is None:
            raise ConfigError("--search: trials are scored on the validation split; set data.val_fraction above 0")
        self.out_dir = Path(out) if out is not None else Path(base["output"]["dir"] + "-sweep")
        self.seed = base["seed"] if seed is None else seed
        self.force = force
        base["output"].pop("dir")
        self.record = json.loads(json.dumps({"space": {d.key: d.spec for d in self.space}, "config": base,
                                             "objective": self.objective.column}))

    def open(self):
        """Create or join the study; register this process as a worker; return its ``study``."""
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        journal = self.out_dir / JOURNAL
        taken = [p for p in (self.out_dir / RESULTS, self.out_dir / PLAN) if p.exists()]  # a grid sweep's, maybe unfinished
        if not journal.exists() and taken and not self.force:
            raise RunDirError(f"{self.out_dir}: already holds a sweep ({taken[0]}); use --force to replace it")
        try:
            (self.out_dir / WORKERS).mkdir(parents=True, exist_ok=True)
            if self.force:
                journal.unlink(missing_ok=True)
        except OSError as exc:
            raise RunDirError(f"{self.out_dir}: cannot create the sweep directory ({exc.strerror or exc})") from None
        try:
            storage = JournalStorage(JournalFileBackend(str(journal), JournalFileOpenLock(str(journal))))
            with self.claims():
                study = self.optuna.create_study(storage=storage, study_name=STUDY, load_if_exists=True,
                                                 direction=self.objective.direction)
                stored = study.user_attrs.get("search")
                if stored is None:
                    study.set_user_attr("search", self.record)
                elif stored != self.record:
                    raise RunDirError(f"{self.out_dir}: holds a search of another space, config or objective "
                                      f"({JOURNAL}); search in another --out, or start again with --force")
                index = study.user_attrs.get("processes", 0)  # so that no two processes draw the same points
                study.set_user_attr("processes", index + 1)
        except (OSError, ValueError) as exc:  # a journal that is not Optuna's, or damaged by hand
            raise RunDirError(f"{journal}: cannot read the study ({getattr(exc, 'strerror', None) or exc}); "
                              "search in another --out, or start again with --force") from None
        entropy = np.random.SeedSequence(self.seed, spawn_key=(seeding.STREAMS["search"], index)).generate_state(1)
        study.sampler = self.optuna.samplers.TPESampler(seed=int(entropy[0]), constant_liar=True)
        return study

    def claims(self):
        return _flock(self.out_dir / CLAIMS)

    def claim(self, study, want, worker):
        """Up to ``want`` trials for this process: first those of dead processes, then new ones while the study
        holds fewer than ``trials``. ``[(trial, point)]``."""
        from optuna.trial import Trial, TrialState

        batch = []
        with self.claims():
            existing = study.get_trials(deepcopy=False)
            for frozen in existing:
                if len(batch) < want and frozen.state == TrialState.RUNNING \
                        and not _alive(self.out_dir, frozen.user_attrs.get("worker")):
                    batch.append(Trial(study, frozen._trial_id))
            batch += [study.ask() for _ in range(min(want - len(batch), self.trials - len(existing)))]
            for trial in batch:
                trial.set_user_attr("worker", worker)
            return [(trial, tuple(_suggest(trial, d) for d in self.space)) for trial in batch]

    def rows(self, study):
        """The finished trials' rows, by trial number, and the best one's run name (``None`` without one)."""
        trials = sorted((t for t in study.get_trials(deepcopy=False)
                         if t.state.is_finished() and "row" in t.user_attrs), key=lambda t: t.number)
        rows = [dict(t.user_attrs["row"]) for t in trials]
        scored = [r for r in rows if r["status"] == "ok" and r[self.objective.column] is not None]
        sign = 1 if self.objective.direction == "minimize" else -1
        best = min(scored, key=lambda r: sign * r[self.objective.column])["run"] if scored else None
        return rows, best

    def write_results(self, study):
        with self.claims():  # one writer at a time, each with every trial finished so far
            rows, best = self.rows(study)
            write_text(self.out_dir / RESULTS, to_csv([*self.keys, self.objective.column], rows))
        return rows, best

    def run(self, jobs=1, on_result=None):
        """Claim, train and tell trials until the study holds ``trials`` and none is left to adopt."""
        study = self.open()
        worker = uuid.uuid4().hex[:12]
        with _flock(self.out_dir / WORKERS / f"{worker}.lock"):
            while batch := self.claim(study, jobs, worker):
                rows, todo = [], []
                for i, (trial, point) in enumerate(batch):
                    name = trial_name(trial.number, self.keys, point)
                    rows.append({"run": name, **dict(zip(self.keys, point))})
                    fixed = [_override(k, v) for k, v in zip(self.keys, point)]
                    try:
                        config = config_mod.load(self.config_path, [*self.overrides, *fixed])
                    except ConfigError as exc:  # a combination of values the config refuses: a failed trial
                        self.tell(study, trial, self.scored({**rows[i], **error_row(str(exc), 0.0)}), on_result)
                        continue
                    config["output"]["dir"] = str(self.out_dir / name)
                    todo.append((i, config, f"{self.config_path} [{name}]"))
                # the sweep's local trainings, with force: a trial's directory already there was left by a
                # process that died (an adopted trial), and the trial trains again from the start
                for i, result in _execute(todo, False, jobs, None, self.out_dir) if todo else ():
                    self.tell(study, batch[i][0], self.scored({**rows[i], **result}), on_result)
        (self.out_dir / WORKERS / f"{worker}.lock").unlink(missing_ok=True)
        return self.write_results(study)

    def scored(self, row):
        """``row`` with the objective's column: the run's score, ``None`` unless it ended ok (read here, from the
        run directory, so that the workers that train need nothing but nnctl)."""
        value = None
        if row["status"] == "ok":
            try:
                value = self.objective.value(self.out_dir / row["run"])
            except (OSError, ValueError, KeyError) as exc:
                row = {**row, "status": "error", "message": f"{row['run']}: cannot read the run's summary: {exc}"}
        return {**row, self.objective.column: value}

    def tell(self, study, trial, row, on_result):
        from optuna.trial import TrialState

        trial.set_user_attr("row", row)
        value = row[self.objective.column]
        if row["status"] == "ok" and value is not None:
            study.tell(trial, value, skip_if_finished=True)
        else:
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        rows, _ = self.write_results(study)
        if on_result:
            on_result(row, len(rows), self.trials)


def search(config_path, grids, dists, overrides, out, trials, jobs=1, seed=None, force=False, on_result=None):
    """Run (or continue, or join) a TPE search; return ``(out_dir, keys, rows, best run name)``, the keys
    ending with the objective's column."""
    s = Search(config_path, grids, dists, overrides, out, trials, seed, force)
    rows, best = s.run(jobs, on_result)
    for row in rows:
        row["best"] = row["run"] == best
    return s.out_dir, [*s.keys, s.objective.column], rows, best


def format_search(keys, rows, best):
    """The sweep's table with ``*`` in front of the best trial; the objective with the figures' decimals."""
    column = keys[-1]
    lines = format_table(keys, [{**r, column: r[column] if r[column] is None else number(r[column])}
                                for r in rows]).splitlines()
    return "\n".join([f"   {lines[0]}", *(f"{'*' if r['run'] == best else ' '}  {line}"
                                           for r, line in zip(rows, lines[1:]))])

