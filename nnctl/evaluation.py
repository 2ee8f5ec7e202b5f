"""``nnctl eval``: a checkpoint's loss, accuracy, confusion matrix and per-class scores on a split."""
from __future__ import annotations

import numpy as np

from .data.preprocess import first_non_finite_row
from .errors import DataError
from .model.network import evaluate
from .targets import data_of
from .text import number
from .training.checkpoint import TrainedModel


def evaluate_checkpoint(path, source=None, split=None):
    """Evaluate the checkpoint at ``path`` on ``split`` of the run's data, or of ``source`` if given.

    ``split`` defaults to ``test`` for the run's own data (rebuilt from its seed) and to ``all`` for
    another source, whose rows are then used unsplit. Either way the rows go through the network's
    own preprocessing, columns picked by name as ``predict`` picks them.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    model = TrainedModel.open(path)
    where = str(path)
    split = split or ("test" if source is None else "all")
    data, config = data_of(model, where, source, whole=split == "all", keep_raw=False)
    X, y = data.splits["train" if split == "all" else split]
    if len(y) == 0:
        fraction = {"val": "data.val_fraction", "test": "data.test_fraction"}.get(split)
        hint = f" ({fraction} is {config['data'][fraction.split('.')[1]]}; use --split train or all)" if fraction else ""
        raise DataError(f"{where}: the {split} split of {config['data']['source']} is empty{hint}")
    net, class_names = model.net, model.class_names
    with np.errstate(over="ignore"):
        X = X.astype(net.dtype, copy=False)
    bad = first_non_finite_row(X)
    if bad is not None:  # finite in float64 but not in the network's float32: a NaN would score as class 0
        raise DataError(f"{where}: a row of {config['data']['source']} overflows the network's {net.dtype} after "
                        "its input scaling")
    loss, acc = evaluate(net, X, y)
    pred = net.predict(X)
    classes = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    return {
        "checkpoint": where, "epoch": model.epoch, "split": split,
        "source": config["data"].get(f"{split}_source") or config["data"]["source"],  # a split's own file
        "samples": int(len(y)), "loss": loss, "accuracy": acc, "class_names": class_names,
        "unseen_categories": data.unseen["train" if split == "all" else split],
        "confusion_matrix": confusion_matrix(y, pred, labels=classes).tolist(),
        "per_class": [{"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for name, p, r, f, s in zip(class_names, precision, recall, f1, support)],
    }


def format_report(r):
    names = r["class_names"]
    width = max(8, *(len(n) + 2 for n in names))
    lines = [f"{r['checkpoint']} (epoch {r['epoch']}) on {r['source']}, {r['split']} split, {r['samples']} samples",
             f"loss {number(r['loss'])}  accuracy {r['accuracy']:.4f}", "",
             *([f"{r['unseen_categories']} row(s) held a category unseen in training (all zeros in its one-hot "
                "columns)", ""] if r["unseen_categories"] else []),
             "confusion matrix (rows: true, columns: predicted)",
             " " * width + "".join(f"{n:>{width}}" for n in names)]
    for name, row in zip(names, r["confusion_matrix"]):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    lines += ["", f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for c in r["per_class"]:
        lines.append(f"{c['class']:<{width}}{c['precision']:>10.4f}{c['recall']:>10.4f}{c['f1']:>10.4f}{c['support']:>9}")
    return "\n".join(lines)
