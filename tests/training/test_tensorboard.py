"""``output.tensorboard``: the event files read back with TensorBoard's own reader and compared with the run's
metrics.jsonl and summary.json, through resumes, interrupts, kills, divergence, --force and sweeps."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

pytest.importorskip("tensorboardX")
from tensorboard.backend.event_processing import plugin_event_multiplexer  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.plugins.hparams import api_pb2, metadata  # noqa: E402

from nnctl.config import SCHEMA  # noqa: E402

TB = {"output": {"tensorboard": True}}
EVERYTHING = {"scalars": 0, "tensors": 0}  # keep every value: TensorBoard samples long series by default
FINAL = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


def accumulator(path):
    events = EventAccumulator(str(path), size_guidance=EVERYTHING)
    events.Reload()
    return events


def scalars(run):
    """``{tag: [(step, value), …]}`` as TensorBoard shows the run's tensorboard/ folder."""
    events = accumulator(run / "tensorboard")
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def f32(value):
    return float(np.float32(value))


def expected_scalars(run, alpha):
    """What the event files must hold per epoch: metrics.jsonl's records, to float32."""
    want = {}
    for r in records(run):
        figures = {"loss/train": r["train_loss"], "loss/val": r["val_loss"], "accuracy/train": r["train_acc"],
                   "accuracy/val": r["val_acc"], "alpha": r.get("alpha", alpha),
                   **{f"grad_norm/{k[len('grad_norm_'):]}": v for k, v in r.items() if k.startswith("grad_norm_")}}
        for tag, value in figures.items():
            want.setdefault(tag, []).append((r["epoch"], f32(value)))
    return want


def per_epoch(got):
    return {tag: series for tag, series in got.items() if not tag.startswith("final/")}


def session(run):
    """The HParams plugin's session of a run: ``(hparams, status)`` as TensorBoard parses them."""
    content = accumulator(run / "tensorboard").PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    # no experiment summary: TensorBoard builds the experiment from the sessions of all runs, and so knows
    # which hyperparameters differ between the runs of a sweep
    assert sorted(content) == [metadata.SESSION_END_INFO_TAG, metadata.SESSION_START_INFO_TAG]
    values = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    return values, api_pb2.Status.Name(end.status)


def event_files(run):
    return sorted(p.name for p in (run / "tensorboard").iterdir())


@pytest.mark.parametrize("train", [{}, {"schedule": "step", "step_size": 2, "gamma": 0.5, "epochs": 7}],
                         ids=["constant", "step-schedule"])
def test_every_scalar_is_the_metrics_record_and_the_end_is_the_summary(run_cli, tiny_config, train_run, train):
    run = train_run(tiny_config(**TB, train=train))
    got = scalars(run)
    assert per_epoch(got) == expected_scalars(run, alpha=0.5)
    if train:  # the α each epoch used, as metrics.jsonl has it: halved every 2 epochs
        assert [a for _, a in got["alpha"]] == [0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625]
    summary = json.loads((run / "summary.json").read_text())
    assert {tag: series for tag, series in got.items() if tag.startswith("final/")} == {
        f"final/{k}": [(summary["epochs"], f32(summary[k]))] for k in FINAL}
    hparams, status = session(run)
    assert status == "STATUS_SUCCESS"
    assert sorted(hparams) == sorted(k for k in SCHEMA if not k.startswith("output."))
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert hparams["train.alpha"] == 0.5 and hparams["train.epochs"] == config["train"]["epochs"]
    assert hparams["model.layers"] == "[2, 3, 2]" and hparams["model.hidden"] == "null"
    assert hparams["model.activation"] == "sigmoid" and hparams["train.shuffle"] is True
    assert hparams["train.schedule"] == config["train"]["schedule"]
    # one TensorBoard run: every file in tensorboard/ itself, none in a subfolder
    assert all((run / "tensorboard" / name).is_file() for name in event_files(run))
    assert len(event_files(run)) == 2


def test_without_a_validation_split_the_val_tags_are_absent(tiny_config, train_run):
    run = train_run(tiny_config(**TB, data={"val_fraction": 0.0}))
    got = scalars(run)
    assert "loss/val" not in got and "final/val_loss" not in got
    assert got["loss/train"] == expected_scalars(run, 0.5)["loss/train"]


def test_a_full_batch_optimizer_logs_no_alpha(tiny_config, train_run):
    run = train_run(tiny_config(**TB, train={"optimizer": "lbfgs"}))
    got = scalars(run)
    assert "alpha" not in got
    assert [s for s, _ in got["loss/train"]] == [1, 2, 3]


def test_an_interrupted_run_resumed_has_each_step_once(run_cli, tiny_config, tmp_path, monkeypatch):
    from nnctl.cli import interrupts

    config, run = tiny_config(**TB, train={"epochs": 5}), tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(interrupts.StopRequest, "__call__", lambda self: True)  # as if Ctrl-C came in epoch 1
        assert run_cli("train", config, "--out", run, "-q").exit_code == 130
    # flushed and closed: epoch 1 is readable; the run has not ended, so no hparams
    assert [s for s, _ in scalars(run)["loss/train"]] == [1]
    with pytest.raises(KeyError, match="hparams"):
        accumulator(run / "tensorboard").PluginTagToContent(metadata.PLUGIN_NAME)
    assert run_cli("train", config, "--out", run, "--resume", "-q").exit_code == 0
    assert per_epoch(scalars(run)) == expected_scalars(run, 0.5)
    assert [s for s, _ in scalars(run)["loss/val"]] == [1, 2, 3, 4, 5]
    assert session(run)[1] == "STATUS_SUCCESS"


# Dies by SIGKILL after epoch 7's events reached the disk and before its checkpoint: last.npz holds epoch 5.
# The events of epochs 6 and 7 are made wrong (+1000), so that only values of the resumed run can pass.
KILLER = r"""
import os, signal, sys
from nnctl.training import tensorboard
from nnctl.cli import cli

original_scalars, original_epoch = tensorboard.scalars, tensorboard.EventLog.epoch
def scalars(record, alpha):
    tags = original_scalars(record, alpha)
    return {k: v + 1000 for k, v in tags.items()} if record["epoch"] > 5 else tags
def epoch(self, record, alpha):
    original_epoch(self, record, alpha)
    if record["epoch"] == 7:
        self.close()
        os.kill(os.getpid(), signal.SIGKILL)
tensorboard.scalars, tensorboard.EventLog.epoch = scalars, epoch
cli.main(sys.argv[1:], prog_name="nnctl")
"""


def killed_run(script, tiny_config, tmp_path):
    """A 9-epoch run with checkpoints every 5 epochs, trained by ``script`` until it SIGKILLs itself:
    ``(config, run directory)``."""
    config = tiny_config(train={"epochs": 9}, output={"checkpoint_every": 5, "tensorboard": True})
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", script, "train", str(config), "--out", str(run), "-q"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return config, run


def test_a_run_killed_between_checkpoints_and_resumed_shows_the_resumed_values_once(run_cli, tiny_config, tmp_path):
    config, run = killed_run(KILLER, tiny_config, tmp_path)
    stale = scalars(run)
    assert [s for s, _ in stale["loss/train"]] == [1, 2, 3, 4, 5, 6, 7]
    assert stale["loss/train"][6][1] > 1000  # the killed run's epoch 7 is on disk
    assert run_cli("train", config, "--out", run, "--resume", "-q").exit_code == 0
    assert [r["epoch"] for r in records(run)] == list(range(1, 10))
    assert per_epoch(scalars(run)) == expected_scalars(run, 0.5)  # each step once, the resumed run's values
    sessions = [n for n in event_files(run) if not n.endswith(".hparams")]
    assert len(sessions) == 2
    # the resumed session opens with TensorBoard's purge mark at its first epoch, which drops the killed run's
    # epochs 6 and 7 even before the resumed run has logged them again
    marks = [(e.step, e.session_log.status) for e in EventFileLoader(str(run / "tensorboard" / sessions[1])).Load()
             if e.HasField("session_log")]
    assert marks == [(6, event_pb2.SessionLog.START)]


# Dies by SIGKILL as soon as last.npz holds epoch 5, without closing anything.
KILLED_AT_CHECKPOINT = r"""
import os, signal, sys
from nnctl.training import checkpoint
from nnctl.cli import cli

original = checkpoint.save
def save(path, ckpt):
    original(path, ckpt)
    if path.name == "last.npz" and ckpt.meta["epoch"] == 5:
        os.kill(os.getpid(), signal.SIGKILL)
checkpoint.save = save
cli.main(sys.argv[1:], prog_name="nnctl")
"""


def test_every_epoch_a_checkpoint_holds_is_on_disk_when_the_run_is_killed(run_cli, tiny_config, tmp_path):
    config, run = killed_run(KILLED_AT_CHECKPOINT, tiny_config, tmp_path)
    assert per_epoch(scalars(run)) == expected_scalars(run, 0.5)
    assert [s for s, _ in scalars(run)["loss/train"]] == [1, 2, 3, 4, 5]
    assert run_cli("train", config, "--out", run, "--resume", "-q").exit_code == 0
    assert per_epoch(scalars(run)) == expected_scalars(run, 0.5)
    assert [s for s, _ in scalars(run)["loss/train"]] == list(range(1, 10))


def test_resuming_a_finished_run_to_more_epochs_replaces_its_end(run_cli, tiny_config, tmp_path):
    config, run = tiny_config(**TB), tmp_path / "run"
    assert run_cli("train", config, "--out", run, "-q").exit_code == 0
    files = event_files(run)
    assert run_cli("train", config, "--out", run, "--resume", "-q").exit_code == 0  # nothing to do: no file
    assert event_files(run) == files
    assert run_cli("train", config, "--out", run, "--resume", "--set", "train.epochs=6", "-q").exit_code == 0
    assert len([n for n in event_files(run) if n.endswith(".hparams")]) == 1
    got = scalars(run)
    assert per_epoch(got) == expected_scalars(run, 0.5)
    assert got["final/test_acc"] == [(6, f32(json.loads((run / "summary.json").read_text())["test_acc"]))]
    assert session(run)[0]["train.epochs"] == 6


def test_a_resume_without_the_key_removes_the_stale_end_and_nothing_else(run_cli, tiny_config, tmp_path):
    config, run = tiny_config(**TB), tmp_path / "run"
    assert run_cli("train", config, "--out", run, "-q").exit_code == 0
    sessions = [n for n in event_files(run) if not n.endswith(".hparams")]
    result = run_cli("train", config, "--out", run, "--resume", "--set", "output.tensorboard=false",
                     "--set", "train.epochs=5", "-q")
    assert result.exit_code == 0, result.stderr
    assert event_files(run) == sessions
    assert [s for s, _ in scalars(run)["loss/train"]] == [1, 2, 3]


def test_tensorboard_may_be_turned_on_for_a_resume(run_cli, tiny_config, tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", tiny_config(), "--out", run, "-q").exit_code == 0
    assert not (run / "tensorboard").exists()
    result = run_cli("train", tiny_config(), "--out", run, "--resume", "--set", "output.tensorboard=true",
                     "--set", "train.epochs=5", "-q")
    assert result.exit_code == 0, result.stderr
    assert [s for s, _ in scalars(run)["loss/train"]] == [4, 5]


def test_a_diverged_run_has_its_epochs_and_a_failed_session(run_cli, tiny_config, tmp_path):
    config = tiny_config(**TB, model={"activation": "relu"}, data={"input_scale": 1000.0, "scaler": "none"},
                         train={"alpha": 0.01, "epochs": 50})
    run = tmp_path / "run"
    result = run_cli("train", config, "--out", run, "-q")
    assert result.exit_code == 1 and "diverged at epoch 2" in result.stderr
    got = scalars(run)
    assert per_epoch(got) == expected_scalars(run, 0.01) and [s for s, _ in got["loss/train"]] == [1]
    assert not any(tag.startswith("final/") for tag in got)
    assert session(run)[1] == "STATUS_FAILURE"


def test_ctrl_c_in_a_real_process_flushes_every_logged_epoch(tmp_path):
    config, run = tmp_path / "endless.yaml", tmp_path / "run"
    config.write_text("data: {source: moons, n_samples: 600}\ntrain: {epochs: 100000, batch_size: 4}\n"
                      "output: {tensorboard: true}\n")
    proc = subprocess.Popen([sys.executable, "-m", "nnctl", "train", str(config), "--out", str(run), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (run / "metrics.jsonl").exists() or (run / "metrics.jsonl").read_text().count("\n") < 3:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert per_epoch(scalars(run)) == expected_scalars(run, 0.5)


def test_force_replaces_only_nnctls_event_files(run_cli, tiny_config, tmp_path):
    config, run = tiny_config(**TB), tmp_path / "run"
    assert run_cli("train", config, "--out", run, "-q").exit_code == 0
    old = event_files(run)
    mine = run / "tensorboard" / "events.out.tfevents.1.mine"
    mine.write_bytes(b"")
    notes = run / "tensorboard" / "notes.txt"
    notes.write_text("mine")
    time.sleep(1.1)  # tensorboardX names files by the second: new names
    assert run_cli("train", config, "--out", run, "--force", "-q").exit_code == 0
    new = event_files(run)
    assert not set(old) & set(new) and {"events.out.tfevents.1.mine", "notes.txt"} <= set(new)
    assert len(new) == 4
    assert run_cli("train", tiny_config(), "--out", run, "--force", "-q").exit_code == 0  # without the key
    assert event_files(run) == ["events.out.tfevents.1.mine", "notes.txt"]
    mine.unlink(), notes.unlink()
    assert run_cli("train", config, "--out", run, "--force", "-q").exit_code == 0
    assert run_cli("train", tiny_config(), "--out", run, "--force", "-q").exit_code == 0
    assert not (run / "tensorboard").exists()  # emptied of nnctl's files, the folder goes too


def test_a_linked_tensorboard_folder_is_refused_before_anything_is_written(run_cli, tiny_config, tmp_path):
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    elsewhere.mkdir()
    run.mkdir()
    (run / "tensorboard").symlink_to(elsewhere)
    result = run_cli("train", tiny_config(**TB), "--out", run, "-q")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {run / 'tensorboard'}: is a symbolic link; nnctl follows no link out of a "
                             "run directory\n")
    assert sorted(p.name for p in run.iterdir()) == ["tensorboard"] and not any(elsewhere.iterdir())


BLOCKED = "import sys; sys.modules['tensorboardX'] = None; from nnctl.cli import main; sys.argv[0] = 'nnctl'; main()"


@pytest.mark.parametrize("command", [["train"], ["train", "--dry-run"], ["sweep", "--grid", "train.alpha=0.1,0.5"]])
def test_without_tensorboardx_one_line_says_what_to_install_and_nothing_is_written(tiny_config, tmp_path, command):
    config = tiny_config(**TB)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", BLOCKED, command[0], str(config), *command[1:], "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == (f"Error: {config}: output.tensorboard: needs tensorboardX, which is not installed; "
                           "pip install 'nnctl[tensorboard]'\n")
    assert not out.exists() and not (tmp_path / "run").exists()


def test_a_sweep_gives_every_run_its_event_files_and_they_compare_in_one_tensorboard(run_cli, tiny_config, tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli("sweep", tiny_config(), "--grid", "train.alpha=0.1,0.5", "--grid", "model.activation=tanh,relu",
                     "--set", "output.tensorboard=true", "--out", sweep, "-q")
    assert result.exit_code == 0, result.stderr
    runs = ["alpha-0.1_activation-tanh", "alpha-0.1_activation-relu", "alpha-0.5_activation-tanh",
            "alpha-0.5_activation-relu"]
    multiplexer = plugin_event_multiplexer.EventMultiplexer(size_guidance=EVERYTHING)
    multiplexer.AddRunsFromDirectory(str(sweep))
    multiplexer.Reload()
    assert sorted(multiplexer.Runs()) == sorted(f"{name}/tensorboard" for name in runs)
    sessions = multiplexer.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    for name in runs:
        hparams, status = session(sweep / name)
        assert status == "STATUS_SUCCESS" and metadata.SESSION_START_INFO_TAG in sessions[f"{name}/tensorboard"]
        assert (hparams["train.alpha"], hparams["model.activation"]) == (float(name[6:9]), name.split("-")[-1])
        assert per_epoch(scalars(sweep / name)) == expected_scalars(sweep / name, hparams["train.alpha"])
