"""What `eval --data` and `predict` accept from users' own files, and how they refuse the rest."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture
def moons_ckpt(tiny_config, train_run):
    """A checkpoint of a moons run: features x1, x2, classes "0" and "1"."""
    return train_run(tiny_config()) / "checkpoints" / "last.npz"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


class TestEvalOnAnotherSource:
    def test_all_rows_by_default_even_few_and_of_one_class(self, run_cli, moons_ckpt, tmp_path):
        # Three rows of a single class: no split is possible or wanted; the network's classes fix the coding.
        csv = write(tmp_path / "three.csv", "x1,x2,label\n0.0,1.0,0\n-1.0,0.2,0\n-0.9,0.3,0\n")
        result = run_cli("eval", moons_ckpt, "--data", csv, "--json")
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["split"] == "all" and report["samples"] == 3
        assert [c["support"] for c in report["per_class"]] == [3, 0]
        assert sum(map(sum, report["confusion_matrix"])) == 3

    def test_a_split_of_another_source_on_request(self, run_cli, moons_ckpt, root):
        result = run_cli("eval", moons_ckpt, "--data", root / "data" / "moons.csv", "--split", "test", "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["samples"] == 60  # 20 % of 300 rows

    def test_another_number_of_features_is_one_error_line(self, run_cli, moons_ckpt, tmp_path):
        csv = write(tmp_path / "wide.csv", "a,b,c,label\n1,2,3,0\n4,5,6,1\n")
        result = run_cli("eval", moons_ckpt, "--data", csv)
        assert result.exit_code == 2
        assert result.stderr == (f"Error: {csv}: the header names none of the network's columns (x1, x2); "
                                 "name them, or give the rows without a header\n")
        npz = tmp_path / "wide.npz"
        np.savez(npz, X=np.ones((4, 3)), y=np.array([0, 1, 0, 1]))
        result = run_cli("eval", moons_ckpt, "--data", npz)
        assert result.exit_code == 2
        assert result.stderr == f"Error: {moons_ckpt}: the network takes 2 features, but {npz} has 3\n"

    @pytest.mark.parametrize("header, message", [
        ("a,x1", "the header lacks column 'x2'; it must name every one of the network's columns (x1, x2)"),
        (",x1", "the header lacks column 'x2'; it must name every one of the network's columns (x1, x2)"),
        ("X2,X1", "the header lacks column 'x1' ('X2' is not 'x2': names are case-sensitive); it must name every "
                  "one of the network's columns (x1, x2)"),
        ("x1,x1", "column 'x1' appears more than once in the header"),
        ("NA,NB", "the header names none of the network's columns (x1, x2); name them, or give the rows without "
                  "a header"),
    ])
    def test_a_header_that_does_not_name_every_column_is_refused(self, run_cli, moons_ckpt, tmp_path, header,
                                                                  message):
        """Never by position: a header naming some columns, or none, could feed one feature in as another."""
        result = run_cli("predict", moons_ckpt, input=f"{header}\n0.7,0.1\n1.5,-0.3\n")
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr == f"Error: <stdin>: {message}\n"
        csv = write(tmp_path / "partial.csv", f"{header},label\n0.7,0.1,0\n1.5,-0.3,1\n")
        result = run_cli("eval", moons_ckpt, "--data", csv)
        assert result.exit_code == 2
        assert result.stderr.startswith(f"Error: {csv}: ") and result.stderr.count("\n") == 1

    def test_a_path_is_taken_as_it_is_not_as_yaml(self, run_cli, moons_ckpt, tmp_path):
        csv = write(tmp_path / "moons #1: copy.csv", "x1,x2,label\n0.0,1.0,0\n1.0,-0.5,1\n")
        result = run_cli("eval", moons_ckpt, "--data", csv, "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["source"] == str(csv)


class TestPredictInput:
    def test_a_bad_first_row_is_an_error_not_a_header(self, run_cli, moons_ckpt):
        result = run_cli("predict", moons_ckpt, input="0.5,abc\n0.1,0.2\n")
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr == "Error: <stdin>: line 1, column 'x2': not a number: 'abc'\n"

    def test_a_blank_row_between_rows_is_an_error_trailing_ones_are_not(self, run_cli, moons_ckpt):
        result = run_cli("predict", moons_ckpt, input="0.5,0.1\n\n0.1,0.2\n")
        assert result.exit_code == 2
        assert "line 2: empty row" in result.stderr
        result = run_cli("predict", moons_ckpt, input="0.5,0.1\n0.1,0.2\n\n\n")
        assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2

    def test_named_columns_are_picked_by_the_training_feature_names(self, run_cli, moons_ckpt):
        straight = run_cli("predict", moons_ckpt, "--proba", input="x1,x2\n0.1,0.5\n-0.8,0.9\n").stdout
        swapped = run_cli("predict", moons_ckpt, "--proba", input="x2,label,x1\n0.5,1,0.1\n0.9,0,-0.8\n").stdout
        assert swapped == straight and len(straight.splitlines()) == 3

    def test_the_training_csv_itself_can_be_piped_in(self, run_cli, tiny_config, train_run, root):
        # data/iris.csv's label column is its last one, 'species', not a column named 'label'.
        iris = root / "data" / "iris.csv"
        config = tiny_config(data={"source": str(iris)}, model={"layers": [4, 5, 3]})
        ckpt = train_run(config) / "checkpoints" / "last.npz"
        rows = iris.read_text(encoding="utf-8").splitlines()[:4]
        result = run_cli("predict", ckpt, input="\n".join(rows) + "\n")
        assert result.exit_code == 0, result.stderr
        assert len(result.stdout.splitlines()) == 3
        assert set(result.stdout.split()) <= {"setosa", "versicolor", "virginica"}


def swap_columns(text, order):
    """CSV ``text`` with its columns in ``order`` (indices of the original columns)."""
    return "".join(",".join(row.split(",")[i] for i in order) + "\n" for row in text.splitlines())


class TestColumnsByName:
    """eval --data and predict read a file's columns by the names the network was trained on, alike."""

    def test_eval_on_swapped_columns_equals_eval_on_the_file(self, run_cli, moons_ckpt, root, tmp_path):
        text = (root / "data" / "moons.csv").read_text(encoding="utf-8")  # x1,x2,label
        swapped = write(tmp_path / "swapped.csv", swap_columns(text, [1, 2, 0]))  # x2,label,x1
        with_id = write(tmp_path / "with_id.csv", "id," + swap_columns(text, [1, 0, 2]).replace("\n", "\n0,")[:-2])
        reports = [json.loads(run_cli("eval", moons_ckpt, "--data", path, "--json").stdout)
                   for path in (root / "data" / "moons.csv", swapped, with_id)]
        for report in reports[1:]:
            assert report["accuracy"] == reports[0]["accuracy"] and report["loss"] == reports[0]["loss"]
            assert report["confusion_matrix"] == reports[0]["confusion_matrix"]
        assert reports[0]["samples"] == 300

    def test_eval_and_predict_give_the_same_answers_on_the_same_file(self, run_cli, moons_ckpt, root, tmp_path):
        text = (root / "data" / "moons.csv").read_text(encoding="utf-8")
        swapped = write(tmp_path / "swapped.csv", swap_columns(text, [2, 1, 0]))  # label,x2,x1
        predicted = run_cli("predict", moons_ckpt, swapped).stdout.split()
        labels = [row.split(",")[0] for row in swapped.read_text().splitlines()[1:]]
        report = json.loads(run_cli("eval", moons_ckpt, "--data", swapped, "--json").stdout)
        correct = sum(p == t for p, t in zip(predicted, labels))
        assert len(predicted) == 300 and report["accuracy"] == correct / 300

    def test_a_row_of_another_width_than_the_header_is_refused_with_its_line(self, run_cli, moons_ckpt):
        result = run_cli("predict", moons_ckpt, input="x2,x1,label\n0.5,0.1,1\n0.9,-0.8\n")
        assert result.exit_code == 2
        assert result.stderr == "Error: <stdin>: line 3: expected 3 cells as in the header, got 2\n"

    def test_a_header_naming_a_column_twice_is_refused(self, run_cli, moons_ckpt, tmp_path):
        result = run_cli("predict", moons_ckpt, input="x1,x2,x1\n0.5,0.1,1\n")
        assert result.exit_code == 2
        assert result.stderr == "Error: <stdin>: column 'x1' appears more than once in the header\n"
        twice = write(tmp_path / "twice.csv", "x2,x1,x2,label\n0.5,0.1,0.3,1\n0.9,-0.8,0.2,0\n")
        result = run_cli("eval", moons_ckpt, "--data", twice)
        assert result.exit_code == 2
        assert result.stderr == f"Error: {twice}: line 1: column 'x2' appears more than once in the header\n"


def test_nnctl_alone_prints_the_help_and_succeeds(run_cli):
    result = run_cli()
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: nnctl") and "train" in result.stdout and result.stderr == ""


def test_proba_header_is_valid_csv_for_any_class_names(run_cli, tiny_config, train_run, tmp_path):
    import csv
    import io

    names = ['"yes, sir"', '"no ""way"""']  # as CSV cells
    rows = "".join(f"{i % 7 / 7},{i % 5 / 5},{names[i % 2]}\n" for i in range(60))
    data = write(tmp_path / "odd.csv", "x1,x2,label\n" + rows)
    ckpt = train_run(tiny_config(data={"source": str(data)})) / "checkpoints" / "last.npz"
    result = run_cli("predict", ckpt, "--proba", input="0.1,0.2\n")
    assert result.exit_code == 0, result.stderr
    parsed = list(csv.reader(io.StringIO(result.stdout)))
    assert parsed[0] == ['no "way"', "yes, sir"] and len(parsed[1]) == 2


def test_empty_out_and_resume_with_force_are_usage_errors(run_cli, tiny_config):
    result = run_cli("train", tiny_config(), "--out", "")
    assert result.exit_code == 2 and "'--out': must not be empty" in result.stderr
    result = run_cli("train", tiny_config(), "--resume", "--force")
    assert result.exit_code == 2 and "contradict" in result.stderr


def test_plot_needs_an_image_file_name(run_cli, tiny_config, train_run, tmp_path):
    run = train_run(tiny_config())
    result = run_cli("plot", run, "--out", tmp_path / "curves.foo")
    assert result.exit_code == 2 and result.stderr.startswith("Error: ") and "image type" in result.stderr
    assert not (tmp_path / "curves.foo").exists()
    result = run_cli("plot", run, "--out", tmp_path / "curves.svg")
    assert result.exit_code == 0 and (tmp_path / "curves.svg").stat().st_size > 0


@pytest.mark.parametrize("content, problem", [
    (b"x1,x2,label\n1,2,0\n", "not an .npz archive"),
])
def test_an_npz_source_that_is_not_an_archive(run_cli, tiny_config, tmp_path, content, problem):
    path = tmp_path / "fake.npz"
    path.write_bytes(content)
    result = run_cli("train", tiny_config(data={"source": str(path)}), "--out", tmp_path / "run")
    assert result.exit_code == 2 and problem in result.stderr


def test_a_complex_valued_npz_is_refused(run_cli, tiny_config, tmp_path):
    import numpy as np

    path = tmp_path / "complex.npz"
    np.savez(path, X=np.ones((20, 2)) * (1 + 2j), y=np.arange(20) % 2)
    result = run_cli("train", tiny_config(data={"source": str(path)}), "--out", tmp_path / "run")
    assert result.exit_code == 2 and "X must hold real numbers, got dtype complex128" in result.stderr


def test_explain_refuses_an_input_that_overflows_the_scaling(run_cli, moons_ckpt):
    result = run_cli("explain", moons_ckpt, "--x", "1.79e308,1.79e308", "--y", "1")  # ÷ a scale below 1
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "Error: --x 1.79e308,1.79e308: overflows after the network's input scaling\n"


class TestPredictStreams:
    def test_answers_arrive_before_the_input_ends(self, moons_ckpt):
        from nnctl.predict import predict_lines

        def endless():
            while True:
                yield "0.5,0.1\n"

        class Enough(Exception):
            pass

        got = []

        def write(text):
            got.append(text)
            raise Enough

        with pytest.raises(Enough):
            predict_lines(moons_ckpt, endless(), "<stdin>", False, write, chunk=100)
        assert got[0].count("\n") == 100

    def test_chunks_keep_the_header_the_line_numbers_and_the_blank_row_rule(self, moons_ckpt):
        import io

        from nnctl.errors import DataError
        from nnctl.predict import predict_lines, predict_text

        rows = [f"{i / 10},{-i / 20}" for i in range(10)]
        whole = predict_text(moons_ckpt, "x2,x1\n" + "\n".join(rows) + "\n", "t", proba=True)
        parts = []
        predict_lines(moons_ckpt, io.StringIO("x2,x1\n" + "\n".join(rows) + "\n"), "t", True, parts.append, chunk=3)
        assert "".join(parts) == whole and len(parts) == 4 and whole.count("\n") == 11
        with pytest.raises(DataError, match=r"^t: line 5, column 'x1': not a number: 'oops'$"):
            predict_lines(moons_ckpt, io.StringIO("1,2\n3,4\n5,6\n7,8\noops,oops\n"), "t", False, parts.append, chunk=3)
        with pytest.raises(DataError, match=r"^t: line 4: empty row"):
            predict_lines(moons_ckpt, io.StringIO("1,2\n3,4\n5,6\n\n7,8\n"), "t", False, parts.append, chunk=3)


class TestPredictOnLiveInput:
    """predict from a pipe as a shell gives one: bounded memory, answers as the rows arrive."""

    def start(self, ckpt):
        return subprocess.Popen([sys.executable, "-m", "nnctl", "predict", str(ckpt)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def test_what_has_arrived_is_answered_when_the_input_pauses(self, moons_ckpt):
        proc = self.start(moons_ckpt)
        proc.stdin.write(b"0.1,0.2\n0.3,0.4\n")
        proc.stdin.flush()  # and then nothing, with the pipe still open: `tail -f log.csv | nnctl predict`
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        if not ready:
            proc.kill()
        assert ready, "no answer while the input pauses"
        answers = [proc.stdout.readline() for _ in range(2)]
        assert all(a.strip() in (b"0", b"1") for a in answers)
        proc.stdin.write(b"0.5,0.6\n")
        proc.stdin.close()
        assert proc.stdout.read().strip() in (b"0", b"1") and proc.wait(timeout=60) == 0

    def test_a_line_that_never_ends_is_refused_in_bounded_memory(self, moons_ckpt):
        proc = self.start(moons_ckpt)
        try:  # `tr '\0' 7 </dev/zero | nnctl predict`: feed until nnctl gives up, at most 64 MB
            for _ in range(1024):
                proc.stdin.write(b"7" * 65536)
        except BrokenPipeError:
            pass
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 2 and proc.stdout.read() == b""
        assert stderr == "Error: <stdin>: line 1: longer than 65,536 characters; no row this network reads is\n"

    def test_a_wide_row_is_refused_as_soon_as_it_is_read(self, moons_ckpt):
        proc = self.start(moons_ckpt)
        proc.stdin.write(b"0.1,0.2\n" + b",".join([b"1"] * 1000) + b"\n")
        proc.stdin.flush()  # the pipe stays open: the refusal must not wait for more rows or a full chunk
        assert proc.wait(timeout=60) == 2
        assert proc.stderr.read() == b"Error: <stdin>: line 2: expected 2 cells as in the first row, got 1000\n"
        proc.stdin.close()


def test_train_json_reports_a_divergence_on_stdout(run_cli, tiny_config, tmp_path):
    config = tiny_config(train={"alpha": 1e6, "epochs": 8}, model={"activation": "relu"},
                         data={"input_scale": 1000.0, "scaler": "none"})
    result = run_cli("train", config, "--out", tmp_path / "run", "--json", "-q")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["stopped_reason"] == "diverged" and report == json.loads((tmp_path / "run" / "summary.json").read_text())
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_messages_say_what_to_do(run_cli, tiny_config, train_run, moons_ckpt):
    result = run_cli("predict", moons_ckpt, input="0.1,0.2\n0.3\n")
    assert result.stderr == "Error: <stdin>: line 2: expected 2 cells as in the first row, got 1\n"
    ckpt = train_run(tiny_config(data={"val_fraction": 0.0})) / "checkpoints" / "last.npz"
    result = run_cli("eval", ckpt, "--split", "val")
    assert result.exit_code == 2
    assert result.stderr.endswith("is empty (data.val_fraction is 0.0; use --split train or all)\n")


class TestStdout:
    """stdout as a shell gives it: a reader that goes away, a full disk, a closed stream."""

    def run(self, args, **kwargs):
        return subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], capture_output=True, text=True,
                              timeout=120, **kwargs)

    def test_a_reader_that_goes_away_is_not_an_error(self, moons_ckpt, tmp_path):
        rows = tmp_path / "rows.csv"
        rows.write_text("0.5,0.1\n" * 200_000)
        proc = subprocess.Popen([sys.executable, "-m", "nnctl", "predict", str(moons_ckpt), str(rows)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = proc.stdout.readline()  # `| head -1`
        proc.stdout.close()
        stderr = proc.stderr.read()
        assert proc.wait(timeout=120) == 0 and first.strip() in (b"0", b"1")
        assert stderr == b""

    @pytest.mark.parametrize("command", [["predict", "{ckpt}", "{rows}"], ["eval", "{ckpt}"], ["eval", "{ckpt}", "--json"]])
    def test_a_full_disk_is_one_error_line(self, moons_ckpt, tmp_path, command):
        rows = tmp_path / "rows.csv"
        rows.write_text("0.5,0.1\n")
        args = [a.format(ckpt=moons_ckpt, rows=rows) for a in command]
        with open("/dev/full", "w") as full:
            proc = subprocess.run([sys.executable, "-m", "nnctl", *args], stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=120)
        assert proc.returncode == 2
        assert proc.stderr == "Error: stdout: cannot write: No space left on device\n"

    def test_a_closed_stdout_is_one_error_line(self, moons_ckpt):
        proc = subprocess.run([sys.executable, "-m", "nnctl", "eval", str(moons_ckpt)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=120,
                              preexec_fn=lambda: os.close(1))
        assert proc.returncode == 2
        assert proc.stderr.startswith("Error: stdout: cannot write: ") and proc.stderr.count("\n") == 1


def test_an_error_is_one_line_whatever_the_path_holds(run_cli, tiny_config, tmp_path):
    folder = tmp_path / "new\nline \x1b[31mred"
    folder.mkdir()
    config = folder / "c.yaml"
    config.write_text(tiny_config().read_text())
    result = run_cli("train", config, "--set", "model.layers=[3,3,2]")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "new\\nline \\x1b[31mred" in result.stderr
    result = run_cli("train", config, "--set", "model.layers=[2," + "9" * 500 + ",2]")
    assert result.exit_code == 2 and len(result.stderr) < 400 and "…" in result.stderr


def test_help_to_a_full_disk_is_one_error_line():
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "nnctl", "--help"], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr == "Error: stdout: cannot write: No space left on device\n"


def test_a_float32_network_refuses_rows_that_overflow_float32(run_cli, tiny_config, train_run, tmp_path):
    ckpt = train_run(tiny_config(model={"dtype": "float32"})) / "checkpoints" / "last.npz"
    result = run_cli("predict", ckpt, "--proba", input="0.5,0.1\n3e38,3e38\n")
    assert result.exit_code == 2
    assert result.stderr == "Error: <stdin>: data row 2 overflows after the network's input scaling\n"
    rows = write(tmp_path / "huge.csv", "x1,x2,label\n3e38,3e38,1\n0.1,0.1,0\n")
    result = run_cli("eval", ckpt, "--data", rows)
    assert result.exit_code == 2 and "overflows the network's float32" in result.stderr
