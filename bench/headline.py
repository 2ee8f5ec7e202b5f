"""`make bench`'s headline: what a user gets. `nnctl train` as a subprocess in the environment `make bench`
was started in (no thread settings of the benchmark's own), against scikit-learn's `MLPClassifier` in the
same environment, on the same rows, the same network and the same work.

nnctl's time for E epochs is the wall time of `nnctl train` for E epochs minus that of the same command for 0
epochs (start-up, data, split, scaling and the initial checkpoints are the same in both). scikit-learn's is
the time of its `fit`, taken inside its process; PyTorch's (when installed; it is not a dependency) that of
the same minibatch loop in float64 with its default threads, test prediction included. Every round runs each contender once, in turns; the
figures are medians over the rounds, the ratios taken from the same run. Also: the thread pools each one
finds, nnctl in this environment against nnctl with one BLAS thread, and a sweep of four runs with
`--jobs 1` against `--jobs 2`.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

NNCTL = [sys.executable, "-m", "nnctl"]
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
SKLEARN = r"""
import json, sys, time, warnings
from nnctl import config
from nnctl.data.dataset import prepare
c = config.load(sys.argv[1])
X, y = prepare(c, "bench", keep_raw=False).splits["train"]
from sklearn.neural_network import MLPClassifier
t = c["train"]
warnings.simplefilter("ignore")  # max_iter reached: the epochs are the point
clf = MLPClassifier(hidden_layer_sizes=tuple(c["model"]["layers"][1:-1]), activation="logistic", solver="sgd",
                    momentum=0.0, learning_rate_init=t["alpha"], alpha=t["lambda"] * t["batch_size"],
                    batch_size=t["batch_size"], max_iter=int(sys.argv[2]), shuffle=True, tol=0.0,
                    n_iter_no_change=10**9, random_state=0)
start = time.perf_counter()
clf.fit(X, y)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""
TORCH = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
try:
    import torch
except ImportError:
    print(json.dumps(None)); sys.exit(0)
from bench import torch_run
from nnctl import config
from nnctl.data.dataset import prepare
c = config.load(sys.argv[1])
run = torch_run(c, prepare(c, "bench", keep_raw=False), int(sys.argv[2]), torch.get_num_threads())
start = time.perf_counter()
run()  # trains every epoch, then predicts the test split
print(json.dumps({"seconds": time.perf_counter() - start, "threads": torch.get_num_threads()}))
"""
POOLS = r"""
import json, numpy, scipy.linalg, threadpoolctl
print(json.dumps([(p["internal_api"], p["num_threads"], p["filepath"].rsplit("/", 1)[-1])
                  for p in threadpoolctl.threadpool_info()]))
"""


def write_cases(workdir, quick):
    """The two cases of the headline as config files: ``[(label, config path, epochs)]``."""
    workdir = Path(workdir)
    rng = np.random.default_rng(0)
    n = 2_500 if quick else 20_000  # 80 % of it trains
    means = rng.normal(0.0, 0.15, size=(10, 784))
    y = rng.integers(0, 10, size=n)
    np.savez(workdir / "digits784.npz", X=means[y] + rng.normal(0.0, 1.0, size=(n, 784)), y=y)
    common = "data: {val_fraction: 0.1, test_fraction: 0.1, %s}\n"
    (workdir / "b.yaml").write_text(
        "model: {layers: [784, 256, 10]}\n" + common % "source: digits784.npz"
        + "train: {alpha: 0.1, lambda: 0.0001, batch_size: 128}\n")
    (workdir / "a.yaml").write_text(
        "model: {layers: [2, 3, 2]}\n" + common % f"source: moons, n_samples: {12_500 if quick else 100_000}"
        + "train: {alpha: 0.5, lambda: 0.001, batch_size: 32}\n")
    return [("[784,256,10] batch 128, 16,000 train rows" if not quick else "[784,256,10] batch 128 (quick)",
             workdir / "b.yaml", 2),
            ("[2,3,2] batch 32, 80,000 train rows" if not quick else "[2,3,2] batch 32 (quick)", workdir / "a.yaml", 3)]


def wall(argv, env, cwd):
    start = time.perf_counter()
    out = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed: {out.stderr[-500:]}")
    return time.perf_counter() - start, out.stdout


def nnctl_train(config, epochs, env, workdir):
    return wall([*NNCTL, "train", str(config), "--set", f"train.epochs={epochs}", "--out",
                 str(Path(workdir) / "run"), "--force", "-q"], env, workdir)[0]


def sklearn_fit(config, epochs, env, workdir):
    return json.loads(wall([sys.executable, "-c", SKLEARN, str(config), str(epochs)], env, workdir)[1])["seconds"]


def torch_fit(config, epochs, env, workdir):
    """PyTorch's time for the same work in its default threads, or ``None`` without torch installed."""
    out = json.loads(wall([sys.executable, "-c", TORCH, str(config), str(epochs), str(Path(__file__).parent)],
                          env, workdir)[1])
    return None if out is None else out["seconds"]


def sweep(config, jobs, env, workdir):
    return wall([*NNCTL, "sweep", str(config), "--grid", "train.alpha=0.05,0.1,0.15,0.2", "--set", "train.epochs=2",
                 "--jobs", str(jobs), "--out", str(Path(workdir) / f"sweep{jobs}"), "--force", "-q"], env, workdir)[0]


def headline(env, workdir, rounds=3, quick=False):
    """Print the headline section; ``env`` is the environment the user's commands would run in."""
    pools = json.loads(wall([sys.executable, "-c", POOLS], env, workdir)[1])
    print("headline: what a user gets (nnctl train as a subprocess; every contender in the environment make "
          f"bench was started in; medians of {rounds} rounds)")
    print("  BLAS pools a NumPy + SciPy process finds: "
          + "; ".join(f"{api} {threads} thread(s) ({name})" for api, threads, name in pools))
    print("  nnctl's training loop: NumPy's BLAS alone, as many threads as the environment gives it; "
          "a sweep's workers: cores // jobs each (joblib), unless a thread variable is set")
    print(f"  {'case':<44}{'nnctl':>9}{'scikit-learn':>14}{'nnctl ×':>9}{'PyTorch':>9}{'nnctl ×':>9}")
    for label, config, epochs in write_cases(workdir, quick):
        times = {"full": [], "zero": [], "sklearn": [], "torch": []}
        for _ in range(rounds):
            times["full"].append(nnctl_train(config, epochs, env, workdir))
            times["zero"].append(nnctl_train(config, 0, env, workdir))
            times["sklearn"].append(sklearn_fit(config, epochs, env, workdir))
            times["torch"].append(torch_fit(config, epochs, env, workdir))
        per_round = [f - z for f, z in zip(times["full"], times["zero"])]
        ours, theirs = statistics.median(per_round), statistics.median(times["sklearn"])
        ratios = [t / o if o > 0 else float("inf") for t, o in zip(times["sklearn"], per_round)]
        torch_cells = "   (PyTorch not installed)"
        if None not in times["torch"]:
            torch_time = statistics.median(times["torch"])
            torch_cells = f"{torch_time:>8.2f}s{torch_time / ours:>8.2f}x"
        print(f"  {label + f', {epochs} epochs':<44}{ours:>8.2f}s{theirs:>13.2f}s{theirs / ours:>8.2f}x"
              f"{torch_cells}  (scikit-learn rounds {min(ratios):.2f}-{max(ratios):.2f}x)")
    config = Path(workdir) / "b.yaml"
    pinned = {**env, **{name: "1" for name in THREAD_VARIABLES}}
    default, single = [], []
    for _ in range(rounds):  # what the second core gives a single run
        default.append(nnctl_train(config, 2, env, workdir) - nnctl_train(config, 0, env, workdir))
        single.append(nnctl_train(config, 2, pinned, workdir) - nnctl_train(config, 0, pinned, workdir))
    t_default, t_single = statistics.median(default), statistics.median(single)
    print(f"  nnctl, [784,256,10], 2 epochs: this environment {t_default:.2f} s, one BLAS thread {t_single:.2f} s "
          f"(the environment's threads {t_single / t_default:.2f}x as fast)")
    one, two = [], []
    for _ in range(rounds):
        one.append(sweep(config, 1, env, workdir))
        two.append(sweep(config, 2, env, workdir))
    t1, t2 = statistics.median(one), statistics.median(two)
    print(f"  nnctl sweep of four [784,256,10] runs, 2 epochs each: --jobs 1 {t1:.2f} s, --jobs 2 {t2:.2f} s "
          f"({t2 / t1:.2f} of --jobs 1)")
