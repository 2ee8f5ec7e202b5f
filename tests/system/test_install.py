"""`pip install .` into a fresh virtual environment, then `nnctl train` of a config and CSV of the user's own,
in a folder outside the checkout (README "Install", docs/testing.md).

Honest and offline: pip installs from a copy of the checkout's sources with the build backend the project
declares, as `pip install .` does, into a new venv; only the dependencies are not downloaded but taken
from the environment running the tests, through a `.pth` file (``--no-deps``). Nothing is built or
written inside the checkout.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEPENDENCIES = ("numpy", "click", "yaml", "sklearn", "tqdm", "matplotlib")

CONFIG = """\
model:
  layers: [2, 6, 3]
data:
  source: points.csv
train:
  epochs: 5
  batch_size: 16
output:
  dir: runs/mine
"""


def run(args, cwd, env):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def dependency_folders():
    """The folders the dependencies are imported from in the environment running the tests."""
    import importlib

    return sorted({str(Path(importlib.import_module(name).__file__).resolve().parents[1]) for name in DEPENDENCIES})


def write_points(path, rows=240):
    """Three noisy clusters in the plane, label column last: a user's own small CSV."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=rows)
    centres = np.array([[0.0, 0.0], [3.0, 0.5], [1.0, 3.0]])
    X = centres[y] + rng.normal(scale=0.6, size=(rows, 2))
    lines = ["x1,x2,label"] + [f"{a:.4f},{b:.4f},{c}" for (a, b), c in zip(X, y)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_pip_install_then_train_a_config_of_ones_own_outside_the_checkout(tmp_path):
    # the sources as a user has them, minus anything built: pip builds in the folder it is given
    source = tmp_path / "checkout"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "nnctl", source / "nnctl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, os.environ)
    python = venv / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                  os.environ).stdout.strip()
    # pip, setuptools and the dependencies, from the environment running the tests (after the venv's own)
    tools = {str(Path(sysconfig.get_paths()["purelib"]).resolve())}
    Path(purelib, "zz_test_dependencies.pth").write_text("\n".join(sorted(tools | set(dependency_folders()))) + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation", source],
        tmp_path, env)

    project = tmp_path / "experiment"
    project.mkdir()
    (project / "mine.yaml").write_text(CONFIG, encoding="utf-8")
    write_points(project / "points.csv")

    where = run([python, "-c", "import nnctl; print(nnctl.__file__)"], project, env).stdout.strip()
    assert Path(where).resolve().is_relative_to(Path(purelib).resolve()), where  # the installed copy, not the checkout

    result = run([venv / "bin" / "nnctl", "train", "mine.yaml", "--json"], project, env)
    assert '"epochs": 5' in result.stdout
    out = project / "runs" / "mine"
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints/last.npz", "checkpoints/best.npz"):
        assert (out / name).is_file(), name
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 5
    evaluated = run([venv / "bin" / "nnctl", "eval", out / "checkpoints" / "last.npz"], project, env)
    assert "accuracy" in evaluated.stdout
