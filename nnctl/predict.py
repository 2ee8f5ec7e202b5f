"""``nnctl predict``: NumPy only (no scikit-learn, no YAML) so that it starts fast in pipelines.

Input is read and answered in chunks of rows, so a long or endless stream (``yes 0.5,0.1 | nnctl predict``)
gets its answers as it goes, in bounded memory.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from . import checkpoint, csvdata, scaling
from .errors import DataError
from .mlp import MLP


def predict_lines(checkpoint_path, lines, where, proba=False, write=None, chunk=65536):
    """Answer the CSV feature rows of ``lines`` (any iterable of text lines) chunk by chunk through
    ``write(text)``: one class name per line, or a probability CSV headed by the class names."""
    ckpt = checkpoint.load(checkpoint_path)
    model = ckpt.config["model"]
    names = ckpt.meta.get("feature_names") or [f"x{i + 1}" for i in range(model["layers"][0])]
    net = MLP(model["layers"], model["activation"], dtype=model.get("dtype", "float64"), params=ckpt.params)
    classes = ckpt.meta["class_names"]
    done = 0
    for X in csvdata.iter_features(lines, where, names, chunk):
        with np.errstate(over="ignore", invalid="ignore"):
            X = scaling.apply(ckpt.scaler, X * ckpt.config["data"]["input_scale"])
        bad = np.argwhere(~np.isfinite(X))
        if len(bad):  # a silent NaN would become class 0
            raise DataError(f"{where}: data row {done + bad[0][0] + 1} overflows after the network's input scaling")
        out = io.StringIO()
        if proba:
            if done == 0:  # the header goes out with the first answers, so a bad first chunk prints nothing
                csv.writer(out, lineterminator="\n").writerow(classes)  # quoted where a name holds , or "
            np.savetxt(out, net.predict_proba(X), fmt="%.6g", delimiter=",")
        else:
            out.writelines(classes[k] + "\n" for k in net.predict(X))
        write(out.getvalue())
        done += len(X)


def predict_text(checkpoint_path, text, where, proba=False):
    """``predict_lines`` over a whole text, returning the whole answer."""
    parts = []
    predict_lines(checkpoint_path, io.StringIO(text, newline=None), where, proba, parts.append)
    return "".join(parts)
