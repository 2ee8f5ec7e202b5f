"""Data sources, one table: generators (seeded), scikit-learn's bundled sets, and files (.csv, .npz).

``load_source`` returns the raw rows: ``X`` ``(m, n0)`` float64, the labels as read, the feature names,
and the class names when the source has them.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .. import seeding
from ..errors import DataError
from . import csvfile


def _moons(n, noise, rng):
    from sklearn import datasets

    return datasets.make_moons(n, noise=noise, random_state=seeding.sklearn_seed(rng))


def _circles(n, noise, rng):
    from sklearn import datasets

    return datasets.make_circles(n, noise=noise, factor=0.5, random_state=seeding.sklearn_seed(rng))


def _blobs(n, noise, rng):
    """Three blobs on the unit circle; ``noise`` is their standard deviation."""
    from sklearn import datasets

    angles = np.array([0.0, 2.0, 4.0]) * np.pi / 3.0
    centers = np.c_[np.cos(angles), np.sin(angles)]
    return datasets.make_blobs(n, centers=centers, cluster_std=max(noise, 1e-12),
                               random_state=seeding.sklearn_seed(rng))


def _xor(n, noise, rng):
    """Quadrants labelled by the sign of x1·x2, then jittered."""
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X + rng.normal(0.0, noise, size=X.shape), y


def _spiral(n, noise, rng):
    """cs231n's three-armed spiral."""
    k = 3
    counts = np.full(k, n // k)
    counts[: n % k] += 1
    y = np.repeat(np.arange(k), counts)
    r = np.concatenate([np.linspace(0.0, 1.0, c) for c in counts])
    t = np.concatenate([np.linspace(j * 4.0, (j + 1) * 4.0, c) for j, c in enumerate(counts)])
    t = t + rng.normal(0.0, noise, size=n)
    return np.c_[r * np.sin(t), r * np.cos(t)], y


# name -> make(n_samples, noise, rng) -> (X (m, 2), y (m,)); data.n_samples and data.noise apply
GENERATORS = {"moons": _moons, "circles": _circles, "blobs": _blobs, "xor": _xor, "spiral": _spiral}
# name -> scikit-learn's load_<name>
BUNDLED = {name: f"load_{name}" for name in ("iris", "wine", "breast_cancer", "digits")}


def _bundled(name):
    from sklearn import datasets

    bunch = getattr(datasets, BUNDLED[name])()
    names = [str(c) for c in bunch.target_names] if hasattr(bunch, "target_names") else None
    return bunch.data.astype(np.float64), bunch.target, list(map(str, bunch.feature_names)), names


def _read_npz(path, where=None):
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an .npz archive (empty, truncated or another kind of file)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("X", "y") if k not in npz.files]
            if missing:
                raise DataError(f"{path}: missing array {' and '.join(missing)} (an .npz needs arrays X and y)")
            X, y = npz["X"], npz["y"]
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file without pickled objects ({exc})") from None
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise DataError(f"{path}: X must be (m, n) and y (m,), got X{X.shape} and y{y.shape}")
    if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise DataError(f"{path}: X must hold real numbers, got dtype {X.dtype}")
    X = X.astype(np.float64, copy=False)
    bad = () if np.isfinite(X).all() else np.argwhere(~np.isfinite(X))
    if len(bad):
        raise DataError(f"{path}: X[{bad[0][0]}, {bad[0][1]}] is {X[tuple(bad[0])]}, not a finite number")
    return X, y, [f"x{i + 1}" for i in range(X.shape[1])]


def _read_csv(path, where):
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: cannot read as UTF-8 text ({exc})") from None
    return csvfile.read_labeled(text, where)


# file suffix -> read(path, where) -> (X, labels, feature_names)
FILES = {".csv": _read_csv, ".npz": _read_npz}
FILE_SUFFIXES = tuple(FILES)


def load_source(config):
    """Return ``(X, labels, feature_names, class_names or None)`` for ``config['data']``, before scaling."""
    d = config["data"]
    source = d["source"]
    if source in GENERATORS:
        make = GENERATORS[source]
        X, y = make(d["n_samples"], d["noise"], seeding.rng(config["seed"], "data"))
        return X.astype(np.float64), y, ["x1", "x2"], None
    if source in BUNDLED:
        return _bundled(source)
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{source}: no such data file"
                        + ("" if path.is_absolute() else " (a relative path is read from the current directory)"))
    return (*FILES[path.suffix](path, source), None)


