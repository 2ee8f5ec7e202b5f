"""`nnctl train`'s progress: lines on a stderr that is not a terminal (at most one an interval, within
epochs too), none with -q, bars on a terminal; stdout keeps only the results, and the checkpoints are
the same bit for bit with progress and without."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from nnctl.cli import progress

LINE = re.compile(r"nnctl: epoch (\d+)/3(, (\d+)% of the epoch| done), \d+\.\d s elapsed(, ETA \d+\.\d s)?")
SUMMARY = re.compile(r"split +loss +accuracy\n(\w+ +[\d.]+ +[\d.]+\n){3}(all 3 epochs done|epochs 3), best epoch \d+, [\d.]+ s, run \S+\n")


@pytest.fixture
def long_config(tmp_path):
    """Three epochs of 3,000 minibatches of the [2, 3, 2] TestNet: a fraction of a second each."""
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump({"data": {"source": "moons", "n_samples": 20000},
                                    "train": {"epochs": 3, "batch_size": 4}}), encoding="utf-8")
    return path


def train(config, run, *args, interval="0.02", cwd=None):
    env = {**os.environ, progress.INTERVAL_VARIABLE: interval}
    return subprocess.run([sys.executable, "-m", "nnctl", "train", str(config), "--out", str(run), *args],
                          capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


def progress_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("nnctl: epoch")]


def checkpoint_arrays(path):
    """Every array of a checkpoint; of the meta, all but the seconds the run took."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "meta"}
        meta = json.loads(str(npz["meta"]))
    del meta["seconds"], meta["checksum"], meta["config"]["output"]["dir"]
    return arrays, meta


def test_lines_on_a_non_terminal_stderr_none_with_q_and_the_same_checkpoints_resumed_or_not(long_config, tmp_path):
    shown = train(long_config, tmp_path / "shown")
    assert shown.returncode == 0, shown.stderr
    assert SUMMARY.fullmatch(shown.stdout), shown.stdout  # stdout: the results only
    assert shown.stderr.startswith("nnctl: training [2, 3, 2] on moons for 3 epochs")
    lines = progress_lines(shown.stderr)
    assert lines, "no progress line"
    for line in lines:
        assert LINE.fullmatch(line), line
    within = [int(m.group(3)) for m in map(LINE.fullmatch, lines) if m.group(3) is not None]
    assert within and all(0 <= p <= 100 for p in within), "no line from within an epoch"
    assert len(lines) < 60  # one an interval (0.02 s), never one a minibatch (9,000 of them)

    quiet = train(long_config, tmp_path / "quiet", "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert SUMMARY.fullmatch(quiet.stdout), quiet.stdout

    # and a run of one epoch resumed for two more, with progress on both times
    first = train(long_config, tmp_path / "resumed", "--set", "train.epochs=1")
    resumed = train(long_config, tmp_path / "resumed", "--resume")
    for result in (first, resumed):
        assert result.returncode == 0, result.stderr
    assert any(m and m.group(1) in ("2", "3") for m in map(LINE.fullmatch, progress_lines(resumed.stderr)))

    for run, name in (("shown", "last.npz"), ("shown", "best.npz"), ("resumed", "last.npz")):
        with_progress, without = (checkpoint_arrays(tmp_path / r / "checkpoints" / name) for r in (run, "quiet"))
        assert with_progress[1] == without[1]
        assert with_progress[0].keys() == without[0].keys()
        for key, value in with_progress[0].items():
            assert np.array_equal(value, without[0][key]), (run, name, key)


def test_no_line_before_the_interval(tiny_config, tmp_path):
    result = train(tiny_config(), tmp_path / "run", interval="60")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("nnctl: training")
    assert progress_lines(result.stderr) == []  # the run ended well within a minute


@pytest.mark.parametrize("value", ["abc", "0", "-1", "inf", "nan"])
def test_a_bad_interval_is_one_error_line_and_writes_nothing(tiny_config, tmp_path, value):
    result = train(tiny_config(), tmp_path / "run", interval=value)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"Error: nnctl train: {progress.INTERVAL_VARIABLE}={value!r}: must be a number of seconds above 0"]
    assert not (tmp_path / "run").exists()


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bars_on_a_terminal_show_the_minibatches_of_a_long_epoch(monkeypatch):
    monkeypatch.setattr(progress, "BATCH_BAR_AFTER", 0.0)
    stream = Terminal()
    bars = progress.make(stream, quiet=False)
    assert isinstance(bars, progress.Bars)
    bars.start(0, 2)
    bars(250, 1000)
    bars(1000, 1000)
    bars.epoch_done({"epoch": 1, "train_loss": 0.5, "val_acc": 0.75})
    bars(500, 1000)
    shown = stream.getvalue()  # tqdm draws at most every 0.1 s: the first state of each bar
    assert "epoch 1:  25%" in shown and "250/1000" in shown and "batch/s" in shown
    assert (bars.batch_bar.n, bars.batch_bar.total, bars.batch_bar.desc) == (500, 1000, "epoch 2: ")
    assert (bars.epoch_bar.n, bars.epoch_bar.total, bars.epoch_bar.postfix) == (1, 2, "loss=0.5000, val_acc=0.750")
    bars.close()


def test_short_epochs_on_a_terminal_get_no_minibatch_bar():
    stream = Terminal()
    bars = progress.make(stream, quiet=False)
    bars.start(0, 2)
    bars(250, 1000)  # well within BATCH_BAR_AFTER of the start
    bars.close()
    assert "batch" not in stream.getvalue()


def test_quiet_or_no_stderr_means_no_progress():
    assert progress.make(Terminal(), quiet=True) is None
    assert progress.make(None, quiet=False) is None
    assert isinstance(progress.make(io.StringIO(), quiet=False), progress.Lines)


@pytest.mark.parametrize("seconds, text", [(0.04, "0.0 s"), (12.34, "12.3 s"), (59.96, "60.0 s"), (75, "1 min 15 s"),
                                           (3600 * 3 + 60 * 12 + 5, "3 h 12 min")])
def test_durations(seconds, text):
    assert progress.duration(seconds) == text
