"""``nnctl sweep``, divergence handling and ``nnctl plot``, through the CLI as a user runs them."""
from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import yaml

from cli_helpers import invoke
from nnctl import config as config_mod
from nnctl.training import checkpoint
from nnctl.errors import TrainingDiverged
from nnctl.sweep import format_table, run_names
from nnctl.training.trainer import Trainer

SMALL = {"data": {"source": "moons", "n_samples": 120}, "train": {"epochs": 3, "batch_size": 16}}
# ReLU units are positively homogeneous, so inputs ×1000 with no scaler and a huge α overflow in a few epochs.
DIVERGING = ["--set", "model.activation=relu", "--set", "data.input_scale=1000", "--set", "data.scaler=none",
             "--set", "train.alpha=1e6", "--set", "train.epochs=20"]


@pytest.fixture
def small_config(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_sweep_writes_one_run_directory_and_row_per_combination(small_config, tmp_path):
    out = tmp_path / "sweep"
    result = invoke("sweep", small_config, "--grid", "data.scaler=none,standard", "--grid", "train.alpha=0.5",
                    "--jobs", "2", "--out", out, "-q")
    assert result.exit_code == 0, result.stderr
    rows = read_rows(out / "results.csv")
    assert [r["run"] for r in rows] == ["scaler-none_alpha-0.5", "scaler-standard_alpha-0.5"]
    assert [r["data.scaler"] for r in rows] == ["none", "standard"]
    for row in rows:
        assert row["status"] == "ok" and row["epochs"] == "3" and row["message"] == ""
        for key in ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc", "seconds"):
            assert np.isfinite(float(row[key]))
        run_dir = out / row["run"]
        assert checkpoint.load(run_dir / "checkpoints" / "last.npz").meta["epoch"] == 3
        resolved = config_mod.load(run_dir / "config.yaml")
        assert resolved["data"]["scaler"] == row["data.scaler"]
        assert resolved["output"]["dir"] == str(run_dir)
        assert row["run"] in result.stdout  # the same table on stdout
    assert len(result.stdout.strip().splitlines()) == 3


def test_sweep_results_do_not_depend_on_jobs(small_config, tmp_path):
    grid = ["--grid", "train.alpha=0.1,2.0"]
    one = invoke("sweep", small_config, *grid, "--jobs", "1", "--out", tmp_path / "a", "--json", "-q")
    two = invoke("sweep", small_config, *grid, "--jobs", "2", "--out", tmp_path / "b", "--json", "-q")
    figures = ("train_loss", "val_loss", "test_acc")
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert [[r[k] for k in figures] for r in a] == [[r[k] for k in figures] for r in b]
    assert a[0]["train_loss"] != a[1]["train_loss"]  # the override reached the runs


def test_a_diverging_run_is_a_row_not_the_end_of_the_sweep(small_config, tmp_path):
    out = tmp_path / "sweep"
    result = invoke("sweep", small_config, "--grid", "train.alpha=1e6,1e-5", *DIVERGING[:-4],
                    "--set", "train.epochs=20", "--out", out, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    diverged, ok = json.loads(result.stdout)
    assert diverged["status"] == "diverged" and diverged["train.alpha"] == 1e6
    assert "diverged at epoch" in diverged["message"] and diverged["train_loss"] is None
    assert 0 <= diverged["epochs"] < 20
    assert ok["status"] == "ok" and ok["epochs"] == 20
    statuses = [r["status"] for r in read_rows(out / "results.csv")]
    assert statuses == ["diverged", "ok"]
    summary = json.loads((out / diverged["run"] / "summary.json").read_text())
    assert summary["stopped_reason"] == "diverged" and summary["epochs"] == diverged["epochs"]


def test_bad_grid_is_exit_2_before_anything_runs(small_config, tmp_path):
    out = tmp_path / "sweep"
    result = invoke("sweep", small_config, "--grid", "data.scalr=none,standard", "--out", out)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --grid data.scalr: unknown key (did you mean data.scaler? known here: ")
    result = invoke("sweep", small_config, "--grid", "data.scaler=none,bogus", "--out", out)
    assert result.exit_code == 2 and "--grid data.scaler: must be one of" in result.stderr
    result = invoke("sweep", small_config, "--grid", "train.alpha", "--out", out)
    assert result.exit_code == 2 and "expected KEY=V1,V2" in result.stderr
    assert not out.exists()


def test_sweep_refuses_to_overwrite_without_force(small_config, tmp_path):
    args = ["sweep", small_config, "--grid", "train.epochs=1", "--out", tmp_path / "s", "-q"]
    assert invoke(*args).exit_code == 0
    again = invoke(*args)
    assert again.exit_code == 2 and "--force" in again.stderr
    assert invoke(*args, "--force").exit_code == 0


def test_run_names_are_filesystem_safe_and_unique():
    names = run_names(["model.layers", "data.source"], [([2, 8, 2], "data/x y.csv"), ([2, 8, 2], "data/x?y.csv")])
    assert names == ["layers-2x8x2_source-data_x_y.csv", "layers-2x8x2_source-data_x_y.csv-2"]
    assert run_names(["model.init", "train.init"], [("he", "x")]) == ["model-init-he_train-init-x"]


def test_sweep_table_figures_have_fixed_decimals():
    row = {"run": "a", "status": "ok", "epochs": 3, "train_loss": 0.323, "train_acc": 0.87, "val_loss": 2e-5,
           "val_acc": 1.0, "test_loss": float("inf"), "test_acc": None, "seconds": 1.234, "message": ""}
    header, line = format_table([], [row]).splitlines()
    assert line.split() == ["a", "ok", "3", "0.3230", "0.8700", "2.000e-05", "1.0000", "inf", "-", "1.23"]
    assert header.split()[3:9] == ["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]


def test_train_divergence_exits_1_and_keeps_the_last_good_checkpoint(small_config, tmp_path):
    out = tmp_path / "run"
    result = invoke("train", small_config, *DIVERGING, "--set", "output.checkpoint_every=1", "--out", out, "-q")
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message
    assert "diverged at epoch" in message and "scale the inputs" in message and "lower train.alpha" in message
    at = int(message.split("diverged at epoch ")[1].split(":")[0])
    last = checkpoint.load(out / "checkpoints" / "last.npz")
    assert last.meta["epoch"] == at - 1
    assert all(np.isfinite(p).all() for p in last.params.values())
    assert invoke("eval", out / "checkpoints" / "last.npz").exit_code == 0


def test_divergence_leaves_last_npz_byte_identical(tmp_path):
    config = config_mod.resolve(SMALL, [o for o in DIVERGING if o != "--set"] + ["output.checkpoint_every=1"])
    trainer = Trainer(config, tmp_path / "run")
    last = tmp_path / "run" / "checkpoints" / "last.npz"
    saved = {"epoch": 0, "data": last.read_bytes()}  # the initial network's, if it diverges in epoch 1
    with pytest.raises(TrainingDiverged) as caught:
        trainer.fit(on_epoch=lambda record: saved.update(epoch=record["epoch"], data=last.read_bytes()))
    assert f"diverged at epoch {saved['epoch'] + 1}" in str(caught.value)
    assert last.read_bytes() == saved["data"]


def test_plot_a_run_and_a_sweep(small_config, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", small_config, "--out", run, "-q").exit_code == 0
    result = invoke("plot", run)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(run / "plot.png")
    assert (run / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    sweep = tmp_path / "sweep"
    assert invoke("sweep", small_config, "--grid", "data.scaler=none,minmax", "--out", sweep, "-q").exit_code == 0
    figure = tmp_path / "figs" / "sweep.png"
    result = invoke("plot", sweep, "--out", figure)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(figure)
    assert figure.stat().st_size > 10_000 and figure.read_bytes()[:4] == b"\x89PNG"


def test_plot_a_directory_without_runs_is_exit_2(tmp_path):
    result = invoke("plot", tmp_path)
    assert result.exit_code == 2 and "neither a run directory" in result.stderr


def test_a_finite_but_exploding_loss_is_divergence_in_readable_numbers(small_config, tmp_path):
    # Inputs ×1000 into ReLU units with α = 0.01: the loss climbs to 1e26 yet stays finite.
    args = [*DIVERGING[:-4], "--set", "train.alpha=0.01", "--set", "train.epochs=20"]
    result = invoke("train", small_config, *args, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert "\n" not in message and "the train loss grew to " in message
    assert "over 10000 times the initial network's " in message
    assert not re.search(r"\d{12}", message)  # no 27-digit figures
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stopped_reason"] == "diverged"


def test_the_estimator_reports_an_exploding_loss_as_divergence():
    from nnctl import NNClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2)) * 1000
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match="training diverged at epoch .*: the train loss grew to .* times the initial"):
        NNClassifier(activation="relu", alpha=0.01, epochs=20, batch_size=16).fit(X, y)


def test_plot_of_damaged_and_huge_metrics(small_config, tmp_path):
    run, sweep = tmp_path / "run", tmp_path / "sweep"
    assert invoke("train", small_config, "--out", run, "-q").exit_code == 0
    with open(run / "metrics.jsonl", "ab") as f:  # a loss near the largest float, then damage
        f.write(b'{"epoch": 4, "train_loss": 1.7e308, "val_loss": 1e300, "train_acc": "x", "val_acc": null}\n')
        f.write(b"\xff\xfe\n[1, 2]\n")
    result = invoke("plot", run)
    assert result.exit_code == 0, result.stderr
    assert (run / "plot.png").read_bytes()[:4] == b"\x89PNG"
    sweep.mkdir()
    (sweep / "results.csv").write_text("run,status\n../../etc,ok\n")
    result = invoke("plot", sweep)
    assert result.exit_code == 2
    assert "not a sweep's results table" in result.stderr and result.stderr.count("\n") == 1



def test_plot_of_a_large_sweep_is_small_multiples_with_the_best_run_and_divergence_marked(small_config, tmp_path):
    """24 runs over three keys and seeds: a panel per (input_scale, activation), a colour per α, the seeds of a
    setting in its colour, the best run (lowest val_loss, as `nnctl runs` marks it) starred, diverged runs named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnctl import sweep_figure
    from nnctl.sweep import read_results

    sweep = tmp_path / "sweep"
    result = invoke("sweep", small_config, "--set", "data.scaler=none", "--grid", "data.input_scale=1,1000",
                    "--grid", "model.activation=sigmoid,relu", "--grid", "train.alpha=0.1,1e6",
                    "--grid", "seed=0,1,2", "--out", sweep, "-q", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 24 and any(r["status"] == "diverged" for r in rows)
    keys, table = read_results(sweep)
    table = [{**row, "values": {k: row[k] for k in keys}, "run_dir": sweep / row["run"]} for row in table]
    fig = sweep_figure.draw(plt, sweep, keys, table)
    panels = [ax for ax in fig.axes if ax.get_title()]
    titles = [ax.get_title().split(" (")[0] for ax in panels]
    assert titles == [f"input_scale={s}, activation={a}" for s in ("1.0", "1000.0") for a in ("sigmoid", "relu")]
    for ax, (s, a) in zip(panels, [(s, a) for s in ("1.0", "1000.0") for a in ("sigmoid", "relu")]):
        members = [r for r in table if (r["values"]["data.input_scale"], r["values"]["model.activation"]) == (s, a)]
        n = sum(r["status"] == "diverged" for r in members)
        assert (f"({n} diverged)" in ax.get_title()) == (n > 0)
        assert len(ax.get_lines()) >= len(members) - n  # every run that has a curve is drawn
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    best = min((r for r in table if r["status"] == "ok"), key=lambda r: float(r["val_loss"]))
    assert legend[:2] == ["alpha=0.1", "alpha=1000000.0"]
    assert f"best: {', '.join(f'{k.rsplit(chr(46), 1)[-1]}={best[k]}' for k in keys)}" in legend
    plt.close(fig)
    figure = tmp_path / "acc.png"
    result = invoke("plot", sweep, "--metric", "val_acc", "--out", figure)
    assert result.exit_code == 0, result.stderr
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_plot_of_drawn_points_is_one_panel_with_the_best_runs_in_colour(small_config, tmp_path):
    """--sample points are no grid: small multiples of them would be a panel per point, so one panel holds every
    run, the 8 with the lowest validation loss coloured and named, the others grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnctl import sweep_figure
    from nnctl.sweep import read_results

    sweep = tmp_path / "sampled"
    result = invoke("sweep", small_config, "--dist", "train.alpha=loguniform:0.01:5",
                    "--dist", "train.lambda=loguniform:1e-5:1e-2", "--sample", "12", "--out", sweep, "-q")
    assert result.exit_code == 0, result.stderr
    keys, table = read_results(sweep)
    table = [{**row, "values": {k: row[k] for k in keys}, "run_dir": sweep / row["run"]} for row in table]
    fig = sweep_figure.draw(plt, sweep, keys, table)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 1 and panels[0].get_title() == "the 8 lowest validation losses in colour"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    ranked = sorted(table, key=lambda r: float(r["val_loss"]))
    named = [f"alpha={r['train.alpha']}, lambda={r['train.lambda']}" for r in ranked]
    assert "other runs" in legend and f"best: {named[0]}" in legend
    assert set(named[1:8]) <= set(legend) and not set(named[8:]) & set(legend)
    plt.close(fig)
