"""Input scalers: fitted on the train split, applied with NumPy alone.

Every scaler reduces to ``(X − center) / scale`` per feature, so its two fitted arrays go into the
checkpoint without pickle and ``predict`` re-applies them without importing scikit-learn.
The standard and min-max scalers are fitted with NumPy in row chunks, as scikit-learn's StandardScaler
and MinMaxScaler define them (equal to float rounding), so that large data needs no full-size
temporaries and training does not import scikit-learn; the robust scaler uses scikit-learn.
"""
import numpy as np


def fit(name, X_train):
    """Fit scaler ``name`` on ``X_train`` ``(m, n0)``; return ``{"center": (n0,), "scale": (n0,)}``."""
    n = X_train.shape[1]
    if name == "none":
        return {"center": np.zeros(n), "scale": np.ones(n)}
    if name == "standard":
        center, scale = _mean_std(X_train)
    elif name == "minmax":
        center = X_train.min(axis=0)
        scale = X_train.max(axis=0) - center
        scale[scale == 0.0] = 1.0  # as scikit-learn does: a constant feature is left unscaled
    elif name == "robust":
        from sklearn import preprocessing

        s = preprocessing.RobustScaler().fit(X_train)
        center, scale = s.center_, s.scale_
    else:
        raise ValueError(f"unknown scaler {name!r}")
    return {"center": np.asarray(center, dtype=np.float64), "scale": np.asarray(scale, dtype=np.float64)}


def _mean_std(X, chunk=65536):
    """Per-feature mean and population standard deviation, by StandardScaler's corrected two-pass
    formula; a (near-)constant feature gets scale 1, by scikit-learn's test for one."""
    m = len(X)
    mean = X.sum(axis=0) / m
    correction, squares = np.zeros_like(mean), np.zeros_like(mean)
    for s in range(0, m, chunk):
        d = X[s:s + chunk] - mean
        correction += d.sum(axis=0)
        d *= d
        squares += d.sum(axis=0)
    var = (squares - correction ** 2 / m) / m
    eps = np.finfo(np.float64).eps
    constant = var <= m * eps * var + (m * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant] = 1.0
    return mean, scale


def apply(scaler, X, out=None):
    """``(X − center) / scale`` for ``X`` of shape ``(m, n0)``; ``out=X`` scales in place."""
    out = np.subtract(X, scaler["center"], out=out)
    out /= scaler["scale"]
    return out
