"""The ``nnctl`` command line. It parses, calls the library and prints; it holds no math.

stdout carries results only; logs and progress go to stderr. Exit codes: 0 success, 1 the command ran
and the result failed, 2 bad input (one ``Error: <where>: <what>`` line, no traceback).
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from . import __version__
from .errors import NnctlError
from .explain_cmd import explain
from .options import OutDir, json_option, set_option
from .plot import plot_command
from .sweep_cmd import sweep

INTERRUPTED = 130
NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click ≥ 8.2; older clicks exit 0 themselves


class NnctlGroup(click.Group):
    """Turns every expected failure into one ``Error:`` line on stderr and an exit code."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except NO_ARGS_IS_HELP as exc:  # plain `nnctl`: the help, which is an answer, not an error
            click.echo(exc.ctx.get_help())
            code = 0
        except click.ClickException as exc:
            where = f"{exc.ctx.command_path}: " if getattr(exc, "ctx", None) else ""
            click.echo(f"Error: {where}{exc.format_message()}", err=True)
            code = exc.exit_code
        except NnctlError as exc:
            click.echo(f"Error: {exc}", err=True)
            code = exc.exit_code
        except (click.Abort, KeyboardInterrupt):
            click.echo("Error: interrupted", err=True)
            code = INTERRUPTED
        except MemoryError as exc:  # e.g. n_samples or layer sizes far beyond this machine
            click.echo(f"Error: not enough memory: {exc or 'allocation failed'}; use smaller data or layers",
                       err=True)
            code = 2
        except BrokenPipeError:
            sys.stderr.close()  # the reader of stdout went away (e.g. `| head`): not an error
            code = 0
        sys.exit(code if isinstance(code, int) else 0)


def emit_json(obj):
    click.echo(json.dumps(obj, indent=2))


@click.group(cls=NnctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="nnctl", message="%(prog)s %(version)s")
def cli():
    """Train, check and use small fully connected neural networks, driven by YAML configs.

    Exit codes: 0 success, 1 the command ran and failed (gradient check, divergence), 2 bad input.
    """


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@set_option
@click.option("--out", type=OutDir(), help="Run directory to write (default: the config's output.dir).")
@click.option("--resume", is_flag=True, help="Continue the run in the run directory from checkpoints/last.npz.")
@click.option("--force", is_flag=True, help="Replace a run directory that already holds a run.")
@json_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or log lines on stderr.")
def train(config_path, overrides, out, resume, force, as_json, quiet):
    """Train the network CONFIG describes and write a run directory."""
    from . import config as config_mod
    from .errors import Interrupted, TrainingDiverged
    from .interrupts import StopRequest
    from .trainer import Trainer

    if resume and force:
        raise click.UsageError("--resume and --force contradict each other: continue the run, or replace it")
    config = config_mod.load(config_path, overrides)
    if out is not None:
        config["output"]["dir"] = str(out)
    trainer = Trainer(config, config["output"]["dir"], resume=resume, force=force, where=str(config_path))
    epochs = config["train"]["epochs"]
    if not quiet:
        verb = f"resuming at epoch {trainer.epoch}" if resume else "training"
        click.echo(f"nnctl: {verb} {config['model']['layers']} on {config['data']['source']} "
                   f"for {epochs} epochs -> {trainer.run_dir}", err=True)
    bar = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=epochs, initial=trainer.epoch, unit="epoch", file=sys.stderr, leave=False)

    def on_epoch(record):
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record['train_loss']:.4f}", val_acc=f"{record['val_acc'] or 0:.3f}")

    def notify():
        if not quiet:
            click.echo("nnctl: stopping after this epoch (Ctrl-C again to abort at once)", err=True)

    try:
        with StopRequest(notify) as stop:
            summary = trainer.fit(on_epoch, stop=stop)
    except Interrupted as exc:
        again = ["nnctl", "train", str(config_path), *(w for o in overrides for w in ("--set", o)),
                 "--out", str(trainer.run_dir), "--resume"]
        raise Interrupted(f"{exc}; resume with: {shlex.join(again)}") from None
    except TrainingDiverged:
        if as_json:  # a script reading stdout gets the failed run's summary, as summary.json holds it
            emit_json(trainer.divergence)
        raise
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        emit_json(summary)
    else:
        click.echo(format_summary(summary))


def _fmt(value, spec=".4f"):
    return "-" if value is None else format(value, spec)


def format_summary(s):
    lines = [f"{'split':<7}{'loss':>10}{'accuracy':>10}"]
    for name in ("train", "val", "test"):
        lines.append(f"{name:<7}{_fmt(s[f'{name}_loss']):>10}{_fmt(s[f'{name}_acc']):>10}")
    lines.append(f"epochs {s['epochs']}, best epoch {s['best_epoch']}, {s['seconds']:.2f} s, run {s['run_dir']}")
    return "\n".join(lines)


@cli.command(name="eval")
@click.argument("checkpoint_path", metavar="CHECKPOINT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "source", metavar="SOURCE",
              help="Evaluate on another data source (generator, bundled dataset, .csv or .npz) instead of the run's.")
@click.option("--split", type=click.Choice(["train", "val", "test", "all"]),
              help="Which split to evaluate on: of the run's data (split with its seed and fractions; default test), "
                   "or 'all' rows (the default with --data).")
@json_option
def eval_(checkpoint_path, source, split, as_json):
    """Loss, accuracy, confusion matrix and per-class precision/recall/F1 of a checkpoint."""
    from .evaluation import evaluate_checkpoint, format_report

    report = evaluate_checkpoint(checkpoint_path, source, split)
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))


@cli.command()
@click.argument("checkpoint_path", metavar="CHECKPOINT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("input_file", metavar="[INPUT|-]", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--proba", is_flag=True, help="Print class probabilities as CSV, headed by the class names.")
def predict(checkpoint_path, input_file, proba):
    """Predict one label per feature row of INPUT (CSV, header optional; '-' or nothing reads stdin)."""
    from .errors import DataError
    from .predict import predict_lines

    where = "<stdin>" if input_file.name == "<stdin>" else input_file.name

    def write(text):
        click.echo(text, nl=False)
        sys.stdout.flush()  # answers reach the next command of the pipeline as they are made

    try:
        predict_lines(checkpoint_path, input_file, where, proba, write)
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 text ({exc.reason})") from None


@cli.command()
@click.argument("target", metavar="CONFIG|CHECKPOINT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@set_option
@click.option("--samples", type=click.IntRange(min=1), default=16, show_default=True,
              help="How many training samples the loss is computed on.")
@click.option("--eps", type=click.FloatRange(min=0, min_open=True), default=1e-5, show_default=True,
              help="Step of the centred difference (J(θ+eps) − J(θ−eps)) / 2eps.")
@click.option("--tol", type=click.FloatRange(min=0, min_open=True), default=1e-7, show_default=True,
              help="Largest relative error that passes.")
@click.option("--max-entries", type=click.IntRange(min=1), default=200, show_default=True,
              help="Entries checked per tensor; larger tensors get a seeded random subset.")
@json_option
def gradcheck(target, overrides, samples, eps, tol, max_entries, as_json):
    """Compare analytic gradients with centred differences for every parameter tensor (exit 1 on FAIL)."""
    from . import gradcheck as gc
    from .loading import network_and_data
    from .seeding import rng as seeded

    net, data, config = network_and_data(target, overrides)
    X, y = data.splits["train"]
    rng = seeded(config["seed"], "gradcheck")
    take = rng.choice(len(y), size=min(samples, len(y)), replace=False)
    report = gc.check(net, X[take], y[take], eps=eps, tol=tol, max_entries=max_entries, rng=rng)
    click.echo(json.dumps(report, indent=2) if as_json else gc.format_report(report))
    return 0 if report["passed"] else 1


for command in (sweep, plot_command, explain):  # commands that live in their own modules
    cli.add_command(command)


def main():
    cli(prog_name="nnctl")
