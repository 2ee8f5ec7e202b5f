"""Input scalers: fitted with scikit-learn on the train split, applied with NumPy alone.

Every scaler reduces to ``(X − center) / scale`` per feature, so its two fitted arrays go into the
checkpoint without pickle and ``predict`` re-applies them without importing scikit-learn.
"""
import numpy as np

SCALERS = ("standard", "minmax", "robust", "none")


def fit(name, X_train):
    """Fit scaler ``name`` on ``X_train`` ``(m, n0)``; return ``{"center": (n0,), "scale": (n0,)}``."""
    n = X_train.shape[1]
    if name == "none":
        return {"center": np.zeros(n), "scale": np.ones(n)}
    from sklearn import preprocessing

    if name == "standard":
        s = preprocessing.StandardScaler().fit(X_train)
        center, scale = s.mean_, s.scale_
    elif name == "minmax":
        s = preprocessing.MinMaxScaler().fit(X_train)
        center, scale = s.data_min_, s.data_range_.copy()
        scale[scale == 0.0] = 1.0  # as scikit-learn does: a constant feature is left unscaled
    elif name == "robust":
        s = preprocessing.RobustScaler().fit(X_train)
        center, scale = s.center_, s.scale_
    else:
        raise ValueError(f"unknown scaler {name!r}")
    return {"center": np.asarray(center, dtype=np.float64), "scale": np.asarray(scale, dtype=np.float64)}


def apply(scaler, X):
    """``(X − center) / scale`` for ``X`` of shape ``(m, n0)``."""
    return (X - scaler["center"]) / scaler["scale"]
