"""What several CLI test modules share: running ``nnctl`` in this process."""
from __future__ import annotations

from click.testing import CliRunner

from nnctl.cli import cli


def invoke(*args):
    """``nnctl ARGS`` in-process → click's ``Result``; an unexpected exception is raised, not swallowed."""
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click ≥ 8.2 always keeps stderr apart
        runner = CliRunner()
    result = runner.invoke(cli, [str(a) for a in args], prog_name="nnctl")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result
