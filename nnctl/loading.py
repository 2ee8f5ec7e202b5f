"""Shared by the commands that take ``CONFIG|CHECKPOINT``: the network and its scaled data."""
from __future__ import annotations

from . import checkpoint, config as config_mod, data as data_mod
from .errors import ConfigError
from .trainer import build_network


def network_and_data(target, overrides=()):
    """``(net, data, config)`` for a config file (network initialised from its seed) or a checkpoint."""
    if checkpoint.is_checkpoint_path(target):
        if overrides:
            raise ConfigError(f"{target}: --set applies to a CONFIG, not to a checkpoint")
        ckpt = checkpoint.load(target)
        config = config_mod.of_checkpoint(ckpt.config, target)
        data = data_mod.prepare(config, str(target), scaler=ckpt.scaler, class_names=ckpt.meta["class_names"])
        return build_network(config, params=ckpt.params), data, config
    config = config_mod.load(target, overrides)
    data = data_mod.prepare(config, str(target))
    data_mod.check_fits(config["model"]["layers"], data.n_features, len(data.class_names), str(target))
    return build_network(config), data, config
