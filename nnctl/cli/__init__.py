"""The ``nnctl`` command line, the only package that imports click. It parses, calls the library and
prints; it holds no math.

stdout carries results only; logs and progress go to stderr. Exit codes: 0 success, 1 the command ran
and the result failed, 2 bad input (one ``Error: <where>: <what>`` line, no traceback).

Each command lives in its own module, imported only when that command runs (or when ``--help`` lists
them), so ``nnctl predict`` does not pay for the others.
"""
from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

from ..errors import NnctlError, OutputError
from .options import ReaderGone

NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click ≥ 8.2; older clicks exit 0 themselves

# command name -> (module in this package, the click command in it), in the order --help lists them
COMMANDS = {
    "train": ("train", "train"),
    "eval": ("eval", "eval_"),
    "predict": ("predict", "predict"),
    "gradcheck": ("gradcheck", "gradcheck"),
    "explain": ("explain", "explain"),
    "sweep": ("sweep", "sweep"),
    "plot": ("plot", "plot"),
    "config": ("config", "config_"),
    "runs": ("runs", "runs"),
    "export": ("export", "export"),
}


class NnctlGroup(click.Group):
    """Loads commands from ``COMMANDS`` on use, and turns every expected failure into one ``Error:``
    line on stderr and an exit code."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)

    def invoke(self, ctx):
        # click turns KeyboardInterrupt into Abort after printing an empty line; the signal is kept here
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Stopped(getattr(exc, "signum", 2)) from None

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        # Overflow and invalid values are checked for and reported as errors of their own; NumPy's
        # RuntimeWarnings would only add lines beside the one Error line.
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except NO_ARGS_IS_HELP as exc:  # plain `nnctl`: the help, which is an answer, not an error
            click.echo(exc.ctx.get_help())
            code = 0
        except click.ClickException as exc:
            where = f"{exc.ctx.command_path}: " if getattr(exc, "ctx", None) else ""
            error(f"{where}{exc.format_message()}")
            code = exc.exit_code
        except NnctlError as exc:
            if isinstance(exc, OutputError):
                _drop_stdout()
            error(str(exc))
            code = exc.exit_code
        except (_Stopped, click.Abort, KeyboardInterrupt) as exc:
            error("interrupted")
            code = 128 + getattr(exc, "signum", 2)
        except MemoryError as exc:  # e.g. data far beyond this machine
            error(f"not enough memory ({exc or 'an allocation failed'}); use smaller data or layers")
            code = 2
        except (ReaderGone, BrokenPipeError):  # the reader of stdout went away (e.g. `| head`): not an error
            _drop_stdout()
            code = 0
        except OSError as exc:  # what no command turned into an error of its own: output that cannot be written
            _drop_stdout()
            error(f"{exc.filename or 'stdout'}: cannot write: {exc.strerror or exc}")
            code = 2
        sys.exit(code if isinstance(code, int) else 0)


class _Stopped(Exception):
    """A signal ended the command: the exit code is 128 + ``signum``."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _drop_stdout():
    """Point stdout at /dev/null, so that the interpreter's flush at exit cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def error(message):
    """The one ``Error:`` line: newlines and other control characters (in a path, a cell, a key) are
    escaped, so that a message is always one line."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    try:
        click.echo(f"Error: {text}", err=True)
    except (OSError, ValueError):  # stderr is full or closed: the exit code still tells
        pass


@click.group(cls=NnctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "--version", package_name="nnctl", prog_name="nnctl",
                      message="%(prog)s %(version)s")  # the version is read only when asked for
def cli():
    """Train, check and use small fully connected neural networks, driven by YAML configs.

    Exit codes: 0 success, 1 the command ran and failed (gradient check, divergence), 2 bad input.
    """


def open_standard_streams():
    """Give a closed stdin, stdout or stderr /dev/null, so that no file nnctl opens (a lock, a checkpoint)
    takes its number and receives what was meant for the stream. Python has already set a closed stream's
    ``sys.std*`` to None, so output to a closed stdout is still refused as an error."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # takes the lowest free number: this one


def main():
    open_standard_streams()
    cli(prog_name="nnctl")
