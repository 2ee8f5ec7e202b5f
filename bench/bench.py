"""`make bench`: nnctl against scikit-learn and PyTorch: first what a user gets, then the inner loop.

The headline (``bench/headline.py``) runs `nnctl train` as a subprocess in the environment `make bench` was
started in, against scikit-learn in the same environment. The sections after it are pinned inner-loop
figures, measured in this one process:

Every contender trains the same network on the same scaled train split with the same batch size,
learning rate, L2 strength and number of epochs; the figures are medians over ``--repeats`` runs.
nnctl is timed through its optimizer's ``epoch`` (``nnctl/training/optimizers.py``), the minibatch loop
that ``training.loop.run_epoch`` calls; the per-epoch evaluation that ``run_epoch`` adds on top is timed
separately.

The contenders take turns, one run each per round, so that the load of the shared machine falls on
all of them alike. BLAS is pinned to one thread (``--threads``) for every contender before NumPy or
PyTorch load: the machine has two cores shared with other work, and a single thread gives ratios that
repeat.
"""
from __future__ import annotations

import argparse
import os
import sys


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and 1 repeat: a smoke run, not a measurement")
    p.add_argument("--repeats", type=int, default=5, help="runs per contender; the median is reported")
    p.add_argument("--threads", type=int, default=1, help="BLAS / PyTorch threads for every contender")
    p.add_argument("--cases", default="headline,a,b,c",
                   help="comma-separated subset of headline,a,b,c,startup,memory,vectorize")
    return p.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
USER_ENV = dict(os.environ)  # the environment the user started make bench in, before the pinning below
if ARGS is not None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from nnctl import config as config_mod, seeding  # noqa: E402
from nnctl.data.dataset import prepare  # noqa: E402
from nnctl.model.fastpath import Workspace  # noqa: E402
from nnctl.model.network import EVAL_CHUNK  # noqa: E402
from nnctl.training import optimizers  # noqa: E402
from nnctl.training.checkpoint import build_network  # noqa: E402
from nnctl.training.loop import run_epoch  # noqa: E402
from nnctl.training.trainer import Trainer  # noqa: E402


def median_time(fn, repeats):
    """Median wall time of ``fn()`` over ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def interleaved(contenders, repeats):
    """Time each of ``contenders`` (name -> fn) once per round, for ``repeats`` rounds, after one
    untimed warm-up call each (first touch of buffers, BLAS and library initialisation).

    Returns name -> (median seconds, last result, per-round seconds). Taking turns spreads the machine's
    load changes over every contender alike, so the ratios of the medians are side-by-side figures; the
    order rotates from round to round, so no contender always runs first or after the same one.
    """
    names = list(contenders)
    for fn in contenders.values():
        fn()
    times, results = {name: [] for name in names}, {}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            results[name] = contenders[name]()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), results[name], t) for name, t in times.items()}


def synthetic_npz(path, n, n_features, n_classes, seed=0):
    """A learnable 784-feature, 10-class problem: class means in random directions plus unit noise."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 0.15, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, size=n)
    X = means[y] + rng.normal(0.0, 1.0, size=(n, n_features))
    np.savez(path, X=X, y=y)


class NnctlRun:
    """What ``Trainer`` trains with, built the way it builds it (data, network, its workspace, optimizer,
    shuffling RNG); each run restarts from the seeded init."""

    def __init__(self, config):
        self.config = config
        self.data = prepare(config, "bench", keep_raw=False)
        self.fresh()
        dtype = self.net.dtype  # cast once, as the Trainer does
        self.data.splits = {k: (X.astype(dtype, copy=False), y) for k, (X, y) in self.data.splits.items()}
        self.X, self.y = self.data.splits["train"]

    def fresh(self):
        self.net = build_network(self.config)
        self.workspace = Workspace(self.net)
        self.optimizer = optimizers.make(self.config["train"])
        self.shuffle_rng = seeding.rng(self.config["seed"], "shuffle")

    def train(self, epochs):
        """From the seeded init: the minibatch loop, then the test accuracy (what the other contenders'
        runs do: build, fit, predict)."""
        self.fresh()
        self.loop(epochs)
        return self.accuracy()

    def loop(self, epochs):
        """Only the minibatch loop, as ``run_epoch`` runs it (shuffled order included), going on from
        wherever training is (the cost is the same)."""
        batch = self.config["train"]["batch_size"]
        with np.errstate(all="ignore"):
            for _ in range(epochs):
                order = self.shuffle_rng.permutation(len(self.y))
                self.optimizer.epoch(self.workspace, self.X, self.y, order, batch)

    def run_epochs(self, epochs):
        """Whole ``run_epoch`` calls (minibatch loop plus the full train and val evaluation) and nothing
        else, for the roofline; they go on from wherever training is, which costs the same."""
        for _ in range(epochs):
            run_epoch(self.workspace, self.optimizer, self.shuffle_rng, self.config["train"],
                      self.data.splits["train"], self.data.splits["val"])

    def accuracy(self):
        X, y = self.data.splits["test"]
        return float((self.net.predict(X) == y).mean())


def sklearn_run(config, data, epochs):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    m, t = config["model"], config["train"]
    clf = MLPClassifier(
        hidden_layer_sizes=tuple(m["layers"][1:-1]),
        activation={"sigmoid": "logistic"}.get(m["activation"], m["activation"]),
        solver="sgd", momentum=0.0, nesterovs_momentum=False, learning_rate="constant",
        learning_rate_init=t["alpha"], batch_size=t["batch_size"],
        # scikit-learn divides alpha by the batch size; nnctl's λ is not divided by m.
        alpha=t["lambda"] * t["batch_size"],
        max_iter=epochs, shuffle=True, early_stopping=False, tol=0.0, n_iter_no_change=epochs + 1,
        random_state=config["seed"])
    X, y = data.splits["train"]
    Xt, yt = data.splits["test"]

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        return float((clf.predict(Xt) == yt).mean())
    return run


def torch_run(config, data, epochs, threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    m, t = config["model"], config["train"]
    X, y = (torch.from_numpy(np.ascontiguousarray(a)) for a in data.splits["train"])
    Xt, yt = (torch.from_numpy(np.ascontiguousarray(a)) for a in data.splits["test"])
    act = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[m["activation"]]

    def run():
        torch.manual_seed(config["seed"])
        layers = []
        for i, (a, b) in enumerate(zip(m["layers"][:-1], m["layers"][1:])):
            layers.append(torch.nn.Linear(a, b, dtype=torch.float64))
            if i < len(m["layers"]) - 2:
                layers.append(act())
        net = torch.nn.Sequential(*layers)
        weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
        opt = torch.optim.SGD([{"params": weights, "weight_decay": t["lambda"]},
                               {"params": biases, "weight_decay": 0.0}], lr=t["alpha"], momentum=0.0)
        gen = torch.Generator().manual_seed(config["seed"])
        batch, n = t["batch_size"], len(y)
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for s in range(0, n, batch):
                idx = order[s:s + batch]
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
                loss.backward()
                opt.step()
        with torch.no_grad():
            return float((net(Xt).argmax(1) == yt).double().mean())
    return run


def case_config(name, workdir, quick):
    if name == "a":
        n = 20_000 if quick else 100_000
        overrides = ["model.layers=[2,3,2]", f"data.n_samples={n}", "train.batch_size=32",
                     "train.alpha=0.5", "train.lambda=0.001"]
        epochs = 2 if quick else 5
    else:
        n = 4_000 if quick else 20_000
        path = Path(workdir) / f"synthetic-{n}.npz"
        if not path.exists():
            synthetic_npz(path, n, 784, 10)
        dtype = "float32" if name == "c" else "float64"
        overrides = ["model.layers=[784,256,10]", f"data.source={path}", "train.batch_size=128",
                     "train.alpha=0.1", "train.lambda=0.0001", f"model.dtype={dtype}"]
        epochs = 1 if quick else 3
    return config_mod.resolve(None, overrides, where=f"case {name}"), epochs


def row(label, seconds, steps, samples, acc, ref=None):
    ratio = "" if ref is None else f"{seconds / ref:8.2f}x"
    print(f"  {label:<34}{steps / seconds:>11,.0f}{samples / seconds:>13,.0f}{acc:>9.4f}{ratio:>10}")


def header():
    print(f"  {'contender':<34}{'steps/s':>11}{'samples/s':>13}{'test acc':>9}{'nnctl ×':>10}")


def matmul_roofline(net, n_train, n_eval, batch):
    """The matrix products of one epoch done alone, as two functions to time: every minibatch's forward
    and backward products (the first layer's δ·W is not needed and not done), and those plus the
    evaluation's forward passes."""
    P = net.params
    L = net.L
    dt = net.dtype
    rng = np.random.default_rng(0)
    sizes = [batch] * (n_train // batch) + ([n_train % batch] if n_train % batch else [])
    bufs = {}

    def buffers(m):
        if m not in bufs:
            A = [rng.standard_normal((m, n)).astype(dt) for n in net.layers]
            bufs[m] = A, [a.copy() for a in A]
        return bufs[m]

    grads = {k: np.empty_like(v) for k, v in P.items()}

    def train_only():  # every minibatch's forward and backward products
        for m in sizes:
            A, D = buffers(m)
            for l in range(1, L + 1):
                np.matmul(A[l - 1], P[f"W{l}"].T, out=A[l])
            for l in range(L, 0, -1):
                np.matmul(D[l].T, A[l - 1], out=grads[f"W{l}"])
                if l > 1:
                    np.matmul(D[l], P[f"W{l}"], out=D[l - 1])

    def epoch():  # and the evaluation's forward products over train and val, in its chunks
        train_only()
        chunk = EVAL_CHUNK
        for m in ([chunk] * (n_eval // chunk) + ([n_eval % chunk] if n_eval % chunk else [])):
            A, _ = buffers(m)
            for l in range(1, L + 1):
                np.matmul(A[l - 1], P[f"W{l}"].T, out=A[l])

    return epoch, train_only  # interleaved() warms them up


def run_case(name, workdir, args):
    config, epochs = case_config(name, workdir, args.quick)
    layers = config["model"]["layers"]
    print(f"\ncase ({name}): {layers} {config['model']['dtype']}, batch {config['train']['batch_size']}, "
          f"{config['data']['source'] if name == 'a' else 'synthetic 784-feature data'}, "
          f"{epochs} epochs, median of {args.repeats}")
    nn = NnctlRun(config)
    n, batch = len(nn.y), config["train"]["batch_size"]
    steps, samples = epochs * -(-n // batch), epochs * n
    print(f"  train split {n} samples, {steps // epochs} steps per epoch")
    contenders = {"nnctl": lambda: nn.train(epochs)}
    if name == "c":  # float32 against float64 (case b's network and data), taking turns like the others
        config64, _ = case_config("b", workdir, args.quick)
        nn64 = NnctlRun(config64)
        contenders["float64"] = lambda: nn64.train(epochs)
    else:
        contenders["sklearn"] = sklearn_run(config, nn.data, epochs)
        torch_fn = torch_run(config, nn.data, epochs, args.threads)
        if torch_fn is not None:
            contenders["torch"] = torch_fn
    timed = interleaved(contenders, args.repeats)
    t_nn, acc_nn, rounds_nn = timed["nnctl"]
    header()
    row("nnctl optimizer.epoch", t_nn, steps, samples, acc_nn)
    if name == "c":
        t64, acc64, _ = timed["float64"]
        row("nnctl float64 (= case b)", t64, steps, samples, acc64, t_nn)
        print(f"  float32 / float64 speed: {t64 / t_nn:.2f}x (target >= 1.6) at accuracy "
              f"{acc_nn:.4f} vs {acc64:.4f}")
        return
    labels = {"sklearn": "scikit-learn MLPClassifier sgd", "torch": "PyTorch float64 CPU"}
    for other in ("sklearn", "torch"):
        if other in timed:
            row(labels[other], timed[other][0], steps, samples, timed[other][1], t_nn)
    if "torch" not in timed:
        print("  PyTorch: not installed, skipped (pip install torch to include it)")
    spread = [f"{labels[o].split()[0]} {min(r):.2f}-{max(r):.2f}x" for o in ("sklearn", "torch") if o in timed
              for r in [[t / n for t, n in zip(timed[o][2], rounds_nn)]]]
    print(f"  nnctl × in each of the {args.repeats} rounds (contenders take turns): {', '.join(spread)}")
    whole = {"run_epoch": lambda: nn.run_epochs(epochs), "loop": lambda: nn.loop(epochs)}
    if name == "b":  # the roofline's products take turns with run_epoch, like the contenders above
        n_eval = n + len(nn.data.splits["val"][1])
        whole["products"], whole["products_train"] = matmul_roofline(nn.net, n, n_eval, batch)
    timed = interleaved(whole, args.repeats)
    t_full, t_loop = timed["run_epoch"][0], timed["loop"][0]
    print(f"  nnctl Trainer.run_epoch (steps + full train/val evaluation): {t_full / epochs * 1e3:.1f} ms/epoch, "
          f"steps alone {t_loop / epochs * 1e3:.1f} ms/epoch")
    if name == "b":
        t_mm, t_mm_train = timed["products"][0], timed["products_train"][0]
        print(f"  roofline: run_epoch {t_full / epochs * 1e3:.1f} ms / its matrix products alone "
              f"{t_mm * 1e3:.1f} ms = {t_full / epochs / t_mm:.2f} (target <= 1.25); "
              f"minibatch loop alone {t_loop / epochs / t_mm_train:.2f}")
        blas_compare(nn.net, batch, args.repeats)


def blas_compare(net, batch, repeats):
    """The layer-1 product of case (b) alone, NumPy's BLAS against PyTorch's: the floor under any ratio."""
    try:
        import torch
    except ImportError:
        return
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, net.layers[0]))
    W = net.params["W1"]
    Z = np.empty((batch, net.layers[1]))
    tX, tW, tZ = torch.from_numpy(X), torch.from_numpy(W), torch.empty(batch, net.layers[1], dtype=torch.float64)

    def many(f):
        return lambda: [f() for _ in range(50)]

    t_np = median_time(many(lambda: np.dot(X, W.T, out=Z)), max(repeats, 9))[0] / 50
    t_pt = median_time(many(lambda: torch.mm(tX, tW.t(), out=tZ)), max(repeats, 9))[0] / 50
    print(f"  one ({batch}x{net.layers[0]})@({net.layers[0]}x{net.layers[1]}) float64 product: NumPy "
          f"{t_np * 1e3:.3f} ms, PyTorch {t_pt * 1e3:.3f} ms (PyTorch's BLAS {t_np / t_pt:.2f}x as fast)")


def startup(args):
    exe = Path(sys.executable).with_name("nnctl")
    repeats = max(3, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_mod.resolve(None, ["train.epochs=1", "data.n_samples=200"])
        t = Trainer(cfg, Path(tmp) / "run", where="bench")
        t.fit()
        rows = "\n".join(f"{x:.3f},{-x:.3f}" for x in np.linspace(-1, 1, 10)) + "\n"
        ckpt = str(Path(tmp) / "run" / "checkpoints" / "last.npz")

        def run(argv, stdin=None):
            out = subprocess.run([str(exe), *argv], input=stdin, capture_output=True, text=True)
            return out.returncode, out.stderr

        t_help, (code_help, err_help) = median_time(lambda: run(["--help"]), repeats)
        t_pred, (code_pred, err_pred) = median_time(lambda: run(["predict", ckpt, "-"], rows), repeats)
    if code_help or code_pred:
        print(f"\nstart-up: nnctl failed: {err_help or err_pred}")
        return
    print(f"\nstart-up (median of {repeats} runs): nnctl --help {t_help:.3f} s (target < 0.2), "
          f"nnctl predict on 10 rows {t_pred:.3f} s (target < 0.3)")


def memory(args):
    n = 1_000_000 if args.quick else 10_000_000
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n, 2))
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
        np.savez(Path(tmp) / "big.npz", X=X, y=y)
        data_mb = X.nbytes / 1e6
        del X, y
        # VmHWM, the peak resident set of this process image: getrusage's ru_maxrss would also count the
        # (large) benchmark process that forked it, because Linux keeps it across exec.
        code = ("import sys\n"
                "from nnctl.cli import main\n"
                "try:\n    main()\n"
                "except SystemExit as e:\n"
                "    kb = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
                "    print(f'PEAK {int(kb) * 1024 / 1e6:.0f}', file=sys.stderr)\n    raise\n")
        argv = [sys.executable, "-c", code, "train", "-q", "--out", str(Path(tmp) / "run"),
                "--set", f"data.source={Path(tmp) / 'big.npz'}", "--set", "train.epochs=1",
                "--set", "train.batch_size=1024", str(Path(__file__).parents[1] / "configs" / "testnet.yaml")]
        start = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak = [line for line in out.stderr.splitlines() if line.startswith("PEAK")]
        if out.returncode or not peak:
            print(f"\nmemory: nnctl train failed ({out.returncode}): {out.stderr[-500:]}")
            return
        peak_mb = float(peak[0].split()[1])
    print(f"\nmemory: nnctl train on an .npz of {n:,} 2-feature samples ({data_mb:.0f} MB of float64 X), "
          f"1 epoch in {seconds:.1f} s: peak RSS {peak_mb:.0f} MB (1 MB = 10^6 bytes); "
          f"target 2 x data + 150 = {2 * data_mb + 150:.0f} MB")


def main(args):
    if args.quick:
        args.repeats = 1
    cases = args.cases.split(",")
    print(f"nnctl bench: numpy {np.__version__}" + (", QUICK smoke run (not a measurement)" if args.quick else ""))
    default = args.cases == "headline,a,b,c"
    if "headline" in cases:
        from headline import headline

        with tempfile.TemporaryDirectory() as workdir:
            headline(USER_ENV, workdir, rounds=1 if args.quick else 5, quick=args.quick)
    print(f"\npinned inner loop: BLAS pinned to {args.threads} thread(s) for every contender, the minibatch loop "
          "timed in this process")
    with tempfile.TemporaryDirectory() as workdir:
        for name in ("a", "b", "c"):
            if name in cases:
                run_case(name, workdir, args)
    if "startup" in cases or default:
        startup(args)
    if "memory" in cases or default:
        memory(args)
    if "vectorize" in cases or default:
        from vectorize import vectorize

        with tempfile.TemporaryDirectory() as workdir:
            vectorize(USER_ENV, workdir, quick=args.quick)


if __name__ == "__main__":
    main(ARGS)
