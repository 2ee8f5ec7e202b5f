"""`make bench BENCH_ARGS="--cases vectorize"`: a sweep of many small networks, `nnctl sweep --vectorize` against
`nnctl sweep --jobs 2`, both as CLI subprocesses in the environment `make bench` was started in, wall clock.

The grid is the issue's: TestNet, 4 α × 4 λ × 6 seeds = 96 runs on 1000 moons rows, 100 epochs, batch 32
(``--quick``: 2 × 2 × 2 runs, 5 epochs, a smoke run). The two sweeps take turns, ``rounds`` each; the figures
are medians. Also: the peak resident memory of the vectorized sweep's process (VmHWM) for the whole grid and
for a quarter of it (one λ), which grows with the number of stacked runs K, and whether the two sweeps'
results.csv agree figure for figure.
"""
from __future__ import annotations

import csv
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "testnet.yaml"
PEAK = ("import sys\n"
        "from nnctl.cli import main\n"
        "try:\n    main()\n"
        "except SystemExit as e:\n"
        "    kb = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "    print(f'PEAK {int(kb) * 1024 / 1e6:.0f}', file=sys.stderr)\n    raise\n")


def grid(quick, lambdas=None):
    alphas, lams, seeds = (["0.1", "0.5"], ["0", "0.001"], ["0", "1"]) if quick else \
        (["0.05", "0.1", "0.5", "1.0"], ["0", "0.0001", "0.001", "0.01"], ["0", "1", "2", "3", "4", "5"])
    return ["--grid", f"train.alpha={','.join(alphas)}", "--grid", f"train.lambda={','.join(lambdas or lams)}",
            "--grid", f"seed={','.join(seeds)}", "--set", f"train.epochs={5 if quick else 100}",
            "--set", "data.n_samples=1000", "--set", "train.batch_size=32"]


def sweep(env, out, args):
    """``(seconds, CPU seconds, peak MB of the sweep's own process)`` of one ``nnctl sweep`` subprocess; the CPU
    time is that of the sweep and its worker processes (user + system)."""
    argv = [sys.executable, "-c", PEAK, "sweep", str(CONFIG), "--out", str(out), "-q", "--force", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode:
        raise RuntimeError(f"nnctl sweep {' '.join(args)} failed ({done.returncode}): {done.stderr[-500:]}")
    peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK")]
    return seconds, cpu, float(peak[0].split()[1])


def figures(out):
    with open(Path(out) / "results.csv", newline="") as f:
        return [{k: v.replace(str(out), "") for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def vectorize(env, workdir, quick=False, rounds=1):
    runs = 8 if quick else 96
    print(f"\nvectorize: {runs} TestNet runs ({'2 α × 2 λ × 2 seeds, 5 epochs (quick)' if quick else '4 α × 4 λ × 6 seeds, 100 epochs'}, "
          f"1000 moons rows, batch 32), nnctl sweep as a subprocess, median of {rounds} round(s)")
    stacked, jobs = [], []
    for _ in range(rounds):
        stacked.append(sweep(env, Path(workdir) / "vectorized", [*grid(quick), "--vectorize"]))
        jobs.append(sweep(env, Path(workdir) / "jobs2", [*grid(quick), "--jobs", "2"]))
    same = figures(Path(workdir) / "vectorized") == figures(Path(workdir) / "jobs2")
    quarter = sweep(env, Path(workdir) / "quarter", [*grid(quick, lambdas=["0.001"]), "--vectorize"])[2]
    (t_stacked, cpu_stacked, peak), (t_jobs, cpu_jobs, _) = (
        [statistics.median(column) for column in zip(*rows)] for rows in (stacked, jobs))
    print(f"  nnctl sweep --vectorize  {t_stacked:8.2f} s wall, {cpu_stacked:8.2f} s CPU")
    print(f"  nnctl sweep --jobs 2     {t_jobs:8.2f} s wall, {cpu_jobs:8.2f} s CPU")
    print(f"  --vectorize is {t_jobs / t_stacked:.1f}x faster in wall time (target 10x), "
          f"{cpu_jobs / cpu_stacked:.1f}x in CPU time; results.csv figures equal: {'yes' if same else 'NO'}")
    print(f"  peak memory of the vectorized sweep: {peak:.0f} MB for K = {runs}, "
          f"{quarter:.0f} MB for K = {runs // 4} (1 MB = 10^6 bytes)")
