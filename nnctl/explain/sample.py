"""Which sample ``nnctl explain`` works on: one of a split (``--index``) or one given (``--x``, ``--y``)."""
from __future__ import annotations

import numpy as np

from ..data.preprocess import first_non_finite_row
from ..errors import NnctlError


class SampleError(NnctlError):
    """A sample selection (--index, --x, --y) that does not fit the data."""


def class_index(label, class_names, where="--y"):
    """The index of class ``label``: a class name, or an index when no class name looks like one."""
    if label in class_names:
        return class_names.index(label)
    names_look_numeric = any(name.lstrip("-").isdigit() for name in class_names)
    if label.lstrip("-").isdigit() and not names_look_numeric:
        i = int(label)
        if 0 <= i < len(class_names):
            return i
    raise SampleError(f"{where} {label}: not one of the classes ({', '.join(class_names)})"
                      + ("" if names_look_numeric else f" or an index 0..{len(class_names) - 1}"))


def parse_features(text, n_features):
    """``"0.5,-1"`` → a float array of length ``n_features``."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise SampleError(f"--x {text}: expected {n_features} comma-separated numbers") from None
    if len(values) != n_features:
        raise SampleError(f"--x {text}: expected {n_features} values (the network's n(0)), got {len(values)}")
    if not all(v == v and abs(v) != float("inf") for v in values):
        raise SampleError(f"--x {text}: every value must be a finite number")
    return values


def select_sample(data, config, split, index, x_text, label):
    """``(x scaled (n0,), y index, context)`` for the sample the options name."""
    if x_text is not None and index is not None:
        raise SampleError("--index and --x: give one of them, not both")
    if (x_text is None) != (label is None):
        raise SampleError("--x and --y: a sample given directly needs both its features (--x) and its label (--y)")
    context = {"split": split, "index": index, "scaler": config["data"]["scaler"],
               "input_scale": config["data"]["input_scale"], "class_names": list(data.class_names)}
    if x_text is not None:
        values = np.array(parse_features(x_text, data.n_features))
        x = data.preprocessor.transform(values[None, :])[0]
        with np.errstate(over="ignore"):
            raw = values * data.preprocessor.input_scale
        if first_non_finite_row(x[None, :]) is not None:
            raise SampleError(f"--x {x_text}: overflows after the network's input scaling")
        context.update(split=None, x_raw=raw.tolist())
        return x, class_index(label, list(data.class_names)), context
    X, y = data.splits[split]
    index = 0 if index is None else index
    if not 0 <= index < len(y):
        raise SampleError(f"--index {index}: the {split} split has {len(y)} samples (0..{len(y) - 1})"
                          if len(y) else f"--index {index}: the {split} split is empty")
    context.update(index=index, x_raw=data.raw[split][index].tolist() if split in data.raw else None)
    return X[index], int(y[index]), context


def select_batch(data, config, split, index, m):
    """``(X (m, n0) scaled, classes, context)``: rows ``index … index+m−1`` of ``split``."""
    X, y = data.splits[split]
    if not len(y):
        raise SampleError(f"--batch {m}: the {split} split is empty")
    if not 0 <= index or index + m > len(y):
        raise SampleError(f"--index {index} --batch {m}: the {split} split has {len(y)} samples, so a batch of {m} "
                          f"starts at 0..{len(y) - m}" if m <= len(y) else
                          f"--batch {m}: the {split} split has only {len(y)} samples")
    context = {"split": split, "index": index, "scaler": config["data"]["scaler"],
               "input_scale": config["data"]["input_scale"], "class_names": list(data.class_names)}
    return X[index:index + m], [int(v) for v in y[index:index + m]], context
