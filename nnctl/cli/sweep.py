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
@click.option("--scheduler", metavar="ADDRESS",
              help="Train the runs on the Dask cluster of this scheduler (e.g. tcp://10.0.0.5:8786); the workers "
                   "need the sweep directory and data at the same paths. Needs nnctl[dask].")
@click.option("--resume", is_flag=True,
              help="Continue the sweep in the sweep directory: keep the runs that ended, resume the interrupted "
                   "ones from their checkpoint, train the missing ones.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True, metavar="K",
              help="Train each point with K seeds (seed … seed+K-1) and add the mean ± std per point.")
@click.option("--force", is_flag=True, help="Replace a sweep directory that already holds a sweep.")
@click.option("--vectorize", is_flag=True,
              help="Train the runs that share a network shape (layers, activation, dtype, batch size, epochs, "
                   "SGD, train rows) as one stacked NumPy program; the others as normal runs (docs/vectorize.md).")
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
@click.pass_context
def sweep(ctx, config_path, grids, overrides, out, jobs, scheduler, resume, repeat, force, vectorize, dists, sample,
          sample_seed, search, trials, quiet, as_json):
    """Train every combination of the --grid values of CONFIG and tabulate the results.

    With --sample N, N points drawn from the --grid values and --dist distributions instead; with --search tpe
    --trials N, N trials chosen by Optuna's TPE, the best marked with * (docs/sweeps.md).

    Writes OUT/<run>/ (normal run directories) and OUT/results.csv (with --repeat also OUT/summary.csv),
    and prints the same table.
    A run that diverges or fails is recorded with its status and message and the sweep goes on:
    the exit code is 0 whenever the sweep itself ran, whatever the runs' statuses, and 2 for bad input.
    """
    if scheduler is not None and ctx.get_parameter_source("jobs") is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--jobs: has no meaning with --scheduler, where the cluster's worker threads set "
                               "how many runs train at once; drop --jobs")
    if resume and force:
        raise click.UsageError("--resume and --force: choose one (continue the sweep, or replace it)")
    from ..errors import Interrupted
    from ..sweep import RESULTS, STATUSES, format_table, run
    from ..sweep_repeat import SUMMARY, summarize
    from ..sweep_repeat import format_table as format_points

    def progress(row, done, total):
        if not quiet:
            note(f"nnctl sweep: [{done}/{total}] {row['run']}: {row['status']}")

    from .interrupts import StopRequest, TerminateAsInterrupt

    def notify():
        if not quiet:
            note("nnctl sweep: stopping the stacked runs after this epoch (a second Ctrl-C or SIGTERM aborts at once)")

    points, drawn = _search_options(config_path, grids, overrides, dists, sample, sample_seed, search, trials,
                                    {"--scheduler": scheduler, "--resume": resume, "--repeat": repeat > 1,
                                     "--vectorize": vectorize})
    if not search:  # refused before the note of the points drawn, so that an error is the one line on stderr
        from ..sweep import check_options

        check_options(grids, points[0] if points is not None else None, repeat, vectorize, scheduler)
    if drawn and not quiet:
        note(drawn)
    with TerminateAsInterrupt():  # SIGTERM stops the workers as Ctrl-C does: no run outlives the sweep
        try:  # a stack stops at an epoch boundary, every run's last.npz brought up to it
            if search:
                from ..tpe import search as tpe_search

                out_dir, keys, rows, best = tpe_search(config_path, grids, dists, overrides, out, trials, jobs,
                                                       sample_seed, force, progress)
            else:
                out_dir, keys, rows = run(config_path, grids, overrides, out, jobs, force, progress, scheduler,
                                          resume, repeat, vectorize, stop=StopRequest(notify) if vectorize else None,
                                          points=points)
        except (KeyboardInterrupt, Interrupted):
            if not quiet:
                again = "the same command" if search else "the same command with --resume"
                note(f"nnctl sweep: interrupted; {again} continues the sweep")
            raise
    point_keys, summary = summarize(keys, rows) if repeat > 1 else (None, None)
    if as_json:
        emit_json(rows if repeat == 1 else {"runs": rows, "points": summary})
    elif search:
        from ..tpe import format_search

        emit(format_search(keys, rows, best))
    else:
        emit(format_table(keys, rows))
        if repeat > 1:
            emit("")
            emit(format_points(point_keys, summary))
    if not quiet:
        counts = ", ".join(f"{sum(r['status'] == s for r in rows)} {s}" for s in STATUSES)
        tables = f"{out_dir / RESULTS}" + (f" and {out_dir / SUMMARY}" if repeat > 1 else "")
        note(f"nnctl sweep: {len(rows)} runs ({counts}); {'tables' if repeat > 1 else 'table'} in {tables}")


def _search_options(config_path, grids, overrides, dists, sample, sample_seed, search, trials, apart):
    """Check how the search options combine (``apart``: the sweep options a search does not take, by name);
    for ``--sample``, ``(the points to run, a note saying how they were drawn)``, else ``(None, None)``."""
    if search and trials is None or trials is not None and not search:
        raise click.UsageError("--search tpe and --trials N go together")
    given = [name for name, value in apart.items() if value]
    if search and given:
        raise click.UsageError(f"{given[0]}: does not combine with --search tpe (a search continues its study "
                               f"when run again, trains one seed per trial, in this machine's worker processes)")
    if search and sample:
        raise click.UsageError("--sample and --search exclude each other: give one")
    if (dists or sample_seed is not None) and not (sample or search):
        raise click.UsageError(f"{'--dist' if dists else '--sample-seed'} needs --sample N or --search tpe")
    if not (grids or dists):
        raise click.UsageError("give the space to sweep: --grid KEY=V1,V2,… (or --dist KEY=SPEC with --sample "
                               "or --search)")
    if not sample:
        return None, None
    from ..search import sample_points

    keys, combos, seed = sample_points(config_path, grids, dists, overrides, sample, sample_seed)
    source = "--sample-seed" if sample_seed is not None else "the config's seed"
    points = f"{len(combos)} distinct point{'s' * (len(combos) != 1)}"
    size = "" if len(combos) == sample else f"; the space holds only {points}: each runs once"
    return (keys, combos), f"nnctl sweep: {points} drawn with seed {seed} ({source}){size}"
