"""Optimizers, schedules and early stopping: one step against its formula, exact resume, stopping rules."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nnctl import config as config_mod
from nnctl.model import gradcheck
from nnctl.training import checkpoint, optimizers
from nnctl.errors import ConfigError
from nnctl.model.fastpath import Workspace
from nnctl.model.network import ACTIVATIONS, MLP
from nnctl.training.trainer import Trainer


def params_and_grads(seed=0):
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=3), "W2": rng.normal(size=(2, 3)), "b2": rng.normal(size=2)}
    grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
    return params, grads


def copy(d):
    return {k: v.copy() for k, v in d.items()}


# One step of each rule, written out here by hand rather than taken from nnctl.optimizers.

def test_sgd_step_is_the_derivations_rule():
    params, grads = params_and_grads()
    expected = {k: params[k] - 0.3 * grads[k] for k in params}
    optimizers.SGD(0.3).step(params, grads)
    for k in params:
        assert np.array_equal(params[k], expected[k])


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_two_steps_match_the_formula(nesterov):
    alpha, mu = 0.1, 0.9
    params, g1 = params_and_grads(1)
    _, g2 = params_and_grads(2)
    expected = copy(params)
    v = {k: np.zeros_like(p) for k, p in params.items()}
    for g in (g1, g2):
        for k in params:
            v[k] = mu * v[k] - alpha * g[k]
            expected[k] = expected[k] + (mu * v[k] - alpha * g[k] if nesterov else v[k])
    opt = optimizers.Momentum(alpha, mu, nesterov)
    opt.step(params, copy(g1))
    opt.step(params, copy(g2))
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(opt.velocity[k], v[k], rtol=1e-13, atol=1e-15)


def test_adam_two_steps_match_kingma_and_ba_with_bias_correction():
    alpha, b1, b2, eps = 0.01, 0.8, 0.95, 1e-8
    params, g1 = params_and_grads(3)
    _, g2 = params_and_grads(4)
    expected = copy(params)
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    for t, g in ((1, g1), (2, g2)):
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat, v_hat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
            # The paper's ε sits outside the corrected √v̂; nnctl (and scikit-learn) fold the
            # correction into the step (Kingma & Ba's "more efficient" order), which divides ε by √(1−β2ᵗ).
            expected[k] = expected[k] - alpha * m_hat / (np.sqrt(v_hat) + eps / math.sqrt(1 - b2 ** t))
    opt = optimizers.Adam(alpha, b1, b2, eps)
    opt.step(params, g1)
    opt.step(params, g2)
    assert opt.t == 2
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-12, atol=1e-15)


def test_adam_first_step_moves_every_weight_by_about_alpha():
    # With bias correction, m̂/√v̂ = g/|g| on step 1: a well-known property worth pinning down.
    params, grads = params_and_grads(5)
    before = copy(params)
    optimizers.Adam(0.01).step(params, grads)
    for k in params:
        np.testing.assert_allclose(before[k] - params[k], 0.01 * np.sign(grads[k]), rtol=1e-4)


def test_lbfgs_epoch_lowers_the_full_batch_loss():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 2)), (rng.random(60) > 0.5).astype(int)
    net = MLP([2, 4, 2], activation="tanh", lam=1e-3, seed=0)
    before = net.loss(X, y)
    grads = optimizers.LBFGS(iters=5).epoch(Workspace(net), X, y)
    after, fresh = net.loss_and_grads(X, y)
    assert after < before
    assert set(grads) == set(net.params)
    for k in grads:  # the returned gradients are those of the weights left in the network
        np.testing.assert_allclose(grads[k], fresh[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradcheck_passes_for_every_activation(activation):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 3, size=20)
    net = MLP([3, 5, 4, 3], activation=activation, lam=1e-2, seed=2)
    report = gradcheck.check(net, X, y)
    assert report["passed"], gradcheck.format_report(report)


# Training runs through the Trainer.

def resolved(tmp_path, *overrides, epochs=20):
    base = ["data.n_samples=150", "model.layers=[2,6,2]", "train.batch_size=16", f"train.epochs={epochs}",
            "output.checkpoint_every=7", f"output.dir={tmp_path}"]
    return config_mod.resolve(overrides=base + list(overrides))


def final_state(run_dir):
    ckpt = checkpoint.load(run_dir / "checkpoints" / "last.npz")
    metrics = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for r in metrics:
        r.pop("seconds")
    return ckpt, metrics


RESUME_CASES = {
    "sgd": ["train.optimizer=sgd"],
    "momentum": ["train.optimizer=momentum", "train.alpha=0.05"],
    "nesterov": ["train.optimizer=momentum", "train.nesterov=true", "train.alpha=0.05", "train.schedule=step",
                 "train.step_size=4"],
    "adam": ["train.optimizer=adam", "train.alpha=0.01", "train.schedule=plateau", "train.plateau_patience=2"],
    "adam-invscaling": ["train.optimizer=adam", "train.alpha=0.05", "train.schedule=invscaling"],
    "lbfgs": ["train.optimizer=lbfgs", "train.lbfgs_iters=3"],
    # These two stop at epochs 19 and 11: after the resume, so the stopper's state must carry over.
    "early-stopping-loss": ["train.optimizer=adam", "train.alpha=0.02", "train.early_stopping=true", "train.patience=3"],
    "early-stopping-acc": ["train.optimizer=adam", "train.alpha=0.02", "train.early_stopping=true",
                           "train.monitor=val_acc", "train.patience=5"],
}


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_ten_epochs_then_resume_ten_equals_twenty_straight(tmp_path, case):
    overrides = RESUME_CASES[case]
    Trainer(resolved(tmp_path / "a", *overrides), tmp_path / "a").fit()
    Trainer(resolved(tmp_path / "b", *overrides, epochs=10), tmp_path / "b").fit()
    Trainer(resolved(tmp_path / "b", *overrides), tmp_path / "b", resume=True).fit()
    (a, metrics_a), (b, metrics_b) = final_state(tmp_path / "a"), final_state(tmp_path / "b")
    assert metrics_a == metrics_b and len(metrics_a) > 10
    assert a.meta["epoch"] == b.meta["epoch"]
    assert set(a.params) == set(b.params) and set(a.opt_state) == set(b.opt_state)
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k
    for k in a.opt_state:
        assert np.array_equal(a.opt_state[k], b.opt_state[k]), k
    assert a.meta["schedule"] == b.meta["schedule"]
    assert a.meta["early_stopping"] == b.meta["early_stopping"]
    summary_a = json.loads((tmp_path / "a" / "summary.json").read_text())
    summary_b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary_a["test_loss"] == summary_b["test_loss"]
    assert summary_a["stopped_reason"] == summary_b["stopped_reason"]


def test_optimizer_state_is_in_the_checkpoint(tmp_path):
    Trainer(resolved(tmp_path, "train.optimizer=adam", epochs=3), tmp_path).fit()
    ckpt = checkpoint.load(tmp_path / "checkpoints" / "last.npz")
    assert int(ckpt.opt_state["t"]) == 3 * math.ceil(90 / 16)  # 150 samples, 60 % of them train
    assert {f"m_{k}" for k in ckpt.params} | {f"v_{k}" for k in ckpt.params} | {"t"} == set(ckpt.opt_state)


def test_sgd_with_a_constant_schedule_leaves_alpha_alone(tmp_path):
    trainer = Trainer(resolved(tmp_path, epochs=3), tmp_path)
    trainer.fit()
    assert trainer.optimizer.alpha == 0.5
    assert "alpha" not in trainer.metrics[0]


def alphas(tmp_path, *overrides, epochs=8):
    trainer = Trainer(resolved(tmp_path, *overrides, epochs=epochs), tmp_path)
    trainer.fit()
    return [r["alpha"] for r in trainer.metrics], len(trainer.data.splits["train"][1])


def test_step_schedule(tmp_path):
    got, _ = alphas(tmp_path, "train.schedule=step", "train.step_size=3", "train.gamma=0.1", "train.alpha=0.2")
    expected = [0.2 * 0.1 ** (epoch // 3) for epoch in range(8)]  # epoch e (1-based) trains with α(e − 1)
    np.testing.assert_allclose(got, expected, rtol=1e-15)


def test_invscaling_schedule_counts_samples_like_scikit_learn(tmp_path):
    got, n = alphas(tmp_path, "train.schedule=invscaling", "train.power_t=0.25", "train.alpha=0.2")
    expected = [0.2] + [0.2 / (e * n + 1) ** 0.25 for e in range(1, 8)]
    np.testing.assert_allclose(got, expected, rtol=1e-15)


def test_plateau_schedule_decays_after_patience_epochs_without_improvement(tmp_path):
    trainer = Trainer(resolved(tmp_path, "train.schedule=plateau", "train.plateau_patience=2", "train.gamma=0.5",
                               "train.min_delta=0.0", epochs=40), tmp_path)
    trainer.fit()
    alpha, best, bad = 0.5, math.inf, 0
    for r in trainer.metrics:  # replay the rule on the recorded validation losses
        assert r["alpha"] == alpha
        if r["val_loss"] < best:
            best, bad = r["val_loss"], 0
        else:
            bad += 1
            if bad == 2:
                alpha, bad = alpha * 0.5, 0
    assert trainer.metrics[-1]["alpha"] < 0.5  # the rule did fire on this run


def test_early_stopping_restores_the_best_epoch_and_says_why(tmp_path):
    trainer = Trainer(resolved(tmp_path, "train.early_stopping=true", "train.patience=3", "train.min_delta=0.001",
                               epochs=200), tmp_path)
    summary = trainer.fit()
    stop = trainer.epoch
    assert stop < 200
    losses = [r["val_loss"] for r in trainer.metrics]
    best_epoch = summary["best_epoch"]
    assert summary["stopped_reason"] == (f"early stopping: val_loss did not improve by 0.001 for 3 epochs; "
                                         f"best epoch {best_epoch} restored")
    assert stop == best_epoch + 3
    assert all(loss >= losses[best_epoch - 1] - 0.001 for loss in losses[best_epoch:])
    assert summary["val_loss"] == pytest.approx(losses[best_epoch - 1], rel=1e-12)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["stopped_reason"] == summary["stopped_reason"]
    best = checkpoint.load(tmp_path / "checkpoints" / "best.npz")
    last = checkpoint.load(tmp_path / "checkpoints" / "last.npz")
    assert best.meta["epoch"] == best_epoch and last.meta["epoch"] == stop
    for k in best.params:
        assert np.array_equal(trainer.net.params[k], best.params[k])
    # Resuming a run that stopped early trains nothing more.
    again = Trainer(resolved(tmp_path, "train.early_stopping=true", "train.patience=3", "train.min_delta=0.001",
                             epochs=300), tmp_path, resume=True)
    assert again.fit()["epochs"] == stop


def test_early_stopping_on_accuracy_reports_its_monitor(tmp_path):
    summary = Trainer(resolved(tmp_path, "train.early_stopping=true", "train.monitor=val_acc", "train.patience=2",
                               epochs=200), tmp_path).fit()
    assert summary["stopped_reason"].startswith("early stopping: val_acc did not improve by 0.0001 for 2 epochs")


@pytest.mark.parametrize("overrides, message", [
    (["train.optimizer=lbfgs", "train.schedule=step"], "train.schedule: must be constant with train.optimizer lbfgs"),
    (["train.early_stopping=true", "data.val_fraction=0"], "train.early_stopping: needs a validation split"),
    (["train.optimizer=rmsprop"], "train.optimizer: must be one of sgd, momentum, adam, lbfgs"),
    (["train.beta2=1"], "train.beta2: must be a number with 0.0 ≤ x < 1.0"),
])
def test_bad_combinations_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        config_mod.resolve(overrides=overrides)


def test_cli_trains_with_adam_and_early_stopping(run_cli, tiny_config, tmp_path):
    path = tiny_config(train={"epochs": 300, "batch_size": 16, "optimizer": "adam", "alpha": 0.05,
                              "early_stopping": True, "patience": 3})
    result = run_cli("train", path, "--out", tmp_path / "run", "-q", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["epochs"] < 300 and summary["stopped_reason"].startswith("early stopping: val_loss")
    ckpt = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.npz")
    assert ckpt.meta["optimizer"] == "adam" and int(ckpt.opt_state["t"]) > 0
    bad = run_cli("train", path, "--out", tmp_path / "bad", "--set", "train.schedule=plateau",
                  "--set", "train.optimizer=lbfgs")
    assert bad.exit_code == 2 and "train.schedule: must be constant with train.optimizer lbfgs" in bad.stderr
