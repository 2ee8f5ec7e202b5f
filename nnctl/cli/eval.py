"""``nnctl eval``: a checkpoint's loss, accuracy, confusion matrix and per-class scores."""
from __future__ import annotations

from pathlib import Path

import click

from .options import checkpoint_of, emit, emit_json, json_option


@click.command(name="eval")
@click.argument("checkpoint_path", metavar="CHECKPOINT|RUN_DIR", type=click.Path(exists=True, path_type=Path))
@click.option("--data", "source", metavar="SOURCE",
              help="Evaluate on another data source (generator, bundled dataset, .csv or .npz) instead of the run's.")
@click.option("--split", type=click.Choice(["train", "val", "test", "all"]),
              help="Which split to evaluate on: of the run's data (split with its seed and fractions; default test), "
                   "or 'all' rows (the default with --data).")
@json_option
def eval_(checkpoint_path, source, split, as_json):
    """Loss, accuracy, confusion matrix and per-class precision/recall/F1 of a checkpoint.

    A run directory stands for its checkpoints/best.npz (else last.npz)."""
    from ..evaluation import evaluate_checkpoint, format_report

    report = evaluate_checkpoint(checkpoint_of(checkpoint_path), source, split)
    if as_json:
        emit_json(report)
    else:
        emit(format_report(report))
