"""``nnctl eval``: a checkpoint's loss, accuracy, confusion matrix and per-class scores on a split."""
from __future__ import annotations

from . import checkpoint, config as config_mod, data as data_mod
from .errors import DataError
from .trainer import build_network, evaluate


def evaluate_checkpoint(path, source=None, split=None):
    """Evaluate the checkpoint at ``path`` on ``split`` of the run's data, or of ``source`` if given.

    ``split`` defaults to ``test`` for the run's own data (rebuilt from its seed) and to ``all`` for
    another source, whose rows are then used unsplit.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    ckpt = checkpoint.load(path)
    where = str(path)
    config = config_mod.of_checkpoint(ckpt.config, where)
    if source is not None:
        config["data"]["source"] = source
        config = config_mod.validate(config, "--data")
    split = split or ("test" if source is None else "all")
    data = data_mod.prepare(config, where, scaler=ckpt.scaler, class_names=ckpt.meta["class_names"],
                            whole=split == "all")
    data_mod.check_fits(config["model"]["layers"], data.n_features, len(ckpt.meta["class_names"]), where)
    X, y = data.splits["train" if split == "all" else split]
    if len(y) == 0:
        fraction = {"val": "data.val_fraction", "test": "data.test_fraction"}.get(split)
        hint = f" ({fraction} is {config['data'][fraction.split('.')[1]]}; use --split train or all)" if fraction else ""
        raise DataError(f"{where}: the {split} split of {config['data']['source']} is empty{hint}")
    net = build_network(config, params=ckpt.params)
    loss, acc = evaluate(net, X, y)
    pred = net.predict(X)
    classes = list(range(len(ckpt.meta["class_names"])))
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    return {
        "checkpoint": where, "epoch": ckpt.meta["epoch"], "source": config["data"]["source"], "split": split,
        "samples": int(len(y)), "loss": loss, "accuracy": acc, "class_names": ckpt.meta["class_names"],
        "confusion_matrix": confusion_matrix(y, pred, labels=classes).tolist(),
        "per_class": [{"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for name, p, r, f, s in zip(ckpt.meta["class_names"], precision, recall, f1, support)],
    }


def format_report(r):
    names = r["class_names"]
    width = max(8, *(len(n) + 2 for n in names))
    lines = [f"{r['checkpoint']} (epoch {r['epoch']}) on {r['source']}, {r['split']} split, {r['samples']} samples",
             f"loss {r['loss']:.4f}  accuracy {r['accuracy']:.4f}", "",
             "confusion matrix (rows: true, columns: predicted)",
             " " * width + "".join(f"{n:>{width}}" for n in names)]
    for name, row in zip(names, r["confusion_matrix"]):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    lines += ["", f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for c in r["per_class"]:
        lines.append(f"{c['class']:<{width}}{c['precision']:>10.4f}{c['recall']:>10.4f}{c['f1']:>10.4f}{c['support']:>9}")
    return "\n".join(lines)
