"""What the commands that take ``CONFIG|CHECKPOINT`` work on: a network and its data.

A checkpoint's data is rebuilt from its run's config and read through its own ``Preprocessor``
(``TrainedModel.open``); a config's network is initialised from its seed and its data preprocessed afresh.
"""
from __future__ import annotations

from . import config as config_mod
from .data.dataset import check_fits, prepare
from .errors import ConfigError
from .training.checkpoint import TrainedModel, build_network, is_checkpoint_path


def data_of(model, where, config=None, whole=False, keep_raw=True):
    """The data ``config`` (default: the model's run config) describes, read through ``model``'s
    preprocessor and class names."""
    return prepare(config or model.config, where, preprocessor=model.preprocessor, class_names=model.class_names,
                   whole=whole, keep_raw=keep_raw)


def network_and_data(target, overrides=()):
    """``(net, data, config)`` for a config file (network initialised from its seed) or a checkpoint."""
    if is_checkpoint_path(target):
        if overrides:
            raise ConfigError(f"{target}: --set applies to a CONFIG, not to a checkpoint")
        model = TrainedModel.open(target)
        return model.net, data_of(model, str(target)), model.config
    config = config_mod.load(target, overrides)
    data = prepare(config, str(target))
    check_fits(config["model"]["layers"], data.n_features, len(data.class_names), str(target))
    return build_network(config), data, config
