"""The input-scaling experiment (`make demo`): two seeded sweeps of the derivation's TestNet, their figures,
the tables of docs/scaling.md, and a check of every claim that page makes.

    python scripts/scaling_demo.py [--out runs/scaling-demo] [--seeds 0,1,2,3,4] [--vectorize | --jobs 2] [--docs DIR]

Writes OUT/sigmoid/ and OUT/relu/ (two normal sweep directories), OUT/report/ (results.csv, init-gradients.csv,
gradient-norms.csv, scaling.png, curves.png, curves-relu.png) and prints the tables as Markdown. Then checks
``CLAIMS`` on every seed and exits 1 naming each claim that no longer holds. ``--docs docs/scaling`` also copies
the report there (the figures and tables the docs show); without it nothing tracked is touched.

The unscaled ×1000 sigmoid runs are chaotic (saturated units turn a last-bit difference, such as another
OpenBLAS kernel, into another path), so the claims are inequalities that hold on every seed, each with its
margin, never one run's digits. tests/system/test_scaling_claims.py reruns them under two kernels.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

import numpy as np

from nnctl import config as config_mod
from nnctl import sweep
from nnctl.data import dataset as data_mod
from nnctl.model.network import ACTIVATIONS, log_softmax
from nnctl.training import checkpoint
from nnctl.training.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "scaling-demo.yaml"
ALPHAS = (0.001, 0.01, 0.5, 5.0)
RELU_ALPHAS = (1e-5, 0.001, 0.5)
SCALERS = ("none", "standard", "minmax")
SWEEPS = {  # name -> (--set overrides, --grid values), run with --grid seed=…
    "sigmoid": ((), ["data.input_scale=1,1000", "data.scaler=none,standard,minmax",
                     f"train.alpha={','.join(f'{a:g}' for a in ALPHAS)}"]),
    "relu": (("model.activation=relu", "data.scaler=none"),
             ["data.input_scale=1,1000", f"train.alpha={','.join(f'{a:g}' for a in RELU_ALPHAS)}"]),
}


def run_sweeps(out, seeds, jobs, vectorize):
    """Both sweeps; with ``vectorize``, each one stacked program (bit-identical to separate runs: docs/vectorize.md)."""
    for name, (overrides, grids) in SWEEPS.items():
        seed_grid = f"seed={','.join(map(str, seeds))}"
        how = "--vectorize" if vectorize else f"--jobs {jobs}"
        print(f"nnctl sweep {CONFIG.relative_to(ROOT)} {' '.join('--set ' + o for o in overrides)} "
              f"{' '.join('--grid ' + g for g in grids)} --grid {seed_grid} {how} --out {out / name}",
              file=sys.stderr)
        sweep.run(CONFIG, [*grids, seed_grid], overrides, out / name, jobs=jobs, force=True, vectorize=vectorize)


def read_runs(sweep_dir, group):
    """One dict per run: its settings (from its config.yaml), figures (results.csv), metrics.jsonl records."""
    _, rows = sweep.read_results(sweep_dir)
    runs = []
    for row in rows:
        run_dir = RunDir(Path(sweep_dir) / row["run"])
        config = config_mod.load(run_dir.config)
        runs.append({"group": group, "run": row["run"], "dir": run_dir, "config": config,
                     "activation": config["model"]["activation"], "input_scale": config["data"]["input_scale"],
                     "scaler": config["data"]["scaler"], "alpha": config["train"]["alpha"], "seed": config["seed"],
                     "status": row["status"], "epochs": int(row["epochs"]),
                     **{k: (float(row[k]) if row[k] else None) for k in sweep.FIGURES},
                     "metrics": run_dir.read_metrics(missing_ok=True)})
    return runs


def hidden_state(config, params=None):
    """The first layer on the whole train split: ``(X, Z(1), g'(Z(1)))`` of the seeded initial network,
    or of ``params``."""
    data = data_mod.prepare(config, str(CONFIG))
    X, _ = data.splits["train"]
    net = checkpoint.build_network(config, params)
    with np.errstate(over="ignore"):
        A = net.forward(X)
    Z1 = X @ net.params["W1"].T + net.params["b1"]
    return X, Z1, ACTIVATIONS[config["model"]["activation"]][1](A[1])


def init_gradients(config):
    """Gradient norms of J at initialisation on the whole train split, with the pieces that explain them.

    ∂J/∂W(1) = δ(1)ᵀ·X + λW(1) with δ(1) = (δ(2)·W(2)) ⊙ g'(Z(1)): X grows with the inputs, but g'(Z(1))
    shrinks when the units saturate.
    """
    data = data_mod.prepare(config, str(CONFIG))
    X, y = data.splits["train"]
    net = checkpoint.build_network(config)
    _, grads = net.loss_and_grads(X, y)
    _, Z1, g_prime = hidden_state(config)
    delta2 = np.exp(log_softmax(net.forward(X)[-1]))
    delta2[np.arange(len(y)), y] -= 1.0
    delta1 = (delta2 / len(y)) @ net.params["W2"] * g_prime
    return {"norm_X": float(np.linalg.norm(X)), "norm_delta1": float(np.linalg.norm(delta1)),
            "grad_norm_W1": float(np.linalg.norm(grads["W1"])), "grad_norm_W2": float(np.linalg.norm(grads["W2"])),
            "flat_units": float(np.mean(g_prime < 1e-3)), "median_abs_z1": float(np.median(np.abs(Z1)))}


def measure_init(seeds):
    """Gradient norms at initialisation, unscaled inputs ×1 and ×1000, per activation and seed."""
    rows = []
    for activation in ("sigmoid", "tanh", "relu"):
        for seed in seeds:
            base = None
            for scale in (1.0, 1000.0):
                config = config_mod.load(CONFIG, [f"model.activation={activation}", "data.scaler=none",
                                                  f"data.input_scale={scale}", f"seed={seed}"])
                row = {"activation": activation, "seed": seed, "input_scale": scale, **init_gradients(config)}
                base = base or row
                row["W1_ratio"] = row["grad_norm_W1"] / base["grad_norm_W1"]
                row["W2_ratio"] = row["grad_norm_W2"] / base["grad_norm_W2"]
                rows.append(row)
    return rows


def saturation(run):
    """How training moved the first layer of ``run``: ‖W(1)‖ and the median |z(1)| before and after."""
    last = checkpoint.load(run["dir"].last)
    _, z0, _ = hidden_state(run["config"])
    _, z1, g1 = hidden_state(run["config"], last.params)
    w0 = checkpoint.build_network(run["config"]).params["W1"]
    return {"W1_growth": float(np.linalg.norm(last.params["W1"]) / np.linalg.norm(w0)),
            "z_growth": float(np.median(np.abs(z1)) / np.median(np.abs(z0))),
            "flat_units_after": float(np.mean(g1 < 1e-3))}


# --- the claims docs/scaling.md makes; each holds on every seed, and says by how much -----------------------

def _cell(runs, **where):
    """``{seed: run}`` of the runs matching ``where``."""
    return {r["seed"]: r for r in runs if all(r[k] == v for k, v in where.items())}


def claim_scaled(runs, init):
    worst = 0.0
    for scaler in ("standard", "minmax"):
        for alpha in ALPHAS:
            one = _cell(runs, group="sigmoid", scaler=scaler, alpha=alpha, input_scale=1.0)
            big = _cell(runs, group="sigmoid", scaler=scaler, alpha=alpha, input_scale=1000.0)
            for seed in one:
                if one[seed]["test_acc"] != big[seed]["test_acc"]:
                    return False, f"{scaler}, α={alpha:g}, seed {seed}: {one[seed]['test_acc']} vs {big[seed]['test_acc']}"
                worst = max(worst, abs(one[seed]["val_loss"] - big[seed]["val_loss"]) / one[seed]["val_loss"])
    return worst <= 1e-9, f"largest relative difference of the final validation loss {worst:.1e} (allowed 1e-9)"


def claim_no_sigmoid_divergence(runs, init):
    bad = [r["run"] for r in runs if r["group"] == "sigmoid" and r["status"] != "ok"]
    n = sum(r["group"] == "sigmoid" for r in runs)
    return not bad, f"{n - len(bad)} of {n} sigmoid runs ok" + (f"; not: {', '.join(bad)}" if bad else "")


def claim_scaling_wins(runs, init):
    margins = {}
    for seed in sorted({r["seed"] for r in runs}):
        best = {scaler: max(r["test_acc"] for r in runs if r["group"] == "sigmoid" and r["seed"] == seed and
                            r["input_scale"] == 1000.0 and r["scaler"] == scaler) for scaler in ("standard", "none")}
        margins[seed] = best["standard"] - best["none"]
    worst = min(margins, key=margins.get)
    return margins[worst] > 0, f"margin {margins[worst]:+.3f} at worst (seed {worst}), " + \
        f"{max(margins.values()):+.3f} at best"


def claim_epoch_one(runs, init):
    big = _cell(runs, group="sigmoid", scaler="none", alpha=0.5, input_scale=1000.0)
    one = _cell(runs, group="sigmoid", scaler="none", alpha=0.5, input_scale=1.0)
    gaps = {s: one[s]["metrics"][0]["val_loss"] - big[s]["metrics"][0]["val_loss"] for s in big}
    worst = min(gaps, key=gaps.get)
    return gaps[worst] > 0, f"×1 minus ×1000 after epoch 1: {gaps[worst]:+.3f} at worst (seed {worst})"


def claim_saturation_deepens(runs, init):
    moved = [saturation(r) for r in runs if r["group"] == "sigmoid" and r["scaler"] == "none" and
             r["input_scale"] == 1000.0 and r["alpha"] >= 0.5 and r["status"] == "ok"]
    w = min(m["W1_growth"] for m in moved)
    z = min(m["z_growth"] for m in moved)
    flat = min(m["flat_units_after"] for m in moved)
    return w > 1 and z > 1, (f"‖W(1)‖ ×{w:.2f} and median |z(1)| ×{z:.2f} at least; after training "
                             f"g' < 1e-3 for ≥ {flat:.2%} of the hidden values")


def claim_relu_diverges(runs, init):
    big = _cell(runs, group="relu", alpha=0.5, input_scale=1000.0)
    one = _cell(runs, group="relu", alpha=0.5, input_scale=1.0)
    diverged = sum(r["status"] == "diverged" for r in big.values())
    ok = sum(r["status"] == "ok" for r in one.values())
    at = sorted({r["epochs"] + 1 for r in big.values() if r["status"] == "diverged"})
    return diverged == len(big) and ok == len(one), (f"×1000: {diverged} of {len(big)} diverged (at epoch "
                                                     f"{', '.join(map(str, at)) or '-'}); ×1: {ok} of {len(one)} ok")


def claim_init_gradients(runs, init):
    big = [r for r in init if r["input_scale"] == 1000.0]
    relu = min(r["W1_ratio"] for r in big if r["activation"] == "relu")
    flat = max(r["W1_ratio"] for r in big if r["activation"] != "relu")
    return relu >= 1000 and flat < 20, f"ReLU ×{relu:.0f} at least; sigmoid and tanh ×{flat:.3g} at most"


CLAIMS = [  # (id, the sentence docs/scaling.md states, check)
    ("init-gradients", ("At initialisation, inputs ×1000 (unscaled) multiply ‖∂J/∂W(1)‖ by at least 1000 for "
                        "ReLU, and by less than 20 for sigmoid and tanh."), claim_init_gradients),
    ("scaled", "With standard or minmax scaling, inputs ×1000 train exactly as inputs ×1.", claim_scaled),
    ("sigmoid-ok", "No sigmoid run diverges, scaled or not, at any α.", claim_no_sigmoid_divergence),
    ("scaling-wins", "The best standard-scaled run beats the best unscaled ×1000 run.", claim_scaling_wins),
    ("epoch-one", "At α = 0.5, unscaled ×1000 ends epoch 1 at a lower validation loss than unscaled ×1.",
     claim_epoch_one),
    ("saturation", "At α ≥ 0.5, training unscaled ×1000 grows W(1) and deepens the saturation.",
     claim_saturation_deepens),
    ("relu-diverges", "ReLU at α = 0.5 diverges with inputs ×1000 unscaled, and trains with inputs ×1.",
     claim_relu_diverges),
]


def check_claims(runs, init):
    """``[(id, sentence, holds, evidence)]`` for every claim, on every seed of ``runs``."""
    return [(cid, text, *check(runs, init)) for cid, text, check in CLAIMS]


# --- tables and figures --------------------------------------------------------------------------------------

def write_csv(path, rows, columns):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row[c] is None else (f"{row[c]:.6g}" if isinstance(row[c], float) else row[c])
                             for c in columns])


def gradient_norm_rows(runs):
    """Per run and epoch: ‖∂J/∂W(l)‖ of the epoch's last minibatch (metrics.jsonl)."""
    return [{**{k: r[k] for k in ("group", "run", "activation", "input_scale", "scaler", "alpha", "seed")},
             "epoch": m["epoch"], "grad_norm_W1": m.get("grad_norm_W1"), "grad_norm_W2": m.get("grad_norm_W2")}
            for r in runs for m in r["metrics"]]


def span(values, digits=3):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return f"{lo:.{digits}f}" if lo == hi else f"{lo:.{digits}f}–{hi:.{digits}f}"


def accuracy_table(runs):
    """Test accuracy per cell of the sigmoid grid: the range over the seeds."""
    lines = ["| inputs, scaler | " + " | ".join(f"α = {a:g}" for a in ALPHAS) + " |", "|---" * (len(ALPHAS) + 1) + "|"]
    for scale in (1.0, 1000.0):
        for scaler in SCALERS:
            cells = [span([r["test_acc"] for r in _cell(runs, group="sigmoid", input_scale=scale, scaler=scaler,
                                                         alpha=a).values()]) for a in ALPHAS]
            lines.append(f"| ×{scale:g}, {scaler} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def init_table(init):
    lines = ["| g | ‖∂J/∂W(1)‖ ×1000 / ×1 | ‖∂J/∂W(2)‖ ×1000 / ×1 | share of g'(z) < 1e-3 at ×1000 |",
             "|---|---|---|---|"]
    for activation in ("sigmoid", "tanh", "relu"):
        big = [r for r in init if r["activation"] == activation and r["input_scale"] == 1000.0]
        lines.append(f"| {activation} | " + " | ".join(span([r[k] for r in big], 3 if k == "flat_units" else 2)
                                                      for k in ("W1_ratio", "W2_ratio", "flat_units")) + " |")
    return "\n".join(lines)


def figure(init, runs, out):
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    ax = axes[0]
    acts = ("sigmoid", "tanh", "relu")
    for i, activation in enumerate(acts):
        for dx, key, colour in ((-0.15, "W1_ratio", "C0"), (0.15, "W2_ratio", "C1")):
            values = [r[key] for r in init if r["activation"] == activation and r["input_scale"] == 1000.0]
            ax.scatter(np.full(len(values), i + dx), values, color=colour, s=22,
                       label=("‖∂J/∂W(1)‖" if key == "W1_ratio" else "‖∂J/∂W(2)‖") if i == 0 else None)
    ax.axhline(1000, color="0.5", linestyle=":", linewidth=1)
    ax.text(2.45, 1000, "×1000", va="bottom", ha="right", fontsize=8, color="0.4")
    ax.set_xticks(range(len(acts)), acts)
    ax.set_yscale("log")
    ax.set_ylabel("×1000 gradient / ×1 gradient")
    ax.set_title("at initialisation, unscaled inputs: one dot per seed")
    ax.legend(fontsize=8)

    ax = axes[1]
    for scale, scaler, colour in ((1.0, "none", "C0"), (1000.0, "none", "C3"), (1.0, "standard", "C2")):
        for r in _cell(runs, group="sigmoid", input_scale=scale, scaler=scaler, alpha=0.5).values():
            e = [m["epoch"] for m in r["metrics"]]
            ax.plot(e, [m["val_loss"] for m in r["metrics"]], color=colour, linewidth=0.9, alpha=0.8,
                    label=f"×{scale:g}, scaler {scaler}" if r["seed"] == min(x["seed"] for x in runs) else None)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss J")
    ax.set_title("sigmoid, α = 0.5: one line per seed")
    ax.legend(fontsize=8)

    ax = axes[2]
    for scale, colour in ((1.0, "C0"), (1000.0, "C3")):
        for r in _cell(runs, group="sigmoid", input_scale=scale, scaler="none", alpha=0.5).values():
            pts = [(m["epoch"], m["grad_norm_W1"]) for m in r["metrics"] if m.get("grad_norm_W1")]
            ax.plot(*zip(*pts), color=colour, linewidth=0.8, alpha=0.7,
                    label=f"×{scale:g}, unscaled" if r["seed"] == min(x["seed"] for x in runs) else None)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_title("sigmoid, α = 0.5: ‖∂J/∂W(1)‖, each epoch's last minibatch", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def report(out, runs, init):
    from nnctl.plot import plot

    report_dir = out / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    write_csv(report_dir / "init-gradients.csv", init,
              ["activation", "seed", "input_scale", "norm_X", "norm_delta1", "grad_norm_W1", "W1_ratio",
               "grad_norm_W2", "W2_ratio", "flat_units", "median_abs_z1"])
    write_csv(report_dir / "results.csv", runs,
              ["group", "run", "activation", "input_scale", "scaler", "alpha", "seed", "status", "epochs",
               "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"])
    write_csv(report_dir / "gradient-norms.csv", gradient_norm_rows(runs),
              ["group", "run", "activation", "input_scale", "scaler", "alpha", "seed", "epoch", "grad_norm_W1",
               "grad_norm_W2"])
    figure(init, runs, report_dir / "scaling.png")
    plot(out / "sigmoid", report_dir / "curves.png")
    plot(out / "relu", report_dir / "curves-relu.png")
    return report_dir


def blas_kernel():
    """The OpenBLAS kernel NumPy runs on (``OPENBLAS_CORETYPE`` chooses it), as threadpoolctl reports it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    return ", ".join(sorted({str(i.get("architecture")) for i in threadpool_info() if i.get("internal_api") ==
                             "openblas"})) or "unknown (not OpenBLAS)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "scaling-demo")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default 0,1,2,3,4)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes, without --vectorize")
    parser.add_argument("--vectorize", action="store_true", help="train each sweep as one stacked program")
    parser.add_argument("--reuse", action="store_true", help="report on the sweeps already in --out")
    parser.add_argument("--docs", type=Path, help="also copy the report here (docs/scaling)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"OpenBLAS kernel: {blas_kernel()}", file=sys.stderr)
    if not args.reuse:
        run_sweeps(args.out, seeds, args.jobs, args.vectorize)
    runs = read_runs(args.out / "sigmoid", "sigmoid") + read_runs(args.out / "relu", "relu")
    init = measure_init(seeds)
    report_dir = report(args.out, runs, init)
    print(f"## Gradient growth at initialisation, inputs ×1000 unscaled (range over seeds {args.seeds})\n")
    print(init_table(init))
    print(f"\n## Sigmoid TestNet: test accuracy after 100 epochs (range over seeds {args.seeds})\n")
    print(accuracy_table(runs))
    relu = [f"| ×{s:g} | " + " | ".join(
        span([r["test_acc"] for r in _cell(runs, group="relu", input_scale=s, alpha=a).values()]) +
        (f" ({sum(r['status'] == 'diverged' for r in _cell(runs, group='relu', input_scale=s, alpha=a).values())}"
         " diverged)" if any(r["status"] == "diverged" for r in _cell(runs, group="relu", input_scale=s,
                                                                      alpha=a).values()) else "")
        for a in RELU_ALPHAS) + " |" for s in (1.0, 1000.0)]
    print("\n## ReLU, unscaled: test accuracy\n")
    print("| inputs | " + " | ".join(f"α = {a:g}" for a in RELU_ALPHAS) + " |\n|---|---|---|---|\n" + "\n".join(relu))
    print("\n## Claims, checked on every seed\n")
    failed = []
    for cid, text, holds, evidence in check_claims(runs, init):
        print(f"- {'holds' if holds else 'FAILS'}: {text} ({evidence})")
        if not holds:
            failed.append(cid)
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        for f in sorted(report_dir.iterdir()):
            shutil.copyfile(f, args.docs / f.name)
    print(f"wrote {report_dir}" + (f" and {args.docs}" if args.docs else ""), file=sys.stderr)
    if failed:
        print(f"claims that no longer hold: {', '.join(failed)}; docs/scaling.md must change", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
