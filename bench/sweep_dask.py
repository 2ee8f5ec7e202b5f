"""Wall time of a 24-run sweep of configs/testnet.yaml: locally with ``--jobs 2``, and on a two-worker Dask
LocalCluster (127.0.0.1 only, one thread per worker) with ``--scheduler``; the median of 3 of each.

The grid is 4 α × 3 λ × 2 seeds (``--repeat 2``), each run TestNet's default 100 epochs. What is timed is
``nnctl sweep`` as a subprocess, as a user runs it; the cluster is started once before (a user's cluster
exists before the sweep), and the two sweeps' results are checked to be the same. Run from the repository:
``.venv/bin/python bench/sweep_dask.py`` (``--rounds 1`` for a quick look).
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRID = ["--grid", "train.alpha=0.05,0.1,0.5,1.0", "--grid", "train.lambda=0,0.001,0.01", "--repeat", "2"]


def sweep(out, *extra):
    command = [sys.executable, "-m", "nnctl", "sweep", str(REPO / "configs" / "testnet.yaml"), *GRID,
               "--out", str(out), "--force", "-q", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds


def figures(out):
    with open(Path(out) / "results.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from distributed import LocalCluster

    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                         processes=True) as cluster:
        times = {"local --jobs 2": [], "dask, 2 workers": []}
        for _ in range(args.rounds):  # alternated, so that a busy moment of the machine hits both
            times["local --jobs 2"].append(sweep(Path(tmp) / "local", "--jobs", "2"))
            times["dask, 2 workers"].append(sweep(Path(tmp) / "dask", "--scheduler", cluster.scheduler_address))
        same = figures(Path(tmp) / "local") == figures(Path(tmp) / "dask")
    print(f"24-run sweep of configs/testnet.yaml (4 alpha x 3 lambda x 2 seeds, 100 epochs each), "
          f"{os.cpu_count()} CPUs, median of {args.rounds}:")
    for name, values in times.items():
        print(f"  {name:16s} {statistics.median(values):6.2f} s   ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"  results.csv the same but for the seconds column: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
