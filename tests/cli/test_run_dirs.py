"""Run directories as arguments, where a run goes and where its data comes from, the run's config.yaml, and
why training ended: the commands as a user with a config in another folder meets them."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import yaml

from nnctl import config as config_mod

TINY_TEXT = "data: {source: moons, n_samples: 120}\ntrain: {epochs: 3, batch_size: 16}\n"


def tree_state(root):
    """Every file under ``root`` with its SHA-256 and modification time."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def moons_csv(path, rows=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    lines = ["x1,x2,label", *(f"{a:.6f},{b:.6f},{c}" for (a, b), c in zip(X, y))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class TestRunDirectoryAsCheckpoint:
    def test_every_command_takes_the_run_directory_for_its_best_checkpoint(self, run_cli, tiny_config, train_run):
        run = train_run(tiny_config())
        best = run / "checkpoints" / "best.npz"
        used = f"nnctl: using {best}\n"
        by_dir, by_file = run_cli("eval", run, "--json"), run_cli("eval", best, "--json")
        assert by_dir.exit_code == 0 and by_dir.stderr == used
        assert by_file.stderr == ""  # a file the user named needs no word
        assert json.loads(by_dir.stdout) == json.loads(by_file.stdout)
        predicted = run_cli("predict", run, "--proba", input="0.1,0.2\n-1,0.5\n")
        assert predicted.exit_code == 0 and predicted.stderr == used
        assert predicted.stdout == run_cli("predict", best, "--proba", input="0.1,0.2\n-1,0.5\n").stdout
        for command in ("explain", "gradcheck"):
            result = run_cli(command, run, "--json" if command == "gradcheck" else "--full")
            assert result.exit_code == 0 and result.stderr == used, command
            assert result.stdout == run_cli(command, best, *(["--json"] if command == "gradcheck" else ["--full"])).stdout
        plotted = run_cli("plot", run)
        assert plotted.exit_code == 0 and plotted.stderr == used and plotted.stdout == f"{run / 'plot.png'}\n"

    def test_best_is_the_run_and_last_stands_in_without_it(self, run_cli, tiny_config, train_run):
        run = train_run(tiny_config(), "--set", "train.epochs=8", "--set", "train.alpha=3")
        best, last = run / "checkpoints" / "best.npz", run / "checkpoints" / "last.npz"
        assert json.loads(run_cli("eval", run, "--json").stdout)["epoch"] == \
            json.loads(run_cli("eval", best, "--json").stdout)["epoch"]
        best.unlink()
        result = run_cli("eval", run, "--json")
        assert result.exit_code == 0 and result.stderr == f"nnctl: using {last}\n"
        assert json.loads(result.stdout)["epoch"] == 8

    @pytest.mark.parametrize("command", ["eval", "predict", "explain", "gradcheck"])
    def test_a_directory_that_is_not_a_run_is_one_error_line(self, run_cli, tmp_path, command):
        folder = tmp_path / "notes"
        folder.mkdir()
        result = run_cli(command, folder, input="")
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr == (f"Error: {folder}: not a run directory (no checkpoints/best.npz or "
                                 "checkpoints/last.npz); give a run directory or a checkpoint file\n")


class TestWhereTheRunGoes:
    def test_without_output_dir_the_run_is_named_after_the_config(self, run_cli, tmp_path, monkeypatch):
        (tmp_path / "exp").mkdir()
        config = tmp_path / "exp" / "small-moons.yaml"
        config.write_text(TINY_TEXT, encoding="utf-8")
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.chdir(work)
        result = run_cli("train", config, "-q", "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["run_dir"] == "runs/small-moons"
        written = yaml.safe_load((work / "runs" / "small-moons" / "config.yaml").read_text(encoding="utf-8"))
        assert written["output"]["dir"] == "runs/small-moons"
        # a second config gets a run directory of its own, not "already holds a run"
        other = tmp_path / "exp" / "other.yaml"
        other.write_text(TINY_TEXT, encoding="utf-8")
        assert run_cli("train", other, "-q").exit_code == 0
        assert (work / "runs" / "other" / "checkpoints" / "last.npz").is_file()

    def test_the_sweep_directory_follows_the_same_name(self, run_cli, tmp_path, monkeypatch):
        config = tmp_path / "grid.yaml"
        config.write_text(TINY_TEXT, encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        result = run_cli("sweep", config, "--grid", "train.alpha=0.1,0.2", "-q")
        assert result.exit_code == 0, result.stderr
        assert (tmp_path / "runs" / "grid-sweep" / "results.csv").is_file()

    def test_the_reference_config_keeps_its_own_directory(self, root):
        assert config_mod.load(root / "configs" / "testnet.yaml")["output"]["dir"] == "runs/testnet"
        assert config_mod.DEFAULTS["output"]["dir"] is None


class TestDataPaths:
    def test_a_config_in_another_folder_finds_its_data_from_anywhere(self, run_cli, tmp_path, monkeypatch):
        exp = tmp_path / "exp"
        (exp / "data").mkdir(parents=True)
        moons_csv(exp / "data" / "train.csv")
        config = exp / "cfg.yaml"
        config.write_text("data: {source: data/train.csv}\ntrain: {epochs: 4, batch_size: 16}\n", encoding="utf-8")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        result = run_cli("train", config, "-q", "--set", "train.epochs=2")
        assert result.exit_code == 0, result.stderr
        run = elsewhere / "runs" / "cfg"
        written = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
        assert written["data"]["source"] == str(exp / "data" / "train.csv")  # absolute: found from anywhere
        third = tmp_path / "third"
        third.mkdir()
        monkeypatch.chdir(third)
        resumed = run_cli("train", run / "config.yaml", "--out", run, "--resume", "--set", "train.epochs=4", "-q",
                          "--json")  # output.dir is relative to the current directory: --out names the run
        assert resumed.exit_code == 0, resumed.stderr
        assert json.loads(resumed.stdout)["epochs"] == 4
        evaluated = run_cli("eval", run, "--json")
        assert evaluated.exit_code == 0, evaluated.stderr
        assert json.loads(evaluated.stdout)["source"] == str(exp / "data" / "train.csv")

    def test_a_missing_file_is_named_where_it_was_looked_for(self, run_cli, tmp_path, monkeypatch):
        (tmp_path / "exp").mkdir()
        config = tmp_path / "exp" / "cfg.yaml"
        config.write_text("data: {source: gone.csv}\n", encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        result = run_cli("train", config)
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr == f"Error: {tmp_path / 'exp' / 'gone.csv'}: no such data file\n"
        assert not (tmp_path / "runs").exists()

    def test_set_and_eval_data_are_read_from_the_current_directory(self, run_cli, tmp_path, monkeypatch):
        (tmp_path / "exp").mkdir()
        config = tmp_path / "exp" / "cfg.yaml"
        config.write_text(TINY_TEXT, encoding="utf-8")
        moons_csv(tmp_path / "here.csv")
        monkeypatch.chdir(tmp_path)
        result = run_cli("train", config, "--set", "data.source=here.csv", "-q")
        assert result.exit_code == 0, result.stderr
        written = yaml.safe_load((tmp_path / "runs" / "cfg" / "config.yaml").read_text(encoding="utf-8"))
        assert written["data"]["source"] == str(tmp_path / "here.csv")
        evaluated = run_cli("eval", "runs/cfg", "--data", "here.csv", "--json")
        assert evaluated.exit_code == 0, evaluated.stderr
        assert json.loads(evaluated.stdout)["source"] == "here.csv"

    def test_generators_bundled_data_and_absolute_paths_are_not_touched(self, tmp_path):
        for source in ("moons", "iris", str(tmp_path / "x.csv")):
            path = tmp_path / "c.yaml"
            path.write_text(f"data: {{source: '{source}'}}\n", encoding="utf-8")
            assert config_mod.load(path)["data"]["source"] == source

    @pytest.mark.skipif("val_source" not in config_mod.DEFAULTS["data"], reason="no data.val_source key")
    def test_split_files_resolve_like_the_source(self, tmp_path):
        path = tmp_path / "sub" / "c.yaml"
        path.parent.mkdir()
        path.write_text("data: {source: a.csv, val_source: ../b.csv, test_source: c.npz}\n", encoding="utf-8")
        data = config_mod.load(path)["data"]
        assert (data["source"], data["val_source"], data["test_source"]) == \
            (str(tmp_path / "sub" / "a.csv"), str(tmp_path / "b.csv"), str(tmp_path / "sub" / "c.npz"))


def test_the_runs_config_yaml_is_block_style_and_reads_back(run_cli, tiny_config, train_run):
    run = train_run(tiny_config(model={"layers": [2, 4, 2]}))
    text = (run / "config.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert "model:" in lines and "  layers: [2, 4, 2]" in lines and "  alpha: 0.5" in lines
    assert not any("{" in line for line in lines)  # no section squeezed onto one line
    assert all(len(line) < 80 for line in lines)
    assert lines[lines.index("model:") - 1] == ""  # sections set apart, as in configs/testnet.yaml
    reread = config_mod.resolve(yaml.safe_load(text))
    assert reread == config_mod.load(run / "config.yaml")


class TestWhyTrainingEnded:
    def test_all_epochs(self, run_cli, tiny_config, tmp_path):
        result = run_cli("train", tiny_config(), "--out", tmp_path / "run")
        assert result.stdout.splitlines()[-1].startswith("all 3 epochs done, best epoch ")
        summary = json.loads((tmp_path / "run" / "summary.json").read_text())
        assert summary["stopped"] == "epochs" and summary["stopped_reason"] == "reached train.epochs (3)"

    def test_early_stopping(self, run_cli, tiny_config, tmp_path):
        path = tiny_config(train={"epochs": 200, "early_stopping": True, "patience": 2, "min_delta": 0.01})
        result = run_cli("train", path, "--out", tmp_path / "run")
        assert result.exit_code == 0, result.stderr
        summary = json.loads((tmp_path / "run" / "summary.json").read_text())
        assert summary["stopped"] == "early_stopping" and summary["epochs"] < 200
        assert result.stdout.splitlines()[-1].startswith(
            f"early stopping at epoch {summary['epochs']}, best epoch {summary['best_epoch']} restored, ")

    def test_interrupted(self, run_cli, tiny_config, tmp_path, monkeypatch):
        from nnctl.cli import interrupts

        monkeypatch.setattr(interrupts.StopRequest, "__call__", lambda self: True)  # as if Ctrl-C came in epoch 1
        result = run_cli("train", tiny_config(), "--out", tmp_path / "run")
        assert result.exit_code == 130
        assert result.stdout.splitlines()[-1].startswith("interrupted after epoch 1 of 3, best epoch 1, ")
        assert result.stderr.splitlines()[-1].startswith(f"Error: {tmp_path / 'tiny.yaml'}: interrupted after epoch 1")
        assert not (tmp_path / "run" / "summary.json").exists()  # summary.json is for runs that ended
        json_result = run_cli("train", tiny_config(), "--out", tmp_path / "run2", "--json")
        assert json_result.exit_code == 130 and json.loads(json_result.stdout)["stopped"] == "interrupted"

    @pytest.mark.parametrize("extra", [{}, {"early_stopping": True, "patience": 2, "min_delta": 0.01, "epochs": 200}])
    def test_resuming_a_finished_run_has_nothing_to_do_and_changes_nothing(self, run_cli, tiny_config, tmp_path,
                                                                          extra):
        config = tiny_config(train=extra)
        run = tmp_path / "run"
        first = run_cli("train", config, "--out", run, "--json")
        assert first.exit_code == 0, first.stderr
        before = tree_state(run)
        again = run_cli("train", config, "--out", run, "--resume", "--json")
        assert again.exit_code == 0, again.stderr
        assert json.loads(again.stdout) == json.loads(first.stdout) == json.loads((run / "summary.json").read_text())
        assert again.stderr.startswith(f"nnctl: {run}: nothing to do: ")
        assert tree_state(run) == before
        text = run_cli("train", config, "--out", run, "--resume", "-q")
        assert text.exit_code == 0 and text.stderr == ""
        assert text.stdout.splitlines()[-1].split(", ")[0] in ("all 3 epochs done", f"early stopping at epoch "
                                                                                     f"{json.loads(first.stdout)['epochs']}")
        assert tree_state(run) == before

    def test_a_finished_run_killed_before_its_summary_gets_one(self, run_cli, tiny_config, tmp_path):
        run = tmp_path / "run"
        assert run_cli("train", tiny_config(), "--out", run, "-q").exit_code == 0
        summary = (run / "summary.json").read_text()
        (run / "summary.json").unlink()
        assert run_cli("train", tiny_config(), "--out", run, "--resume", "-q").exit_code == 0
        assert json.loads((run / "summary.json").read_text()) == json.loads(summary)


def test_a_missing_eval_data_file_says_where_it_was_looked_for(run_cli, tiny_config, train_run):
    run = train_run(tiny_config())
    result = run_cli("eval", run, "--data", "nowhere.csv")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == ("Error: nowhere.csv: no such data file (read from the current directory; "
                                              "a config's own data paths are read from its folder)")


@pytest.mark.parametrize("text", ["/data/x y/ü: weird.csv", "/data/line\nbreak.csv", "/data/yes.csv", "/data/'q\".csv"])
def test_dump_keeps_one_key_a_line_whatever_the_text(text):
    resolved = config_mod.resolve({"data": {"source": text, "drop": ["id", "a\nb", "no", 3]}})
    dumped = config_mod.dump(resolved)
    assert yaml.safe_load(dumped) == resolved
    sections = sum(isinstance(v, dict) for v in config_mod.DEFAULTS.values())
    assert len(dumped.splitlines()) == len(config_mod.SCHEMA) + 2 * sections  # each key, a header and blank line a section
