"""``nnctl plot``: the figures of a run or a sweep, written to a PNG (or PDF, SVG…)."""
from __future__ import annotations

from pathlib import Path

import click

from .options import emit, note


@click.command(name="plot")
@click.argument("path", metavar="RUN_DIR|SWEEP_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG file to write (default: plot.png inside the directory).")
def plot(path, out):
    """Learning curves (loss and accuracy, train and validation) of a run or of every run of a sweep.

    For a run of a 2-input network, also its decision boundary over the train data, drawn from the run's
    checkpoints/best.npz (else last.npz). Prints the PNG's path.
    """
    from ..plot import plot as draw

    used = []  # which checkpoint the decision boundary comes from, said once the figure is written
    written = draw(path, out, used.append)
    for line in used:
        note(line)
    emit(str(written))
