"""Compare nnctl with scikit-learn's MLPClassifier trained the same way on the same split.

For each config: nnctl trains it (in a temporary run directory), and an ``MLPClassifier`` gets the same
hidden layers, activation, batch size, learning rate and epochs, plain SGD (no momentum, constant rate,
no early stopping), and an L2 term converted from nnctl's λ. Both see the identical scaled train split
from ``nnctl.data.dataset.prepare`` and are scored on the same test split.

The λ convention: nnctl's penalty ``(λ/2)‖W‖²`` is not divided by the batch size m, so its gradient adds
``λW`` per step; scikit-learn divides ``alpha`` by the batch's sample count, adding ``(alpha/m)W``. So
``alpha = λ · batch_size`` gives the same per-step penalty (the last, partial batch differs slightly).
Other differences that remain: scikit-learn initialises biases randomly and, for two classes, uses one
logistic output unit instead of a 2-way softmax.

    python scripts/compare_sklearn.py configs/*.yaml            # the full configs
    python scripts/compare_sklearn.py --epochs 20 --json configs/iris.yaml
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings

SKLEARN_ACTIVATION = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}


def sklearn_classifier(config):
    """An ``MLPClassifier`` set up like nnctl's minibatch gradient descent for ``config``."""
    from sklearn.neural_network import MLPClassifier

    model, train = config["model"], config["train"]
    return MLPClassifier(
        hidden_layer_sizes=tuple(model["layers"][1:-1]),
        activation=SKLEARN_ACTIVATION[model["activation"]],
        solver="sgd", learning_rate="constant", learning_rate_init=train["alpha"],
        momentum=0.0, nesterovs_momentum=False,
        alpha=train["lambda"] * train["batch_size"],  # sklearn divides alpha by the batch size; nnctl does not
        batch_size=train["batch_size"], max_iter=train["epochs"], shuffle=train["shuffle"],
        early_stopping=False, tol=0.0, n_iter_no_change=max(train["epochs"], 1),  # never stop before max_iter
        random_state=config["seed"],
    )


def compare(config_path, epochs=None, seed=None):
    """Train ``config_path`` with nnctl and with scikit-learn; return both test accuracies."""
    from sklearn.exceptions import ConvergenceWarning

    from nnctl import config as config_mod
    from nnctl.training.trainer import Trainer

    overrides = [f"train.epochs={epochs}"] if epochs is not None else []
    overrides += [f"seed={seed}"] if seed is not None else []
    config = config_mod.load(config_path, overrides)
    # The run directory is thrown away; on a RAM disk its checkpoint fsyncs cost nothing.
    scratch = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="nnctl-compare-", dir=scratch) as run_dir:
        trainer = Trainer(config, run_dir, where=str(config_path))
        summary = trainer.fit()
    data = trainer.data  # the identical scaled splits nnctl trained and tested on
    X_train, y_train = data.splits["train"]
    X_test, y_test = data.splits["test"]
    clf = sklearn_classifier(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # expected: max_iter is the epoch budget
        clf.fit(X_train, y_train)
    return {
        "config": str(config_path), "seed": config["seed"], "source": config["data"]["source"], "layers": config["model"]["layers"],
        "activation": config["model"]["activation"], "epochs": config["train"]["epochs"],
        "nnctl_test_acc": summary["test_acc"], "sklearn_test_acc": float(clf.score(X_test, y_test)),
        "test_samples": int(len(y_test)),
    }


def format_table(rows):
    lines = [f"{'config':<28}{'seed':>5}  {'layers':<16}{'activation':<11}{'epochs':>7}{'nnctl':>8}{'sklearn':>9}  ok"]
    for r in rows:
        ok = "yes" if r["nnctl_test_acc"] >= r["sklearn_test_acc"] else "NO"
        lines.append(f"{r['config']:<28}{r['seed']:>5}  {str(r['layers']):<16}{r['activation']:<11}{r['epochs']:>7}"
                     f"{r['nnctl_test_acc']:>8.4f}{r['sklearn_test_acc']:>9.4f}  {ok}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help="config files to compare")
    parser.add_argument("--epochs", type=int, help="override train.epochs (for a quick check)")
    parser.add_argument("--seeds", type=int, default=0, metavar="N",
                        help="also run seeds 0..N-1 (new split and initialisation each) and print the means")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = [compare(path, args.epochs) for path in args.configs]
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    if args.seeds:
        print(f"\nmean test accuracy over seeds 0..{args.seeds - 1}")
        for path in args.configs:
            runs = [compare(path, args.epochs, seed) for seed in range(args.seeds)]
            ours, theirs = (sum(r[k] for r in runs) / len(runs) for k in ("nnctl_test_acc", "sklearn_test_acc"))
            print(f"{path:<28} nnctl {ours:.4f}  sklearn {theirs:.4f}")
    # The check is on each config as shipped (its own seed); the seed means are for information.
    return 0 if all(r["nnctl_test_acc"] >= r["sklearn_test_acc"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
