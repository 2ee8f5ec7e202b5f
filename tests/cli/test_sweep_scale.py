"""``nnctl sweep`` beyond one machine and one invocation: ``--scheduler`` (a real Dask LocalCluster on
127.0.0.1), ``--resume`` after a kill, ``--repeat K``. Each compares with a plain local sweep, bit for bit."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from cli_helpers import invoke
from nnctl.training import checkpoint

SMALL = {"data": {"source": "moons", "n_samples": 120}, "train": {"epochs": 5, "batch_size": 16}}
# runs of a few seconds each, so that a signal or a kill lands in the middle of them
SLOW = {"data": {"source": "moons", "n_samples": 300}, "train": {"epochs": 2500, "batch_size": 4},
        "output": {"checkpoint_every": 50}}
GRID = ["--grid", "train.alpha=0.1,0.5", "--grid", "model.layers=[2,3,2],[2,6,2]"]


def start(*args):
    # SIGINT at its default in the child: a suite started in the background (`pytest &`) has it ignored, and a
    # Python started so keeps ignoring it, as a shell's background job should
    return subprocess.Popen([sys.executable, "-m", "nnctl", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def write_config(path, config):
    path.write_text(yaml.safe_dump(config))
    return path


def rows_of(sweep_dir):
    """results.csv without the seconds column (wall time), the sweep directory's own path taken out."""
    with open(sweep_dir / "results.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        del row["seconds"]
        row["message"] = row["message"].replace(str(sweep_dir), "SWEEP")
    return rows


def assert_same_sweep(got, want):
    """Same rows, and every run's checkpoints the same files with the same arrays, byte for byte."""
    assert rows_of(got) == rows_of(want)
    for row in rows_of(want):
        names = sorted(p.name for p in (want / row["run"] / "checkpoints").iterdir())
        assert sorted(p.name for p in (got / row["run"] / "checkpoints").iterdir()) == names
        for name in names:
            a, b = (np.load(d / row["run"] / "checkpoints" / name, allow_pickle=False) for d in (got, want))
            assert a.files == b.files
            for key in a.files:
                if key != "meta":  # the meta JSON holds the seconds trained
                    assert a[key].tobytes() == b[key].tobytes(), (row["run"], name, key)


def wait_for(condition, proc=None, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc is None or proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def epochs_logged(run_dir):
    try:
        return len((run_dir / "metrics.jsonl").read_bytes().splitlines())
    except FileNotFoundError:
        return 0


def lock_holder(run_dir):
    """The pid holding a run directory's lock, from Linux's /proc/locks (as nnctl's RunLock reports it)."""
    inode = os.stat(run_dir / ".nnctl.lock").st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[5].rsplit(":", 1)[-1] == str(inode):
            return int(fields[4])
    return None


@pytest.fixture(scope="module")
def local_small(tmp_path_factory):
    """A local sweep of SMALL over GRID: the reference."""
    base = tmp_path_factory.mktemp("local")
    config = write_config(base / "small.yaml", SMALL)
    result = invoke("sweep", config, *GRID, "--jobs", "2", "--out", base / "sweep", "-q")
    assert result.exit_code == 0, result.stderr
    return config, base / "sweep"


def cluster(**config):
    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set(config):
        return distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                        dashboard_address=None, processes=True)


@pytest.fixture(scope="module")
def scheduler():
    with cluster() as c:
        yield c.scheduler_address


def test_a_sweep_on_a_dask_cluster_equals_the_local_sweep(local_small, scheduler, tmp_path):
    config, reference = local_small
    out = tmp_path / "sweep"
    result = invoke("sweep", config, *GRID, "--scheduler", scheduler, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert_same_sweep(out, reference)
    progress = [line for line in result.stderr.splitlines() if line.startswith("nnctl sweep: [")]
    assert sorted(line.split("] ")[1] for line in progress) == sorted(f"{r['run']}: ok" for r in rows_of(out))
    rows = json.loads(result.stdout)
    assert [r["run"] for r in rows] == [r["run"] for r in rows_of(reference)]  # grid order, whatever the finish
    assert yaml.safe_load((out / rows[0]["run"] / "config.yaml").read_text())["output"]["dir"] == \
        str(out / rows[0]["run"])


def test_a_relative_out_dir_is_made_absolute_for_the_workers(local_small, scheduler, tmp_path, monkeypatch):
    config, reference = local_small
    monkeypatch.chdir(tmp_path)
    result = invoke("sweep", config, *GRID, "--scheduler", scheduler, "--out", "rel", "-q")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load((tmp_path / "rel" / "alpha-0.1_layers-2x3x2" / "config.yaml").read_text())["output"][
        "dir"] == str(tmp_path / "rel" / "alpha-0.1_layers-2x3x2")
    assert_same_sweep(tmp_path / "rel", reference)


def test_a_path_a_worker_cannot_see_is_a_row_that_says_so(tmp_path):
    from nnctl import config as config_mod
    from nnctl.distributed import cluster_task

    config = config_mod.load(write_config(tmp_path / "c.yaml", SMALL))
    config["output"]["dir"] = str(tmp_path / "gone" / "run")
    index, row = cluster_task(3, config, True, False, "c.yaml [run]", [str(tmp_path / "gone")])
    assert index == 3 and row["status"] == "error"
    assert row["message"].startswith(f"c.yaml [run]: {tmp_path / 'gone'}: not visible on the Dask worker on ")
    assert "needs a file system shared by this machine and every worker" in row["message"]
    assert not (tmp_path / "gone").exists()


def test_scheduler_input_errors_are_one_line_exit_2(local_small, tmp_path):
    config, _ = local_small
    out = tmp_path / "sweep"
    jobs = invoke("sweep", config, *GRID, "--scheduler", "tcp://127.0.0.1:9", "--jobs", "2", "--out", out)
    assert jobs.exit_code == 2 and "--jobs: has no meaning with --scheduler" in jobs.stderr
    bad = invoke("sweep", config, *GRID, "--scheduler", "nowhere", "--out", out)
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: --scheduler nowhere: not a scheduler address (")
    empty = invoke("sweep", config, *GRID, "--scheduler", "", "--out", out)
    assert empty.exit_code == 2 and "not a scheduler address" in empty.stderr
    closed = invoke("sweep", config, *GRID, "--scheduler", "tcp://127.0.0.1:9", "--out", out)  # discard port
    assert closed.exit_code == 2
    assert closed.stderr.startswith("Error: --scheduler tcp://127.0.0.1:9: no Dask scheduler answers there")
    assert len(closed.stderr.splitlines()) == 1
    assert not out.exists()


def test_without_dask_scheduler_says_what_to_install(local_small, tmp_path):
    config, _ = local_small
    blocker = tmp_path / "block" / "distributed"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no distributed here')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    out = subprocess.run([sys.executable, "-m", "nnctl", "sweep", str(config), *GRID, "--scheduler",
                          "tcp://127.0.0.1:8786", "--out", str(tmp_path / "s")], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 2
    assert out.stderr == "Error: --scheduler: needs Dask distributed; pip install 'nnctl[dask]'\n"


@pytest.fixture(scope="module")
def local_slow(tmp_path_factory):
    base = tmp_path_factory.mktemp("slow")
    config = write_config(base / "slow.yaml", SLOW)
    result = invoke("sweep", config, "--grid", "train.alpha=0.05,0.1,0.2", "--jobs", "2", "--out", base / "sweep",
                    "-q")
    assert result.exit_code == 0, result.stderr
    return config, base / "sweep"


@pytest.mark.parametrize("allowed_failures", [3, 0], ids=["retried", "reported"])
def test_a_worker_killed_mid_run(local_slow, tmp_path, allowed_failures):
    """Dask retries a run whose worker died (it trains again, to the same numbers); once Dask gives up on it
    (allowed-failures), it is an error row that says so. Never a missing row, never a hung sweep."""
    config, reference = local_slow
    out = tmp_path / "sweep"
    with cluster(**{"distributed.scheduler.allowed-failures": allowed_failures}) as c:
        proc = start("sweep", config, "--grid", "train.alpha=0.05,0.1,0.2", "--scheduler", c.scheduler_address,
                     "--out", out, "--json")
        victim = out / "alpha-0.05"
        wait_for(lambda: epochs_logged(victim) >= 200, proc)
        os.kill(lock_holder(victim), signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    rows = {r["run"]: r for r in json.loads(stdout)}
    assert sorted(rows) == ["alpha-0.05", "alpha-0.1", "alpha-0.2"]
    if allowed_failures:
        assert_same_sweep(out, reference)
    else:
        assert rows["alpha-0.05"]["status"] == "error"
        assert rows["alpha-0.05"]["message"].startswith(f"{config} [alpha-0.05]: lost on the Dask cluster "
                                                        "(KilledWorker: ")
        assert rows["alpha-0.05"]["message"].endswith("then --resume to train it again")
        resumed = invoke("sweep", config, "--grid", "train.alpha=0.05,0.1,0.2", "--out", out, "--resume", "-q")
        assert resumed.exit_code == 0, resumed.stderr
        assert_same_sweep(out, reference)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_resume_after_a_kill_equals_an_uninterrupted_sweep(local_slow, tmp_path, signum):
    config, reference = local_slow
    out = tmp_path / "sweep"
    args = ["sweep", config, "--grid", "train.alpha=0.05,0.1,0.2", "--jobs", "2", "--out", out, "-q"]
    proc = start(*args)
    # stopped with one run ended and one part-way: a run kept, a run resumed and a run never started
    wait_for(lambda: (out / "alpha-0.05" / "summary.json").exists() and epochs_logged(out / "alpha-0.2") >= 120,
             proc)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr
    assert not (out / "results.csv").exists()
    assert not (out / "alpha-0.2" / "summary.json").exists()
    assert (out / "alpha-0.2" / "checkpoints" / "last.npz").exists()
    kept = (out / "alpha-0.05" / "checkpoints" / "last.npz").read_bytes()
    resumed = invoke(*args, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert_same_sweep(out, reference)
    assert (out / "alpha-0.05" / "checkpoints" / "last.npz").read_bytes() == kept  # not trained again
    metrics = [json.loads(line) for line in (out / "alpha-0.2" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == list(range(1, 2501))


def test_resume_refuses_a_sweep_of_another_plan(local_small, tmp_path):
    config, _ = local_small
    out = tmp_path / "sweep"
    assert invoke("sweep", config, "--grid", "train.alpha=0.1,0.5", "--out", out, "-q").exit_code == 0
    other = invoke("sweep", config, "--grid", "train.alpha=0.1,0.3", "--out", out, "--resume", "-q")
    assert other.exit_code == 2
    assert other.stderr == (f"Error: {out}: holds another sweep (run alpha-0.3 is in this sweep only); --resume "
                            "needs the CONFIG, --grid, --set and --repeat of the sweep it continues, or use --force "
                            "to replace it\n")
    changed = invoke("sweep", config, "--grid", "train.alpha=0.1,0.5", "--set", "train.epochs=6", "--out", out,
                     "--resume", "-q")
    assert changed.exit_code == 2 and "run alpha-0.1 has another config: train.epochs 5 there, 6 here" in \
        changed.stderr
    again = invoke("sweep", config, "--grid", "train.alpha=0.1,0.5", "--out", out, "--resume", "--json", "-q")
    assert again.exit_code == 0 and [r["status"] for r in json.loads(again.stdout)] == ["ok", "ok"]
    both = invoke("sweep", config, "--grid", "train.alpha=0.1,0.5", "--out", out, "--resume", "--force")
    assert both.exit_code == 2 and "--resume and --force: choose one" in both.stderr


def test_repeat_trains_each_point_with_k_seeds_and_aggregates(local_small, tmp_path):
    config, _ = local_small
    out = tmp_path / "sweep"
    result = invoke("sweep", config, "--grid", "train.alpha=0.1,0.5", "--set", "seed=5", "--repeat", "3",
                    "--out", out, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(r["run"], r["seed"]) for r in report["runs"]] == [
        (f"alpha-{a}_seed-{s}", s) for a in ("0.1", "0.5") for s in (5, 6, 7)]
    assert len({r["val_loss"] for r in report["runs"]}) == 6  # the seeds reached the runs
    for point, alpha in zip(report["points"], (0.1, 0.5)):
        runs = [r for r in report["runs"] if r["train.alpha"] == alpha]
        assert point["train.alpha"] == alpha and point["runs"] == point["ok"] == 3
        for figure in ("val_loss", "test_acc"):
            values = [r[figure] for r in runs]
            assert point[f"{figure}_mean"] == pytest.approx(np.mean(values), rel=1e-12)
            assert point[f"{figure}_std"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    with open(out / "summary.csv", newline="") as f:
        summary = list(csv.DictReader(f))
    assert [float(p["val_loss_mean"]) for p in summary] == pytest.approx(
        [p["val_loss_mean"] for p in report["points"]], rel=1e-5)
    one = invoke("sweep", config, "--grid", "train.alpha=0.1", "--set", "seed=6", "--out", tmp_path / "one", "--json",
                 "-q")
    assert json.loads(one.stdout)[0]["val_loss"] == report["runs"][1]["val_loss"]  # seed 6 is seed 6
    text = invoke("sweep", config, "--grid", "train.alpha=0.1,0.5", "--repeat", "2", "--out", tmp_path / "t", "-q")
    points = text.stdout.split("\n\n")[1].splitlines()
    assert points[0].split()[:3] == ["train.alpha", "ok", "train_loss"]
    assert points[1].split()[:2] == ["0.1", "2/2"] and "±" in points[1]
    clash = invoke("sweep", config, "--grid", "seed=1,2", "--repeat", "2", "--out", tmp_path / "c")
    assert clash.exit_code == 2 and "--repeat: seed is also a --grid key" in clash.stderr


def test_an_interrupted_cluster_sweep_stops_its_runs_and_resumes(local_slow, scheduler, tmp_path):
    """Dask cannot interrupt a running task: the sweep's stop event makes each run on the cluster stop at its
    epoch's end with a checkpoint (not the last scheduled one), so --resume continues exactly from there."""
    config, reference = local_slow
    out = tmp_path / "sweep"
    args = ["sweep", config, "--grid", "train.alpha=0.05,0.1,0.2", "--scheduler", scheduler, "--out", out, "-q"]
    proc = start(*args)
    wait_for(lambda: epochs_logged(out / "alpha-0.05") >= 120, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr

    wait_for(lambda: (out / "alpha-0.05" / ".nnctl.lock").exists() and lock_holder(out / "alpha-0.05") is None,
             seconds=30)  # the run on the worker has let go of its directory
    epoch = checkpoint.load(out / "alpha-0.05" / "checkpoints" / "last.npz").meta["epoch"]
    assert epoch == epochs_logged(out / "alpha-0.05") < 2500
    resumed = invoke(*args, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert_same_sweep(out, reference)


def test_resume_keeps_ended_runs_as_they_were(local_small, tmp_path):
    """A finished sweep resumed: nothing trains again, and the rows (a diverged one too) read back the same."""
    config, _ = local_small
    out = tmp_path / "sweep"
    args = ["sweep", config, "--set", "model.activation=relu", "--set", "data.input_scale=1000", "--set",
            "data.scaler=none", "--grid", "train.alpha=1e-7,1e6", "--out", out, "--json", "-q"]
    first = invoke(*args)
    assert first.exit_code == 0, first.stderr
    assert [r["status"] for r in json.loads(first.stdout)] == ["ok", "diverged"]
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name not in ("results.csv", "sweep.json")}
    again = invoke(*args, "--resume")
    assert again.exit_code == 0, again.stderr
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(first.stdout)]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(again.stdout)] == strip
    assert {p: p.read_bytes() for p in files} == files
