"""The fast path pays for every optimizer: each optimizer's ``epoch`` (buffers, fused SGD step, deferred
decay — ``nnctl/model/fastpath.py``) against the plain loop over the derivation as ``network.py`` writes it
(``X[idx]``, ``MLP.loss_and_grads``, ``optimizer.step``). One epoch each, alternating, median of 3, BLAS
pinned to one thread. Run from the repository: ``python bench/optimizers.py``.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from nnctl.model.fastpath import Workspace  # noqa: E402
from nnctl.model.network import MLP  # noqa: E402
from nnctl.training import optimizers  # noqa: E402


def main():
    rng = np.random.default_rng(0)
    print(f"{'network':>15} {'optimizer':>9} {'fast steps/s':>13} {'plain steps/s':>14} {'speed-up':>9}")
    for layers, batch, n in (([2, 3, 2], 32, 60_000), ([784, 256, 10], 128, 12_000)):
        X, y = rng.standard_normal((n, layers[0])), rng.integers(0, layers[-1], n)
        order = rng.permutation(n)
        for name, make in (("sgd", lambda: optimizers.SGD(0.1)),
                           ("nesterov", lambda: optimizers.Momentum(0.1, 0.9, True)),
                           ("adam", lambda: optimizers.Adam(0.001))):
            fast, plain = MLP(layers, lam=1e-4, seed=0), MLP(layers, lam=1e-4, seed=0)
            opt_fast, opt_plain, workspace = make(), make(), Workspace(fast)

            def fast_epoch():
                opt_fast.epoch(workspace, X, y, order, batch)

            def plain_epoch():
                for s in range(0, n, batch):
                    idx = order[s:s + batch]
                    _, grads = plain.loss_and_grads(X[idx], y[idx])
                    opt_plain.step(plain.params, grads)

            times = {fast_epoch: [], plain_epoch: []}
            for _ in range(3):
                for fn in (fast_epoch, plain_epoch):
                    start = time.perf_counter()
                    fn()
                    times[fn].append(time.perf_counter() - start)
            t_fast, t_plain = statistics.median(times[fast_epoch]), statistics.median(times[plain_epoch])
            steps = -(-n // batch)
            print(f"{str(layers):>15} {name:>9} {steps / t_fast:>13,.0f} {steps / t_plain:>14,.0f} "
                  f"{t_plain / t_fast:>8.2f}x")


if __name__ == "__main__":
    main()
