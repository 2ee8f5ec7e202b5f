"""``nnctl config``: the fully resolved config, as ``train`` would use it."""
from __future__ import annotations

from pathlib import Path

import click

from .options import emit, emit_json, json_option, set_option


@click.command("config")
@click.argument("config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@set_option
@json_option
def config_(config_path, overrides, as_json):
    """Print the config CONFIG describes, fully resolved: every key, defaults and --set applied, paths as train
    reads them, and model.layers from the data when the config gives model.hidden (the data is then read)."""
    from .. import config as config_mod

    config = config_mod.load(config_path, overrides)
    if config["model"]["hidden"] is not None:
        from ..data.dataset import prepare_sized

        prepare_sized(config, str(config_path), keep_raw=False)
    emit_json(config) if as_json else emit(config_mod.dump(config).rstrip("\n"))
