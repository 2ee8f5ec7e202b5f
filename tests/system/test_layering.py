"""The package's layers, checked by reading its imports (so the layering cannot rot).

- ``model/`` is the math: NumPy only (one BLAS library, NumPy's: see tests/cli/test_threads.py); nothing from ``data/``, ``training/``, ``cli/``,
  the config, YAML or click.
- ``data/`` never imports ``training/`` or ``cli/``.
- Only ``cli/`` imports click.
- Only ``training/rundir.py`` and ``training/checkpoint.py`` build paths of the run directory's files.
- Every reader of a checkpoint outside ``training/`` goes through ``TrainedModel.open``; every use of the
  scaler's arrays outside ``data/`` goes through the ``Preprocessor``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "nnctl"
MODULES = sorted(PACKAGE.rglob("*.py"))


def name_of(path):
    return ".".join(("nnctl", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def imports(path, module=None):
    """Every module ``path`` imports, absolute (``from ..data import x`` in nnctl.model.y → nnctl.data.x)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = module or name_of(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def in_folder(path, folder):
    return path.relative_to(PACKAGE).parts[0] == folder


def offending(path, prefixes, module=None):
    return sorted(m for m in imports(path, module) if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_the_package_has_the_layers():
    folders = {p.relative_to(PACKAGE).parts[0] for p in MODULES if len(p.relative_to(PACKAGE).parts) > 1}
    assert folders == {"model", "data", "training", "explain", "cli"}


@pytest.mark.parametrize("path", [p for p in MODULES if in_folder(p, "model")], ids=name_of)
def test_model_is_numpy_only(path):
    assert offending(path, ["nnctl.data", "nnctl.training", "nnctl.cli", "nnctl.config", "nnctl.explain",
                            "yaml", "click", "sklearn", "scipy", "matplotlib"]) == []


@pytest.mark.parametrize("path", [p for p in MODULES if in_folder(p, "data")], ids=name_of)
def test_data_never_imports_training_or_the_cli(path):
    assert offending(path, ["nnctl.training", "nnctl.cli", "nnctl.config", "click"]) == []


@pytest.mark.parametrize("path", [p for p in MODULES if not in_folder(p, "cli") and p.name != "__main__.py"],
                         ids=name_of)
def test_only_the_cli_imports_click(path):
    assert offending(path, ["click", "nnctl.cli"]) == []


RUN_FILES = re.compile(r'/\s*"(config\.yaml|metrics\.jsonl|summary\.json|checkpoints|last\.npz|best\.npz|tensorboard)"')


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_only_rundir_and_checkpoint_know_the_run_directory_layout(path):
    if name_of(path) in ("nnctl.training.rundir", "nnctl.training.checkpoint"):
        return
    assert RUN_FILES.findall(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", [p for p in MODULES if not in_folder(p, "training")], ids=name_of)
def test_checkpoints_are_opened_only_through_trained_model(path):
    text = path.read_text(encoding="utf-8")
    assert "checkpoint.load(" not in text
    assert offending(path, ["nnctl.training.checkpoint.load"]) == []


@pytest.mark.parametrize("path", [p for p in MODULES if not in_folder(p, "data")], ids=name_of)
def test_raw_input_is_preprocessed_only_by_the_preprocessor(path):
    text = path.read_text(encoding="utf-8")
    assert offending(path, ["nnctl.data.preprocess.apply", "nnctl.data.preprocess.fit"]) == []
    assert not re.search(r"(scaler|preprocess|scaling)\.apply\(", text)
    assert not re.search(r'\["input_scale"\]\s*[*/]|[*/]=?\s*[\w.]*\["input_scale"\]', text)


def test_the_checks_can_fail(tmp_path):
    """A module that breaks the rules is caught: relative and absolute imports alike, and a layout path."""
    bad = tmp_path / "fake.py"
    bad.write_text("import click\nfrom ..training import loop\nfrom nnctl.cli.options import emit\n"
                   "def f(run):\n    return run / \"metrics.jsonl\"\n")
    assert offending(bad, ["nnctl.training", "nnctl.cli", "click"], module="nnctl.model.fake") == [
        "click", "nnctl.cli.options", "nnctl.cli.options.emit", "nnctl.training", "nnctl.training.loop"]
    assert RUN_FILES.findall(bad.read_text()) == ["metrics.jsonl"]
