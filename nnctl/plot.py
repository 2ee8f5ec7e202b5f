"""Figures: learning curves of a run or of a whole sweep, and a 2-input network's decision boundary.

Reads only what training wrote (``metrics.jsonl``, the run's checkpoint, a sweep's ``results.csv``),
through the modules that own those files; draws with matplotlib's Agg backend, so no display is needed.
"""
from __future__ import annotations

import math
from pathlib import Path

from .errors import NnctlError, RunDirError
from .sweep import is_sweep_dir, read_results, sweep_runs
from .training.rundir import RunDir, read_metrics

MAX_DRAWN = 1e200  # larger values are drawn at this height: a log axis and its ticks overflow long before 1.8e308
PANELS = (("train_loss", "train loss J"), ("val_loss", "validation loss J"),
          ("train_acc", "train accuracy"), ("val_acc", "validation accuracy"))


def series(records, key):
    """``(epochs, values)`` of one metric, non-finite and missing values left out (log axes need it)."""
    pairs = [(r["epoch"], min(float(r[key]), MAX_DRAWN)) for r in records if _finite(r.get(key))]
    return [e for e, _ in pairs], [v for _, v in pairs]


def _finite(value):
    """A number a figure can draw: an int or float that is finite as a float (an int of 400 digits is not)."""
    try:
        return type(value) in (int, float) and math.isfinite(float(value))
    except OverflowError:
        return False


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


def _loss_scale(axes, shared=False):
    """Log y for loss panels spanning decades (a diverging run), with explicit limits: matplotlib's
    autoscaled log axis overflows on losses near 1e300. ``shared``: the axes share their y axis, so their
    lines are taken together."""
    import numpy as np

    for group in ([list(axes)] if shared else [[ax] for ax in axes]):
        lines = [line for ax in group for line in ax.get_lines()]
        v = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in lines] or [np.zeros(0)])
        v = v[np.isfinite(v) & (v > 0)]
        if len(v) and v.max() / v.min() > 50:
            for ax in group:
                ax.set_yscale("log")
                ax.set_ylim(v.min() / 2, v.max() * 2)


def decision_boundary(ax, run_dir, resolution=200, note=None):
    """Shade the class regions of the run's checkpoint (``RunDir.checkpoint``: best.npz, else last.npz) over
    its train split (2 inputs only); ``note(text)`` hears which checkpoint that is.

    Drawn in the raw input space (after ``data.input_scale``, before the scaler), which is what a user
    feeds to ``predict``. Returns False, drawing nothing, when the network does not have 2 inputs.
    """
    import numpy as np

    from .targets import data_of
    from .training.checkpoint import TrainedModel

    model = TrainedModel.open(RunDir(run_dir).checkpoint())
    if model.net.layers[0] != 2:
        return False
    if note is not None:
        note(f"nnctl: using {model.path}")
    data, _ = data_of(model, str(run_dir))
    X, y = data.raw["train"], data.splits["train"][1]
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * np.where(hi > lo, hi - lo, 1.0)
    g1, g2 = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution))
    grid = np.c_[g1.ravel(), g2.ravel()]
    with np.errstate(all="ignore"):
        classes = model.net.predict(model.preprocessor.apply_scaler(grid)).reshape(g1.shape)
    k = len(data.class_names)
    ax.contourf(g1, g2, classes, levels=np.arange(k + 1) - 0.5, cmap="tab10", vmin=0, vmax=9, alpha=0.25)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=8, edgecolors="none")
    ax.set_title(f"decision boundary, epoch {model.epoch}")
    ax.set_xlabel(data.feature_names[0])
    ax.set_ylabel(data.feature_names[1])
    return True


def plot_run(run_dir, out, note=None):
    """Loss and accuracy curves of one run, plus its decision boundary for a 2-input network."""
    plt = _pyplot()
    records = RunDir(run_dir).read_metrics()
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
        drawn = decision_boundary(axes[2], run_dir, note=note)
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


def plot_sweep(sweep_dir, out, metric="val_loss"):
    """A few runs with one or two varying keys: every run's curves overlaid, one colour per run, labelled by
    its overrides. More: small multiples of ``metric`` (``sweep_figure``)."""
    from . import sweep_figure

    plt = _pyplot()
    runs = sweep_runs(sweep_dir)
    if not runs:
        raise RunDirError(f"{sweep_dir}: no runs in it (no results.csv, no run directories with metrics.jsonl)")
    keys, rows = read_results(sweep_dir)
    table = [{**row, "values": {k: row[k] for k in keys}, "run_dir": Path(sweep_dir) / row["run"]}
             for row in rows or ()]
    if table and (len(table) > sweep_figure.OVERLAY_MAX or sweep_figure.layout(keys, table)[0]):
        return _save(sweep_figure.draw(plt, sweep_dir, keys, table, metric), out, plt)
    fig, axes = plt.subplots(2, 2, figsize=(15, 9))
    colors = plt.get_cmap("tab20" if len(runs) > 10 else "tab10")
    for i, (label, run_dir, status) in enumerate(runs):
        records = read_metrics(RunDir(run_dir).metrics, missing_ok=True)
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


def plot(path, out=None, note=None, metric="val_loss"):
    """Plot a run directory or a sweep directory; return the PNG's path (default ``path/plot.png``).
    ``note(text)``, if given, hears which checkpoint a run's decision boundary is drawn from; ``metric`` is
    what a sweep's small multiples show."""
    path = Path(path)
    out = Path(out) if out is not None else path / "plot.png"
    if RunDir(path).metrics.is_file():
        return plot_run(path, out, note)
    if is_sweep_dir(path):
        return plot_sweep(path, out, metric)
    raise RunDirError(f"{path}: neither a run directory (no metrics.jsonl) nor a sweep directory (no results.csv)")
