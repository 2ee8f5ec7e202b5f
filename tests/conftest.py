"""Shared fixtures: the repository root, a CliRunner helper, a small config writer and a small training run.

Keep each fixture small and general; tests specific to one module keep their helpers in their own file.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nnctl.cli import cli

ROOT = Path(__file__).resolve().parents[1]

# Small enough that a CLI run takes well under a second; every other key keeps its default.
TINY = {
    "data": {"source": "moons", "n_samples": 120},
    "train": {"epochs": 3, "batch_size": 16},
}


def _runner():
    try:
        return CliRunner(mix_stderr=False)  # click 8.1 mixes stderr into stdout unless told
    except TypeError:
        return CliRunner()  # click ≥ 8.2 keeps result.stderr apart from result.stdout


@pytest.fixture
def root():
    """The repository root, for ``configs/…`` and ``data/…`` paths."""
    return ROOT


@pytest.fixture
def run_cli():
    """``run_cli("gradcheck", path, "--json")`` → click's ``Result`` (``exit_code``, ``stdout``, ``stderr``).

    Arguments may be paths. An exception that escapes the command (which the user would see as a
    traceback) is raised here instead of being hidden in the result.
    """
    def run(*args, input=None):
        result = _runner().invoke(cli, [str(a) for a in args], input=input, prog_name="nnctl")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


def merge(base, overrides):
    """``base`` with ``overrides`` laid over it, section by section (nested dicts merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def tiny_config(tmp_path):
    """``tiny_config(model={"layers": [2, 5, 2]}, seed=3)`` → path of a YAML config in ``tmp_path``.

    The config is ``TINY`` (small data, few epochs) with the overrides merged in, and ``output.dir``
    under ``tmp_path``. ``name=`` picks the file name, so one test can write several.
    """
    def make(name="tiny.yaml", **overrides):
        config = merge(merge(TINY, {"output": {"dir": str(tmp_path / "run")}}), overrides)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    return make


@pytest.fixture
def train_run(run_cli, tmp_path):
    """``train_run(config_path, "--set", "train.epochs=0")`` → the run directory, trained quietly into ``tmp_path``."""
    count = 0

    def train(config_path, *args):
        nonlocal count
        count += 1
        out = tmp_path / f"trained-{count}"
        result = run_cli("train", config_path, "--out", out, "-q", *args)
        assert result.exit_code == 0, result.stderr
        return out

    return train
