"""Options shared by several commands, declared once, and the one way results reach stdout
(imports only click and the standard library, so commands load fast)."""
import json
import sys
from pathlib import Path

import click


class OutPath(click.Path):
    """A path to write; an empty string is refused (it would mean the current directory)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("must not be empty", param, ctx)
        return super().convert(value, param, ctx)


class OutDir(OutPath):
    """A directory to write."""

    def __init__(self):
        super().__init__(file_okay=False, path_type=Path)


class OutFile(OutPath):
    """A file to write."""

    def __init__(self):
        super().__init__(dir_okay=False, path_type=Path)


class FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and ±inf (which compare false with every bound)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def checkpoint_of(path):
    """The checkpoint file a ``CHECKPOINT|RUN_DIR`` argument names: a file as given; for a run directory the one
    ``RunDir.checkpoint`` picks (best.npz, else last.npz), said on stderr, since the user did not name it."""
    if not Path(path).is_dir():
        return path
    from ..training.rundir import RunDir

    chosen = RunDir(path).checkpoint()
    note(f"nnctl: using {chosen}")
    return chosen


def set_option(f):
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="Override one config key, value parsed as YAML (e.g. --set train.alpha=0.1); repeatable.")(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")(f)


def note(text):
    """A log line on stderr: best effort, since a progress line that cannot be written must not fail a run."""
    try:
        click.echo(text, err=True)
    except (OSError, ValueError):
        pass


def emit_json(obj):
    """A result as JSON on stdout: strict JSON, a number that is not finite (an overflow shown as such) is null."""
    emit(json.dumps(_strict(obj), indent=2, allow_nan=False))


def _strict(value):
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


class ReaderGone(Exception):
    """The reader of stdout went away (``| head``): the command's answer is no longer wanted. Not an
    ``OSError``, which click would turn into exit 1 on its own."""


def emit(text, nl=True):
    """A result as text on stdout, flushed, so that it reaches the next command of a pipeline at once.
    A reader that went away raises ``ReaderGone`` (the command exits 0); any other failure to write is
    an ``OutputError``."""
    from ..errors import OutputError

    try:
        if sys.stdout is None:
            raise OSError("stdout is closed")
        sys.stdout.write(text + ("\n" if nl else ""))
        sys.stdout.flush()
    except BrokenPipeError:
        raise ReaderGone from None
    except (OSError, ValueError) as exc:  # ValueError: "I/O operation on closed file"
        raise OutputError(f"stdout: cannot write: {getattr(exc, 'strerror', None) or exc}") from None
