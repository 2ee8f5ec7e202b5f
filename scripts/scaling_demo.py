"""Report of the input-scaling experiment (`make demo`): tables and one figure from two finished sweeps.

    python scripts/scaling_demo.py [--sweep runs/scaling-demo] [--relu-sweep runs/scaling-demo-relu] [--out docs/scaling]

Writes OUT/results.csv (every run of both sweeps), OUT/init-gradients.csv (the derivation's claim,
measured: gradient norms at initialisation for inputs ×1 and ×1000), OUT/gradient-norms.csv (per run and
epoch) and OUT/scaling.png; prints the tables as Markdown for the README. Nothing here is random
beyond the configs' seed, so a rerun reproduces every number (the sweeps' timings are left out).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from nnctl import config as config_mod
from nnctl.data import dataset as data_mod
from nnctl.model.network import ACTIVATIONS, log_softmax
from nnctl.training.checkpoint import build_network

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "scaling-demo.yaml"
SCALES = (1.0, 1000.0)
SCALERS = ("none", "standard", "minmax")


def init_gradients(config):
    """Gradient norms of J at initialisation on the whole train split, with the pieces that explain them.

    ∂J/∂W(1) = δ(1)ᵀ·X + λW(1) with δ(1) = (δ(2)·W(2)) ⊙ g'(Z(1)): X grows with the inputs, but g'(Z(1))
    shrinks when the units saturate. Returned: ‖X‖, ‖δ(1)‖, ‖∂J/∂W(1)‖, ‖∂J/∂W(2)‖ (Frobenius norms),
    the share of hidden units (over samples) whose g'(z) < 1e-3, and the median |z(1)|.
    """
    data = data_mod.prepare(config, str(CONFIG))
    X, y = data.splits["train"]
    net = build_network(config)
    _, grads = net.loss_and_grads(X, y)
    A = net.forward(X)
    g_prime = ACTIVATIONS[config["model"]["activation"]][1](A[1])
    delta2 = np.exp(log_softmax(A[-1]))
    delta2[np.arange(len(y)), y] -= 1.0
    delta1 = (delta2 / len(y)) @ net.params["W2"] * g_prime
    Z1 = X @ net.params["W1"].T + net.params["b1"]
    return {"norm_X": float(np.linalg.norm(X)), "norm_delta1": float(np.linalg.norm(delta1)),
            "grad_norm_W1": float(np.linalg.norm(grads["W1"])), "grad_norm_W2": float(np.linalg.norm(grads["W2"])),
            "flat_units": float(np.mean(g_prime < 1e-3)), "median_abs_z1": float(np.median(np.abs(Z1)))}


def measure_claim():
    rows = []
    for activation in ("sigmoid", "tanh", "relu"):
        for scaler in SCALERS:
            base = None
            for scale in SCALES:
                config = config_mod.load(CONFIG, [f"model.activation={activation}", f"data.scaler={scaler}",
                                                  f"data.input_scale={scale}"])
                row = {"activation": activation, "scaler": scaler, "input_scale": scale, **init_gradients(config)}
                base = base or row
                row["W1_ratio"] = row["grad_norm_W1"] / base["grad_norm_W1"]
                row["W2_ratio"] = row["grad_norm_W2"] / base["grad_norm_W2"]
                rows.append(row)
    return rows


def read_runs(sweep_dir, group):
    """One dict per run of a sweep: its settings from ``config.yaml``, figures from ``results.csv``."""
    with open(sweep_dir / "results.csv", newline="", encoding="utf-8") as f:
        results = list(csv.DictReader(f))
    runs = []
    for row in results:
        run_dir = sweep_dir / row["run"]
        config = config_mod.load(run_dir / "config.yaml")
        metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
        runs.append({"group": group, "run": row["run"], "activation": config["model"]["activation"],
                     "input_scale": config["data"]["input_scale"], "scaler": config["data"]["scaler"],
                     "alpha": config["train"]["alpha"], "status": row["status"], "epochs": int(row["epochs"]),
                     **{k: (float(row[k]) if row[k] else None) for k in
                        ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")},
                     "message": row["message"], "config": config, "metrics": metrics})
    return runs


def write_csv(path, rows, columns):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row[c] is None else (f"{row[c]:.6g}" if isinstance(row[c], float) else row[c])
                             for c in columns])


def gradient_norm_rows(runs):
    """Epoch 0: at initialisation, whole train split; epochs ≥ 1: the epoch's last minibatch (metrics.jsonl)."""
    rows, cache = [], {}
    for run in runs:
        key = (run["activation"], run["input_scale"], run["scaler"])
        if key not in cache:
            cache[key] = init_gradients(run["config"])
        common = {k: run[k] for k in ("group", "run", "activation", "input_scale", "scaler", "alpha")}
        rows.append({**common, "epoch": 0, "grad_norm_W1": cache[key]["grad_norm_W1"],
                     "grad_norm_W2": cache[key]["grad_norm_W2"]})
        for record in run["metrics"]:
            rows.append({**common, "epoch": record["epoch"], "grad_norm_W1": record.get("grad_norm_W1"),
                         "grad_norm_W2": record.get("grad_norm_W2")})
    return rows


def figure(claim, runs, grad_rows, out):
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    sigmoid = [r for r in runs if r["group"] == "sigmoid"]

    ax = axes[0, 0]
    none = [r for r in claim if r["scaler"] == "none"]
    labels = [f"{r['activation']}\n×{r['input_scale']:g}" for r in none]
    x = np.arange(len(none))
    ax.bar(x - 0.2, [r["grad_norm_W1"] for r in none], 0.4, label="‖∂J/∂W(1)‖")
    ax.bar(x + 0.2, [r["grad_norm_W2"] for r in none], 0.4, label="‖∂J/∂W(2)‖")
    for i, r in enumerate(none):
        if r["input_scale"] != 1.0:  # the factor the derivation predicts to be ≥ 1000
            for dx, key in ((-0.2, "W1_ratio"), (0.2, "W2_ratio")):
                height = r["grad_norm_W1" if key == "W1_ratio" else "grad_norm_W2"]
                ax.text(i + dx, height * 1.15, f"×{r[key]:.0f}" if r[key] >= 100 else f"×{r[key]:.2g}",
                        ha="center", fontsize=8)
    ax.set_xticks(x, labels)
    ax.set_yscale("log")
    ax.set_title("gradient norms at initialisation, inputs unscaled (whole train split)")
    ax.legend()

    ax = axes[0, 1]
    for r in sigmoid:
        if r["alpha"] == 0.5:
            e = [m["epoch"] for m in r["metrics"]]
            ax.plot(e, [m["val_loss"] for m in r["metrics"]], "--" if r["input_scale"] == 1000 else "-",
                    label=f"×{r['input_scale']:g}, scaler {r['scaler']}")
    ax.set_title("sigmoid, α = 0.5: validation loss (scaled ×1 and ×1000 coincide)")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    alphas = sorted({r["alpha"] for r in sigmoid})
    cells = [(s, sc) for s in SCALES for sc in SCALERS]
    grid = np.full((len(cells), len(alphas)), np.nan)
    for r in sigmoid:
        if r["test_acc"] is not None:
            grid[cells.index((r["input_scale"], r["scaler"])), alphas.index(r["alpha"])] = r["test_acc"]
    ax.imshow(grid, cmap="viridis", vmin=0.4, vmax=1.0, aspect="auto")
    for i in range(len(cells)):
        for j in range(len(alphas)):
            ax.text(j, i, "-" if np.isnan(grid[i, j]) else f"{grid[i, j]:.3f}", ha="center", va="center",
                    color="white" if grid[i, j] < 0.75 else "black")
    ax.set_xticks(range(len(alphas)), [f"α={a:g}" for a in alphas])
    ax.set_yticks(range(len(cells)), [f"×{s:g}, {sc}" for s, sc in cells])
    ax.set_title("sigmoid TestNet: test accuracy after 100 epochs")

    ax = axes[1, 1]
    shown = [("sigmoid", 1.0, "none", 0.5), ("sigmoid", 1000.0, "none", 0.5), ("sigmoid", 1000.0, "standard", 0.5),
             ("relu", 1.0, "none", 0.5), ("relu", 1000.0, "none", 0.001)]
    for activation, scale, scaler, alpha in shown:
        pts = [(g["epoch"], g["grad_norm_W1"]) for g in grad_rows
               if (g["activation"], g["input_scale"], g["scaler"], g["alpha"]) == (activation, scale, scaler, alpha)
               and g["grad_norm_W1"] is not None and g["epoch"] > 0]
        if pts:
            ax.plot(*zip(*pts), label=f"{activation} ×{scale:g}, {scaler}, α={alpha:g}", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_title("‖∂J/∂W(1)‖ during training (last minibatch of each epoch)")
    ax.legend(fontsize=8)

    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def markdown(rows, columns, headers):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        cells = []
        for c in columns:
            v = r[c]
            cells.append("-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, default=ROOT / "runs" / "scaling-demo")
    parser.add_argument("--relu-sweep", type=Path, default=ROOT / "runs" / "scaling-demo-relu")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "scaling")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    claim = measure_claim()
    write_csv(args.out / "init-gradients.csv", claim,
              ["activation", "scaler", "input_scale", "norm_X", "norm_delta1", "grad_norm_W1", "W1_ratio",
               "grad_norm_W2", "W2_ratio", "flat_units", "median_abs_z1"])
    runs = read_runs(args.sweep, "sigmoid") + read_runs(args.relu_sweep, "relu")
    write_csv(args.out / "results.csv", runs,
              ["group", "run", "activation", "input_scale", "scaler", "alpha", "status", "epochs", "train_loss",
               "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "message"])
    grad_rows = gradient_norm_rows(runs)
    write_csv(args.out / "gradient-norms.csv", grad_rows,
              ["group", "run", "activation", "input_scale", "scaler", "alpha", "epoch", "grad_norm_W1", "grad_norm_W2"])
    figure(claim, runs, grad_rows, args.out / "scaling.png")

    print("## Gradient norms at initialisation (whole train split)\n")
    print(markdown(claim, ["activation", "scaler", "input_scale", "norm_X", "norm_delta1", "grad_norm_W1", "W1_ratio",
                           "grad_norm_W2", "W2_ratio", "flat_units", "median_abs_z1"],
                   ["g", "scaler", "inputs ×", "‖X‖", "‖δ(1)‖", "‖∂J/∂W(1)‖", "vs ×1", "‖∂J/∂W(2)‖", "vs ×1",
                    "share g'<1e-3", "median abs z(1)"]))
    sigmoid = [r for r in runs if r["group"] == "sigmoid"]
    alphas = sorted({r["alpha"] for r in sigmoid})
    pivot = []
    for scale in SCALES:
        for scaler in SCALERS:
            cell = {r["alpha"]: r for r in sigmoid if (r["input_scale"], r["scaler"]) == (scale, scaler)}
            pivot.append({"cell": f"×{scale:g}, {scaler}",
                          **{a: f"{cell[a]['test_acc']:.3f}" if cell[a]["status"] == "ok" else cell[a]["status"]
                             for a in alphas}})
    print("\n## Sigmoid TestNet: test accuracy after 100 epochs\n")
    print(markdown(pivot, ["cell", *alphas], ["inputs, scaler", *(f"α = {a:g}" for a in alphas)]))
    print("\n## ReLU, unscaled inputs\n")
    print(markdown([r for r in runs if r["group"] == "relu"],
                   ["input_scale", "alpha", "status", "epochs", "train_loss", "test_acc"],
                   ["inputs ×", "α", "status", "epochs completed", "train J", "test acc"]))
    print("\n## Gradient norms during training (last minibatch of each epoch, over all epochs)\n")
    during = []
    for r in runs:
        if r["scaler"] == "none" and (r["alpha"] == 0.5 or r["group"] == "relu"):
            w1 = [g["grad_norm_W1"] for g in grad_rows if g["run"] == r["run"] and g["group"] == r["group"]
                  and g["epoch"] > 0]
            if w1:
                during.append({**r, "median_W1": float(np.median(w1)), "max_W1": float(np.max(w1))})
    print(markdown(during, ["activation", "input_scale", "alpha", "status", "median_W1", "max_W1"],
                   ["g", "inputs ×", "α", "status", "median ‖∂J/∂W(1)‖", "max ‖∂J/∂W(1)‖"]))
    for name in ("results.csv", "init-gradients.csv", "gradient-norms.csv", "scaling.png"):
        print(f"wrote {args.out / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
