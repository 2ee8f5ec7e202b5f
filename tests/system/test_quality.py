"""The bundled configs reach their accuracy targets and match or beat scikit-learn's MLPClassifier.

Runs ``scripts/compare_sklearn.py`` (the same code as the README's table) on the full configs: nnctl and an
``MLPClassifier`` with the same architecture, activation, batch size, learning rate, epochs and L2 (plain
SGD), on the identical scaled split. About 10 s in all; digits is the slowest.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TARGETS = {  # config -> least test accuracy it must reach (the targets)
    "testnet.yaml": 0.85,
    "testnet-16.yaml": 0.95,
    "iris.yaml": 0.95,
    "breast_cancer.yaml": 0.95,
    "digits.yaml": 0.95,
}


def _compare_module():
    spec = importlib.util.spec_from_file_location("compare_sklearn", ROOT / "scripts" / "compare_sklearn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_config_reaches_target_and_matches_sklearn(name):
    row = _compare_module().compare(ROOT / "configs" / name)
    assert row["nnctl_test_acc"] >= TARGETS[name], row
    assert row["nnctl_test_acc"] >= row["sklearn_test_acc"], row


def test_sklearn_gets_the_same_settings():
    from nnctl import config as config_mod

    config = config_mod.load(ROOT / "configs" / "digits.yaml")
    clf = _compare_module().sklearn_classifier(config)
    assert clf.hidden_layer_sizes == (32,) and clf.activation == "relu"
    assert clf.solver == "sgd" and clf.momentum == 0 and clf.learning_rate == "constant"
    assert clf.batch_size == 32 and clf.max_iter == 100 and clf.learning_rate_init == 0.05
    assert clf.alpha == pytest.approx(0.001 * 32)  # λ per step = alpha / batch size
    assert not clf.early_stopping and clf.n_iter_no_change >= clf.max_iter
