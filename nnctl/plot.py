"""``nnctl plot``: learning curves of a run or of a whole sweep, and a 2-input network's decision boundary.

Reads only what training wrote (``metrics.jsonl``, ``checkpoints/last.npz``, a sweep's ``results.csv``);
draws with matplotlib's Agg backend, so no display is needed.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import click

from .errors import NnctlError, RunDirError

PANELS = (("train_loss", "train loss J"), ("val_loss", "validation loss J"),
          ("train_acc", "train accuracy"), ("val_acc", "validation accuracy"))


def read_metrics(run_dir):
    """The records of ``run_dir/metrics.jsonl``; a line cut short by a kill ends the list."""
    path = Path(run_dir) / "metrics.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            break
    return records


def series(records, key):
    """``(epochs, values)`` of one metric, non-finite and missing values left out (log axes need it)."""
    pairs = [(r["epoch"], r[key]) for r in records
             if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return [e for e, _ in pairs], [v for _, v in pairs]


def sweep_runs(sweep_dir):
    """``[(label, run_dir, status)]`` of a sweep, in ``results.csv`` order, labelled by their overrides."""
    sweep_dir = Path(sweep_dir)
    results = sweep_dir / "results.csv"
    if not results.is_file():  # a directory of run directories without a table: label them by name
        return [(d.name, d, "") for d in sorted(sweep_dir.iterdir()) if (d / "metrics.jsonl").is_file()]
    with open(results, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        fixed = {"run", "status", "epochs", "train_loss", "train_acc", "val_loss", "val_acc",
                 "test_loss", "test_acc", "seconds", "message"}
        keys = [k for k in reader.fieldnames or [] if k not in fixed]
    out = []
    for row in rows:
        label = ", ".join(f"{k.rsplit('.', 1)[-1]}={row[k]}" for k in keys) or row["run"]
        if row.get("status") and row["status"] != "ok":
            label += f" ({row['status']})"
        out.append((label, sweep_dir / row["run"], row.get("status", "")))
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: render to files, never open a window
    import matplotlib.pyplot as plt

    return plt


def _curves(axes, records, label=None, color=None, style="-"):
    for ax, (key, title) in zip(axes, PANELS):
        x, v = series(records, key)
        if x:
            ax.plot(x, v, style, label=label, color=color, linewidth=1.2)
        ax.set_title(title)
        ax.set_xlabel("epoch")


def _loss_scale(axes):
    """Log y for loss panels spanning decades (a diverging run), with explicit limits: matplotlib's
    autoscaled log axis overflows on losses near 1e300."""
    import numpy as np  # here, not at the top: cli imports this module, and `nnctl --help` needs no NumPy

    for ax in axes:
        v = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()] or [np.zeros(0)])
        v = v[np.isfinite(v) & (v > 0)]
        if len(v) and v.max() / v.min() > 50:
            ax.set_yscale("log")
            ax.set_ylim(v.min() / 2, min(v.max() * 2, 1e300))


def decision_boundary(ax, run_dir, resolution=200):
    """Shade the class regions of ``run_dir/checkpoints/last.npz`` over its train split (2 inputs only).

    Drawn in the raw input space (after ``data.input_scale``, before the scaler), which is what a user
    feeds to ``predict``. Returns False, drawing nothing, when the network does not have 2 inputs.
    """
    import numpy as np

    from . import checkpoint, config as config_mod, data as data_mod, scaling
    from .trainer import build_network

    path = Path(run_dir) / "checkpoints" / "last.npz"
    ckpt = checkpoint.load(path)
    config = config_mod.of_checkpoint(ckpt.config, path)
    if config["model"]["layers"][0] != 2:
        return False
    data = data_mod.prepare(config, str(run_dir), scaler=ckpt.scaler, class_names=ckpt.meta["class_names"])
    net = build_network(config, params=ckpt.params)
    X, y = data.raw["train"], data.splits["train"][1]
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * np.where(hi > lo, hi - lo, 1.0)
    g1, g2 = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution))
    grid = np.c_[g1.ravel(), g2.ravel()]
    with np.errstate(all="ignore"):
        classes = net.predict(scaling.apply(ckpt.scaler, grid)).reshape(g1.shape)
    k = len(data.class_names)
    ax.contourf(g1, g2, classes, levels=np.arange(k + 1) - 0.5, cmap="tab10", vmin=0, vmax=9, alpha=0.25)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=8, edgecolors="none")
    ax.set_title(f"decision boundary, epoch {ckpt.meta['epoch']}")
    ax.set_xlabel(data.feature_names[0])
    ax.set_ylabel(data.feature_names[1])
    return True


def plot_run(run_dir, out):
    """Loss and accuracy curves of one run, plus its decision boundary for a 2-input network."""
    plt = _pyplot()
    records = read_metrics(run_dir)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for ax, metric, title in ((axes[0], "loss", "loss J"), (axes[1], "acc", "accuracy")):
        for split, style in (("train", "-"), ("val", "--")):
            x, v = series(records, f"{split}_{metric}")
            ax.plot(x, v, style, label=split, color="C0" if split == "train" else "C1")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    _loss_scale(axes[:1])
    try:
        drawn = decision_boundary(axes[2], run_dir)
    except NnctlError as exc:  # the curves are still worth having; say why the boundary is missing
        axes[2].text(0.5, 0.5, f"no decision boundary:\n{exc}", ha="center", va="center", wrap=True, fontsize=8)
        axes[2].set_axis_off()
        drawn = True
    if not drawn:  # not a 2-input network: two panels, and a figure only as wide as they need
        axes[2].remove()
        grid = fig.add_gridspec(1, 2)
        axes[0].set_subplotspec(grid[0])
        axes[1].set_subplotspec(grid[1])
        fig.set_size_inches(16 * 2 / 3, 4.6)
    fig.suptitle(str(run_dir))
    fig.tight_layout()
    return _save(fig, out, plt)


def plot_sweep(sweep_dir, out):
    """Every run's curves overlaid, one colour per run, labelled by its overrides."""
    plt = _pyplot()
    runs = sweep_runs(sweep_dir)
    if not runs:
        raise RunDirError(f"{sweep_dir}: no runs in it (no results.csv, no run directories with metrics.jsonl)")
    fig, axes = plt.subplots(2, 2, figsize=(15, 9))
    colors = plt.get_cmap("tab20" if len(runs) > 10 else "tab10")
    for i, (label, run_dir, status) in enumerate(runs):
        records = read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
        _curves(axes.ravel(), records, label=label, color=colors(i % colors.N),
                style=("-", "--", ":")[(i // colors.N) % 3])  # colours repeat past the palette; styles tell apart
    _loss_scale(axes[0])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7, frameon=False)
    fig.suptitle(f"{sweep_dir}: {len(runs)} runs")
    fig.tight_layout(rect=(0, 0, 0.78, 0.97))
    return _save(fig, out, plt)


def _save(fig, out, plt):
    out = Path(out)
    kinds = fig.canvas.get_supported_filetypes()
    if out.suffix.lstrip(".").lower() not in kinds:
        plt.close(fig)
        raise RunDirError(f"{out}: the file name must end in an image type: .png, .pdf, .svg "
                          f"(or {', '.join('.' + k for k in sorted(kinds) if k not in ('png', 'pdf', 'svg'))})")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
    except OSError as exc:
        raise RunDirError(f"{out}: cannot write the figure ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
    return out


def plot(path, out=None):
    """Plot a run directory or a sweep directory; return the PNG's path (default ``path/plot.png``)."""
    path = Path(path)
    out = Path(out) if out is not None else path / "plot.png"
    if (path / "metrics.jsonl").is_file():
        return plot_run(path, out)
    if (path / "results.csv").is_file() or any(p.is_file() for p in path.glob("*/metrics.jsonl")):
        return plot_sweep(path, out)
    raise RunDirError(f"{path}: neither a run directory (no metrics.jsonl) nor a sweep directory (no results.csv)")


@click.command(name="plot")
@click.argument("path", metavar="RUN_DIR|SWEEP_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG file to write (default: plot.png inside the directory).")
def plot_command(path, out):
    """Learning curves (loss and accuracy, train and validation) of a run or of every run of a sweep.

    For a run of a 2-input network, also its decision boundary over the train data. Prints the PNG's path.
    """
    click.echo(str(plot(path, out)))
