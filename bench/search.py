"""TPE against random sampling: ``nnctl sweep --search tpe --trials 20`` beside ``--sample 20`` on TestNet over
α and λ, for a few seeds, as the user runs them (the CLI as a subprocess). Prints, per seed, each method's wall
time, its best run's best val_loss (the objective TPE minimises) and that run's α, final val_loss and test_loss
after the last epoch, and the test_loss of its best epoch's weights (checkpoints/best.npz, ``nnctl eval``): how
much of the best val_loss holds on data the search did not see. Run from the repository:
``python bench/search.py [TRIALS] [SEEDS]`` (default 20 and 3).
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPACE = ["--dist", "train.alpha=loguniform:1e-3:10", "--dist", "train.lambda=loguniform:1e-6:1e-1"]


def sweep(out, *args):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nnctl", "sweep", "configs/testnet.yaml", *SPACE, *args,
                           "--out", str(out), "--json", "-q"], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    rows = [r for r in json.loads(proc.stdout) if r["status"] == "ok"]
    for r in rows:
        r["best_val_loss"] = json.loads((out / r["run"] / "summary.json").read_text())["best_val_loss"]
    best = min(rows, key=lambda r: r["best_val_loss"])
    proc = subprocess.run([sys.executable, "-m", "nnctl", "eval", str(out / best["run"]), "--split", "test", "--json"],
                          capture_output=True, text=True, check=True)
    best["best_test_loss"] = json.loads(proc.stdout)["loss"]
    return seconds, best, trials_failed(out, rows)


def trials_failed(out, rows):
    with open(out / "results.csv", encoding="utf-8") as f:
        return sum(1 for _ in f) - 1 - len(rows)


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"{trials} trials of configs/testnet.yaml over train.alpha loguniform:1e-3:10, "
          f"train.lambda loguniform:1e-6:1e-1")
    print("seed  method  seconds  best val_loss  its alpha  its val_loss  its test_loss  best.npz test_loss  failed")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            for method, args in (("tpe", ["--search", "tpe", "--trials", str(trials)]),
                                 ("random", ["--sample", str(trials)])):
                seconds, best, failed = sweep(Path(tmp) / f"{method}-{seed}", *args, "--sample-seed", str(seed))
                print(f"{seed:<4}  {method:<6}  {seconds:7.1f}  {best['best_val_loss']:13.4f}  "
                      f"{best['train.alpha']:9.3g}  {best['val_loss']:11.4f}  {best['test_loss']:13.4f}  "
                      f"{best['best_test_loss']:18.4f}  {failed}",
                      flush=True)


if __name__ == "__main__":
    main()
