"""Data sources, one table: generators (seeded), scikit-learn's bundled sets, and files (.csv, .npz).

``load_source`` returns the raw rows as a ``columns.Frame`` (number and category columns, before anything is
fitted), the labels as read, and the class names when the source has them.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .. import seeding
from ..errors import DataError
from . import csvfile
from .columns import Column, Frame, layout


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


def _read_npz(path, where, data, columns=None, trained=False):  # columns: checked by the caller
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
    for key in ("label", "categorical"):
        if data.get(key) not in (None, "auto", "none"):
            raise DataError(f"{path}: data.{key}: an .npz holds numbers in X and its labels in y; "
                            f"data.{key} is for a .csv")
    names = [f"x{i + 1}" for i in range(X.shape[1])]  # an .npz's columns have no names but their positions
    for ref in data.get("drop") or []:
        if ref == len(names) or ref == "y" or isinstance(ref, int) and ref > len(names):
            raise DataError(f"{where}: data.drop: {ref!r} is not a column of X (x1 … x{len(names)}, or 0 … "
                            f"{len(names) - 1}); the labels y are not a column")
    keep = layout(names + ["y"], {"label": len(names), "drop": data.get("drop") or []}, where)[1]
    if keep != list(range(X.shape[1])):
        X = X[:, keep]
    X = X.astype(np.float64, copy=False)
    finite = np.isfinite(X)
    if data.get("impute", "none") != "none":
        finite |= np.isnan(X)  # NaN: a missing value, which data.impute fills
    bad = () if finite.all() else np.argwhere(~finite)
    if len(bad):
        raise DataError(f"{path}: X[{bad[0][0]}, {keep[bad[0][1]]}] is {X[tuple(bad[0])]}, not a finite number"
                        + ("; set data.impute to fill missing (NaN) values" if np.isnan(X[tuple(bad[0])]) else ""))
    return Frame([Column(names[k]) for k in keep], X), y


def _read_csv(path, where, data, columns=None, trained=False):
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: cannot read as UTF-8 text ({exc})") from None
    return csvfile.read_labeled(text, where, data, columns, trained)


# file suffix -> read(path, where, data config, columns, trained) -> (frame, labels)
FILES = {".csv": _read_csv, ".npz": _read_npz}
FILE_SUFFIXES = tuple(FILES)


def load_source(config, columns=None, source=None, trained=False):
    """``(frame, labels, class names or None)`` of ``source`` (default ``config['data']['source']``) under the
    config's data keys. ``columns`` (names and kinds) fixes what a file's rows are read as: the train source's
    for its val and test files, a trained network's for new data (then ``trained``: a missing cell its column
    cannot fill is the network's limit, not the config's)."""
    d = config["data"]
    source = d["source"] if source is None else source
    if source in GENERATORS or source in BUNDLED:
        for key, empty in (("label", None), ("drop", []), ("impute", "none")):
            if d.get(key, empty) != empty:
                raise DataError(f"{source}: data.{key}: is for a .csv or .npz source, not the built-in {source!r}")
    if source in GENERATORS:
        make = GENERATORS[source]
        X, y = make(d["n_samples"], d["noise"], seeding.rng(config["seed"], "data"))
        return Frame([Column("x1"), Column("x2")], X.astype(np.float64)), y, None
    if source in BUNDLED:
        X, y, names, classes = _bundled(source)
        return Frame([Column(n) for n in names], X), y, classes
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{source}: no such data file"
                        + ("" if path.is_absolute() else " (read from the current directory; a config's own data paths are read from its folder)"))
    return (*FILES[path.suffix](path, source, d, columns, trained), None)
