"""A run knows the data it was trained on: a resume or an eval on data that changed is refused with what
changed, nothing on disk is touched, and evaluating the new contents stays possible with --data."""
from __future__ import annotations

import pytest

from nnctl.training import checkpoint

ROWS = "x1,x2,label\n" + "".join(f"{i / 10:.1f},{(i * 7 % 11) / 10:.1f},{'ab'[i % 2]}\n" for i in range(40))


def files_of(run):
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture
def csv_run(run_cli, tiny_config, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text(ROWS, encoding="utf-8")
    config = tiny_config(data={"source": str(data)}, train={"epochs": 2})
    run = tmp_path / "run"
    assert run_cli("train", config, "--out", run, "-q").exit_code == 0
    return data, config, run


def test_the_checkpoint_holds_the_fingerprint_of_the_rows_as_read(csv_run):
    _, _, run = csv_run
    meta = checkpoint.load(run / "checkpoints" / "last.npz").meta
    assert meta["data_fingerprint"]["rows"] == 40 and meta["data_fingerprint"]["features"] == ["x1", "x2"]
    assert len(meta["data_fingerprint"]["X"]) == len(meta["data_fingerprint"]["labels"]) == 64


@pytest.mark.parametrize("change, words", [
    (lambda text: text.replace(",a\n", ",X\n").replace(",b\n", ",a\n").replace(",X\n", ",b\n"),
     "same 40 rows, other labels"),
    (lambda text: text.replace("0.1,0.7", "0.1,0.8"), "same 40 rows, other feature values"),
    (lambda text: text + "9.9,9.9,a\n", "40 rows then, 41 now"),
    (lambda text: text.replace("x1,x2,label", "x2,x1,label"), "columns x1, x2 then, x2, x1 now"),
])
def test_resume_on_changed_data_is_refused_and_changes_nothing(run_cli, csv_run, change, words):
    data, config, run = csv_run
    data.write_text(change(ROWS), encoding="utf-8")
    before = files_of(run)
    result = run_cli("train", config, "--out", run, "--resume", "--set", "train.epochs=4", "-q")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {config}: data.source: {data} has changed since the run being resumed was "
                             f"trained on it ({words}); restore the data, or train afresh with --force\n")
    assert files_of(run) == before
    data.write_text(ROWS, encoding="utf-8")  # the original data back: the resume goes on
    assert run_cli("train", config, "--out", run, "--resume", "--set", "train.epochs=4", "-q").exit_code == 0


def test_eval_of_the_runs_own_changed_source_says_so_and_data_still_scores_it(run_cli, csv_run):
    data, _, run = csv_run
    ckpt = run / "checkpoints" / "last.npz"
    assert run_cli("eval", ckpt).exit_code == 0
    data.write_text(ROWS.replace(",a\n", ",X\n").replace(",b\n", ",a\n").replace(",X\n", ",b\n"), encoding="utf-8")
    result = run_cli("eval", ckpt)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (f"Error: {ckpt}: {data} has changed since the network was trained on it (same 40 rows, "
                             f"other labels), so its splits are not the run's; to score the file as it is now, "
                             f"use --data {data}\n")
    result = run_cli("eval", ckpt, "--data", data)
    assert result.exit_code == 0, result.stderr
