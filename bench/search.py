"""TPE against random sampling: ``nnctl sweep --search tpe --trials 20`` beside ``--sample 20`` on TestNet over
α and λ, for a few seeds, as the user runs them (the CLI as a subprocess). Prints, per seed, each method's wall
time and its best run's best val_loss (the objective TPE minimises). Run from the repository:
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
    rows = json.loads(proc.stdout)
    best = [json.loads((out / r["run"] / "summary.json").read_text())["best_val_loss"] for r in rows
            if r["status"] == "ok"]
    failed = sum(r["status"] != "ok" for r in rows)
    return seconds, min(best), failed


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"{trials} trials of configs/testnet.yaml over train.alpha loguniform:1e-3:10, "
          f"train.lambda loguniform:1e-6:1e-1")
    print("seed  method  seconds  best val_loss  failed")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            for method, args in (("tpe", ["--search", "tpe", "--trials", str(trials)]),
                                 ("random", ["--sample", str(trials)])):
                seconds, best, failed = sweep(Path(tmp) / f"{method}-{seed}", *args, "--sample-seed", str(seed))
                print(f"{seed:<4}  {method:<6}  {seconds:7.1f}  {best:13.4f}  {failed}", flush=True)


if __name__ == "__main__":
    main()
