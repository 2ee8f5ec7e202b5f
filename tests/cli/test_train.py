"""`nnctl train`, `eval` and `predict` end to end: exit codes, the run directory, checkpoints, exact resume."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from nnctl import config as config_mod
from nnctl.model.network import MLP
from nnctl.training import checkpoint

METRIC_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"}


def read_metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def snapshot(run_dir):
    """Every file of a run directory with its bytes, to prove that a refused command changed nothing."""
    return {p.relative_to(run_dir): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def npz_arrays(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def meta_of(arrays):
    return json.loads(str(arrays["meta"]))


@pytest.fixture
def deep_config(tiny_config):
    """Two hidden layers, checkpoints every 2 epochs, 5 epochs: exercises every run-directory file."""
    return tiny_config(model={"layers": [2, 5, 3, 2]}, train={"epochs": 5},
                       output={"checkpoint_every": 2})


def test_train_json_and_run_directory(run_cli, deep_config, tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", deep_config, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    for split in ("train", "val", "test"):
        assert 0.0 <= summary[f"{split}_acc"] <= 1.0 and summary[f"{split}_loss"] > 0
    assert summary["epochs"] == 5

    # config.yaml is the resolved config: every default present, the file's values and --out applied.
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved == config_mod.resolve(yaml.safe_load(deep_config.read_text()),
                                          [f"output.dir={out}"])

    records = read_metrics(out)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5]
    for r in records:
        assert set(r) == METRIC_KEYS | {"grad_norm_W1", "grad_norm_W2", "grad_norm_W3"}
        assert all(np.isfinite(v) and v >= 0 for v in r.values())

    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["best.npz", "epoch-0002.npz", "epoch-0004.npz", "last.npz"]
    assert meta_of(npz_arrays(out / "checkpoints" / "last.npz"))["epoch"] == 5
    best = meta_of(npz_arrays(out / "checkpoints" / "best.npz"))
    assert best["epoch"] == summary["best_epoch"]
    assert records[best["epoch"] - 1]["val_loss"] == min(r["val_loss"] for r in records)


def test_train_text_summary_and_quiet_stderr(run_cli, tiny_config, tmp_path):
    result = run_cli("train", tiny_config(), "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["split", "loss", "accuracy"]
    assert [line.split()[0] for line in lines[1:4]] == ["train", "val", "test"]
    assert lines[4].startswith("all 3 epochs done, best epoch ")
    assert "\r" not in result.stderr  # no progress bar when stderr is not a terminal
    quiet = run_cli("train", tiny_config(), "--out", tmp_path / "run2", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_checkpoint_format(train_run, deep_config):
    run = train_run(deep_config)
    arrays = npz_arrays(run / "checkpoints" / "last.npz")  # allow_pickle=False: plain arrays only
    layers = [2, 5, 3, 2]
    for l in range(1, len(layers)):
        assert arrays[f"W{l}"].shape == (layers[l], layers[l - 1])
        assert arrays[f"b{l}"].shape == (layers[l],)
    assert "W4" not in arrays
    assert arrays["scaler_center"].shape == arrays["scaler_scale"].shape == (2,)
    meta = meta_of(arrays)
    assert meta["config"] == yaml.safe_load((run / "config.yaml").read_text())
    assert meta["epoch"] == 5 and meta["class_names"] == ["0", "1"] and meta["n_features"] == 2
    assert meta["format_version"] == checkpoint.FORMAT_VERSION == 2 and meta["nnctl_version"]
    assert meta["rng_state"]["bit_generator"] == "PCG64"
    # Nothing half-written is left behind by the atomic writes.
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]


def test_refuses_to_overwrite_a_run(run_cli, tiny_config, tmp_path):
    config, out = tiny_config(), tmp_path / "run"
    assert run_cli("train", config, "--out", out, "-q").exit_code == 0
    before = snapshot(out)
    result = run_cli("train", config, "--out", out, "-q", "--set", "train.epochs=1")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "--force" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert snapshot(out) == before
    forced = run_cli("train", config, "--out", out, "-q", "--force", "--set", "train.epochs=1")
    assert forced.exit_code == 0, forced.stderr
    assert len(read_metrics(out)) == 1
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.npz", "last.npz"]


def test_resume_is_bit_exact(run_cli, tiny_config, tmp_path):
    # Partial last batch (96 train rows, batch 20), shuffling and checkpoints every 3 epochs: all must resume.
    config = tiny_config(data={"n_samples": 160}, train={"epochs": 10, "batch_size": 20},
                         output={"checkpoint_every": 3})
    split, whole = tmp_path / "split", tmp_path / "whole"
    assert run_cli("train", config, "--out", split, "-q").exit_code == 0
    resumed = run_cli("train", config, "--out", split, "-q", "--resume", "--set", "train.epochs=20", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert run_cli("train", config, "--out", whole, "-q", "--set", "train.epochs=20").exit_code == 0

    for name in ("last.npz", "best.npz", "epoch-0018.npz"):
        a, b = npz_arrays(split / "checkpoints" / name), npz_arrays(whole / "checkpoints" / name)
        assert a.keys() == b.keys()
        for key in a.keys() - {"meta"}:
            assert np.array_equal(a[key], b[key]), (name, key)
        ma, mb = meta_of(a), meta_of(b)
        for meta in (ma, mb):
            del meta["seconds"], meta["checksum"], meta["config"]["output"]["dir"]  # the checksum covers both
        assert ma == mb, name

    def without_seconds(records):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    assert len(read_metrics(split)) == 20
    assert without_seconds(read_metrics(split)) == without_seconds(read_metrics(whole))
    summary = json.loads(resumed.stdout)
    expected = json.loads((whole / "summary.json").read_text())
    for key in ("seconds", "run_dir"):
        del summary[key], expected[key]
    assert summary == expected
    assert yaml.safe_load((split / "config.yaml").read_text())["train"]["epochs"] == 20


@pytest.mark.parametrize("override, key", [("train.alpha=0.1", "train.alpha"),
                                           ("model.layers=[2, 4, 2]", "model.layers"),
                                           ("train.epochs=2", "train.epochs")])
def test_resume_refuses_a_changed_run(run_cli, tiny_config, tmp_path, override, key):
    config, out = tiny_config(), tmp_path / "run"
    assert run_cli("train", config, "--out", out, "-q").exit_code == 0
    before = snapshot(out)
    result = run_cli("train", config, "--out", out, "-q", "--resume", "--set", override)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and key in result.stderr
    assert snapshot(out) == before


def test_resume_without_a_run(run_cli, tiny_config, tmp_path):
    result = run_cli("train", tiny_config(), "--out", tmp_path / "empty", "--resume")
    assert result.exit_code == 2 and "nothing to resume" in result.stderr


def test_exit_codes(run_cli, tiny_config, tmp_path):
    assert run_cli("train", tiny_config(), "--set", "train.nope=1").exit_code == 2
    assert run_cli("train", tmp_path / "missing.yaml").exit_code == 2
    assert run_cli("eval", tmp_path / "missing.npz").exit_code == 2
    # ReLU units on raw inputs ×1e6 with a large step: the weights overflow, which is a failed run (1).
    diverging = tiny_config(model={"activation": "relu"}, data={"input_scale": 1e6, "scaler": "none"},
                            train={"alpha": 1e6})
    result = run_cli("train", diverging, "--out", tmp_path / "div", "-q")
    assert result.exit_code == 1 and "diverged" in result.stderr


def test_epochs_zero_is_the_initialised_network(run_cli, train_run, tiny_config):
    config = tiny_config(data={"n_samples": 400}, train={"epochs": 0})
    run = train_run(config)
    assert read_metrics(run) == []
    arrays = npz_arrays(run / "checkpoints" / "last.npz")
    assert meta_of(arrays)["epoch"] == 0
    from nnctl.training.checkpoint import build_network

    initial = build_network(config_mod.load(config)).params
    assert all(np.array_equal(arrays[k], initial[k]) for k in initial)
    result = run_cli("eval", run / "checkpoints" / "last.npz", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert abs(report["accuracy"] - 0.5) <= 0.15  # two balanced classes: an untrained network is near chance
    assert report["loss"] > 0.6


def test_eval_matches_the_summary(run_cli, train_run, tiny_config):
    run = train_run(tiny_config(data={"n_samples": 300}, train={"epochs": 20}))
    summary = json.loads((run / "summary.json").read_text())
    last = run / "checkpoints" / "last.npz"
    report = json.loads(run_cli("eval", last, "--json").stdout)
    assert report["split"] == "test" and report["samples"] == 60
    assert report["accuracy"] == summary["test_acc"]
    assert report["loss"] == pytest.approx(summary["test_loss"], rel=1e-12)
    assert np.sum(report["confusion_matrix"]) == 60
    assert np.trace(report["confusion_matrix"]) == round(summary["test_acc"] * 60)
    assert [c["class"] for c in report["per_class"]] == ["0", "1"]
    val = json.loads(run_cli("eval", last, "--split", "val", "--json").stdout)
    assert val["accuracy"] == summary["val_acc"]
    text = run_cli("eval", last)
    assert text.exit_code == 0 and "confusion matrix" in text.stdout and "precision" in text.stdout


def test_predict_round_trip_from_stdin(run_cli, train_run, tiny_config, tmp_path):
    run = train_run(tiny_config(data={"source": "blobs", "n_samples": 150}, model={"layers": [2, 4, 3]},
                                train={"epochs": 10}))
    ckpt = run / "checkpoints" / "last.npz"
    arrays = npz_arrays(ckpt)
    meta = meta_of(arrays)
    rows = np.array([[1.0, 0.0], [-0.5, 0.87], [-0.5, -0.87], [0.1, 0.2]])
    # The network by hand from the checkpoint's arrays: scale with the stored scaler, then forward.
    net = MLP([2, 4, 3], "sigmoid", params={k: arrays[k] for k in ("W1", "b1", "W2", "b2")})
    scaled = (rows - arrays["scaler_center"]) / arrays["scaler_scale"]
    expected = [meta["class_names"][k] for k in net.predict(scaled)]
    body = "".join(f"{a},{b}\n" for a, b in rows)

    for text in (body, "x1,x2\n" + body):  # the header is optional
        result = run_cli("predict", ckpt, "-", input=text)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.splitlines() == expected
    (tmp_path / "rows.csv").write_text(body)
    assert run_cli("predict", ckpt, tmp_path / "rows.csv").stdout.splitlines() == expected

    proba = run_cli("predict", ckpt, "--proba", input=body)
    assert proba.exit_code == 0, proba.stderr
    header, *lines = proba.stdout.splitlines()
    assert header.split(",") == meta["class_names"] == ["0", "1", "2"]
    P = np.array([[float(v) for v in line.split(",")] for line in lines])
    assert P.shape == (4, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(P, net.predict_proba(scaled), atol=1e-6)
    assert [meta["class_names"][k] for k in P.argmax(axis=1)] == expected


def test_predict_rejects_wrong_width(run_cli, train_run, tiny_config):
    run = train_run(tiny_config())
    result = run_cli("predict", run / "checkpoints" / "last.npz", input="1,2,3\n")
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")


def test_version_via_python_m(root):
    result = subprocess.run([sys.executable, "-m", "nnctl", "--version"], capture_output=True, text=True, cwd=root)
    assert result.returncode == 0 and result.stdout.strip().startswith("nnctl ")


def test_predict_imports_neither_sklearn_nor_matplotlib_nor_yaml(train_run, tiny_config, tmp_path):
    ckpt = train_run(tiny_config()) / "checkpoints" / "last.npz"
    (tmp_path / "rows.csv").write_text("0.5,0.2\n1.0,-0.5\n")
    code = (
        "import sys\n"
        "from nnctl.cli import cli\n"
        "try:\n"
        f"    cli(['predict', {str(ckpt)!r}, {str(tmp_path / 'rows.csv')!r}], prog_name='nnctl')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'matplotlib', 'scipy', 'yaml'))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert "HEAVY []" in result.stderr


def test_force_never_replaces_the_config_it_reads(run_cli, tiny_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    mine = run / "config.yaml"
    mine.write_text("# my comments\n" + tiny_config().read_text())
    before = mine.read_bytes()
    result = run_cli("train", mine, "--out", run, "--force", "-q")
    assert result.exit_code == 2 and "--force would replace" in result.stderr
    assert mine.read_bytes() == before


def test_a_lock_file_that_is_a_link_is_refused_not_followed(run_cli, tiny_config, tmp_path):
    run, victim = tmp_path / "run", tmp_path / "victim"
    run.mkdir()
    (run / ".nnctl.lock").symlink_to(victim)
    result = run_cli("train", tiny_config(), "--out", run, "-q")
    assert result.exit_code == 2 and "is a symbolic link" in result.stderr
    assert not victim.exists()


@pytest.mark.parametrize("stderr", ["closed", "full"])
def test_a_stderr_that_cannot_be_written_does_not_fail_the_run(tiny_config, tmp_path, stderr):
    run = tmp_path / "run"
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "nnctl", "train", str(tiny_config()), "--out", str(run)],
                              stdout=subprocess.DEVNULL, stderr=full if stderr == "full" else None, timeout=120,
                              preexec_fn=(lambda: os.close(2)) if stderr == "closed" else None)
    assert proc.returncode == 0
    assert (run / "summary.json").is_file() and not (run / ".nnctl.lock").read_bytes()
