"""``nnctl sweep``: train the Cartesian product of a few config grids, one normal run directory per run.

Every run is resolved and validated before any starts, so a bad ``--grid`` key or value costs nothing.
Runs go to joblib worker processes, or to a Dask cluster (``distributed.py``); each uses the config's seed,
so its numbers do not depend on ``--jobs``, on where it ran or on the other runs. A run that diverges or
fails is a row in ``results.csv``, never the end of the sweep. ``sweep_state.py`` keeps what ``--resume``
needs, ``sweep_repeat.py`` the seeds of ``--repeat``.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import io
import itertools
import json
import math
import re
import time
from pathlib import Path

from . import config as config_mod
from .errors import ConfigError, NnctlError, RunDirError, TrainingDiverged
from .files import write_text
from .text import number, shown
from .training.rundir import RunDir

RESULTS = "results.csv"  # the sweep directory's table; each run has its own run directory beside it
FIGURES = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
STATUSES = ("ok", "diverged", "error")
SCORES = ("best_val_loss", "best_val_acc")  # a TPE search's objective column (``tpe.Objective``): a figure, not a key


def parse_grid(text):
    """``"train.alpha=0.01,0.1"`` → ``("train.alpha", [0.01, 0.1])``; values are a YAML flow sequence."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise ConfigError(f"--grid {shown(text)}: expected KEY=V1,V2,…, e.g. --grid train.alpha=0.01,0.1")
    values = config_mod.parse_yaml(f"[{raw}]", f"--grid {config_mod.show_key(key)}: values")  # so [2,3,2],[2,8,2] are two lists
    for value in values:
        try:
            config_mod.resolve(None, [_override(key, value)])
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("--set", "--grid", 1)) from None
    return key, values


def _override(key, value):
    return f"{key}={json.dumps(value)}"  # JSON is YAML, so the value reaches --set parsing unchanged


def _text(value):
    if isinstance(value, list):
        return "x".join(map(_text, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def run_names(keys, combos):
    """Filesystem-safe directory names like ``input_scale-1000_scaler-none``, unique within the sweep."""
    short = [k.rsplit(".", 1)[-1] for k in keys]
    labels = short if len(set(short)) == len(short) else [k.replace(".", "-") for k in keys]
    names, seen = [], set()
    for combo in combos:
        name = "_".join(f"{label}-{_text(v)}" for label, v in zip(labels, combo)) or "run"
        name = re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("._") or "run"
        unique, i = name, 2
        while unique in seen:
            unique, i = f"{name}-{i}", i + 1
        seen.add(unique)
        names.append(unique)
    return names


def plan(config_path, grids, overrides=(), out=None, points=None):
    """Resolve every run of the sweep: ``(out_dir, keys, [(name, combo, config), …])``.

    ``points``, ``(keys, combos)``, are run instead of the grids' Cartesian product (``--sample``: see
    ``nnctl/search.py``). Raises ``ConfigError`` for any bad key or value before anything is written.
    """
    parsed = [parse_grid(g) for g in grids]
    keys = [k for k, _ in parsed]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ConfigError(f"--grid {dupes[0]}: given more than once; list all its values in one --grid")
    clash = sorted(set(keys) & {config_mod.parse_override(o)[0] for o in overrides})
    if clash:
        raise ConfigError(f"--grid {clash[0]}: also given with --set; keep one")
    base = config_mod.load(config_path, overrides)
    out_dir = Path(out) if out is not None else Path(base["output"]["dir"] + "-sweep")
    combos = list(itertools.product(*(values for _, values in parsed)))
    if points is not None:
        keys, combos = points
    names = run_names(keys, combos)
    runs = []
    for name, combo in zip(names, combos):
        config = config_mod.load(config_path, [*overrides, *(_override(k, v) for k, v in zip(keys, combo))])
        config["output"]["dir"] = str(out_dir / name)
        if config["output"]["tensorboard"]:  # refused here rather than in every run
            from .training import tensorboard

            tensorboard.check(RunDir(config["output"]["dir"]), str(config_path))
        runs.append((name, combo, config))
    return out_dir, keys, runs


def check_out_dir(out_dir, runs, force):
    """Refuse to mix a new sweep into an old one unless ``force``."""
    taken = [p for p in [out_dir / RESULTS, *(RunDir(out_dir / name).config for name, _, _ in runs)]
             if p.exists()]
    if taken and not force:
        raise RunDirError(f"{out_dir}: already holds a sweep ({taken[0]}); use --resume to continue it "
                          "or --force to replace it")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"{out_dir}: cannot create the sweep directory ({exc.strerror or exc})") from None


def error_row(message, seconds=None):
    """A run's row before (or without) its figures: status ``error`` with ``message``."""
    row = dict.fromkeys(FIGURES)
    row.update(epochs=0, status="error", message=message, seconds=seconds)
    return row


def run_one(config, force, where, resume=False, stop=None):
    """Train one run in this process; return its figures and status. Never raises an ``Exception``.
    ``resume``: continue the run from its ``checkpoints/last.npz`` when it has one, else train it afresh;
    ``stop``: as for ``Trainer.fit``."""
    from .training.trainer import Trainer

    start = time.perf_counter()
    row = error_row("")
    row["status"] = "ok"
    run_dir = config["output"]["dir"]
    resume = resume and RunDir(run_dir).last.is_file()
    try:
        summary = Trainer(config, run_dir, resume=resume, force=force and not resume, where=where).fit(stop=stop)
        row.update({k: summary[k] for k in FIGURES}, epochs=summary["epochs"])
    except TrainingDiverged as exc:
        row.update(status="diverged", message=str(exc), epochs=_epochs_done(run_dir))
    except NnctlError as exc:
        row.update(status="error", message=str(exc))
    except Exception as exc:  # one broken run must not end the sweep; its row says what happened
        row.update(status="error", message=f"{where}: {type(exc).__name__}: {exc}")
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _epochs_done(run_dir):
    """Epochs completed before a run diverged: the last record of its ``metrics.jsonl``."""
    try:
        records = RunDir(run_dir).read_metrics(missing_ok=True)
    except RunDirError:
        return 0
    return records[-1]["epoch"] if records else 0


def check_options(grids, sampled=None, repeat=1, vectorize=False, scheduler=None):
    """Refuse what ``run`` does not combine (``ConfigError``): ``vectorize`` with a ``scheduler``, and with
    ``repeat`` > 1 a ``seed`` among the ``grids`` keys or among the keys ``--sample`` drew (``sampled``)."""
    if vectorize and scheduler is not None:
        raise ConfigError("--vectorize: trains its stacks in this process, so it does not combine with "
                          "--scheduler; leave one out")
    if repeat > 1 and any(parse_grid(g)[0] == "seed" for g in grids):
        raise ConfigError("--repeat: seed is also a --grid key; --repeat K runs each point with the seeds "
                          "seed … seed+K−1, so set the first with --set seed=N instead")
    if repeat > 1 and sampled is not None and "seed" in sampled:
        raise ConfigError("--repeat: seed is also drawn by --sample; set the first seed with --set seed=N instead")


def run(config_path, grids, overrides=(), out=None, jobs=1, force=False, on_result=None, scheduler=None,
        resume=False, repeat=1, vectorize=False, stop=None, points=None):
    """Run a sweep; write ``out/results.csv`` (and ``summary.csv`` when ``repeat`` > 1); return
    ``(out_dir, keys, rows)`` in grid order. ``scheduler``: the address of a Dask scheduler to run the
    trainings on (``nnctl/distributed.py``); ``resume``: keep the runs that ended, continue the others
    (``nnctl/sweep_state.py``); ``repeat``: each point with that many seeds (``nnctl/sweep_repeat.py``);
    ``vectorize``: the runs that group (``vectorized.plan_groups``) are trained as stacks in this process, the
    others as normal runs, and ``stop`` is the context manager (``cli.interrupts.StopRequest``) that stops a
    stack at an epoch boundary; ``points``, ``(keys, combos)``, are run instead of the grids' product
    (``--sample``), each with the seeds of ``repeat``."""
    from . import distributed, sweep_repeat, sweep_state

    check_options(grids, points[0] if points is not None else None, repeat, vectorize, scheduler)
    grids, overrides = sweep_repeat.with_seeds(config_path, grids, overrides, repeat)
    if points is not None and repeat > 1:  # the seeds with_seeds added as a last grid key, for every point
        seeds = parse_grid(grids[-1])[1]
        points = ([*points[0], "seed"], [(*combo, seed) for combo in points[1] for seed in seeds])
    out_dir, keys, runs = plan(config_path, grids, overrides, out, points)
    with distributed.connect(scheduler) if scheduler is not None else contextlib.nullcontext() as client:
        if client is not None:
            out_dir = distributed.absolute(out_dir, runs)
        kept = sweep_state.start(out_dir, keys, runs, force, resume)
        # the grid's values as given, before a run fills in what the data decides (model.hidden -> model.layers)
        values = [{k: copy.deepcopy(config_mod.get(config, k)) for k in keys} for _, _, config in runs]
        rows = [{"run": runs[i][0], **values[i], **kept[i]} if i in kept else None for i in range(len(runs))]
        todo = [(i, runs[i][2], f"{config_path} [{runs[i][0]}]") for i in range(len(runs)) if i not in kept]
        results = _execute(todo, resume, jobs, client, out_dir, vectorize, stop) if todo else ()
        for done, (i, result) in enumerate(results, len(kept) + 1):  # as runs finish
            rows[i] = {"run": runs[i][0], **values[i], **result}
            if on_result:
                on_result(rows[i], done, len(runs))
    write_text(out_dir / RESULTS, to_csv(keys, rows))
    if repeat > 1:
        write_text(out_dir / sweep_repeat.SUMMARY, sweep_repeat.to_csv(*sweep_repeat.summarize(keys, rows)))
    return out_dir, keys, rows


def _execute(todo, resume, jobs, client, out_dir, vectorize=False, stop=None):
    """``(index, row)`` of each ``(index, config, where)`` of ``todo`` as it finishes: trained in ``jobs``
    local worker processes, or on the Dask cluster of ``client``; with ``vectorize``, the runs that stack
    first, in this process, a stack's rows as it ends."""
    from joblib import Parallel, delayed

    if vectorize:
        from . import vectorized

        groups, rest = vectorized.plan_groups([config for _, config, _ in todo])
        for group in groups:
            ended = []
            with stop if stop is not None else contextlib.nullcontext():
                vectorized.train_group([todo[k][1] for k in group], [todo[k][2] for k in group], True, resume,
                                       stop, lambda j, result, group=group: ended.append((todo[group[j]][0], result)))
            yield from ended
        todo = [todo[k] for k in rest]
        if not todo:
            return

    # force: the sweep directory was checked, so whatever a run directory holds now is this sweep's own
    # (a run that a lost Dask worker had started, or one being resumed that has no checkpoint yet)
    if client is not None:
        from .distributed import execute

        yield from execute(client, todo, True, resume, out_dir)
        return
    tasks = (delayed(_task)(i, config, True, resume, where) for i, config, where in todo)
    yield from Parallel(n_jobs=min(jobs, len(todo)), return_as="generator_unordered")(tasks)  # no idle workers


def _task(index, config, force, resume, where):
    return index, run_one(config, force, where, resume)


def columns(keys):
    return ["run", *keys, "status", "epochs", *FIGURES, "seconds", "message"]


def _cell(value):
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, float) and math.isfinite(value) and value != int(value):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def to_csv(keys, rows, header=None):
    """``rows`` as CSV text under ``header`` (default: the results table's ``columns(keys)``)."""
    header = columns(keys) if header is None else header
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in header])
    return buf.getvalue()


def format_table(keys, rows):
    """The results as an aligned text table (the message column last, unpadded)."""
    head = columns(keys)[:-1]
    cells = [[_fmt(row[c], c) for c in head] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    for row, r in zip(rows, cells):
        line = "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
        lines.append(f"{line}  {row['message']}" if row["message"] else line)
    return "\n".join(lines)


def _fmt(value, column):
    if value is None:
        return "-"
    if column in FIGURES:  # fixed decimals, so that a column's digits line up (0.3230, not 0.323)
        return number(value)
    if column == "seconds":
        return f"{value:.2f}"
    return _cell(value)


def sweep_runs(sweep_dir):
    """``[(label, run_dir, status)]`` of a sweep, in ``results.csv`` order, labelled by their overrides."""
    sweep_dir = Path(sweep_dir)
    keys, rows = read_results(sweep_dir)
    if rows is None:  # a directory of run directories without a table: label them by name
        return [(d.name, d, "") for d in sorted(sweep_dir.iterdir()) if RunDir(d).metrics.is_file()]
    out = []
    for row in rows:
        label = ", ".join(f"{k.rsplit('.', 1)[-1]}={row[k]}" for k in keys) or row["run"]
        if row.get("status") and row["status"] != "ok":
            label += f" ({row['status']})"
        out.append((label, sweep_dir / row["run"], row.get("status", "")))
    return out


def read_results(sweep_dir):
    """``(keys, rows)`` of ``results.csv``: the grid keys and one dict of cells (text) per run; ``([], None)``
    when the directory has no table."""
    results = Path(sweep_dir) / RESULTS
    if not results.is_file():
        return [], None
    try:
        with open(results, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fieldnames = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RunDirError(f"{results}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    fixed = {*columns([]), *SCORES}
    keys = [k for k in fieldnames if k not in fixed]
    if "run" not in fieldnames or any(not _plain_name(row.get("run")) or None in row for row in rows):
        raise RunDirError(f"{results}: not a sweep's results table (every row needs a run name, a folder "
                          f"of the sweep, and as many cells as the header)")
    return keys, rows


def _plain_name(name):
    """A run name is one folder inside the sweep directory, as ``run_names`` makes them."""
    return bool(name) and re.fullmatch(r"[A-Za-z0-9.+_-]+", name) is not None and name not in (".", "..")


def is_sweep_dir(path):
    """A sweep's table, or run directories one level down."""
    path = Path(path)
    return (path / RESULTS).is_file() or any(RunDir(p).metrics.is_file() for p in path.iterdir() if p.is_dir())
