"""Data: load a source, encode labels, split (stratified, seeded), scale (fitted on train only).

Arrays: ``X`` is ``(m, n0)`` float64, ``y`` is ``(m,)`` int64 of class indices ``0..K−1``.
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import csvdata, scaling, seeding, splitting
from .config import BUNDLED, GENERATORS
from .errors import DataError

SPLITS = ("train", "val", "test")


@dataclass
class Data:
    """The scaled splits of one source, with what is needed to redo the scaling later."""

    splits: dict                      # name -> (X, y); X scaled, shape (m, n0)
    scaler: dict                      # {"center": (n0,), "scale": (n0,)}
    class_names: list
    feature_names: list
    source: str = ""
    raw: dict = field(default_factory=dict, repr=False)  # name -> unscaled X (after input_scale)

    @property
    def n_features(self):
        return len(self.feature_names)


def _generate(name, n, noise, rng):
    from sklearn import datasets

    state = seeding.sklearn_seed(rng)
    if name == "moons":
        return datasets.make_moons(n, noise=noise, random_state=state)
    if name == "circles":
        return datasets.make_circles(n, noise=noise, factor=0.5, random_state=state)
    if name == "blobs":  # three blobs on the unit circle; noise is their standard deviation
        angles = np.array([0.0, 2.0, 4.0]) * np.pi / 3.0
        centers = np.c_[np.cos(angles), np.sin(angles)]
        return datasets.make_blobs(n, centers=centers, cluster_std=max(noise, 1e-12), random_state=state)
    if name == "xor":  # quadrants labelled by the sign of x1·x2, then jittered
        X = rng.uniform(-1.0, 1.0, size=(n, 2))
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
        return X + rng.normal(0.0, noise, size=X.shape), y
    if name == "spiral":  # cs231n's three-armed spiral
        k = 3
        counts = np.full(k, n // k)
        counts[: n % k] += 1
        y = np.repeat(np.arange(k), counts)
        r = np.concatenate([np.linspace(0.0, 1.0, c) for c in counts])
        t = np.concatenate([np.linspace(j * 4.0, (j + 1) * 4.0, c) for j, c in enumerate(counts)])
        t = t + rng.normal(0.0, noise, size=n)
        return np.c_[r * np.sin(t), r * np.cos(t)], y
    raise DataError(f"data.source: unknown generator {name!r}")


def _bundled(name):
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    names = [str(c) for c in bunch.target_names] if hasattr(bunch, "target_names") else None
    return bunch.data.astype(np.float64), bunch.target, list(map(str, bunch.feature_names)), names


def _read_npz(path):
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


def _label_name(value):
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def encode_labels(labels, where, min_classes=2):
    """Map labels of any kind to ``0..K−1``; numbers sort numerically, text alphabetically."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "US":
        try:
            numeric = labels.astype(np.float64)
        except ValueError:
            numeric = None
        if numeric is not None and np.all(np.isfinite(numeric)):
            labels = numeric
    integer = labels.dtype.kind in "iu" and np.can_cast(labels.dtype, np.intp)
    if integer and len(labels) and int(labels.max()) - int(labels.min()) < 2**20:
        # Integer labels: a lookup table gives np.unique's answer without sorting copies of the labels.
        low = labels.min()
        shifted = labels - low if low else labels
        present = np.flatnonzero(np.bincount(shifted))
        values = (present + int(low)).astype(labels.dtype)
        if low == 0 and len(present) == present[-1] + 1 and labels.dtype == np.int64:
            y = labels  # already the codes 0..K−1
        else:
            table = np.zeros(int(present[-1]) + 1, dtype=np.int64)
            table[present] = np.arange(len(present))
            y = table[shifted]
    else:
        values, y = np.unique(labels, return_inverse=True)
    if len(values) < min_classes:
        raise DataError(f"{where}: the labels hold a single class ({_label_name(values[0]) if len(values) else 'none'}); "
                        "classification needs at least 2")
    return y.astype(np.int64, copy=False), [_label_name(v) for v in values]


def load_source(config):
    """Return ``(X, labels, feature_names, class_names or None)`` for ``config['data']``, before scaling."""
    d = config["data"]
    source = d["source"]
    if source in GENERATORS:
        X, y = _generate(source, d["n_samples"], d["noise"], seeding.rng(config["seed"], "data"))
        return X.astype(np.float64), y, ["x1", "x2"], None
    if source in BUNDLED:
        return _bundled(source)
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{source}: no such data file"
                        + ("" if path.is_absolute() else " (a relative path is read from the current directory)"))
    if source.endswith(".npz"):
        return (*_read_npz(path), None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: cannot read as UTF-8 text ({exc})") from None
    return (*csvdata.read_labeled(text, source), None)


def _count(fraction, m):
    """``⌈fraction·m⌉`` as scikit-learn counts a split, without float noise (0.07 of 100 is 7, not 8)."""
    return math.ceil(round(fraction * m, 9))


def _split(index, codes, n_test, random_state):
    """``train_test_split(index, test_size=n_test, stratify=codes, random_state=…)``, computed by
    ``splitting`` (same result, far less memory); scikit-learn only to word the error when it fails."""
    parts = splitting.stratified_split(index, codes, n_test, random_state)
    if parts is None:
        from sklearn.model_selection import train_test_split

        index = np.arange(len(codes)) if index is None else index
        parts = train_test_split(index, test_size=n_test, stratify=codes, random_state=random_state)
    return parts


def split_indices(y, val_fraction, test_fraction, seed, where="data"):
    """Stratified, seeded index arrays for train, val and test; val and test get ``⌈fraction·m⌉`` samples."""
    rng = seeding.rng(seed, "split")
    # Narrow class codes and positions: the split of 10 million samples then needs tens of MB, not hundreds.
    codes = y.astype(np.int8 if len(y) == 0 or y.max() < 128 else np.int64, copy=False)
    out = {}
    try:
        rest = None  # every position
        if test_fraction > 0:
            rest, out["test"] = _split(rest, codes, _count(test_fraction, len(y)), seeding.sklearn_seed(rng))
        if val_fraction > 0:
            rest, out["val"] = _split(rest, codes if rest is None else codes[rest], _count(val_fraction, len(y)),
                                      seeding.sklearn_seed(rng))
    except ValueError as exc:
        raise DataError(f"{where}: cannot make a stratified split of {len(y)} samples: {exc}") from None
    out["train"] = np.arange(len(y)) if rest is None else rest
    empty = np.array([], dtype=np.int64)
    return {name: np.sort(out.get(name, empty)) for name in SPLITS}


def check_fits(layers, n_features, n_classes, where):
    if layers[0] != n_features:
        raise DataError(f"{where}: model.layers[0] is {layers[0]} but the data has {n_features} features")
    if layers[-1] != n_classes:
        raise DataError(f"{where}: model.layers[-1] is {layers[-1]} but the data has {n_classes} classes")


def _check_finite(X, feature_names, d, after):
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        raise DataError(f"{d['source']}: column {feature_names[bad[0][1]]!r} overflows after {after} "
                        f"(data.input_scale={d['input_scale']}); rescale the data")


def prepare(config, where="config", scaler=None, class_names=None, keep_raw=True, whole=False):
    """Load, encode, split and scale the data ``config`` describes.

    ``scaler`` (fitted arrays from a checkpoint) is applied instead of fitting a new one;
    ``class_names`` (from a checkpoint) fixes the label → index mapping, and then a source may hold
    only some of the classes; ``keep_raw=False`` leaves ``Data.raw`` empty, so that the data is held
    once (training needs only the scaled splits); ``whole=True`` puts every row in ``train``, unsplit.
    """
    d = config["data"]
    X, labels, feature_names, names = load_source(config)
    if scaler is not None and X.shape[1] != len(scaler["center"]):
        raise DataError(f"{where}: the network takes {len(scaler['center'])} features, "
                        f"but {d['source']} has {X.shape[1]}")
    if names is not None:
        y, class_names_here = np.asarray(labels, dtype=np.int64), names
    else:
        y, class_names_here = encode_labels(labels, d["source"], min_classes=1 if class_names else 2)
    if class_names is not None and class_names != class_names_here:
        lookup = {name: i for i, name in enumerate(class_names)}
        unknown = sorted(set(class_names_here) - set(lookup))
        if unknown:
            raise DataError(f"{d['source']}: labels {unknown} are not among the network's classes {class_names}")
        y = np.array([lookup[class_names_here[i]] for i in y], dtype=np.int64)
        class_names_here = class_names
    # Peak memory is X plus its split copies: scaling happens in place, X is dropped once split, and
    # the labels wait in the narrowest integer type meanwhile.
    codes = y.astype(np.int8 if len(class_names_here) < 128 else np.int32)
    del labels, y
    if whole:
        empty = np.array([], dtype=np.int64)
        index = {"train": np.arange(len(codes)), "val": empty, "test": empty}
    else:
        index = split_indices(codes, d["val_fraction"], d["test_fraction"], config["seed"], where)
    raw, parts = {}, {}
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _check_finite, as a DataError
        if d["input_scale"] != 1.0:
            X *= d["input_scale"]  # in place: X is this function's own array, made by load_source
            _check_finite(X, feature_names, d, "data.input_scale")
        for name in SPLITS:  # train first: the scaler is fitted on it
            part = X[index[name]]
            if keep_raw:
                raw[name], part = part, part.copy()
            if scaler is None:
                scaler = scaling.fit(d["scaler"], part)
            parts[name] = scaling.apply(scaler, part, out=part)
            del part
    del X
    splits = {name: (parts.pop(name), codes[index.pop(name)].astype(np.int64)) for name in SPLITS}
    for Xs, _ in splits.values():
        _check_finite(Xs, feature_names, d, f"data.input_scale and the {d['scaler']} scaler")
    return Data(splits, scaler, class_names_here, feature_names, d["source"], raw)
