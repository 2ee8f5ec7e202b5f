"""What the commands that take ``CONFIG|CHECKPOINT`` work on: a network and its data.

A checkpoint's data is rebuilt from its run's config and read through its own ``Preprocessor``
(``TrainedModel.open``); a config's network is initialised from its seed and its data preprocessed afresh.
"""
from __future__ import annotations

import copy

from . import config as config_mod
from .data.dataset import fingerprint_change, prepare, prepare_sized
from .errors import ConfigError, DataError
from .training.checkpoint import TrainedModel, build_network, is_checkpoint_path


def data_of(model, where, source=None, whole=False, keep_raw=True):
    """The run's data (or ``source``'s, all else as in the run's config), read through ``model``'s
    preprocessor and class names. The run's own source must still hold what the network was trained on.
    Returns ``(data, config)``."""
    config = model.config
    if source is not None:
        config = copy.deepcopy(config)
        config["data"]["source"] = source
        config = config_mod.validate(config, "--data")
    data = prepare(config, where, preprocessor=model.preprocessor, class_names=model.class_names,
                   whole=whole, keep_raw=keep_raw)
    trained_on = model.checkpoint.meta.get("data_fingerprint")
    change = fingerprint_change(trained_on, data.fingerprint) if source is None and trained_on else None
    if change:
        key = change.partition(":")[0].removeprefix("data.")
        own = config["data"][key] if key in ("val_source", "test_source") else config["data"]["source"]
        change = change.partition(": ")[2] if own != config["data"]["source"] else change
        raise DataError(f"{where}: {own} has changed since the network was trained on it ({change}), so its "
                        f"splits are not the run's; to score the file as it is now, use --data {own}")
    return data, config


def network_and_data(target, overrides=()):
    """``(net, data, config)`` for a config file (network initialised from its seed) or a checkpoint."""
    if is_checkpoint_path(target):
        if overrides:
            raise ConfigError(f"{target}: --set applies to a CONFIG, not to a checkpoint")
        model = TrainedModel.open(target)
        data, config = data_of(model, str(target))
        return model.net, data, config
    config = config_mod.load(target, overrides)
    data = prepare_sized(config, str(target))
    return build_network(config), data, config
