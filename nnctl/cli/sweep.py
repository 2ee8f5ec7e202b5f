"""``nnctl sweep``: options and output. The work is in ``nnctl/sweep.py``, imported only when a sweep runs."""
from __future__ import annotations

from pathlib import Path

import click

from .options import OutDir, emit, emit_json, json_option, note, set_option


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--grid", "grids", multiple=True, required=True, metavar="KEY=V1,V2,…",
              help="One config key and its values (a YAML flow list, e.g. --grid model.layers=[2,3,2],[2,8,2]); "
                   "repeatable: the sweep runs every combination.")
@click.option("--out", type=OutDir(),
              help="Sweep directory: one run directory per combination plus results.csv "
                   "(default: the config's output.dir, else runs/<config file name>, + '-sweep').")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs trained at once, each in its own worker process.")
@click.option("--force", is_flag=True, help="Replace a sweep directory that already holds a sweep.")
@click.option("--vectorize", is_flag=True,
              help="Train the runs that share a network shape (layers, activation, dtype, batch size, epochs, "
                   "SGD, train rows) as one stacked NumPy program; the others as normal runs (docs/vectorize.md).")
@set_option
@json_option
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
def sweep(config_path, grids, overrides, out, jobs, force, vectorize, quiet, as_json):
    """Train every combination of the --grid values of CONFIG and tabulate the results.

    Writes OUT/<run>/ (normal run directories) and OUT/results.csv, and prints the same table.
    A run that diverges or fails is recorded with its status and message and the sweep goes on:
    the exit code is 0 whenever the sweep itself ran, whatever the runs' statuses, and 2 for bad input.
    """
    from ..sweep import RESULTS, STATUSES, format_table, run

    def progress(row, done, total):
        if not quiet:
            note(f"nnctl sweep: [{done}/{total}] {row['run']}: {row['status']}")

    from .interrupts import StopRequest, TerminateAsInterrupt

    def notify():
        if not quiet:
            note("nnctl sweep: stopping the stacked runs after this epoch (a second Ctrl-C or SIGTERM aborts at once)")

    with TerminateAsInterrupt():  # SIGTERM stops the workers as Ctrl-C does: no run outlives the sweep
        # a stack stops at an epoch boundary, every run's last.npz brought up to it
        out_dir, keys, rows = run(config_path, grids, overrides, out, jobs, force, progress, vectorize,
                                  stop=StopRequest(notify) if vectorize else None)
    if as_json:
        emit_json(rows)
    else:
        emit(format_table(keys, rows))
    if not quiet:
        counts = ", ".join(f"{sum(r['status'] == s for r in rows)} {s}" for s in STATUSES)
        note(f"nnctl sweep: {len(rows)} runs ({counts}); table in {out_dir / RESULTS}")
