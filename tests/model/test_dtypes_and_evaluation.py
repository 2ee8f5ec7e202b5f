"""The network's numerics: the sigmoid's stable form, float32 training, chunked evaluation."""
import warnings

import numpy as np
import pytest

from nnctl import config as config_mod
from nnctl.model import network as network_mod
from nnctl.model.fastpath import Workspace
from nnctl.model.network import MLP
from nnctl.training import trainer as trainer_mod


def test_sigmoid_is_stable_and_equals_the_textbook_form():
    from nnctl.model.network import sigmoid

    z = np.linspace(-30.0, 30.0, 601)
    np.testing.assert_allclose(sigmoid(z), 1.0 / (1.0 + np.exp(-z)), rtol=0, atol=3e-16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sigmoid(np.array([-1e4, 1e4])).tolist() == [0.0, 1.0]
    assert sigmoid(np.zeros(3, np.float32)).dtype == np.float32


def test_float32_trains_in_float32_to_the_accuracy_of_float64(tmp_path):
    summaries = {}
    for dtype in ("float64", "float32"):
        config = config_mod.resolve(None, [f"model.dtype={dtype}", "model.layers=[2,8,2]", "train.epochs=15",
                                           "data.n_samples=600"])
        t = trainer_mod.Trainer(config, tmp_path / dtype, where="test")
        summaries[dtype] = t.fit()
        assert all(p.dtype == np.dtype(dtype) for p in t.net.params.values())
        assert t.data.splits["train"][0].dtype == np.dtype(dtype)
        if dtype == "float32":
            X, y = t.data.splits["train"]
            assert all(g.dtype == np.float32 for g in Workspace(t.net).grads(X, y, np.arange(32)).values())
    assert summaries["float32"]["val_acc"] == pytest.approx(summaries["float64"]["val_acc"], abs=0.02)
    assert summaries["float32"]["val_loss"] == pytest.approx(summaries["float64"]["val_loss"], rel=1e-3)


def test_chunked_evaluation_equals_one_pass(monkeypatch):
    rng = np.random.default_rng(3)
    net = MLP([4, 6, 3], "relu", 0.01, seed=0)
    X, y = rng.normal(size=(1000, 4)), rng.integers(0, 3, size=1000)
    whole = network_mod.evaluate(net, X, y)
    monkeypatch.setattr(network_mod, "EVAL_CHUNK", 97)
    chunked = network_mod.evaluate(net, X, y)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-13)
    assert chunked[1] == whole[1] == pytest.approx(float((net.predict(X) == y).mean()))
    assert whole[0] == pytest.approx(net.loss(X, y), rel=1e-13)
