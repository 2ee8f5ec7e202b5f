"""Start-up time of ``nnctl predict``: wall and CPU time of repeated runs of the installed script.

    python scripts/time_predict.py runs/testnet/checkpoints/last.npz /tmp/ten.csv --runs 20

Wall time depends on what else the machine is running; CPU time (user + system of the child) much less so,
which is why both are printed.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def nnctl_executable():
    beside = Path(sys.executable).with_name("nnctl")  # the venv's script when run by the venv's python
    return str(beside) if beside.exists() else shutil.which("nnctl") or "nnctl"


def time_once(argv):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("input", help="CSV of feature rows")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    command = [nnctl_executable(), "predict", args.checkpoint, args.input]
    time_once(command)  # warm the file cache; not counted
    wall, cpu = zip(*(time_once(command) for _ in range(args.runs)))
    print(f"nnctl predict, {args.runs} runs: wall median {statistics.median(wall):.3f} s "
          f"(min {min(wall):.3f}, max {max(wall):.3f}); CPU median {statistics.median(cpu):.3f} s")


if __name__ == "__main__":
    main()
