"""``nnctl predict``: one prediction per input row, CSV on stdout, as the rows arrive."""
from __future__ import annotations

from pathlib import Path

import click

from .options import checkpoint_of, emit, note


@click.command()
@click.argument("checkpoint_path", metavar="CHECKPOINT|RUN_DIR", type=click.Path(exists=True, path_type=Path))
@click.argument("input_file", metavar="[INPUT|-]", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--proba", is_flag=True, help="Print class probabilities as CSV, headed by the class names.")
@click.option("--id", "id_column", metavar="COLUMN",
              help="Start each answer with this column of the input (which needs a header); adds a header row.")
@click.option("--label", "with_label", is_flag=True, help="With --proba: add the predicted class as a last column.")
@click.option("--digits", type=click.IntRange(1, 17), default=6, show_default=True,
              help="With --proba: significant digits per probability (17 prints a float64 exactly).")
def predict(checkpoint_path, input_file, proba, id_column, with_label, digits):
    """Predict one label per feature row of INPUT (CSV, header optional; '-' or nothing reads stdin)."""
    from ..errors import DataError
    from ..predict import predict_lines

    if with_label and not proba:
        raise click.UsageError("--label adds the predicted class to --proba's output; without --proba the "
                               "output is the predicted class")

    where = "<stdin>" if input_file.name == "<stdin>" else input_file.name
    checkpoint_path = checkpoint_of(checkpoint_path)  # a run directory: its best.npz, else last.npz
    try:  # each chunk's answers are flushed, so they reach the next command of the pipeline as they are made
        unseen = predict_lines(checkpoint_path, input_file, where, proba, lambda text: emit(text, nl=False),
                               id_column=id_column, with_label=with_label, digits=digits)
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 text ({exc.reason})") from None
    if unseen:
        note(f"nnctl: {unseen} row(s) held a category unseen in training (all zeros in its one-hot columns)")
