"""``NNClassifier``: nnctl's network, optimizers, schedules and early stopping behind scikit-learn's API.

It works in ``Pipeline``, ``cross_val_score`` and ``GridSearchCV``. The parameters carry the config's
names and meanings (``alpha`` is the learning rate α, ``lam`` the L2 strength λ, not divided by m — where
scikit-learn's ``MLPClassifier`` calls its L2 strength ``alpha`` and divides it by the batch size).
Every parameter is validated by the same ``config.SCHEMA`` as a YAML config. One epoch is one call of
``training.loop.run_epoch`` (the same function ``nnctl train`` runs), so a fit is the same computation as
``nnctl train`` on the same arrays. The estimator does not scale its input: put a ``StandardScaler`` in front of it.

Shapes: ``X`` is ``(m, n0)``; ``y`` is ``(m,)`` of any labels; ``predict_proba`` returns ``(m, K)``
columns in the order of ``classes_``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from . import config as config_mod
from . import seeding
from .errors import ConfigError
from .model.fastpath import Workspace
from .model.network import evaluate
from .text import number
from .training import optimizers
from .training.checkpoint import build_network
from .training.loop import DIVERGENCE_FACTOR, loss_limit, run_epoch
from .training.schedules import Schedule
from .training.stopping import EarlyStopping

_TRAIN = config_mod.DEFAULTS["train"]
_MODEL = config_mod.DEFAULTS["model"]


def _not_lbfgs(estimator):
    return estimator.optimizer != "lbfgs"


class NNClassifier(ClassifierMixin, BaseEstimator):
    """A fully connected softmax classifier trained as ``nnctl train`` trains it.

    Defaults are ``config.DEFAULTS`` (the TestNet recipe: one hidden layer of 3 sigmoid units, plain SGD
    with α = 0.5, λ = 1e-3, batches of 32, 100 epochs), except ``validation_fraction``, which takes the
    place of ``data.val_fraction`` and is only used for early stopping.

    Fitted attributes: ``classes_``, ``n_features_in_`` (and ``feature_names_in_``), ``net_`` (the
    ``MLP``), ``config_`` (the resolved config), ``loss_curve_`` (the loss J on the training part after
    each epoch), ``validation_scores_`` (validation accuracy per epoch, with early stopping),
    ``n_iter_`` (epochs run), ``best_epoch_`` and ``stopped_reason_``.
    """

    def __init__(self, hidden_layer_sizes=tuple(_MODEL["layers"][1:-1]), activation=_MODEL["activation"],
                 init=_MODEL["init"], dtype=_MODEL["dtype"], optimizer=_TRAIN["optimizer"], alpha=_TRAIN["alpha"],
                 lam=_TRAIN["lambda"], batch_size=_TRAIN["batch_size"], epochs=_TRAIN["epochs"],
                 shuffle=_TRAIN["shuffle"], momentum=_TRAIN["momentum"], nesterov=_TRAIN["nesterov"],
                 beta1=_TRAIN["beta1"], beta2=_TRAIN["beta2"], epsilon=_TRAIN["epsilon"],
                 lbfgs_iters=_TRAIN["lbfgs_iters"], schedule=_TRAIN["schedule"], power_t=_TRAIN["power_t"],
                 step_size=_TRAIN["step_size"], gamma=_TRAIN["gamma"], plateau_patience=_TRAIN["plateau_patience"],
                 early_stopping=_TRAIN["early_stopping"], monitor=_TRAIN["monitor"], patience=_TRAIN["patience"],
                 min_delta=_TRAIN["min_delta"], validation_fraction=0.1, random_state=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.init = init
        self.dtype = dtype
        self.optimizer = optimizer
        self.alpha = alpha
        self.lam = lam
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lbfgs_iters = lbfgs_iters
        self.schedule = schedule
        self.power_t = power_t
        self.step_size = step_size
        self.gamma = gamma
        self.plateau_patience = plateau_patience
        self.early_stopping = early_stopping
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _seed(self):
        rs = self.random_state
        if rs is None:  # fresh entropy from the OS, not numpy's global RNG
            return int(np.random.SeedSequence().entropy % (2**63))
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(2**31 - 1))
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(2**63 - 1))
        return rs

    def _resolve(self, n_features, n_classes):
        """The nnctl config these parameters describe, validated by ``config.SCHEMA``."""
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if np.ndim(hidden) == 0 else list(hidden)
        train = {"lambda" if name == "lam" else name: getattr(self, name)
                 for name in ("alpha", "lam", "batch_size", "epochs", "shuffle", "optimizer", "momentum", "nesterov",
                              "beta1", "beta2", "epsilon", "lbfgs_iters", "schedule", "power_t", "step_size",
                              "gamma", "plateau_patience", "early_stopping", "monitor", "patience", "min_delta")}
        mapping = {
            "seed": self._seed(),
            "model": {"layers": [n_features, *(int(h) if isinstance(h, (int, np.integer)) else h for h in hidden),
                                 n_classes],
                      "activation": self.activation, "init": self.init, "dtype": self.dtype},
            "data": {"val_fraction": self.validation_fraction if self.early_stopping else 0.0, "test_fraction": 0.0},
            "train": {k: v.item() if isinstance(v, np.generic) else v for k, v in train.items()},
        }
        try:
            return config_mod.resolve(mapping, where=type(self).__name__)
        except ConfigError as exc:
            msg = str(exc).replace("model.layers", "hidden_layer_sizes (in model.layers)")
            raise ValueError(msg.replace("train.lambda", "lam (train.lambda)")) from None

    def _start(self, n_features):
        """Fresh network, optimizer, schedule and RNGs for ``n_features`` inputs and ``classes_``."""
        config = self._resolve(n_features, len(self.classes_))
        self.config_ = config
        self.net_ = build_network(config)
        self._workspace = Workspace(self.net_)
        self._optimizer = optimizers.make(config["train"])
        self._schedule = Schedule(config["train"])
        self._shuffle_rng = seeding.rng(config["seed"], "shuffle")
        self.loss_curve_ = []
        self.n_iter_ = 0
        self._initial_loss = None  # the train loss before the first epoch: divergence is measured against it

    def _encode(self, y):
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"{type(self).__name__}: y must hold one label per sample (binary or multiclass), "
                             f"got {kind} targets")

    def fit(self, X, y):
        """Train from scratch for ``epochs`` epochs (fewer with early stopping); return ``self``."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        self._encode(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__}: y holds 1 class; classification needs at least 2 classes")
        self._start(X.shape[1])
        X = X.astype(self.net_.dtype, copy=False)  # once, as the trainer does, not per minibatch
        config = self.config_
        stopper = EarlyStopping.from_config(config["train"])
        X_val = y_val = self.validation_scores_ = None
        if stopper is not None:
            X, X_val, y_index, y_val = self._split(X, y_index, config)
            self.validation_scores_ = []
        best = None
        self.best_epoch_ = None
        self.stopped_reason_ = f"reached epochs ({config['train']['epochs']})"
        for _ in range(config["train"]["epochs"]):
            record = self._epoch(X, y_index, X_val, y_val)
            if stopper is not None:
                self.validation_scores_.append(record["val_acc"])
                if stopper.update(self.n_iter_, record):
                    best = {k: v.copy() for k, v in self.net_.params.items()}
                    self.best_epoch_ = self.n_iter_
                if stopper.reason:
                    break
        if stopper is not None and best is not None:
            self.net_.params = best
            self.stopped_reason_ = stopper.reason or f"{self.stopped_reason_}; best epoch {self.best_epoch_} restored"
        return self

    def _split(self, X, y, config):
        from sklearn.model_selection import train_test_split

        seed = seeding.sklearn_seed(seeding.rng(config["seed"], "split"))
        fraction = config["data"]["val_fraction"]
        try:
            return train_test_split(X, y, test_size=fraction, stratify=y, random_state=seed)
        except ValueError:  # a class too small to appear on both sides: split without stratifying
            return train_test_split(X, y, test_size=fraction, random_state=seed)

    def _epoch(self, X, y, X_val=None, y_val=None):
        """One epoch of the trainer's rule on ``X, y`` (class indices); returns the metrics record."""
        val = (X_val, y_val) if X_val is not None else None
        if self._initial_loss is None:
            with np.errstate(all="ignore"):
                self._initial_loss = evaluate(self.net_, X, y)[0]
        record, _, non_finite = run_epoch(self._workspace, self._optimizer, self._shuffle_rng, self.config_["train"],
                                          (X, y), val, limit=loss_limit(self._initial_loss))
        if non_finite:
            what = (f"the train loss grew to {number(record['train_loss'])}, over {DIVERGENCE_FACTOR:g} times the "
                    f"initial {number(self._initial_loss)}" if non_finite == ["loss"] and np.isfinite(record["train_loss"])
                    else f"{', '.join(non_finite)} became non-finite")
            raise ValueError(f"{type(self).__name__}: training diverged at epoch {self.n_iter_ + 1}: {what}; "
                             f"scale the inputs (StandardScaler) or lower alpha (now {self._optimizer.alpha})")
        self.n_iter_ += 1
        self.loss_curve_.append(record["train_loss"])
        self._optimizer.alpha = self._schedule.epoch_end(self.n_iter_, len(y), record)
        return record

    @available_if(_not_lbfgs)
    def partial_fit(self, X, y, classes=None):
        """One more epoch over ``X, y``. The first call needs ``classes`` (every label there will be).

        Early stopping does not apply (there is no fixed validation set); a schedule does, epoch by epoch.
        """
        first = not hasattr(self, "net_")
        X, y = validate_data(self, X, y, dtype=np.float64, reset=first)
        self._encode(y)
        if first:
            if classes is None:
                raise ValueError(f"{type(self).__name__}: classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(classes)
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__}: classes holds 1 class; classification needs at least 2 classes")
            self._start(X.shape[1])
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"{type(self).__name__}: classes={list(classes)} differs from the first call's "
                             f"{list(self.classes_)}")
        index = np.searchsorted(self.classes_, y)
        index = np.minimum(index, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if unknown.any():
            raise ValueError(f"{type(self).__name__}: y holds labels {sorted(set(np.asarray(y)[unknown].tolist()))} "
                             f"that are not in classes {list(self.classes_)}")
        self._epoch(X.astype(self.net_.dtype, copy=False), index)
        return self

    def predict_proba(self, X):
        """Class probabilities ``(m, K)``, columns in the order of ``classes_``."""
        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.net_.predict_proba(X).astype(np.float64, copy=False)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each row, shape ``(m,)``."""
        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.classes_[self.net_.predict(X)]
