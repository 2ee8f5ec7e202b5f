"""Every kind of choice is one table in its owner; an unknown name gets the same error wherever it is met,
and the config accepts exactly the names of the owner's table."""
from __future__ import annotations

import numpy as np
import pytest

from nnctl import config
from nnctl.data import preprocess
from nnctl.data.sources import BUNDLED, GENERATORS
from nnctl.errors import ConfigError
from nnctl.explain.compute import explain
from nnctl.model.network import ACTIVATIONS, DTYPES, INITS, MLP
from nnctl.training import optimizers
from nnctl.training.schedules import SCHEDULES, Schedule
from nnctl.training.stopping import MONITORS

TRAIN = config.DEFAULTS["train"]
OWNERS = [  # (what the owner calls it, its table, a call with the name, the config key)
    ("activation", ACTIVATIONS, lambda name: MLP([2, 3, 2], activation=name), "model.activation"),
    ("init", INITS, lambda name: MLP([2, 3, 2], init=name), "model.init"),
    ("dtype", DTYPES, lambda name: MLP([2, 3, 2], dtype=name), "model.dtype"),
    ("scaler", preprocess.SCALERS, lambda name: preprocess.fit(name, np.ones((4, 2))), "data.scaler"),
    ("optimizer", optimizers.OPTIMIZERS, lambda name: optimizers.make({**TRAIN, "optimizer": name}),
     "train.optimizer"),
    ("schedule", SCHEDULES, lambda name: Schedule({**TRAIN, "schedule": name}), "train.schedule"),
    ("activation", ACTIVATIONS,
     lambda name: explain({"W1": np.ones((2, 2)), "b1": np.zeros(2)}, np.zeros(2), 0, activation=name), None),
]


@pytest.mark.parametrize("what, table, use, key", OWNERS, ids=[o[0] + (f" ({o[3]})" if o[3] else " (explain)")
                                                              for o in OWNERS])
@pytest.mark.parametrize("name", ["nope", "Sigmoid", ["a", "list"]])
def test_an_unknown_name_gets_one_error_everywhere(what, table, use, key, name):
    with pytest.raises(ConfigError) as info:
        use(name)
    assert str(info.value) == f"{what}: must be one of {', '.join(table)}, got {name!r}"
    if key is not None:  # the config says the same of the same names, naming its key
        with pytest.raises(ConfigError) as info:
            config.resolve(None, [f"{key}={name}" if isinstance(name, str) else f"{key}=[a, list]"])
        assert str(info.value).startswith(f"--set {key}: must be one of {', '.join(table)}, got ")


@pytest.mark.parametrize("key, table", [
    ("model.activation", ACTIVATIONS), ("model.init", INITS), ("model.dtype", DTYPES),
    ("data.scaler", preprocess.SCALERS), ("train.optimizer", optimizers.OPTIMIZERS),
    ("train.schedule", SCHEDULES), ("train.monitor", MONITORS),
])
def test_the_config_accepts_exactly_the_owners_names(key, table):
    for name in table:
        extra = ["train.schedule=constant"] if key == "train.optimizer" else []
        assert config.get(config.resolve(None, [f"{key}={name}", *extra]), key) == name


@pytest.mark.parametrize("source", [*GENERATORS, *BUNDLED, "file.csv", "file.npz"])
def test_every_source_name_is_accepted(source):
    assert config.resolve({"data": {"source": source}})["data"]["source"] == source
