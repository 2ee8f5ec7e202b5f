"""`nnctl runs`: one table over run directories and sweeps, the differing keys, the figures, the best marked."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def three_runs(run_cli, tiny_config, tmp_path):
    """Two single runs (α 0.5 and 0.05) and a sweep of two (λ), all on the tiny config."""
    cfg = tiny_config()
    for name, alpha in (("fast", 0.5), ("slow", 0.05)):
        assert run_cli("train", cfg, "-q", "--out", tmp_path / name, "--set", f"train.alpha={alpha}").exit_code == 0
    assert run_cli("sweep", cfg, "--grid", "train.lambda=0,0.1", "--out", tmp_path / "sw", "-q").exit_code == 0
    return tmp_path


def test_the_table_shows_the_keys_that_differ_and_each_runs_summary(run_cli, three_runs):
    result = run_cli("runs", three_runs / "fast", three_runs / "slow", three_runs / "sw", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["run"] for r in rows] == [str(three_runs / n) for n in ("fast", "slow", "sw/lambda-0", "sw/lambda-0.1")]
    assert {k for k in rows[0] if "." in k} == {"train.alpha", "train.lambda"}
    assert [(r["train.alpha"], r["train.lambda"]) for r in rows] == [(0.5, 0.001), (0.05, 0.001), (0.5, 0.0), (0.5, 0.1)]
    for row in rows:
        summary = json.loads((three_runs / row["run"] / "summary.json").read_text())
        assert {k: row[k] for k in ("epochs", "val_loss", "test_acc")} == {k: summary[k] for k in ("epochs", "val_loss",
                                                                                                   "test_acc")}
    best = min(rows, key=lambda r: r["val_loss"])
    assert [r["best"] for r in rows] == [r is best for r in rows]
    text = run_cli("runs", three_runs / "fast", three_runs / "slow").stdout.splitlines()
    assert text[0].split()[:3] == ["run", "train.alpha", "status"]
    marked = [line for line in text[1:] if line.startswith("*")]
    assert len(marked) == 1


def test_sort_puts_the_best_accuracy_first_and_the_lowest_loss_first(run_cli, three_runs):
    rows = json.loads(run_cli("runs", three_runs / "sw", three_runs / "slow", "--sort", "val_acc", "--json").stdout)
    assert [r["val_acc"] for r in rows] == sorted((r["val_acc"] for r in rows), reverse=True)
    rows = json.loads(run_cli("runs", three_runs / "sw", three_runs / "slow", "--sort", "val_loss", "--json").stdout)
    assert [r["val_loss"] for r in rows] == sorted(r["val_loss"] for r in rows)
    bad = run_cli("runs", three_runs / "sw", "--sort", "colour")
    assert bad.exit_code == 2 and "--sort colour: not a column of this table" in bad.stderr


def test_an_unfinished_run_shows_its_last_epoch(run_cli, three_runs):
    (three_runs / "slow" / "summary.json").unlink()
    rows = json.loads(run_cli("runs", three_runs / "fast", three_runs / "slow", "--json").stdout)
    last = json.loads((three_runs / "slow" / "metrics.jsonl").read_text().splitlines()[-1])
    assert rows[1]["status"] == "unfinished" and rows[1]["epochs"] == last["epoch"]
    assert rows[1]["val_loss"] == last["val_loss"]


def test_a_directory_that_is_no_run_is_one_error_line(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("runs", tmp_path / "empty")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {tmp_path / 'empty'}: not a run directory (config.yaml and metrics.jsonl) "
                             "or a sweep directory\n")
