"""``nnctl plot``: the figures of a run or a sweep, written to a PNG (or PDF, SVG…)."""
from __future__ import annotations

from pathlib import Path

import click

from .options import emit, note


@click.command(name="plot")
@click.argument("path", metavar="RUN_DIR|SWEEP_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG file to write (default: plot.png inside the directory).")
@click.option("--metric", type=click.Choice(["val_loss", "train_loss", "val_acc", "train_acc"]), default="val_loss",
              show_default=True, help="What a sweep's small multiples show (a sweep of more than 10 runs or "
                                      "of several keys: one panel per setting of the outer keys).")
def plot(path, out, metric):
    """Learning curves (loss and accuracy, train and validation) of a run or of every run of a sweep.

    For a run of a 2-input network, also its decision boundary over the train data, drawn from the run's
    checkpoints/best.npz (else last.npz). For a sweep of more than 10 runs, or of several varying keys, small
    multiples of --metric: a panel per setting of the outer grid keys, a colour per value of the last one, the
    seeds of a setting in one colour, the best run (lowest validation loss) marked, a diverged run crossed.
    Prints the PNG's path.
    """
    from ..plot import plot as draw

    used = []  # which checkpoint the decision boundary comes from, said once the figure is written
    written = draw(path, out, used.append, metric)
    for line in used:
        note(line)
    emit(str(written))
