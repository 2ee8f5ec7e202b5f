"""Faults during training: kill -9 at chosen and at random moments, Ctrl-C, and failing writes.

The yardstick is always an uninterrupted run of the same config: after the fault and ``--resume``, every
checkpoint's arrays, its meta (minus wall-clock ``seconds``), ``metrics.jsonl`` (minus ``seconds``) and
``summary.json`` must be bit-identical to it, with each epoch in ``metrics.jsonl`` exactly once.
"""
from __future__ import annotations

import errno
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnctl.training import checkpoint
from nnctl.cli import cli
from nnctl.cli.interrupts import StopRequest

FAST = "seed: 3\ndata: {source: moons, n_samples: 300}\ntrain: {epochs: 12, batch_size: 16}\n" \
       "output: {checkpoint_every: 1}\n"
# Long enough that it never ends on its own: the test kills or interrupts it, then finishes it with a
# resume that lowers train.epochs (the one key a resume may change).
ENDLESS = "seed: 5\ndata: {source: moons, n_samples: 600}\ntrain: {epochs: 100000, batch_size: 4}\n" \
          "output: {checkpoint_every: %d}\n"

KILLER = r"""
import os, signal, sys
from nnctl.model import fastpath
from nnctl.training import checkpoint, rundir
from nnctl.cli import cli

point, count, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
seen = [0]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point.startswith("last-"):
    original = checkpoint.atomic_write
    def atomic_write(path, write):
        if os.path.basename(path) != "last.npz":
            return original(path, write)
        seen[0] += 1
        if seen[0] != count:
            return original(path, write)
        if point == "last-before-rename":  # the temporary file is complete, the rename has not happened
            def write_then_die(f):
                write(f)
                f.flush()
                os.fsync(f.fileno())
                die()
            return original(path, write_then_die)
        original(path, write)
        die()
    checkpoint.atomic_write = atomic_write
elif point == "mid-epoch":  # inside the minibatch loop, whichever gradient method it calls
    def counting(original):
        def grads(self, *a, **k):
            seen[0] += 1
            if seen[0] == count:
                die()
            return original(self, *a, **k)
        return grads
    for owner, name in ((fastpath.Workspace, "loss_and_grads"), (fastpath.Workspace, "unchecked_grads"),
                        (fastpath.Workspace, "sgd_step")):  # whatever the optimizer's epoch calls
        setattr(owner, name, counting(getattr(owner, name)))
elif point == "after-metrics":  # the epoch's metrics line is written, its checkpoints are not
    original = rundir.MetricsLog.append
    def append(self, record):
        original(self, record)
        if record["epoch"] == count:
            die()
    rundir.MetricsLog.append = append
cli.main(args, prog_name="nnctl")
"""


def nnctl(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def metrics_of(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in records:
        r.pop("seconds")
    return records


def comparable_meta(meta):
    meta = dict(meta)
    meta.pop("seconds")
    meta.pop("checksum")  # covers seconds and output.dir, which differ by design
    meta["config"] = json.loads(json.dumps(meta["config"]))
    meta["config"]["train"].pop("epochs")  # a resume may lower it; the tests do
    meta["config"]["output"].pop("dir")  # the run and its reference live in different directories
    return meta


def assert_same_run(run, reference, epochs):
    got, want = metrics_of(run), metrics_of(reference)
    assert [r["epoch"] for r in got] == list(range(1, epochs + 1))  # each epoch exactly once
    assert got == want
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == sorted(p.name for p in (reference / "checkpoints").iterdir())
    assert not any(n.endswith(".tmp") for n in names) and not list(run.glob(".*.tmp"))
    for name in names:
        a = checkpoint.load(run / "checkpoints" / name)
        b = checkpoint.load(reference / "checkpoints" / name)
        for key in a.params:
            assert a.params[key].tobytes() == b.params[key].tobytes(), (name, key)
        assert a.opt_state.keys() == b.opt_state.keys()
        for key in a.opt_state:
            assert np.asarray(a.opt_state[key]).tobytes() == np.asarray(b.opt_state[key]).tobytes(), (name, key)
        assert comparable_meta(a.meta) == comparable_meta(b.meta), name
    s_got, s_want = (json.loads((r / "summary.json").read_text()) for r in (run, reference))
    for s in (s_got, s_want):
        s.pop("seconds"), s.pop("run_dir")
    assert s_got == s_want


@pytest.fixture(scope="module")
def fast_reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("fast")
    (base / "fast.yaml").write_text(FAST)
    assert nnctl("train", base / "fast.yaml", "--out", base / "ref", "-q").exit_code == 0
    return base


def run_killed(config, run, point, count):
    proc = subprocess.run([sys.executable, "-c", KILLER, point, str(count), "train", str(config), "--out", str(run),
                           "-q"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@pytest.mark.parametrize("point, count", [
    ("mid-epoch", 40),             # epoch 4, 4th minibatch: last.npz holds epoch 3
    ("after-metrics", 6),          # metrics.jsonl already has epoch 6, no checkpoint of it yet
    ("last-before-rename", 5),     # writing epoch 4's last.npz: the complete temp file is left behind
    ("last-after-rename", 8),      # epoch 7's last.npz is in place, nothing after it ran
    ("last-before-rename", 1),     # the very first last.npz: nothing to resume, --force starts over
])
def test_kill_9_then_resume_is_bit_exact(fast_reference, tmp_path, point, count):
    config, run = fast_reference / "fast.yaml", tmp_path / "run"
    run_killed(config, run, point, count)
    last = run / "checkpoints" / "last.npz"
    if point == "last-before-rename" and count == 1:
        assert not last.exists()
        result = nnctl("train", config, "--out", run, "--resume", "-q")
        assert result.exit_code == 2 and "--force" in result.stderr
        assert nnctl("train", config, "--out", run, "--force", "-q").exit_code == 0
    else:
        saved_epoch = checkpoint.load(last).meta["epoch"]  # loadable, whatever the moment of the kill
        expected = {"mid-epoch": 3, "after-metrics": 5, "last-before-rename": count - 2,
                    "last-after-rename": count - 1}[point]
        assert saved_epoch == expected
        if point == "last-before-rename":
            assert list((run / "checkpoints").glob(".last.npz.*.tmp"))  # the kill really hit mid-write
        result = nnctl("train", config, "--out", run, "--resume", "-q")
        assert result.exit_code == 0, result.stderr
    assert_same_run(run, fast_reference / "ref", 12)


def wait_for_epochs(run, n, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        path = run / "metrics.jsonl"
        if path.exists() and path.read_text().count("\n") >= n:
            return
        time.sleep(0.01)
    raise AssertionError(f"{run}: fewer than {n} epochs after {timeout} s")


def start(config, run, *extra):
    return subprocess.Popen([sys.executable, "-m", "nnctl", "train", str(config), "--out", str(run), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_writer_of_a_run_directory_is_refused_and_a_killed_one_leaves_no_lock(tmp_path):
    config, run = tmp_path / "endless.yaml", tmp_path / "run"
    config.write_text(ENDLESS % 1)
    first = start(config, run, "-q")
    wait_for_epochs(run, 3, first)
    for extra in (["--force"], ["--resume"]):
        second = nnctl("train", config, "--out", run, "-q", *extra)
        assert second.exit_code == 2
        assert second.stderr == (f"Error: {run}: in use by another nnctl (pid {first.pid}); wait for it to end, "
                                 "or write elsewhere with --out\n")
    assert first.poll() is None  # the first goes on, its files untouched by the refused ones
    first.kill()
    first.wait()
    resumed = nnctl("train", config, "--out", run, "--resume", "-q", "--set",
                    f"train.epochs={checkpoint.load(run / 'checkpoints' / 'last.npz').meta['epoch'] + 1}")
    assert resumed.exit_code == 0, resumed.stderr  # the kill took its lock with it


def test_a_sweep_run_in_use_is_a_row_of_its_own(tmp_path):
    """A run directory of a sweep that another process writes is refused for that run only."""
    config = tmp_path / "endless.yaml"
    config.write_text(ENDLESS % 1)
    busy = tmp_path / "sweep" / "alpha-0.3"
    first = start(config, busy, "-q", "--set", "train.alpha=0.3")
    wait_for_epochs(busy, 2, first)
    try:
        result = nnctl("sweep", config, "--grid", "train.alpha=0.3", "--set", "train.epochs=2", "--out",
                       tmp_path / "sweep", "--force", "--json", "-q")
    finally:
        first.kill()
        first.wait()
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["status"] == "error" and f"in use by another nnctl (pid {first.pid})" in row["message"]


def test_kill_9_at_seeded_random_moments_then_resume_is_bit_exact(tmp_path):
    config, run = tmp_path / "endless.yaml", tmp_path / "run"
    config.write_text(ENDLESS % 1)
    rng = random.Random(8)
    reached = 0
    for round_ in range(3):
        proc = start(config, run, "-q", *(("--resume",) if round_ else ()))
        wait_for_epochs(run, reached + 3, proc)
        time.sleep(rng.uniform(0.0, 0.15))
        proc.kill()
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        reached = checkpoint.load(run / "checkpoints" / "last.npz").meta["epoch"]
    epochs = reached + 4
    assert nnctl("train", config, "--out", run, "--resume", "--set", f"train.epochs={epochs}", "-q").exit_code == 0
    reference = tmp_path / "ref"
    assert nnctl("train", config, "--out", reference, "--set", f"train.epochs={epochs}", "-q").exit_code == 0
    assert_same_run(run, reference, epochs)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_saves_a_consistent_checkpoint_and_resume_is_bit_exact(tmp_path, signum):
    """Ctrl-C, and SIGTERM as timeout, docker and schedulers send it: stop at the epoch's end, save, exit 128+n."""
    config, run = tmp_path / "endless.yaml", tmp_path / "run"
    config.write_text(ENDLESS % 1000)  # no scheduled checkpoint: only the interrupt brings last.npz up to date
    proc = start(config, run, "--set", "train.alpha=0.3")
    wait_for_epochs(run, 5, proc)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr
    lines = stderr.splitlines()
    assert "Traceback" not in stderr
    assert "nnctl: stopping after this epoch (a second Ctrl-C or SIGTERM aborts at once)" in lines
    assert [line for line in lines if line.startswith("Error:")] == [lines[-1]]
    epoch = checkpoint.load(run / "checkpoints" / "last.npz").meta["epoch"]
    assert epoch == len(metrics_of(run)) >= 5
    command = f"nnctl train {config} --set train.alpha=0.3 --out {run} --resume"
    assert lines[-1] == (f"Error: {config}: interrupted after epoch {epoch} of 100000; "
                         f"{run / 'checkpoints' / 'last.npz'} holds it; resume with: {command}")
    assert not (run / "summary.json").exists()
    epochs = epoch + 3
    resumed = nnctl(*shlex.split(command)[1:], "--set", f"train.epochs={epochs}", "-q")
    assert resumed.exit_code == 0, resumed.stderr
    reference = tmp_path / "ref"
    assert nnctl("train", config, "--out", reference, "--set", "train.alpha=0.3",
                 "--set", f"train.epochs={epochs}", "-q").exit_code == 0
    assert_same_run(run, reference, epochs)


@pytest.mark.parametrize("first, second", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT),
                                           (signal.SIGINT, signal.SIGTERM)])
def test_second_signal_aborts_at_once(first, second):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stop = StopRequest()
    with stop:
        assert not stop()
        signal.getsignal(first)(first, None)  # the first signal only asks
        assert stop() and stop.exit_code == 128 + first
        with pytest.raises(KeyboardInterrupt) as info:
            signal.getsignal(second)(second, None)
        assert info.value.signum == second
    assert {s: signal.getsignal(s) for s in before} == before


def test_sweep_workers_do_not_outlive_a_terminated_sweep(tmp_path):
    config = tmp_path / "slow.yaml"
    config.write_text("data: {source: moons, n_samples: 600}\ntrain: {epochs: 100000, batch_size: 4}\n")
    proc = subprocess.Popen([sys.executable, "-m", "nnctl", "sweep", str(config), "--grid", "train.alpha=0.1,0.2,0.3",
                             "--jobs", "2", "--out", str(tmp_path / "sweep"), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "sweep").glob("*/checkpoints/last.npz")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
        time.sleep(0.2)
    workers = children_of(proc.pid)
    assert workers  # the runs are in worker processes
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert stderr.splitlines()[-1] == "Error: interrupted"
    deadline = time.monotonic() + 30
    while [pid for pid in workers if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)]


def children_of(pid):
    """Every process descended from ``pid`` (Linux /proc)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                child = int(stat.parent.name)
                found.append(child)
                frontier.append(child)
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("target", ["numpy.savez", "os.replace", "os.fsync"])
def test_failed_checkpoint_write_keeps_the_previous_one(fast_reference, tmp_path, monkeypatch, target):
    config, run = fast_reference / "fast.yaml", tmp_path / "run"
    assert nnctl("train", config, "--out", run, "--set", "train.epochs=3", "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    module, name = target.split(".")
    monkeypatch.setattr(__import__(module), name, enospc)
    result = nnctl("train", config, "--out", run, "--resume", "-q")
    monkeypatch.undo()
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {run}") and line.endswith(": cannot write: No space left on device")
    after = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    assert after == before  # nothing replaced, no temporary file left behind
    assert checkpoint.load(run / "checkpoints" / "last.npz").meta["epoch"] == 3
    assert nnctl("train", config, "--out", run, "--resume", "-q").exit_code == 0
    assert_same_run(run, fast_reference / "ref", 12)


def test_failed_metrics_write_keeps_the_checkpoints(fast_reference, tmp_path, monkeypatch):
    config, run = fast_reference / "fast.yaml", tmp_path / "run"
    assert nnctl("train", config, "--out", run, "--set", "train.epochs=3", "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}

    class FullDisk:
        def __init__(self, *args, **kwargs):
            pass

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def close(self):
            pass

    monkeypatch.setattr("nnctl.training.rundir.open", FullDisk, raising=False)
    result = nnctl("train", config, "--out", run, "--resume", "-q")
    monkeypatch.undo()
    assert result.exit_code == 2
    assert result.stderr == f"Error: {run / 'metrics.jsonl'}: cannot write: No space left on device\n"
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before
    assert nnctl("train", config, "--out", run, "--resume", "-q").exit_code == 0
    assert_same_run(run, fast_reference / "ref", 12)


def test_unwritable_output_directory_is_one_error_line(fast_reference, tmp_path, monkeypatch):
    """A read-only directory, simulated because root may write anywhere."""
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    result = nnctl("train", fast_reference / "fast.yaml", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'run' / 'config.yaml'}: cannot write: Read-only file system\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_output_directory_for_real(fast_reference, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o555)
    try:
        result = nnctl("train", fast_reference / "fast.yaml", "--out", run, "-q")
    finally:
        run.chmod(0o755)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {run}") and "Permission denied" in line


def test_stray_temp_files_are_removed_on_resume(fast_reference, tmp_path):
    config, run = fast_reference / "fast.yaml", tmp_path / "run"
    assert nnctl("train", config, "--out", run, "--set", "train.epochs=4", "-q").exit_code == 0
    (run / "checkpoints" / ".last.npz.nnctl-k1ll3d.tmp").write_bytes(b"PK\x03\x04 half a checkpoint")
    (run / ".metrics.jsonl.nnctl-k1ll3d.tmp").write_text('{"epoch": 99')
    assert nnctl("train", config, "--out", run, "--resume", "-q").exit_code == 0
    assert_same_run(run, fast_reference / "ref", 12)


def test_files_of_the_user_are_never_removed(fast_reference, tmp_path):
    """Only nnctl's own temporaries and checkpoints go; a user's .tmp files and other .npz files stay."""
    config, run = fast_reference / "fast.yaml", tmp_path / "run"
    assert nnctl("train", config, "--out", run, "--set", "train.epochs=2", "-q").exit_code == 0
    mine = [run / ".notes.tmp", run / "checkpoints" / ".scratch.tmp", run / "checkpoints" / "mine.npz"]
    for path in mine:
        path.write_text("the user's")
    assert nnctl("train", config, "--out", run, "--set", "train.epochs=2", "--resume", "-q").exit_code == 0
    assert nnctl("train", config, "--out", run, "--set", "train.epochs=2", "-q").exit_code == 2  # refused
    assert nnctl("train", config, "--out", run, "--set", "train.epochs=2", "--force", "-q").exit_code == 0
    assert all(path.read_text() == "the user's" for path in mine)


def test_force_does_not_delete_through_a_symlinked_checkpoints_folder(fast_reference, tmp_path):
    config, run, elsewhere = fast_reference / "fast.yaml", tmp_path / "run", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "last.npz").write_text("not nnctl's")
    run.mkdir()
    (run / "checkpoints").symlink_to(elsewhere)
    (run / "config.yaml").write_text("a run was here\n")
    result = nnctl("train", config, "--out", run, "--set", "train.epochs=1", "--force", "-q")
    assert result.exit_code == 2 and "checkpoints is a symbolic link" in result.stderr
    assert (elsewhere / "last.npz").read_text() == "not nnctl's"
    assert (run / "config.yaml").read_text() == "a run was here\n"


def test_files_keep_ordinary_permissions(fast_reference, tmp_path):
    """mkstemp creates 0600 files; an atomic replace must not make run files private by accident."""
    run = tmp_path / "run"
    assert nnctl("train", fast_reference / "fast.yaml", "--out", run, "--set", "train.epochs=1", "-q").exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    for path in (run / "config.yaml", run / "checkpoints" / "last.npz"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask
