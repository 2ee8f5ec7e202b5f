"""``nnctl runs``: one table comparing run directories."""
from __future__ import annotations

import click

from .options import emit, emit_json, json_option


@click.command()
@click.argument("paths", metavar="DIR…", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--sort", metavar="COLUMN", help="Sort by a column: a figure (val_loss; accuracies largest first) "
                                               "or a config key of the table.")
@json_option
def runs(paths, sort, as_json):
    """Compare run directories (single runs, or a sweep directory for all its runs): the config keys that
    differ between them and each run's final figures. '*' marks the best run, the lowest final val_loss."""
    from ..runs import format_table, table

    keys, rows = table(paths, sort)
    if as_json:
        emit_json(rows)
    else:
        emit(format_table(keys, rows))
