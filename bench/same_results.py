"""Same seed, same results: the optimised training loop against the foundation's plain one.

Loads ``nnctl/mlp.py`` as it was before the performance work (git commit 5a99a3c, the foundation) and
trains it with the plain loop (``X[idx]``, ``loss_and_grads``, ``W -= α∇W``) beside ``trainer.train_steps``
on the same data, initial weights and shuffles; prints the largest parameter difference at the end.
Run from the repository: ``python bench/same_results.py``.
"""
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from nnctl import config as config_mod, data as data_mod, optimizers, seeding, trainer as trainer_mod

FOUNDATION = "5a99a3c"


def foundation_mlp():
    source = subprocess.run(["git", "show", f"{FOUNDATION}:nnctl/mlp.py"], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).parents[1]).stdout
    path = Path(tempfile.mkdtemp()) / "mlp_foundation.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("nnctl.mlp_foundation", path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "nnctl"
    spec.loader.exec_module(module)
    return module.MLP


def main():
    OldMLP = foundation_mlp()
    for act in ("sigmoid", "tanh", "relu"):
        config = config_mod.resolve(None, [f"model.activation={act}", "model.layers=[2,8,8,2]"])
        data = data_mod.prepare(config)
        X, y = data.splits["train"]
        alpha, batch = config["train"]["alpha"], config["train"]["batch_size"]
        new = trainer_mod.build_network(config)
        old = OldMLP(config["model"]["layers"], act, config["train"]["lambda"],
                     params={k: v.copy() for k, v in new.params.items()})
        optimizer = optimizers.SGD(alpha)
        rng_new, rng_old = seeding.rng(config["seed"], "shuffle"), seeding.rng(config["seed"], "shuffle")
        for _ in range(config["train"]["epochs"]):
            trainer_mod.train_steps(new, optimizer, X, y, rng_new.permutation(len(y)), batch)
            plain_epoch(old, X, y, rng_old.permutation(len(y)), batch, alpha)
        diff = max(float(np.abs(new.params[k] - old.params[k]).max()) for k in old.params)
        largest = max(float(np.abs(p).max()) for p in old.params.values())
        Xv, yv = data.splits["val"]
        print(f"{act:>7}: {config['train']['epochs']} epochs of {-(-len(y) // batch)} steps, [2, 8, 8, 2]: "
              f"max |Δparam| {diff:.1e} (largest |param| {largest:.2f}); val accuracy "
              f"{(new.predict(Xv) == yv).mean():.4f} optimised, {(old.predict(Xv) == yv).mean():.4f} foundation")
    bench_case_b(OldMLP)
    return 0


def plain_epoch(old, X, y, order, batch, alpha):
    """The foundation's loop: fresh gradients per minibatch, ``W ← W − α∇W``."""
    for s in range(0, len(y), batch):
        idx = order[s:s + batch]
        _, grads = old.loss_and_grads(X[idx], y[idx])
        for k, g in grads.items():
            old.params[k] -= alpha * g


def bench_case_b(OldMLP):
    """``make bench``'s case (b), 3 epochs: does the optimised loop end where the plain one does?"""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench

    with tempfile.TemporaryDirectory() as workdir:
        config, epochs = bench.case_config("b", workdir, quick=False)
        run = bench.NnctlRun(config, Path(workdir) / "run")
        acc_new = run.train(epochs)
        alpha, batch = config["train"]["alpha"], config["train"]["batch_size"]
        old = OldMLP(config["model"]["layers"], config["model"]["activation"], config["train"]["lambda"],
                     params={k: v.copy() for k, v in trainer_mod.build_network(config).params.items()})
        rng, X, y = seeding.rng(config["seed"], "shuffle"), run.X, run.y
        for _ in range(epochs):
            plain_epoch(old, X, y, rng.permutation(len(y)), batch, alpha)
        Xt, yt = run.trainer.data.splits["test"]
        diff = max(float(np.abs(old.params[k] - run.trainer.net.params[k]).max()) for k in old.params)
        print(f"bench case (b), {epochs} epochs: max |Δparam| {diff:.1e}; test accuracy {acc_new:.5f} optimised, "
              f"{(old.predict(Xt) == yt).mean():.5f} foundation")


if __name__ == "__main__":
    sys.exit(main())
