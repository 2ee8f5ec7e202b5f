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

    A, delta = X[:128], rng.standard_normal((128, 256))
    W, work, decay = rng.standard_normal((256, 784)) * 0.05, np.empty((256, 784)), np.empty((256, 784))

    def fused():  # the fast path's step: −α into δ (small), the product into a buffer, added to W
        for _ in range(50):
            d = delta * -1e-9
            np.add(W, np.dot(d.T, A, out=work), out=W)

    def unfused():  # ∇W = δᵀA + λW, then the optimizer's W ← W − α∇W
        for _ in range(50):
            np.dot(delta.T, A, out=work)
            np.multiply(W, 1e-4, out=decay)
            np.add(work, decay, out=work)
            np.multiply(work, 1e-9, out=work)
            np.subtract(W, work, out=W)

    report("SGD step of W1 (256x784) (per step):",
           interleaved({"fused (decay deferred)": fused, "gradient, then the optimizer's step": unfused}, REPEATS), 50)

    Z, out = rng.standard_normal((128, 256)) * 3, np.empty((128, 256))

    def tanh_form():
        for _ in range(50):
            np.multiply(Z, 0.5, out=out)
            np.tanh(out, out=out)
            np.multiply(out, 0.5, out=out)
            np.add(out, 0.5, out=out)

    report("sigmoid of a 128x256 minibatch layer (per call):",
           interleaved({"1 / (1 + exp(-z)) (network.sigmoid)": lambda: [network.sigmoid(Z, out) for _ in range(50)],
                        "(1 + tanh(z/2)) / 2": tanh_form}, REPEATS), 50)

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
