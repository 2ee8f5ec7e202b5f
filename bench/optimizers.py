"""The speed-up holds for every optimizer: the optimised loop against the code before the performance work.

"Before" is the foundation's network (``nnctl/mlp.py`` at commit 5a99a3c) with the plain loop
(``X[idx]``, ``loss_and_grads``) and the optimizers as first written (``nnctl/optimizers.py`` at 558412d);
"after" is ``trainer.train_steps`` with today's network and optimizers. One epoch each, alternating,
median of 3, BLAS pinned to one thread. Run from the repository: ``python bench/optimizers.py``.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import importlib.util  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from nnctl import optimizers, trainer as trainer_mod  # noqa: E402
from nnctl.mlp import MLP  # noqa: E402


def from_git(commit, path, name):
    source = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).parents[1]).stdout
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(f"nnctl.{name}", file)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "nnctl"
    spec.loader.exec_module(module)
    return module


def main():
    old_mlp = from_git("5a99a3c", "nnctl/mlp.py", "mlp_before")
    old_opt = from_git("558412d", "nnctl/optimizers.py", "optimizers_before")
    rng = np.random.default_rng(0)
    print(f"{'network':>15} {'optimizer':>9} {'after steps/s':>14} {'before steps/s':>15} {'speed-up':>9}")
    for layers, batch, n in (([2, 3, 2], 32, 60_000), ([784, 256, 10], 128, 12_000)):
        X, y = rng.standard_normal((n, layers[0])), rng.integers(0, layers[-1], n)
        order = rng.permutation(n)
        for name, make in (("sgd", lambda m: m.SGD(0.1)), ("nesterov", lambda m: m.Momentum(0.1, 0.9, True)),
                           ("adam", lambda m: m.Adam(0.001))):
            new, old = MLP(layers, lam=1e-4, seed=0), old_mlp.MLP(layers, lam=1e-4, seed=0)
            opt_new, opt_old = make(optimizers), make(old_opt)

            def after():
                trainer_mod.train_steps(new, opt_new, X, y, order, batch)

            def before():
                for s in range(0, n, batch):
                    idx = order[s:s + batch]
                    _, grads = old.loss_and_grads(X[idx], y[idx])
                    opt_old.step(old.params, grads)

            times = {after: [], before: []}
            for _ in range(3):
                for fn in (after, before):
                    start = time.perf_counter()
                    fn()
                    times[fn].append(time.perf_counter() - start)
            t_after, t_before = statistics.median(times[after]), statistics.median(times[before])
            steps = -(-n // batch)
            print(f"{str(layers):>15} {name:>9} {steps / t_after:>14,.0f} {steps / t_before:>15,.0f} "
                  f"{t_before / t_after:>8.2f}x")


if __name__ == "__main__":
    main()
