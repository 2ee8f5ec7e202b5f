"""What a sweep directory holds between two invocations: its plan (``sweep.json``) and its finished runs.

``sweep.json`` lists every run of the sweep with its resolved config, written before the first run starts.
``nnctl sweep --resume`` continues only the sweep of the same plan: it keeps the runs that ended (their
``summary.json`` says so; their rows are read back from it, figures exact), resumes the interrupted ones from
their ``checkpoints/last.npz`` and trains the rest.
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import RunDirError
from .files import write_text
from .training.rundir import RunDir

PLAN = "sweep.json"
ENDED = ("epochs", "early_stopping", "diverged")  # summary.json's "stopped" of a run that needs nothing more


def _plan(keys, runs):
    """The plan as JSON values; ``output.dir`` left out, as it is the sweep directory's business."""
    entries = []
    for name, _, config in runs:
        config = json.loads(json.dumps(config))
        config["output"].pop("dir", None)
        entries.append({"run": name, "config": config})
    return {"version": 1, "keys": list(keys), "runs": entries}


def start(out_dir, keys, runs, force, resume):
    """Check ``out_dir`` for this sweep and write its plan; return ``{index: row}`` of the runs kept from an
    earlier invocation (``resume``; else none). Raises ``RunDirError`` before anything is written."""
    from .sweep import check_out_dir

    plan = _plan(keys, runs)
    path = Path(out_dir) / PLAN
    if resume:
        _check_same_plan(path, plan, out_dir, runs)
    check_out_dir(out_dir, runs, force or resume)
    write_text(path, json.dumps(plan, indent=1) + "\n")
    return {i: row for i, (name, _, _) in enumerate(runs) if resume
            for row in [ended_row(Path(out_dir) / name)] if row is not None}


def _check_same_plan(path, plan, out_dir, runs):
    if not path.is_file():
        from .sweep import RESULTS

        started = [n for n, _, _ in runs if RunDir(Path(out_dir) / n).path.exists()]
        if started or (Path(out_dir) / RESULTS).exists():  # no plan (a search's directory): whose it is cannot be told
            raise RunDirError(f"{out_dir}: has no {PLAN}, so nnctl cannot tell which sweep it holds; "
                              "use --force to start it afresh")
        return
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if stored == plan:
        return
    what = _difference(stored, plan) if isinstance(stored, dict) else "not a sweep plan"
    raise RunDirError(f"{out_dir}: holds another sweep ({what}); --resume needs the CONFIG, --grid, --set "
                      "and --repeat of the sweep it continues, or use --force to replace it")


def _difference(stored, plan):
    if stored.get("keys") != plan["keys"]:
        return f"grid keys {', '.join(stored.get('keys') or []) or 'none'}, not {', '.join(plan['keys']) or 'none'}"
    old = {r.get("run"): r.get("config") for r in stored.get("runs", []) if isinstance(r, dict)}
    new = {r["run"]: r["config"] for r in plan["runs"]}
    if set(old) != set(new):
        other = sorted(set(old) ^ set(new))[0]
        return f"run {other} is in {'the sweep there' if other in old else 'this sweep'} only"
    for name in new:
        if old[name] != new[name]:
            return f"run {name} has another config: {_first_change(old[name], new[name])}"
    return "another order of runs"


def _first_change(a, b, prefix=""):
    for key in sorted(set(a) | set(b)) if isinstance(a, dict) and isinstance(b, dict) else []:
        if a.get(key) != b.get(key):
            return _first_change(a.get(key), b.get(key), f"{prefix}{key}.")
    return f"{prefix.rstrip('.')} {json.dumps(a)} there, {json.dumps(b)} here"


def ended_row(run_dir):
    """The row of a run that ended (trained all its epochs, stopped early or diverged), from its
    ``summary.json``; ``None`` for a run that has not ended."""
    from .sweep import FIGURES, error_row

    path = RunDir(run_dir).summary
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("stopped") not in ENDED:
        return None
    row = error_row("")
    row.update(status="ok", epochs=summary.get("epochs", 0), seconds=summary.get("seconds"))
    if summary["stopped"] == "diverged":
        row.update(status="diverged", message=summary.get("message", ""))
    else:
        row.update({k: summary.get(k) for k in FIGURES})
    return row
