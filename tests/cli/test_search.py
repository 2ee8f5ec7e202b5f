"""``nnctl sweep --sample`` and ``--search tpe``: points drawn from --grid values and --dist distributions,
and a TPE study kept in the sweep directory that survives a kill and is shared by several processes."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nnctl.search import parse_dist

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"data": {"source": "moons", "n_samples": 120}, "train": {"epochs": 3, "batch_size": 16}}
# a trial of ≈0.2 s, so that a signal or a second process lands while trials run
SLOWER = {"data": {"source": "moons", "n_samples": 200}, "train": {"epochs": 40, "batch_size": 16}}
ALPHA = ["--dist", "train.alpha=loguniform:1e-3:1"]


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


@pytest.fixture
def slower(tmp_path):
    path = tmp_path / "slower.yaml"
    path.write_text(yaml.safe_dump(SLOWER))
    return path


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def points(rows, keys):
    return [tuple(row[k] for k in keys) for row in rows]


def nnctl(*args, **kwargs):
    """``nnctl ARGS`` as a subprocess of this interpreter (a real process, to be signalled)."""
    return subprocess.Popen([sys.executable, "-m", "nnctl", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=kwargs.get("cwd"),
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))


def study_trials(out):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
    return optuna.load_study(study_name="nnctl", storage=storage).get_trials()


def test_sample_is_reproducible_from_the_seed(small, tmp_path, run_cli):
    space = [*ALPHA, "--dist", "train.lambda=uniform:0:0.01", "--dist", "model.hidden=choice:[8],[16],[8,8]"]
    keys = ("run", "train.alpha", "train.lambda", "model.hidden")
    drawn = {}
    for name, extra in (("a", []), ("b", []), ("seed0", ["--sample-seed", "0"]), ("seed1", ["--sample-seed", "1"])):
        result = run_cli("sweep", small, *space, "--sample", 4, "--out", tmp_path / name, *extra)
        assert result.exit_code == 0, result.stderr
        drawn[name] = points(read_rows(tmp_path / name / "results.csv"), keys)
        source = "the config's seed" if not extra else "--sample-seed"
        assert f"4 distinct points drawn with seed {extra[1] if extra else 0} ({source})" in result.stderr
    assert drawn["a"] == drawn["b"] == drawn["seed0"]  # the config's seed is 0
    assert drawn["seed1"] != drawn["a"]
    assert len(set(drawn["a"])) == 4
    for run, alpha, lam, hidden in drawn["a"]:
        assert 1e-3 <= float(alpha) <= 1 and 0 <= float(lam) <= 0.01 and json.loads(hidden) in ([8], [16], [8, 8])
        assert run.startswith(f"alpha-{alpha}_lambda-{lam}_hidden-")  # 3 significant digits: name = value
        assert len(alpha.replace("0.", "").lstrip("0")) <= 3
        assert yaml.safe_load((tmp_path / "a" / run / "config.yaml").read_text())["train"]["alpha"] == float(alpha)


def test_sample_of_a_grid_draws_without_replacement(small, tmp_path, run_cli):
    grid = ["--grid", "train.alpha=0.01,0.1,1", "--grid", "data.scaler=none,standard"]
    result = run_cli("sweep", small, *grid, "--sample", 4, "--out", tmp_path / "four", "-q")
    assert result.exit_code == 0, result.stderr
    four = points(read_rows(tmp_path / "four" / "results.csv"), ("train.alpha", "data.scaler"))
    assert len(set(four)) == 4
    assert set(four) <= {(a, s) for a in ("0.01", "0.1", "1.0") for s in ("none", "standard")}
    result = run_cli("sweep", small, *grid, "--sample", 10, "--out", tmp_path / "ten")
    assert result.exit_code == 0, result.stderr
    assert "the space holds only 6 distinct points: each runs once" in result.stderr
    assert len(read_rows(tmp_path / "ten" / "results.csv")) == 6


@pytest.mark.parametrize("args, message", [
    (["--dist", "train.alpha=normal:0:1", "--sample", "2"], "--dist train.alpha: unknown distribution 'normal'; "
                                                            "use one of loguniform:LOW:HIGH, uniform:LOW:HIGH"),
    (["--dist", "train.alpha=uniform:1", "--sample", "2"], "--dist train.alpha: uniform needs LOW:HIGH, got 'uniform:1'"),
    (["--dist", "train.alpha=uniform:1:0.1", "--sample", "2"], "--dist train.alpha: uniform needs finite LOW < HIGH"),
    (["--dist", "train.alpha=loguniform:0:1", "--sample", "2"], "--dist train.alpha: loguniform needs LOW > 0"),
    (["--dist", "train.alpha=uniform:0:1", "--sample", "2"],
     "--dist train.alpha=uniform:0.0:1.0: must be a number with 0.0 < x, got 0.0"),
    (["--dist", "train.epochs=int:1:x", "--sample", "2"], "--dist train.epochs: int:LOW:HIGH needs two integers"),
    (["--dist", "train.epochs=uniform:1:5", "--sample", "2"], "--dist train.epochs=uniform:1.0:5.0: must be an integer"),
    (["--dist", "model.hidden=choice:[8],[0]", "--sample", "2"], "--dist model.hidden[0]: must be a positive integer"),
    (["--dist", "model.hidden=choice:", "--sample", "2"], "--dist model.hidden: choice needs values"),
    (["--dist", "train.alpah=uniform:0.1:1", "--sample", "2"], "unknown key (did you mean train.alpha?"),
    (["--dist", "train.alpha", "--sample", "2"], "--dist 'train.alpha': expected KEY=SPEC"),
    (["--grid", "train.alpha=0.1,1", "--dist", "train.alpha=uniform:0.1:1", "--sample", "2"],
     "--dist train.alpha: also given with --grid; keep one"),
    (["--set", "train.alpha=0.1", "--dist", "train.alpha=uniform:0.1:1", "--sample", "2"],
     "--dist train.alpha: also given with --set; keep one"),
    (["--dist", "data.val_fraction=uniform:0.1:0.9", "--sample", "2"],
     "data.val_fraction + data.test_fraction: must be below 1"),
    (["--dist", "train.alpha=uniform:0.1:1"], "--dist needs --sample N or --search tpe"),
    (["--dist", "train.alpha=uniform:0.1:1", "--search", "tpe"], "--search tpe and --trials N go together"),
    (["--dist", "train.alpha=uniform:0.1:1", "--search", "tpe", "--trials", "2", "--sample", "2"],
     "--sample and --search exclude each other"),
    (["--dist", "train.early_stopping=choice:true,false", "--search", "tpe", "--trials", "2"],
     "--search: train.early_stopping decides what a trial is scored by; fix it with --set"),
    (["--sample", "2"], "give the space to sweep"),
    (["--dist", "train.alpha=uniform:0.1:1", "--search", "tpe", "--trials", "2", "--repeat", "2"],
     "--repeat: does not combine with --search tpe"),
    (["--dist", "train.alpha=uniform:0.1:1", "--search", "tpe", "--trials", "2", "--vectorize"],
     "--vectorize: does not combine with --search tpe"),
    (["--dist", "seed=int:0:9", "--sample", "2", "--repeat", "2"], "--repeat: seed is also drawn by --sample"),
    (["--grid", "train.alpha=0.1,1", "--vectorize", "--scheduler", "tcp://127.0.0.1:9"],
     "--vectorize: trains its stacks in this process, so it does not combine with --scheduler"),
    (["--dist", "train.alpha=uniform:0.1:1", "--sample", "2", "--vectorize", "--scheduler", "tcp://127.0.0.1:9"],
     "--vectorize: trains its stacks in this process, so it does not combine with --scheduler"),
    (["--grid", "seed=1,2", "--sample", "2", "--repeat", "2"], "--repeat: seed is also a --grid key"),
])
def test_bad_search_options_are_one_line_and_exit_2_before_anything_runs(small, tmp_path, run_cli, args, message):
    out = tmp_path / "sweep"
    result = run_cli("sweep", small, *args, "--out", out)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr  # the Error line only
    assert not out.exists()


def test_dist_specs_parse_to_their_kinds():
    assert parse_dist("model.hidden=choice:[8],[16],[8,8]").values == ([8], [16], [8, 8])
    d = parse_dist("train.batch_size=intlog:8:256")
    assert (d.kind, d.low, d.high, d.size()) == ("intlog", 8, 256, 249)
    assert parse_dist(" train.alpha = loguniform:1e-4:1 ").low == 1e-4


def test_search_without_optuna_says_what_to_install(small, tmp_path, run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # what an environment without the package sees
    result = run_cli("sweep", small, *ALPHA, "--search", "tpe", "--trials", 2, "--out", tmp_path / "s")
    assert result.exit_code == 2
    assert result.stderr == "Error: --search tpe: needs the optuna package, which is not installed: " \
                            "pip install 'nnctl[optuna]'\n"


def test_search_marks_the_best_trial_and_continues_to_more_trials(small, tmp_path, run_cli):
    out = tmp_path / "s"
    space = [*ALPHA, "--grid", "model.hidden=[4],[8]"]
    result = run_cli("sweep", small, *space, "--search", "tpe", "--trials", 3, "--out", out, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    first = json.loads(result.stdout)
    result = run_cli("sweep", small, *space, "--search", "tpe", "--trials", 5, "--out", out, "--json", "-q")
    rows = json.loads(result.stdout)
    assert [r["run"] for r in rows[:3]] == [r["run"] for r in first]
    assert [r["run"][:9] for r in rows] == [f"trial-{i:03d}" for i in range(5)]
    for row in rows:
        summary = json.loads((out / row["run"] / "summary.json").read_text())
        assert row["best_val_loss"] == summary["best_val_loss"] and row["status"] == "ok"
        assert json.loads(json.dumps(row["model.hidden"])) in ([4], [8])
    best = min(rows, key=lambda r: r["best_val_loss"])
    assert [r["best"] for r in rows] == [r is best for r in rows]
    trials = study_trials(out)
    assert [t.value for t in trials] == [r["best_val_loss"] for r in rows]
    assert read_rows(out / "results.csv")[0]["run"] == rows[0]["run"]
    table = run_cli("sweep", small, *space, "--search", "tpe", "--trials", 5, "--out", out, "-q").stdout
    assert [line[:1] for line in table.splitlines()[1:]] == ["*" if r is best else " " for r in rows]


def test_search_is_reproducible_from_the_seed(small, tmp_path, run_cli):
    runs = {}
    for name in ("a", "b"):
        result = run_cli("sweep", small, *ALPHA, "--search", "tpe", "--trials", 4, "--out", tmp_path / name,
                         "--json", "-q")
        runs[name] = [r["train.alpha"] for r in json.loads(result.stdout)]
    assert runs["a"] == runs["b"] and len(set(runs["a"])) == 4


def test_diverged_and_refused_trials_are_failed_trials(small, tmp_path, run_cli):
    out = tmp_path / "s"
    diverging = ["--set", "model.activation=relu", "--set", "data.input_scale=1000", "--set", "data.scaler=none",
                 "--set", "train.epochs=20", "--dist", "train.alpha=loguniform:1e4:1e6"]
    result = run_cli("sweep", small, *diverging, "--search", "tpe", "--trials", 2, "--out", out, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] == ["diverged", "diverged"] and not any(r["best"] for r in rows)
    assert [t.state.name for t in study_trials(out)] == ["FAIL", "FAIL"]


def test_jobs_run_trials_in_batches_without_overshooting(small, tmp_path, run_cli):
    out = tmp_path / "s"
    result = run_cli("sweep", small, *ALPHA, "--search", "tpe", "--trials", 5, "--jobs", 2, "--out", out, "-q")
    assert result.exit_code == 0, result.stderr
    assert [r["run"][:9] for r in read_rows(out / "results.csv")] == [f"trial-{i:03d}" for i in range(5)]
    assert [t.state.name for t in study_trials(out)] == ["COMPLETE"] * 5


def test_a_dead_process_trial_is_adopted_not_lost(small, tmp_path, run_cli):
    out = tmp_path / "s"
    args = ["sweep", small, *ALPHA, "--search", "tpe", "--trials"]
    assert run_cli(*args, 2, "--out", out, "-q").exit_code == 0
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name="nnctl", storage=JournalStorage(JournalFileBackend(str(out / "study.journal"))))
    orphan = study.ask()  # what a process killed during its trial leaves: a running trial whose owner is gone
    orphan.set_user_attr("worker", "0123456789ab")
    alpha = orphan.suggest_float("train.alpha", 1e-3, 1, log=True)
    result = run_cli(*args, 3, "--out", out, "--json", "-q")
    rows = json.loads(result.stdout)
    assert [r["run"][:9] for r in rows] == ["trial-000", "trial-001", "trial-002"]
    assert rows[2]["train.alpha"] == alpha and rows[2]["status"] == "ok"
    assert [t.state.name for t in study_trials(out)] == ["COMPLETE"] * 3


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_killed_search_resumes_to_n_trials_without_a_duplicate_or_a_lost_trial(slower, tmp_path, jobs):
    out = tmp_path / "s"
    args = ["sweep", slower, *ALPHA, "--dist", "train.lambda=loguniform:1e-5:1e-2", "--search", "tpe",
            "--trials", 10, "--set", "train.epochs=60", "--jobs", jobs, "--out", out, "-q"]
    proc = nnctl(*args)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "results.csv").exists() and len(read_rows(out / "results.csv")) >= 3 \
                and any(t.state.name == "RUNNING" and len(t.params) == 2 for t in study_trials(out)):  # in training
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the search ended before the test could stop it"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    killed = study_trials(out)
    assert 3 <= len(killed) < 10 and killed[-1].state.name == "RUNNING"
    running = [t.number for t in killed if t.state.name == "RUNNING"]
    proc = nnctl(*args)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    trials = study_trials(out)
    assert [t.number for t in trials] == list(range(10)) and {t.state.name for t in trials} == {"COMPLETE"}
    # the trials finished before the kill kept their values; the rest ran once each
    assert [t.value for t in trials[:len(killed)] if killed[t.number].state.name == "COMPLETE"] == \
           [t.value for t in killed if t.state.name == "COMPLETE"]
    # the interrupted trials, adopted: they keep the values they had (a kill while one was drawn leaves part)
    assert all(killed[n].params.items() <= trials[n].params.items() for n in running)
    rows = read_rows(out / "results.csv")
    assert [r["run"][:9] for r in rows] == [f"trial-{i:03d}" for i in range(10)]
    assert sorted(p.name for p in out.glob("trial-*")) == [r["run"] for r in rows]


def test_two_processes_share_one_study(slower, tmp_path):
    out = tmp_path / "s"
    args = ["sweep", slower, *ALPHA, "--search", "tpe", "--trials", 10, "--out", out, "-q"]
    procs = [nnctl(*args) for _ in range(2)]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    trials = study_trials(out)
    assert [t.number for t in trials] == list(range(10)) and {t.state.name for t in trials} == {"COMPLETE"}
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both took part
    assert len({t.params["train.alpha"] for t in trials}) == 10  # each process has its own draws
    assert [r["run"][:9] for r in read_rows(out / "results.csv")] == [f"trial-{i:03d}" for i in range(10)]


def test_sample_with_repeat_runs_every_drawn_point_with_each_seed(small, tmp_path, run_cli):
    """--sample N --repeat K: the N drawn points, each with the seeds seed … seed+K−1, and their mean ± std;
    stacked (--vectorize) to the same figures as one by one."""
    args = ["sweep", small, *ALPHA, "--sample", "3", "--repeat", "2", "--json"]
    plain = run_cli(*args, "--out", tmp_path / "plain")
    stacked = run_cli(*args, "--vectorize", "--out", tmp_path / "stacked")
    assert plain.exit_code == 0 and stacked.exit_code == 0, plain.stderr + stacked.stderr
    runs, summary = json.loads(plain.stdout)["runs"], json.loads(plain.stdout)["points"]
    drawn = list(dict.fromkeys(r["train.alpha"] for r in runs))
    assert len(drawn) == 3 and [(r["train.alpha"], r["seed"]) for r in runs] == [(a, s) for a in drawn for s in (0, 1)]
    assert [p["train.alpha"] for p in summary] == drawn and all(p["runs"] == 2 for p in summary)
    figures = [{k: v for k, v in r.items() if k != "seconds"} for r in runs]
    assert figures == [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(stacked.stdout)["runs"]]


def test_resume_of_a_grid_sweep_refuses_a_search_directory(small, tmp_path, run_cli):
    """A search's directory has results.csv but no sweep.json: --resume of a grid sweep there cannot tell what
    it holds, and must not replace the search's table."""
    out = tmp_path / "s"
    assert run_cli("sweep", small, *ALPHA, "--search", "tpe", "--trials", 2, "--out", out, "-q").exit_code == 0
    table = (out / "results.csv").read_bytes()
    result = run_cli("sweep", small, "--grid", "train.alpha=0.1,0.2", "--out", out, "--resume", "-q")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {out}: has no sweep.json, so nnctl cannot tell which sweep it holds; "
                             "use --force to start it afresh\n")
    assert (out / "results.csv").read_bytes() == table and not (out / "alpha-0.1").exists()


def test_a_search_refuses_a_grid_sweeps_directory_even_unfinished(small, tmp_path, run_cli):
    """A grid sweep's directory (its sweep.json, with or without results.csv) is not joined by a search."""
    out = tmp_path / "sweep"
    assert run_cli("sweep", small, "--grid", "train.alpha=0.1,0.5", "--out", out, "-q").exit_code == 0
    (out / "results.csv").unlink()  # as a sweep stopped before its table
    result = run_cli("sweep", small, *ALPHA, "--search", "tpe", "--trials", "2", "--out", out, "-q")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {out}: already holds a sweep ({out / 'sweep.json'}); use --force to replace it"
    assert not (out / "study.journal").exists()
