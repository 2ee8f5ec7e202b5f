"""The bad-input corpus (tests/corpus/cases.yaml): every broken file gets exit 2, one exact ``Error:`` line
naming the file and the problem, no traceback, nothing on stdout, and no file in the tree changes."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nnctl.cli import cli

CORPUS = Path(__file__).parent / "corpus"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))


def tree_state(root):
    """Every path under ``root`` with its mode and, for files, the SHA-256 of its bytes."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            state[str(path.relative_to(root))] = (st.st_mode, digest)
    return state


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    work = tmp_path / "corpus"
    shutil.copytree(CORPUS, work)
    monkeypatch.chdir(work)
    return work


def expected_line(case):
    """The case's ``Error:`` line, ``{cwd}`` replaced by the working directory (the corpus copy)."""
    text = case["error"] if "error" in case else case["error_starts"]
    return f"Error: {text}".replace("{cwd}", os.getcwd())


def check_output(case, exit_code, stdout, stderr):
    assert exit_code == case["exit"], stderr
    assert stdout == ""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines == errors, stderr  # stderr is the one Error line, nothing beside it
    if "error" in case:
        assert errors[0] == expected_line(case)
    else:
        assert errors[0].startswith(expected_line(case))


def test_cases_are_unique_and_files_exist():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))
    names = {p.name for p in CORPUS.iterdir()}
    for case in CASES:
        for arg in case["args"][1:]:
            if arg.endswith((".yaml", ".csv", ".npz")) and arg.split("=")[0] == arg:
                assert arg in names, f"{case['id']}: {arg} is not in tests/corpus"


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_corpus_case(case, corpus):
    before = tree_state(corpus)
    result = CliRunner().invoke(cli, case["args"], catch_exceptions=True, prog_name="nnctl")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    check_output(case, result.exit_code, result.stdout, result.stderr)
    assert tree_state(corpus) == before


SUBPROCESS_IDS = ("malformed_yaml", "ckpt_flipped_byte", "output_dir_under_a_file")


@pytest.mark.parametrize("case_id", SUBPROCESS_IDS)
def test_corpus_case_in_a_real_process(case_id, corpus):
    """The same contract from outside: a real interpreter, real exit status, real stderr."""
    case = next(c for c in CASES if c["id"] == case_id)
    before = tree_state(corpus)
    proc = subprocess.run([sys.executable, "-m", "nnctl", *case["args"]], capture_output=True, text=True,
                          timeout=120)
    check_output(case, proc.returncode, proc.stdout, proc.stderr)
    assert tree_state(corpus) == before
