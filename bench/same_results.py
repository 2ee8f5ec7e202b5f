"""Same seed, same results: the training loop's fast path against the plain derivation.

Trains each activation's network with the optimizer's ``epoch`` (``nnctl/model/fastpath.py``) beside the
plain loop over ``network.py`` (``X[idx]``, ``MLP.loss_and_grads``, ``W -= α∇W``) on the same data, initial
weights and shuffles, and prints the largest parameter difference at the end; then the same for ``make
bench``'s case (b). Run from the repository: ``python bench/same_results.py``.
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

from nnctl import config as config_mod, seeding
from nnctl.data.dataset import prepare
from nnctl.model.fastpath import Workspace
from nnctl.model.network import MLP
from nnctl.training import optimizers
from nnctl.training.checkpoint import build_network


def plain_copy(net):
    return MLP(net.layers, net.activation, net.lam, dtype=net.dtype, params={k: v.copy() for k, v in net.params.items()})


def main():
    for act in ("sigmoid", "tanh", "relu"):
        config = config_mod.resolve(None, [f"model.activation={act}", "model.layers=[2,8,8,2]"])
        data = prepare(config)
        X, y = data.splits["train"]
        alpha, batch = config["train"]["alpha"], config["train"]["batch_size"]
        fast = build_network(config)
        plain = plain_copy(fast)
        optimizer, workspace = optimizers.SGD(alpha), Workspace(fast)
        rng_fast, rng_plain = seeding.rng(config["seed"], "shuffle"), seeding.rng(config["seed"], "shuffle")
        for _ in range(config["train"]["epochs"]):
            optimizer.epoch(workspace, X, y, rng_fast.permutation(len(y)), batch)
            plain_epoch(plain, X, y, rng_plain.permutation(len(y)), batch, alpha)
        diff = max(float(np.abs(fast.params[k] - plain.params[k]).max()) for k in plain.params)
        largest = max(float(np.abs(p).max()) for p in plain.params.values())
        Xv, yv = data.splits["val"]
        print(f"{act:>7}: {config['train']['epochs']} epochs of {-(-len(y) // batch)} steps, [2, 8, 8, 2]: "
              f"max |Δparam| {diff:.1e} (largest |param| {largest:.2f}); val accuracy "
              f"{(fast.predict(Xv) == yv).mean():.4f} fast path, {(plain.predict(Xv) == yv).mean():.4f} plain")
    bench_case_b()
    return 0


def plain_epoch(net, X, y, order, batch, alpha):
    """The derivation's loop: fresh gradients per minibatch, ``W ← W − α∇W``."""
    for s in range(0, len(y), batch):
        idx = order[s:s + batch]
        _, grads = net.loss_and_grads(X[idx], y[idx])
        for k, g in grads.items():
            net.params[k] -= alpha * g


def bench_case_b():
    """``make bench``'s case (b), 3 epochs: does the fast path end where the plain loop does?"""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench

    with tempfile.TemporaryDirectory() as workdir:
        config, epochs = bench.case_config("b", workdir, quick=False)
        run = bench.NnctlRun(config)
        acc_fast = run.train(epochs)
        alpha, batch = config["train"]["alpha"], config["train"]["batch_size"]
        plain = plain_copy(build_network(config))
        rng, X, y = seeding.rng(config["seed"], "shuffle"), run.X, run.y
        for _ in range(epochs):
            plain_epoch(plain, X, y, rng.permutation(len(y)), batch, alpha)
        Xt, yt = run.data.splits["test"]
        diff = max(float(np.abs(plain.params[k] - run.net.params[k]).max()) for k in plain.params)
        print(f"bench case (b), {epochs} epochs: max |Δparam| {diff:.1e}; test accuracy {acc_fast:.5f} fast path, "
              f"{(plain.predict(Xt) == yt).mean():.5f} plain")


if __name__ == "__main__":
    sys.exit(main())
