"""Raw input → network input, in one place: pick the network's columns by name, multiply by
``data.input_scale``, then apply the scaler fitted on the train split. Train, eval, predict, explain and
plot all go through the ``Preprocessor``.

Every scaler reduces to ``(X − center) / scale`` per feature, so its two fitted arrays go into the
checkpoint without pickle and ``predict`` re-applies them with NumPy alone. The standard and min-max
scalers are fitted with NumPy in row chunks, as scikit-learn's StandardScaler and MinMaxScaler define
them (equal to float rounding), so that large data needs no full-size temporaries and training does not
import scikit-learn; the robust scaler uses scikit-learn.

Shapes: ``X`` is ``(m, n0)``; ``center`` and ``scale`` are ``(n0,)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..choices import pick
from ..errors import DataError
from .columns import Column, encode


def _none(X):
    n = X.shape[1]
    return np.zeros(n), np.ones(n)


def _standard(X, chunk_values=1 << 16):
    """Per-feature mean and population standard deviation, by StandardScaler's corrected two-pass
    formula; a (near-)constant feature gets scale 1, by scikit-learn's test for one. The second pass goes
    through one buffer of ``chunk_values`` numbers (512 kB), which stays in cache, a block of rows at a time."""
    m, n = X.shape
    mean = X.sum(axis=0) / m
    correction, squares = np.zeros_like(mean), np.zeros_like(mean)
    rows = max(1, chunk_values // max(n, 1))
    buf = np.empty((min(rows, m), n))
    for s in range(0, m, rows):
        d = np.subtract(X[s:s + rows], mean, out=buf[:min(rows, m - s)])
        correction += d.sum(axis=0)
        d *= d
        squares += d.sum(axis=0)
    var = (squares - correction ** 2 / m) / m
    eps = np.finfo(np.float64).eps
    constant = var <= m * eps * var + (m * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant] = 1.0
    return mean, scale


def _minmax(X):
    center = X.min(axis=0)
    scale = X.max(axis=0) - center
    scale[scale == 0.0] = 1.0  # as scikit-learn does: a constant feature is left unscaled
    return center, scale


def _robust(X):
    from sklearn import preprocessing

    s = preprocessing.RobustScaler().fit(X)
    return s.center_, s.scale_


# name -> fit(X_train) -> (center, scale)
SCALERS = {"standard": _standard, "minmax": _minmax, "robust": _robust, "none": _none}


def fit(name, X_train):
    """Fit scaler ``name`` on ``X_train`` ``(m, n0)``; return ``{"center": (n0,), "scale": (n0,)}``."""
    center, scale = pick(SCALERS, name, "scaler")(X_train)
    return {"center": np.asarray(center, dtype=np.float64), "scale": np.asarray(scale, dtype=np.float64)}


def apply(scaler, X, out=None):
    """``(X − center) / scale`` for ``X`` of shape ``(m, n0)``; ``out=X`` scales in place."""
    out = np.subtract(X, scaler["center"], out=out)
    out /= scaler["scale"]
    return out


def column_order(header, feature_names, where):
    """Which columns of a file with column names ``header`` are the network's features, in its order.

    By name, and only by name: every feature name must be in the header (in any order; extra columns such as
    ids or the label are passed over). A header that names some of them but not all, names one in another
    letter case, names none, or names a column twice is refused: reading its columns by position could
    silently feed one feature's values in as another's.
    """
    at = {}
    for i, name in enumerate(header):  # linear: a header may have tens of thousands of columns
        if name and name in at:
            raise DataError(f"{where}: column {name!r} appears more than once in the header")
        at.setdefault(name, i)
    if set(feature_names) <= set(at):
        return [at[name] for name in feature_names]
    missing = [name for name in feature_names if name not in header]
    folded = {name.casefold(): name for name in feature_names}
    near = [name for name in header if name.casefold() in folded and name not in feature_names]
    hint = f" ({near[0]!r} is not {folded[near[0].casefold()]!r}: names are case-sensitive)" if near else ""
    if len(missing) < len(feature_names) or near:
        raise DataError(f"{where}: the header lacks column {missing[0]!r}{hint}; it must name every one of the "
                        f"network's columns ({', '.join(feature_names)})")
    raise DataError(f"{where}: the header names none of the network's columns ({', '.join(feature_names)}); "
                    "name them, or give the rows without a header")


@dataclass
class Preprocessor:
    """The fitted raw-input → network-input map of one network: a table's columns (missing cells filled,
    categories one-hot encoded), then ``input_scale``, then the scaler."""

    feature_names: list  # the network's n0 inputs; a category column gives one per category ("color=red")
    input_scale: float
    scaler: dict  # {"center": (n0,), "scale": (n0,)}, fitted on the train split after input_scale
    columns: list = None  # the fitted columns.Column of the table columns read; None: feature_names, numbers

    @property
    def n_features(self):
        return len(self.feature_names)

    @property
    def read_columns(self):
        """The table columns the network reads, in its order: fitted ``Column`` objects."""
        return self.columns if self.columns is not None else [Column(name) for name in self.feature_names]

    def encode(self, frame, where):
        """``(X, unseen)``: ``frame``'s rows as the network's raw inputs (before ``input_scale``) and how many
        held a category unseen in training; see ``columns.encode``."""
        return encode(self.read_columns, frame, where)

    def scale_inputs(self, X):
        """``X · input_scale`` in place (``X`` must be the caller's own float array); returns ``X``."""
        if self.input_scale != 1.0:
            X *= self.input_scale
        return X

    def apply_scaler(self, X, out=None):
        """The scaler's step alone, on inputs already multiplied by ``input_scale``."""
        return apply(self.scaler, X, out=out)

    def transform(self, X):
        """Network input for raw inputs ``X`` ``(m, n0)`` (encoded, in the network's order); a new array.
        Overflow gives non-finite entries, which ``first_non_finite_row`` finds."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self.apply_scaler(np.asarray(X, dtype=np.float64) * self.input_scale)


def first_non_finite_row(X):
    """The index of the first row of ``X`` holding a non-finite value, or ``None``."""
    bad = np.argwhere(~np.isfinite(X))
    return int(bad[0][0]) if len(bad) else None
