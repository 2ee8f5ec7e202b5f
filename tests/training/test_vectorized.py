"""``nnctl sweep --vectorize``: each run of a stacked group is the run trained alone, file for file.

The bound is equality: the stacked program runs each run's operations in its order with the same BLAS
kernels (``training/stacked.py``), so checkpoint arrays, metrics.jsonl and results.csv are compared exactly
(everything but the seconds the runs took and the paths they were written to).
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from nnctl import sweep, vectorized
from nnctl.errors import Interrupted
from nnctl.training import checkpoint

TIMING = {"seconds"}


def sweep_cli(run_cli, config, out, *args):
    result = run_cli("sweep", config, "--out", out, "-q", *args)
    assert result.exit_code == 0, result.stderr
    return result


def table(out):
    """results.csv without the seconds, the sweep directory in messages written OUT."""
    with open(out / sweep.RESULTS, newline="") as f:
        return [{k: v.replace(str(out), "OUT") for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def metrics(run):
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_runs(a, b):
    """Every run directory of sweep ``a`` equals its namesake in ``b``: checkpoints array for array (and their
    meta but for the time and the output path), metrics.jsonl and summary.json but for the seconds."""
    runs = sorted(p.name for p in a.iterdir() if p.is_dir())
    assert runs == sorted(p.name for p in b.iterdir() if p.is_dir())
    for run in runs:
        names = sorted(p.name for p in (a / run / "checkpoints").glob("*.npz"))
        assert names == sorted(p.name for p in (b / run / "checkpoints").glob("*.npz")), run
        for name in names:
            x, y = (checkpoint.load(d / run / "checkpoints" / name) for d in (a, b))
            for key in x.params:
                np.testing.assert_array_equal(x.params[key], y.params[key], err_msg=f"{run}/{name}: {key}")
            for meta in (x.meta, y.meta):
                meta.pop("seconds"), meta.pop("checksum")
                meta["config"]["output"].pop("dir")
            assert x.meta == y.meta, f"{run}/{name}"
        assert metrics(a / run) == metrics(b / run), run
        summaries = [json.loads((d / run / "summary.json").read_text().replace(str(d), "OUT")) for d in (a, b)]
        for s in summaries:
            s.pop("run_dir"), s.pop("seconds", None)
        assert summaries[0] == summaries[1], run


GRID = ["--grid", "train.alpha=0.3,30", "--grid", "train.lambda=0,0.01", "--grid", "seed=0,1",
        "--grid", "data.input_scale=1,1000", "--grid", "data.scaler=standard,none"]


def test_a_vectorized_sweep_is_the_normal_sweep_run_for_run(run_cli, tiny_config, tmp_path):
    config = tiny_config(train={"epochs": 12, "batch_size": 16}, output={"checkpoint_every": 5})
    sweep_cli(run_cli, config, tmp_path / "vec", *GRID, "--vectorize")
    sweep_cli(run_cli, config, tmp_path / "alone", *GRID)
    rows = table(tmp_path / "vec")
    assert rows == table(tmp_path / "alone")
    assert len(rows) == 32 and {r["status"] for r in rows} == {"ok", "diverged"}  # ×1000 unscaled diverges
    assert_same_runs(tmp_path / "vec", tmp_path / "alone")


def test_schedules_early_stopping_full_train_metrics_and_float32_stack_exactly(run_cli, tiny_config, tmp_path):
    config = tiny_config(train={"epochs": 30, "batch_size": 8, "early_stopping": True, "patience": 3},
                         output={"train_metrics": "full"}, model={"dtype": "float32"})
    grid = ["--grid", "train.schedule=constant,invscaling,step,plateau", "--grid", "seed=0,1,2"]
    sweep_cli(run_cli, config, tmp_path / "vec", *grid, "--vectorize")
    sweep_cli(run_cli, config, tmp_path / "alone", *grid)
    rows = table(tmp_path / "vec")
    assert rows == table(tmp_path / "alone")
    assert len({r["epochs"] for r in rows}) > 1  # early stopping ended runs at different epochs
    assert_same_runs(tmp_path / "vec", tmp_path / "alone")


def test_a_diverging_run_stops_alone_and_the_rest_of_its_group_trains_on(run_cli, tiny_config, tmp_path):
    config = tiny_config(train={"epochs": 8})
    grid = ["--grid", "train.alpha=0.1,1e6,0.5"]
    sweep_cli(run_cli, config, tmp_path / "vec", *grid, "--vectorize")
    assert vectorized.plan_groups([c for _, _, c in sweep.plan(config, grid[1::2])[2]])[0] == [[0, 1, 2]]
    rows = table(tmp_path / "vec")
    assert [(r["status"], r["epochs"]) for r in rows] == [("ok", "8"), ("diverged", "0"), ("ok", "8")]
    summary = json.loads((tmp_path / "vec" / "alpha-1e6" / "summary.json").read_text())
    assert summary["stopped"] == "diverged" and summary["diverged_at_epoch"] == 1
    sweep_cli(run_cli, config, tmp_path / "alone", *grid)
    assert_same_runs(tmp_path / "vec", tmp_path / "alone")


def test_runs_that_share_no_shape_fall_back_to_normal_runs(run_cli, tiny_config, tmp_path):
    config = tiny_config()
    grid = ["--grid", "model.layers=[2,3,2],[2,8,2],[2,64,64,2]", "--grid", "train.optimizer=sgd,adam",
            "--grid", "seed=0,1"]
    _, _, runs = sweep.plan(config, grid[1::2])
    groups, rest = vectorized.plan_groups([c for _, _, c in runs])
    names = [[runs[i][0] for i in g] for g in groups]
    # SGD runs group by layers; Adam, and the layers SGD fuses into backprop (64×64), train as normal runs
    assert names == [["layers-2x3x2_optimizer-sgd_seed-0", "layers-2x3x2_optimizer-sgd_seed-1"],
                     ["layers-2x8x2_optimizer-sgd_seed-0", "layers-2x8x2_optimizer-sgd_seed-1"]]
    assert len(rest) == 8
    sweep_cli(run_cli, config, tmp_path / "vec", *grid, "--vectorize")
    sweep_cli(run_cli, config, tmp_path / "alone", *grid)
    assert table(tmp_path / "vec") == table(tmp_path / "alone")
    assert_same_runs(tmp_path / "vec", tmp_path / "alone")


def test_a_stacked_run_directory_resumes_with_train_resume(run_cli, tiny_config, tmp_path):
    config = tiny_config(train={"epochs": 4})
    grid = ["--grid", "seed=0,1"]
    sweep_cli(run_cli, config, tmp_path / "vec", *grid, "--vectorize")
    run = tmp_path / "vec" / "seed-1"
    result = run_cli("train", run / "config.yaml", "--out", run, "--resume", "--set", "train.epochs=9", "-q")
    assert result.exit_code == 0, result.stderr
    sweep_cli(run_cli, config, tmp_path / "alone", *grid, "--set", "train.epochs=9")
    for name in ("last.npz", "best.npz"):
        x, y = (checkpoint.load(d / "seed-1" / "checkpoints" / name) for d in (tmp_path / "vec", tmp_path / "alone"))
        assert x.meta["epoch"] == y.meta["epoch"]
        for key in x.params:
            np.testing.assert_array_equal(x.params[key], y.params[key])
    assert checkpoint.load(run / "checkpoints" / "last.npz").meta["epoch"] == 9
    assert metrics(run) == metrics(tmp_path / "alone" / "seed-1")


class StopAfter:
    """A stop request that answers yes after ``epochs`` epochs (``cli.interrupts.StopRequest`` without signals)."""

    exit_code = 130

    def __init__(self, epochs):
        self.left = epochs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self):
        self.left -= 1
        return self.left <= 0


def test_an_interrupted_stack_saves_every_run_and_resumes_to_the_same_files(tiny_config, tmp_path):
    config = tiny_config(train={"epochs": 7}, output={"checkpoint_every": 5})
    grid = ["train.alpha=0.2,0.6", "seed=0,1"]
    with pytest.raises(Interrupted, match="interrupted after epoch 3 of 7"):
        sweep.run(config, grid, out=tmp_path / "vec", vectorize=True, stop=StopAfter(3))
    for run in ("alpha-0.2_seed-0", "alpha-0.6_seed-1"):
        assert checkpoint.load(tmp_path / "vec" / run / "checkpoints" / "last.npz").meta["epoch"] == 3
    sweep.run(config, grid, out=tmp_path / "vec", vectorize=True, resume=True)
    sweep.run(config, grid, out=tmp_path / "alone")
    assert table(tmp_path / "vec") == table(tmp_path / "alone")
    assert_same_runs(tmp_path / "vec", tmp_path / "alone")


def test_a_large_group_is_cut_into_stacks_of_at_most_max_stack_runs():
    from nnctl import config as config_mod

    configs = [config_mod.resolve(None, [f"seed={i}"]) for i in range(2 * vectorized.MAX_STACK + 3)]
    groups, rest = vectorized.plan_groups(configs)
    assert [len(g) for g in groups] == [vectorized.MAX_STACK, vectorized.MAX_STACK, 3] and rest == []
    assert sorted(i for g in groups for i in g) == list(range(len(configs)))


def test_runs_that_write_tensorboard_events_are_normal_runs():
    from nnctl import config as config_mod

    configs = [config_mod.resolve(None, [f"seed={i}", f"output.tensorboard={str(i < 2).lower()}"]) for i in range(4)]
    assert vectorized.plan_groups(configs) == ([[2, 3]], [0, 1])


def test_a_write_batch_writes_the_last_contents_of_each_file_and_on_failure_none(tmp_path):
    from nnctl import files
    from nnctl.errors import RunDirError

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    with files.write_batch() as flush:
        files.write_text(a, "first")
        files.write_text(a, "second")
        files.write_text(b, "b")
        assert a.read_text() == "old a" and not b.exists()  # nothing is written before the flush
        flush()
        assert (a.read_text(), b.read_text()) == ("second", "b")
        files.write_text(a, "third")
    assert a.read_text() == "third"
    with pytest.raises(RunDirError, match="missing/c.txt: cannot write"):
        with files.write_batch():
            files.write_text(a, "never")
            files.write_text(tmp_path / "missing" / "c.txt", "c")
    assert a.read_text() == "third"  # no file of a failed batch is renamed into place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]  # and no temporary file is left
