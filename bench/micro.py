"""The micro-measurements behind README "What makes it fast", on case (b)'s shapes, one BLAS thread.

Each line is the median over 9 repeats of a loop of calls, alternatives taking turns (``bench.interleaved``).
Run from the repository: ``python bench/micro.py``.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.linalg.blas import get_blas_funcs  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench import interleaved  # noqa: E402

from nnctl.model import network  # noqa: E402
from nnctl.model.network import MLP  # noqa: E402

REPEATS = 9


def report(title, timed, per):
    print(title)
    for name, (seconds, _, _) in timed.items():
        print(f"  {name:<44}{seconds / per * 1e3:8.3f} ms")


def main():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16_000, 784))  # (b)'s train and val splits
    y = rng.integers(0, 10, size=len(X))
    order = rng.permutation(12_000)  # minibatches come from the train split
    out = np.empty((128, 784))
    batches = [order[s:s + 128] for s in range(0, len(order) - 127, 128)]

    def gather(mode):
        return lambda: [X.take(idx, axis=0, out=out, mode=mode) for idx in batches]

    report("gather one minibatch of 128 rows into a buffer (per minibatch):",
           interleaved({'take(…, out=, mode="raise")': gather("raise"),
                        'take(…, out=, mode="clip")': gather("clip")}, REPEATS), len(batches))

    gemm = get_blas_funcs("gemm", dtype=np.float64)
    A, delta = X[:128], rng.standard_normal((128, 256))
    W = rng.standard_normal((256, 784)) * 0.05

    def step(beta):
        return lambda: [gemm(-1e-9, A.T, delta.T, beta=beta, c=W.T, trans_b=1, overwrite_c=1) for _ in range(50)]

    report("fused SGD step of W1 (256x784) in place, one gemm (per step):",
           interleaved({"beta = 1 - alpha*lambda (decay in the gemm)": step(1.0 - 1e-5),
                        "beta = 1 (decay deferred)": step(1.0)}, REPEATS), 50)

    net = MLP([784, 256, 10], "sigmoid", 1e-4, seed=0)
    Xe, ye = X, y  # an epoch of (b) evaluates train and val

    def evaluate(chunk):
        def run():
            network.EVAL_CHUNK = chunk
            return network.evaluate(net, Xe, ye)
        return run

    def products():
        for s in range(0, len(Xe), 1024):
            np.dot(Xe[s:s + 1024], net.params["W1"].T)

    timed = interleaved({"EVAL_CHUNK 4096": evaluate(4096), "EVAL_CHUNK 1024": evaluate(1024),
                         "its layer-1 products alone": products}, REPEATS)
    report(f"network.evaluate over {len(Xe)} rows of [784,256,10]:", timed, 1)


if __name__ == "__main__":
    main()
