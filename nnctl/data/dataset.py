"""A source made ready for a network: labels encoded, split (stratified, seeded), preprocessed with
the ``Preprocessor`` fitted on the train split.

Arrays: ``X`` is ``(m, n0)`` float64, ``y`` is ``(m,)`` int64 of class indices ``0..K−1``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from . import columns as columns_mod, preprocess
from .preprocess import Preprocessor
from .sources import load_source
from .splitting import SPLITS, split_indices


@dataclass
class Data:
    """The network-ready splits of one source, with the ``Preprocessor`` that made them."""

    splits: dict                      # name -> (X, y); X preprocessed, shape (m, n0)
    preprocessor: Preprocessor
    class_names: list
    source: str = ""
    raw: dict = field(default_factory=dict, repr=False)  # name -> X after input_scale, before the scaler
    fingerprint: dict = field(default_factory=dict)  # of the rows and labels as read: see ``fingerprint``
    unseen: dict = field(default_factory=dict)  # split -> rows holding a category the train split did not

    @property
    def feature_names(self):
        return self.preprocessor.feature_names

    @property
    def n_features(self):
        return self.preprocessor.n_features

    @property
    def scaler(self):
        return self.preprocessor.scaler


def fingerprint(frame, labels):
    """What identifies a source's contents: ``{"rows", "features", "X", "labels"}``, the last two SHA-256
    of the raw values (number columns, then category columns) and the labels exactly as read (before any
    filling, scaling or encoding)."""
    X = np.ascontiguousarray(frame.numbers, dtype=np.float64)
    labels = np.asarray(labels)
    h_labels = hashlib.sha256(f"{labels.dtype.kind}|".encode())
    if labels.dtype.kind in "iufb":
        h_labels.update(np.ascontiguousarray(labels, dtype=labels.dtype.newbyteorder("<")).data)  # no copy
    else:
        h_labels.update("\x1f".join(map(str, labels.tolist())).encode("utf-8"))
    h_X = hashlib.sha256(X.data)  # X.data: no copy
    if frame.texts.shape[1]:
        h_X.update("\x1f".join(map(str, frame.texts.ravel().tolist())).encode("utf-8"))
    return {"rows": int(X.shape[0]), "features": frame.names, "X": h_X.hexdigest(), "labels": h_labels.hexdigest()}


SPLIT_SOURCES = {"val": "val_source", "test": "test_source"}  # a split read from a file of its own


def fingerprint_change(before, now):
    """How the data ``now`` differs from the data ``before`` (two fingerprints), in words; ``None`` if not."""
    if before == now:
        return None
    for key in SPLIT_SOURCES.values():  # a split file's own fingerprint
        then, here = before.get(key), now.get(key)
        if then != here:
            if then and here:
                return f"data.{key}: {fingerprint_change(then, here)}"
            return f"data.{key}: {'given then, not now' if then else 'not given then, given now'}"
    if before["rows"] != now["rows"]:
        return f"{before['rows']} rows then, {now['rows']} now"
    if before["features"] != now["features"]:
        return f"columns {', '.join(before['features'])} then, {', '.join(now['features'])} now"
    changed = [what for what, key in (("feature values", "X"), ("labels", "labels")) if before[key] != now[key]]
    return f"same {now['rows']} rows, other {' and '.join(changed)}"


def _check_labels(labels, where):
    """Labels that can become class names: numbers or printable text (not NaN, complex, bytes or objects)."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(labels))
        if len(bad):
            raise DataError(f"{where}: label of row {bad[0] + 1} is {labels[bad[0]]}; labels must be class "
                            "numbers or names")
    elif labels.dtype.kind == "U":
        text = labels.tolist()
        bad = [i for i, label in enumerate(text) if not label.isprintable() or not label.strip()]
        if bad:
            raise DataError(f"{where}: label of row {bad[0] + 1} is {text[bad[0]]!r}; class names must be "
                            "printable, non-empty text")
    elif labels.dtype.kind not in "iub":
        raise DataError(f"{where}: labels of dtype {labels.dtype} cannot be class names; use integers or text")


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


def prepare_sized(config, where="config", **options):
    """``prepare`` for the network ``config`` describes: when the config gives ``model.hidden``, ``model.layers``
    becomes ``[inputs, *hidden, classes]`` of the data and ``model.hidden`` None (in place); then the layers
    are checked against the data."""
    return sized(config, prepare(config, where, **options), where)


def sized(config, data, where="config"):
    """``data`` (``prepare``'s, for ``config``'s data section and seed) checked against ``config``'s network,
    ``model.hidden`` turned into ``model.layers`` as ``prepare_sized`` does; returns ``data``."""
    model = config["model"]
    if model["hidden"] is not None:  # the run's config records the layers, as if it had given them
        model["layers"], model["hidden"] = [data.n_features, *model["hidden"], len(data.class_names)], None
    check_fits(model["layers"], data.n_features, len(data.class_names), where)
    return data


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


def prepare(config, where="config", preprocessor=None, class_names=None, keep_raw=True, whole=False):
    """Load, encode, split and preprocess the data ``config`` describes.

    ``preprocessor`` (a trained network's) is applied instead of fitting a new one, to the source's
    columns picked by name as ``predict`` picks them; ``class_names`` (from a checkpoint) fixes the
    label → index mapping, and then a source may hold only some of the classes; ``keep_raw=False``
    leaves ``Data.raw`` empty, so that the data is held once (training needs only the network-ready
    splits); ``whole=True`` puts every row in ``train``, unsplit.
    """
    d = config["data"]
    fixed = preprocessor.read_columns if preprocessor is not None else None
    frame, labels, names = load_source(config, fixed, trained=fixed is not None)
    if fixed is not None and frame.names != [c.name for c in fixed]:
        if d["source"].endswith(".npz"):  # columns without names
            raise DataError(f"{where}: the network takes {len(fixed)} features, but {d['source']} has "
                            f"{len(frame.columns)}" + (" after data.drop" if d["drop"] else ""))
        raise DataError(f"{where}: the network reads columns {', '.join(c.name for c in fixed)}; "
                        f"{d['source']} has {', '.join(frame.names)}")
    frames, label_parts = {"main": frame}, {"main": labels}
    for split, key in SPLIT_SOURCES.items():
        if d.get(key) and not whole:  # the split's rows come from a file of their own, read as the main one
            frames[split], label_parts[split], _ = load_source(config, fixed or frame.columns, source=d[key],
                                                               trained=fixed is not None)
    if names is None:
        for part, key in {"main": "source", **SPLIT_SOURCES}.items():
            if part in label_parts:
                _check_labels(label_parts[part], d[key])
    contents = fingerprint(frame, labels)
    for split, key in SPLIT_SOURCES.items():
        if split in frames:
            contents[key] = fingerprint(frames[split], label_parts[split])
    if names is not None:
        y, class_names_here = np.asarray(labels, dtype=np.int64), names
    else:
        y, class_names_here = encode_labels(
            np.concatenate([np.asarray(v) for v in label_parts.values()]) if len(label_parts) > 1 else labels,
            d["source"], min_classes=1 if class_names else 2)
    if class_names is not None and class_names != class_names_here:
        lookup = {name: i for i, name in enumerate(class_names)}
        unknown = sorted(set(class_names_here) - set(lookup))
        if unknown:
            raise DataError(f"{d['source']}: labels {unknown} are not among the network's classes {class_names}")
        y = np.array([lookup[class_names_here[i]] for i in y], dtype=np.int64)
        class_names_here = class_names
    # Peak memory is X plus its split copies: scaling happens in place, the source's rows are dropped once
    # split, and the labels wait in the narrowest integer type meanwhile.
    codes = y.astype(np.int8 if len(class_names_here) < 128 else np.int32)
    del labels, y, label_parts
    m = len(frame)
    if whole:
        empty = np.array([], dtype=np.int64)
        index = {"train": np.arange(m), "val": empty, "test": empty}
    else:
        index = split_indices(codes[:m], 0.0 if "val" in frames else d["val_fraction"],
                              0.0 if "test" in frames else d["test_fraction"], config["seed"], where)
    start = m
    for split in SPLIT_SOURCES:
        if split in frames:
            index[split] = np.arange(start, start + len(frames[split]))
            start += len(frames[split])
    if preprocessor is None and len(frames) > 1:  # a class only in a split file: no train row teaches it
        trained = np.bincount(codes[index["train"]], minlength=len(class_names_here))
        if not trained.all():
            name = class_names_here[int(np.flatnonzero(trained == 0)[0])]
            files = " or ".join(d[key] for split, key in SPLIT_SOURCES.items() if split in frames)
            raise DataError(f"{d['source']}: class {name!r} has no row in the train split (only in {files}); "
                            "the network could never learn it")
    fitting = preprocessor is None
    raw, parts, unseen = {}, {}, {}
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _check_finite, as a DataError
        for name in SPLITS:  # train first: the columns and the scaler are fitted on it
            own = name in frames
            part = frames[name] if own else frame.take(index[name])
            if own:
                del frames[name]
            if fitting and name == "train":
                fitted = columns_mod.fit(part, d["impute"], d["source"])
                columns_mod.check_inputs(fitted, len(part), d["source"], explicit=isinstance(d["categorical"], list))
                preprocessor = Preprocessor(columns_mod.input_names(fitted), d["input_scale"], None, fitted)
            X, unseen[name] = preprocessor.encode(part, d[SPLIT_SOURCES[name]] if own else d["source"])
            del part
            if preprocessor.input_scale != 1.0:
                preprocessor.scale_inputs(X)  # in place: X is this function's own array
                _check_finite(X, preprocessor.feature_names, d, "data.input_scale")
            if keep_raw:
                raw[name], X = X, X.copy()
            if fitting and name == "train":
                preprocessor.scaler = preprocess.fit(d["scaler"], X)
            parts[name] = preprocessor.apply_scaler(X, out=X)
            del X
    del frame, frames
    splits = {name: (parts.pop(name), codes[index.pop(name)].astype(np.int64)) for name in SPLITS}
    for Xs, _ in splits.values():
        _check_finite(Xs, preprocessor.feature_names, d, f"data.input_scale and the {d['scaler']} scaler")
    return Data(splits, preprocessor, class_names_here, d["source"], raw, contents, unseen)
