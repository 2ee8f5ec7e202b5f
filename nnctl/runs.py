"""``nnctl runs``: one table over run directories, single runs or a sweep's: the config keys that differ
between them, and each run's final figures, the best run marked (lowest final ``val_loss``).

A run's figures are its ``summary.json``; a run without one (interrupted, or still training) shows the last
record of its ``metrics.jsonl`` and the status ``unfinished``; a diverged run its status and no figures.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from . import config as config_mod
from .errors import RunDirError
from .sweep import FIGURES, _cell, is_sweep_dir, sweep_runs
from .text import number
from .training.rundir import RunDir

IGNORED = ("output.dir",)  # differs between any two runs and says nothing about them
DESCENDING = ("train_acc", "val_acc", "test_acc")  # --sort puts the largest first for these, the smallest for others


def run_dirs(paths):
    """The run directories ``paths`` name: each a run directory, or a sweep directory standing for its runs."""
    out = []
    for path in map(Path, paths):
        if RunDir(path).config.is_file() and RunDir(path).metrics.is_file():
            out.append(path)
        elif path.is_dir() and is_sweep_dir(path):
            out += [run_dir for _, run_dir, _ in sweep_runs(path) if RunDir(run_dir).config.is_file()]
        else:
            raise RunDirError(f"{path}: not a run directory (config.yaml and metrics.jsonl) or a sweep directory")
    return out


def _flat(config, prefix=""):
    for key, value in config.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _figures(run):
    """``(status, epochs, {figure: value})`` of one run directory."""
    if run.summary.is_file():
        try:
            summary = json.loads(run.summary.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RunDirError(f"{run.summary}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
        status = "diverged" if summary.get("stopped") == "diverged" or "diverged_at_epoch" in summary else "ok"
        return status, summary.get("epochs"), {k: summary.get(k) for k in FIGURES}
    records = run.read_metrics(missing_ok=True)
    last = records[-1] if records else {}
    return "unfinished", last.get("epoch", 0), {k: last.get(k) for k in FIGURES}


def table(paths, sort=None):
    """``(keys, rows)``: the config keys whose values differ between the runs, and one row per run."""
    runs = run_dirs(paths)
    if not runs:
        raise RunDirError(f"{', '.join(map(str, paths))}: no run directories")
    configs = [dict(_flat(config_mod.load(RunDir(run).config))) for run in runs]
    keys = [k for k in configs[0] if k not in IGNORED
            and len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
    rows = []
    for run, config in zip(runs, configs):
        status, epochs, figures = _figures(RunDir(run))
        rows.append({"run": str(run), **{k: config.get(k) for k in keys}, "status": status, "epochs": epochs,
                     **figures, "best": False})
    scored = [r for r in rows if isinstance(r["val_loss"], (int, float)) and math.isfinite(r["val_loss"])]
    if scored:
        min(scored, key=lambda r: r["val_loss"])["best"] = True
    if sort is not None:
        if sort not in rows[0]:
            raise RunDirError(f"--sort {sort}: not a column of this table ({', '.join(rows[0])})")
        present = [r for r in rows if r[sort] is not None]
        present.sort(key=lambda r: json.dumps(r[sort]) if not isinstance(r[sort], (int, float)) else r[sort],
                     reverse=sort in DESCENDING)
        rows = present + [r for r in rows if r[sort] is None]  # runs without the figure last
    return keys, rows


def format_table(keys, rows):
    """An aligned text table; ``*`` marks the best run."""
    head = ["", "run", *keys, "status", "epochs", *FIGURES]
    cells = [["*" if r["best"] else "", r["run"], *(_cell(r[k]) if r[k] is not None else "-" for k in keys),
              r["status"], _cell(r["epochs"]),
              *(number(r[k]) if r[k] is not None else "-" for k in FIGURES)] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)
