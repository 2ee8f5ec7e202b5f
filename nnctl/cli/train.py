"""``nnctl train``: train the network a config describes into a run directory."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..text import number
from . import progress as progress_mod
from .options import OutDir, ReaderGone, emit, emit_json, json_option, note, set_option


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@set_option
@click.option("--out", type=OutDir(), help="Run directory to write (default: the config's output.dir, else runs/<config file name>).")
@click.option("--resume", is_flag=True, help="Continue the run in the run directory from checkpoints/last.npz.")
@click.option("--force", is_flag=True, help="Replace a run directory that already holds a run.")
@json_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or log lines on stderr.")
@click.option("--dry-run", is_flag=True, help="Check the config and the data, print what would be trained, and stop.")
def train(config_path, overrides, out, resume, force, as_json, quiet, dry_run):
    """Train the network CONFIG describes and write a run directory."""
    from .. import config as config_mod
    from ..errors import Interrupted, NnctlError, TrainingDiverged
    from ..training.rundir import RunDir
    from ..training.trainer import Trainer
    from .interrupts import StopRequest

    if resume and force:
        raise click.UsageError("--resume and --force contradict each other: continue the run, or replace it")
    config = config_mod.load(config_path, overrides)
    if dry_run:  # nothing is written: no run directory, no checkpoint
        if resume:
            raise click.UsageError("--dry-run describes a new run; a resumed one continues its own config")
        from .. import overview

        run_dir = RunDir(str(out) if out is not None else config["output"]["dir"])
        run_dir.check(resume, force)
        if config["output"]["tensorboard"]:
            from ..training import tensorboard

            tensorboard.check(run_dir, str(config_path))
        from ..data.dataset import prepare_sized
        from ..training.checkpoint import build_network

        facts = overview.facts(config, prepare_sized(config, str(config_path), keep_raw=False))
        build_network(config)  # a network too large for memory is refused here too
        emit_json(facts) if as_json else emit(overview.paragraph(facts, prefix=""))
        return
    progress = progress_mod.make(sys.stderr, quiet)  # before the run directory: a bad setting writes nothing
    if out is not None:
        config["output"]["dir"] = str(out)
    run_config = RunDir(config["output"]["dir"]).config
    if force and run_config.exists() and run_config.resolve() == config_path.resolve():
        raise click.UsageError(f"--force would replace {config_path} itself, the run's config.yaml; copy it "
                               "elsewhere first, or write the run elsewhere with --out")
    trainer = Trainer(config, config["output"]["dir"], resume=resume, force=force, where=str(config_path))
    epochs = config["train"]["epochs"]

    def show(summary):
        if as_json:
            emit_json(summary)
        else:
            emit(format_summary(summary))

    if trainer.finished:  # resuming a run that has ended: nothing is trained and no file is written
        summary = trainer.fit()
        if not quiet:
            hint = " (raise train.epochs to train on)" if summary["stopped"] == "epochs" else ""
            note(f"nnctl: {trainer.run_dir}: nothing to do: {ended(summary)}{hint}")
        show(summary)
        return
    if not quiet:
        verb = f"resuming at epoch {trainer.epoch}" if resume else "training"
        note(f"nnctl: {verb} {config['model']['layers']} on {config['data']['source']} "
             f"for {epochs} epochs -> {trainer.run_dir}")
        if not resume:
            from .. import overview

            note(overview.paragraph(overview.facts(config, trainer.data)))
    if progress is not None:
        progress.start(trainer.epoch, epochs)

    def on_epoch(record):
        if progress is not None:
            progress.epoch_done(record)

    def notify():
        if not quiet:
            note("nnctl: stopping after this epoch (a second Ctrl-C or SIGTERM aborts at once)")

    try:
        with StopRequest(notify) as stop:
            summary = trainer.fit(on_epoch, stop=stop, progress=progress)
    except Interrupted as exc:
        again = ["nnctl", "train", str(config_path), *(w for o in overrides for w in ("--set", o)),
                 "--out", str(trainer.run_dir), "--resume"]
        try:  # where the run got to; summary.json is only for runs that ended
            show(trainer.summary(write=False, interrupted=True))
        except (NnctlError, ReaderGone):
            pass  # the interruption, not the summary, is what the exit code and the last line must say
        raise Interrupted(f"{exc}; resume with: {shlex.join(again)}", stop.exit_code) from None
    except TrainingDiverged:
        if as_json:  # a script reading stdout gets the failed run's summary, as summary.json holds it
            emit_json(trainer.divergence)
        raise
    finally:
        if progress is not None:
            progress.close()
    show(summary)


def format_summary(s):
    lines = [f"{'split':<7}{'loss':>10}{'accuracy':>10}"]
    for name in ("train", "val", "test"):
        lines.append(f"{name:<7}{number(s[f'{name}_loss']):>10}{number(s[f'{name}_acc']):>10}")
    lines.append(f"{ended(s)}, best epoch {s['best_epoch']}{' restored' if s.get('stopped') == 'early_stopping' else ''}, "
                 f"{s['seconds']:.2f} s, run {s['run_dir']}")
    return "\n".join(lines)


def ended(s):
    """Why training ended, from a summary: ``all 100 epochs done``, ``early stopping at epoch 37``,
    ``interrupted after epoch 12``."""
    stopped = s.get("stopped")
    if stopped == "early_stopping":
        return f"early stopping at epoch {s['epochs']}"
    if stopped == "interrupted":
        return s["stopped_reason"]
    return f"all {s['epochs']} epochs done"
