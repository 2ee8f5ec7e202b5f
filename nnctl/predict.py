"""``nnctl predict``: NumPy only (no scikit-learn, no YAML) so that it starts fast in pipelines."""
from __future__ import annotations

import csv
import io

import numpy as np

from . import checkpoint, csvdata, scaling
from .errors import DataError
from .mlp import MLP


def predict_text(checkpoint_path, text, where, proba=False):
    """CSV feature rows in ``text`` → one class name per line, or a probability CSV headed by class names."""
    ckpt = checkpoint.load(checkpoint_path)
    model = ckpt.config["model"]
    names = ckpt.meta.get("feature_names") or [f"x{i + 1}" for i in range(model["layers"][0])]
    X = csvdata.read_features(text, where, names)
    with np.errstate(over="ignore", invalid="ignore"):
        X = scaling.apply(ckpt.scaler, X * ckpt.config["data"]["input_scale"])
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):  # a silent NaN would become class 0
        raise DataError(f"{where}: data row {bad[0][0] + 1} overflows after the network's input scaling")
    net = MLP(model["layers"], model["activation"], dtype=model.get("dtype", "float64"), params=ckpt.params)
    classes = ckpt.meta["class_names"]
    out = io.StringIO()
    if proba:
        P = net.predict_proba(X)
        csv.writer(out, lineterminator="\n").writerow(classes)  # quoted where a name holds , or "
        np.savetxt(out, P, fmt="%.6g", delimiter=",")
    else:
        out.writelines(classes[k] + "\n" for k in net.predict(X))
    return out.getvalue()
