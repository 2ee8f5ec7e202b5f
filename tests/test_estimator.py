"""NNClassifier: scikit-learn's own estimator checks, and its use in Pipeline, cross_val_score, GridSearchCV."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from nnctl import NNClassifier
from nnctl.model.network import MLP
from nnctl.model.fastpath import Workspace

# Small and quick, and still sure to learn the checks' well-separated blobs.
CHECKED = NNClassifier(hidden_layer_sizes=(8,), activation="tanh", optimizer="adam", alpha=0.05,
                       batch_size=16, epochs=30)
EXPECTED_FAILED = {}


@parametrize_with_checks([CHECKED], expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def scaled_pipeline(**params):
    return make_pipeline(StandardScaler(), NNClassifier(hidden_layer_sizes=(10,), optimizer="adam", alpha=0.02,
                                                        epochs=60, **params))


def test_cross_val_score_in_a_pipeline(iris):
    scores = cross_val_score(scaled_pipeline(), *iris, cv=3)
    assert scores.mean() > 0.9


def test_grid_search_sets_nnctl_parameters(iris):
    search = GridSearchCV(scaled_pipeline(), {"nnclassifier__optimizer": ["sgd", "adam"],
                                              "nnclassifier__lam": [1e-4, 10.0]}, cv=3)
    search.fit(*iris)
    assert search.best_params_["nnclassifier__lam"] == 1e-4  # λ = 10 flattens every weight: it must lose
    assert search.best_score_ > 0.9


def test_fit_is_the_trainers_computation(iris):
    # Same seed streams, same rule: the estimator's weights equal a hand-run of the optimizer's epochs bit for bit.
    X, y = StandardScaler().fit_transform(iris[0]), iris[1]
    clf = NNClassifier(hidden_layer_sizes=(5,), epochs=4, random_state=7).fit(X, y)
    from nnctl import seeding
    from nnctl.training import optimizers

    net = MLP([4, 5, 3], activation="sigmoid", lam=1e-3, rng=seeding.rng(7, "init"))
    opt, shuffle, ws = optimizers.SGD(0.5), seeding.rng(7, "shuffle"), Workspace(net)
    for _ in range(4):
        opt.epoch(ws, X, y, shuffle.permutation(len(y)), 32)
    for k in net.params:
        assert np.array_equal(net.params[k], clf.net_.params[k])
    assert len(clf.loss_curve_) == 4 and clf.loss_curve_[-1] == pytest.approx(net.loss(X, y), rel=1e-12)


def test_partial_fit_continues_epoch_by_epoch(iris):
    X, y = StandardScaler().fit_transform(iris[0]), np.array(["setosa", "versicolor", "virginica"])[iris[1]]
    whole = NNClassifier(epochs=3, shuffle=False).fit(X, y)
    step = NNClassifier(epochs=3, shuffle=False)
    step.partial_fit(X, y, classes=np.unique(y))
    step.partial_fit(X, y).partial_fit(X, y)
    for k in whole.net_.params:
        assert np.array_equal(whole.net_.params[k], step.net_.params[k])
    with pytest.raises(ValueError, match="not in classes"):
        step.partial_fit(X[:2], np.array(["setosa", "rose"]))


def test_partial_fit_is_not_offered_with_lbfgs():
    assert not hasattr(NNClassifier(optimizer="lbfgs"), "partial_fit")


def test_early_stopping_restores_the_best_epoch(iris):
    X, y = StandardScaler().fit_transform(iris[0]), iris[1]
    clf = NNClassifier(early_stopping=True, patience=3, min_delta=0.0, epochs=500, hidden_layer_sizes=(6,),
                       optimizer="adam", alpha=0.05).fit(X, y)
    assert clf.n_iter_ < 500 and clf.n_iter_ == clf.best_epoch_ + 3
    assert clf.stopped_reason_.startswith("early stopping: val_loss did not improve by 0 for 3 epochs")
    assert len(clf.validation_scores_) == clf.n_iter_


@pytest.mark.parametrize("params, message", [
    ({"optimizer": "rmsprop"}, "train.optimizer: must be one of"),
    ({"hidden_layer_sizes": (4, 0)}, r"hidden_layer_sizes \(in model.layers\)\[2\]: must be a positive integer"),
    ({"lam": -1.0}, r"lam \(train.lambda\): must be a number"),
])
def test_bad_parameters_are_value_errors_naming_the_parameter(iris, params, message):
    with pytest.raises(ValueError, match=message):
        NNClassifier(**params).fit(*iris)


def test_import_nnctl_does_not_import_scikit_learn():
    code = "import sys, nnctl; print('sklearn' in sys.modules); nnctl.NNClassifier; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
