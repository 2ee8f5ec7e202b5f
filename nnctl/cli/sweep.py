"""``nnctl sweep``: options and output. The work is in ``nnctl/sweep.py``, imported only when a sweep runs."""
from __future__ import annotations

from pathlib import Path

import click

from .options import OutDir, emit, emit_json, json_option, note, set_option


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--grid", "grids", multiple=True, metavar="KEY=V1,V2,…",
              help="One config key and its values (a YAML flow list, e.g. --grid model.layers=[2,3,2],[2,8,2]); "
                   "repeatable: the sweep runs every combination.")
@click.option("--out", type=OutDir(),
              help="Sweep directory: one run directory per combination plus results.csv "
                   "(default: the config's output.dir, else runs/<config file name>, + '-sweep').")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs trained at once, each in its own worker process.")
@click.option("--force", is_flag=True, help="Replace a sweep directory that already holds a sweep.")
@click.option("--dist", "dists", multiple=True, metavar="KEY=SPEC",
              help="A config key drawn from a distribution (--sample, --search): loguniform:LOW:HIGH, "
                   "uniform:LOW:HIGH, int:LOW:HIGH, intlog:LOW:HIGH or choice:V1,V2,…; repeatable.")
@click.option("--sample", type=click.IntRange(min=1), metavar="N",
              help="Run N points drawn from the --grid values and --dist distributions instead of every combination.")
@click.option("--sample-seed", type=click.IntRange(min=0), metavar="SEED",
              help="Seed of the --sample draws and of --search's sampler (default: the config's seed).")
@click.option("--search", type=click.Choice(["tpe"]),
              help="Search the --dist and --grid space with Optuna's TPE (pip install 'nnctl[optuna]'); "
                   "the study is kept in the sweep directory, so a search run again continues it.")
@click.option("--trials", type=click.IntRange(min=1), metavar="N", help="--search: trials in all.")
@set_option
@json_option
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
def sweep(config_path, grids, overrides, out, jobs, force, quiet, as_json, dists, sample, sample_seed, search,
          trials):
    """Train every combination of the --grid values of CONFIG and tabulate the results.

    With --sample N, N points drawn from the --grid values and --dist distributions instead; with --search tpe
    --trials N, N trials chosen by Optuna's TPE, the best marked with * (docs/sweeps.md).

    Writes OUT/<run>/ (normal run directories) and OUT/results.csv, and prints the same table.
    A run that diverges or fails is recorded with its status and message and the sweep goes on:
    the exit code is 0 whenever the sweep itself ran, whatever the runs' statuses, and 2 for bad input.
    """
    from ..sweep import RESULTS, STATUSES, format_table, run

    def progress(row, done, total):
        if not quiet:
            note(f"nnctl sweep: [{done}/{total}] {row['run']}: {row['status']}")

    from .interrupts import TerminateAsInterrupt

    points = _search_options(config_path, grids, overrides, dists, sample, sample_seed, search, trials, quiet)
    with TerminateAsInterrupt():  # SIGTERM stops the workers as Ctrl-C does: no run outlives the sweep
        if search:
            from ..tpe import search as tpe_search

            out_dir, keys, rows, best = tpe_search(config_path, grids, dists, overrides, out, trials, jobs,
                                                   sample_seed, force, progress)
        else:
            out_dir, keys, rows = run(config_path, grids, overrides, out, jobs, force, progress, points=points)
    if as_json:
        emit_json(rows)
    elif search:
        from ..tpe import format_search

        emit(format_search(keys, rows, best))
    else:
        emit(format_table(keys, rows))
    if not quiet:
        counts = ", ".join(f"{sum(r['status'] == s for r in rows)} {s}" for s in STATUSES)
        note(f"nnctl sweep: {len(rows)} runs ({counts}); table in {out_dir / RESULTS}")


def _search_options(config_path, grids, overrides, dists, sample, sample_seed, search, trials, quiet):
    """Check how the search options combine; for ``--sample``, the points to run (else ``None``)."""
    if search and trials is None or trials is not None and not search:
        raise click.UsageError("--search tpe and --trials N go together")
    if search and sample:
        raise click.UsageError("--sample and --search exclude each other: give one")
    if (dists or sample_seed is not None) and not (sample or search):
        raise click.UsageError(f"{'--dist' if dists else '--sample-seed'} needs --sample N or --search tpe")
    if not (grids or dists):
        raise click.UsageError("give the space to sweep: --grid KEY=V1,V2,… (or --dist KEY=SPEC with --sample "
                               "or --search)")
    if not sample:
        return None
    from ..search import sample_points

    keys, combos, seed = sample_points(config_path, grids, dists, overrides, sample, sample_seed)
    if not quiet:
        source = "--sample-seed" if sample_seed is not None else "the config's seed"
        points = f"{len(combos)} distinct point{'s' * (len(combos) != 1)}"
        size = "" if len(combos) == sample else f"; the space holds only {points}: each runs once"
        note(f"nnctl sweep: {points} drawn with seed {seed} ({source}){size}")
    return keys, combos
