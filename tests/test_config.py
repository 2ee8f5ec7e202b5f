"""Config files and ``--set``: defaults, validation of every key, and the one-line errors of the CLI."""
from __future__ import annotations

import copy

import pytest
import yaml

from nnctl import config
from nnctl.config import DEFAULTS, SCHEMA
from nnctl.errors import ConfigError


def leaf_keys(mapping, prefix=""):
    for key, value in mapping.items():
        if isinstance(value, dict):
            yield from leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def nested(dotted, value):
    """``nested("train.alpha", 0.1)`` → ``{"train": {"alpha": 0.1}}``."""
    *parents, last = dotted.split(".")
    out = {last: value}
    for part in reversed(parents):
        out = {part: out}
    return out


def assert_one_error_line(result, expected):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr == expected + "\n"
    assert result.stdout == ""


class TestDefaults:
    def test_testnet_yaml_spells_out_exactly_the_defaults(self, root):
        path = root / "configs" / "testnet.yaml"
        spelled = copy.deepcopy(DEFAULTS)
        spelled["output"]["dir"] = "runs/testnet"  # the one key whose default depends on the file's name
        assert yaml.safe_load(path.read_text(encoding="utf-8")) == spelled  # every key, with its default
        assert config.load(path) == spelled

    def test_schema_checks_every_key_and_accepts_every_default(self):
        assert set(SCHEMA) == set(leaf_keys(DEFAULTS))
        for key, check in SCHEMA.items():
            assert check(config.get(DEFAULTS, key)) == config.get(DEFAULTS, key), key

    def test_missing_keys_are_filled(self, tiny_config):
        resolved = config.load(tiny_config())
        for key in leaf_keys(DEFAULTS):
            if key not in ("data.source", "data.n_samples", "train.epochs", "train.batch_size", "output.dir"):
                assert config.get(resolved, key) == config.get(DEFAULTS, key), key
        assert resolved["data"]["n_samples"] == 120 and resolved["train"]["epochs"] == 3

    @pytest.mark.parametrize("text", ["", "# only a comment\n", "model:\n  # layers: [2, 8, 2]\n"])
    def test_empty_file_or_section_means_the_defaults(self, tmp_path, text):
        path = tmp_path / "empty.yaml"
        path.write_text(text, encoding="utf-8")
        assert config.load(path) == {**DEFAULTS, "output": {**DEFAULTS["output"], "dir": "runs/empty"}}

    def test_loading_does_not_change_the_defaults(self, tiny_config):
        before = copy.deepcopy(DEFAULTS)
        resolved = config.load(tiny_config(model={"layers": [2, 9, 2]}), ["train.alpha=0.2"])
        resolved["model"]["layers"].append(5)
        assert DEFAULTS == before

    def test_numbers_are_normalised(self, tiny_config):
        resolved = config.load(tiny_config(train={"alpha": 1, "lambda": 0}, data={"noise": 1e-3}))
        assert resolved["train"]["alpha"] == 1.0 and isinstance(resolved["train"]["alpha"], float)
        assert isinstance(resolved["train"]["lambda"], float)

    @pytest.mark.parametrize("text, value", [("1e-3", 0.001), ("2.5E-4", 0.00025), ("1.0e-3", 0.001), (".5", 0.5)])
    def test_scientific_notation_is_a_number(self, tmp_path, text, value):
        path = tmp_path / "sci.yaml"
        path.write_text(f"train:\n  lambda: {text}\n", encoding="utf-8")
        assert config.load(path)["train"]["lambda"] == value

    def test_dump_reads_back(self, tiny_config):
        resolved = config.load(tiny_config(), ["train.lambda=1e-5", "model.layers=[2, 4, 4, 2]"])
        assert config.resolve(yaml.safe_load(config.dump(resolved))) == resolved
        assert list(yaml.safe_load(config.dump(resolved))) == list(DEFAULTS)  # keys in DEFAULTS order


# (dotted key, bad value, the message after "<file>: ")
BAD_VALUES = [
    ("seed", -1, "seed: must be an integer ≥ 0, got -1"),
    ("seed", 1.5, "seed: must be an integer, got 1.5"),
    ("seed", "zero", "seed: must be an integer, got 'zero'"),
    ("seed", True, "seed: must be an integer, got True"),
    ("model.layers", [2, -3, 2], "model.layers[1]: must be a positive integer, got -3"),
    ("model.layers", [2, 0, 2], "model.layers[1]: must be a positive integer, got 0"),
    ("model.layers", [2, 3.5, 2], "model.layers[1]: must be a positive integer, got 3.5"),
    ("model.layers", ["2", 3, 2], "model.layers[0]: must be a positive integer, got '2'"),
    ("model.layers", [2, 3, 1], "model.layers[2]: the output layer needs at least 2 classes, got 1"),
    ("model.layers", [2], "model.layers: must be a list of at least 2 positive integers [n0, …, nL], got a list"),
    ("model.layers", "2,3,2", "model.layers: must be a list of at least 2 positive integers [n0, …, nL], got '2,3,2'"),
    ("model.activation", "softplus", "model.activation: must be one of sigmoid, tanh, relu, got 'softplus'"),
    ("model.activation", "Sigmoid", "model.activation: must be one of sigmoid, tanh, relu, got 'Sigmoid'"),
    ("model.init", "zeros", "model.init: must be one of xavier, he, normal, got 'zeros'"),
    ("model.dtype", "float16", "model.dtype: must be one of float64, float32, got 'float16'"),
    ("data.source", "mnist", "data.source: must be a generator (moons, circles, blobs, xor, spiral), a bundled "
                             "dataset (iris, wine, breast_cancer, digits) or a .csv/.npz path, got 'mnist'"),
    ("data.source", "", "data.source: must be a non-empty string, got ''"),
    ("data.source", 3, "data.source: must be a non-empty string, got 3"),
    ("data.n_samples", 3, "data.n_samples: must be an integer ≥ 4, got 3"),
    ("data.n_samples", 100.0, "data.n_samples: must be an integer, got 100.0"),
    ("data.noise", -0.1, "data.noise: must be a number with 0.0 ≤ x, got -0.1"),
    ("data.noise", "lots", "data.noise: must be a number, got 'lots'"),
    ("data.input_scale", 0, "data.input_scale: must be a number with 0.0 < x, got 0.0"),
    ("data.input_scale", float("inf"), "data.input_scale: must be a number with 0.0 < x, got inf"),
    ("data.scaler", "zscore", "data.scaler: must be one of standard, minmax, robust, none, got 'zscore'"),
    ("data.scaler", None, "data.scaler: must be one of standard, minmax, robust, none, got None"),
    ("data.val_fraction", 1.0, "data.val_fraction: must be a number with 0.0 ≤ x < 1.0, got 1.0"),
    ("data.val_fraction", -0.2, "data.val_fraction: must be a number with 0.0 ≤ x < 1.0, got -0.2"),
    ("data.test_fraction", 1.5, "data.test_fraction: must be a number with 0.0 ≤ x < 1.0, got 1.5"),
    ("train.alpha", 0, "train.alpha: must be a number with 0.0 < x, got 0.0"),
    ("train.alpha", -0.5, "train.alpha: must be a number with 0.0 < x, got -0.5"),
    ("train.alpha", float("nan"), "train.alpha: must be a number with 0.0 < x, got nan"),
    ("train.alpha", [0.1], "train.alpha: must be a number, got a list"),
    ("train.lambda", -1, "train.lambda: must be a number with 0.0 ≤ x, got -1.0"),
    ("train.lambda", False, "train.lambda: must be a number, got False"),
    ("train.batch_size", 0, "train.batch_size: must be an integer ≥ 1, got 0"),
    ("train.epochs", -1, "train.epochs: must be an integer ≥ 0, got -1"),
    ("train.epochs", "ten", "train.epochs: must be an integer, got 'ten'"),
    ("train.shuffle", "maybe", "train.shuffle: must be true or false, got 'maybe'"),
    ("train.shuffle", 1, "train.shuffle: must be true or false, got 1"),
    ("output.dir", "", "output.dir: must be a non-empty string, got ''"),
    ("output.dir", 5, "output.dir: must be a non-empty string, got 5"),
    ("output.checkpoint_every", 0, "output.checkpoint_every: must be an integer ≥ 1, got 0"),
]


class TestValidation:
    @pytest.mark.parametrize("key, value, message", BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
    def test_bad_value_in_file(self, run_cli, tiny_config, tmp_path, key, value, message):
        path = tiny_config(**nested(key, value))
        result = run_cli("train", path, "-q")
        assert_one_error_line(result, f"Error: {path}: {message}")
        assert not (tmp_path / "run").exists()  # nothing written for a bad config

    @pytest.mark.parametrize("key, value, message", BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
    def test_bad_value_in_library(self, key, value, message):
        with pytest.raises(ConfigError) as info:
            config.resolve(nested(key, value), where="x.yaml")
        assert str(info.value) == f"x.yaml: {message}"

    @pytest.mark.parametrize("key", sorted(SCHEMA))
    def test_every_key_rejects_a_mapping(self, key):
        with pytest.raises(ConfigError, match=rf"^x\.yaml: {key.replace('.', '[.]')}: must be "):
            config.resolve(nested(key, {"a": 1}), where="x.yaml")

    def test_fractions_must_leave_a_train_split(self, run_cli, tiny_config):
        path = tiny_config(data={"val_fraction": 0.5, "test_fraction": 0.5})
        assert_one_error_line(run_cli("train", path),
                              f"Error: {path}: data.val_fraction + data.test_fraction: must be below 1, got 1.0")

    def test_same_error_from_gradcheck(self, run_cli, tiny_config):
        path = tiny_config(model={"layers": [2, -3, 2]})
        assert_one_error_line(run_cli("gradcheck", path),
                              f"Error: {path}: model.layers[1]: must be a positive integer, got -3")


class TestFileErrors:
    def test_unknown_top_level_key(self, run_cli, tiny_config):
        path = tiny_config(epochs=5)
        assert_one_error_line(run_cli("train", path),
                              f"Error: {path}: epochs: unknown key (known here: seed, model, data, train, output)")

    def test_unknown_key_lists_the_close_matches(self, run_cli, tiny_config):
        path = tiny_config(train={"epoch": 3})
        result = run_cli("train", path)
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr.startswith(f"Error: {path}: train.epoch: unknown key (did you mean train.epochs? "
                                        "known here: train.alpha, ")
        assert result.stderr.count("\n") == 1

    def test_unknown_nested_key(self, run_cli, tiny_config):
        path = tiny_config(model={"width": 3})
        result = run_cli("train", path)
        assert result.exit_code == 2
        assert result.stderr.startswith(f"Error: {path}: model.width: unknown key (known here: model.layers, ")
        assert result.stderr.count("\n") == 1

    def test_section_that_is_not_a_mapping(self, run_cli, tiny_config):
        path = tiny_config(model=3)
        assert_one_error_line(run_cli("train", path), f"Error: {path}: model: must be a mapping, got 3")

    def test_file_that_is_not_a_mapping(self, run_cli, tmp_path):
        path = tmp_path / "list.yaml"
        path.write_text("- 1\n- 2\n", encoding="utf-8")
        assert_one_error_line(run_cli("train", path), f"Error: {path}: top level: must be a mapping, got a list")

    @pytest.mark.parametrize("text, where", [
        ("model:\n  layers: [2, 3, 2\n", "line 3, column 1"),
        ("train:\n  alpha: 0.1\n   lambda: 0\n", "line 3, column 10"),
        ("model: {layers: [2, 3, 2]\n", "line 2, column 1"),
    ])
    def test_malformed_yaml(self, run_cli, tmp_path, text, where):
        path = tmp_path / "bad.yaml"
        path.write_text(text, encoding="utf-8")
        result = run_cli("train", path)
        assert result.exit_code == 2
        assert result.stderr.startswith(f"Error: {path}: {where}: invalid YAML: ")
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr

    def test_not_utf8(self, run_cli, tmp_path):
        path = tmp_path / "latin1.yaml"
        path.write_bytes("seed: 0  # déjà\n".encode("latin-1"))
        result = run_cli("train", path)
        assert result.exit_code == 2
        assert result.stderr.startswith(f"Error: {path}: cannot read: ")
        assert result.stderr.count("\n") == 1

    def test_missing_file(self, run_cli, tmp_path):
        result = run_cli("train", tmp_path / "nope.yaml")
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: ") and "nope.yaml" in result.stderr
        assert result.stderr.count("\n") == 1


class TestSet:
    @pytest.mark.parametrize("text, key, value", [
        ("train.alpha=0.1", "train.alpha", 0.1),
        ("train.lambda=1e-4", "train.lambda", 1e-4),
        ("model.layers=[2,8,2]", "model.layers", [2, 8, 2]),
        ("model.layers=[2, 8, 8, 2]", "model.layers", [2, 8, 8, 2]),
        ("train.shuffle=false", "train.shuffle", False),
        ("data.source=iris", "data.source", "iris"),
        ("data.source=data/moons.csv", "data.source", "data/moons.csv"),
        ("seed=7", "seed", 7),
        (" train.epochs = 5", "train.epochs", 5),
        ("output.dir=runs/a=b", "output.dir", "runs/a=b"),
    ])
    def test_values_are_parsed_as_yaml(self, text, key, value):
        assert config.get(config.resolve(overrides=[text]), key) == value

    def test_set_overrides_the_file_and_the_last_set_wins(self, tiny_config):
        path = tiny_config(train={"alpha": 0.3})
        resolved = config.load(path, ["train.alpha=0.2", "train.alpha=0.1", "model.layers=[2,4,2]"])
        assert resolved["train"]["alpha"] == 0.1
        assert resolved["model"]["layers"] == [2, 4, 2]
        assert resolved["data"]["n_samples"] == 120  # the file's other keys stay

    def test_the_run_directory_holds_the_resolved_config(self, run_cli, tiny_config, tmp_path):
        out = tmp_path / "out"
        result = run_cli("train", tiny_config(), "--set", "train.epochs=0", "--set", "train.lambda=0.25",
                         "--out", out, "-q")
        assert result.exit_code == 0, result.stderr
        written = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
        assert written["train"]["lambda"] == 0.25 and written["train"]["epochs"] == 0
        assert written["output"]["dir"] == str(out)
        assert set(leaf_keys(written)) == set(leaf_keys(DEFAULTS))

    @pytest.mark.parametrize("text, message", [
        ("model.width=3", "--set model.width: unknown key (known here: "
                          + ", ".join(f"model.{k}" for k in DEFAULTS["model"]) + ")"),
        ("train.alpha.x=3", "--set train.alpha.x: unknown key (train.alpha has no keys below it)"),
        ("nonsense=1", "--set nonsense: unknown key (known here: seed, model, data, train, output)"),
        ("train.alpah=1", "--set train.alpah: unknown key (did you mean train.alpha? known here: "
                          + ", ".join(f"train.{k}" for k in DEFAULTS["train"]) + ")"),
        ("data.scalr=none", "--set data.scalr: unknown key (did you mean data.scaler? known here: "
                            + ", ".join(f"data.{k}" for k in DEFAULTS["data"]) + ")"),
        ("train.epochs=ten", "--set train.epochs: must be an integer, got 'ten'"),
        ("train.alpha=0", "--set train.alpha: must be a number with 0.0 < x, got 0.0"),
        ("model.layers=[2,-3,2]", "--set model.layers[1]: must be a positive integer, got -3"),
        ("model.activation=softplus", "--set model.activation: must be one of sigmoid, tanh, relu, got 'softplus'"),
        ("train.shuffle=", "--set train.shuffle: must be true or false, got None"),
        ("model=3", "--set model: is a section; set one of its keys, e.g. --set model.layers=…"),
        ("train.alpha", "--set train.alpha: expected KEY=VALUE, e.g. --set train.alpha=0.1"),
        ("=3", "--set =3: expected KEY=VALUE, e.g. --set train.alpha=0.1"),
    ])
    def test_bad_set(self, run_cli, tiny_config, text, message):
        result = run_cli("train", tiny_config(), "--set", text)
        assert_one_error_line(result, f"Error: {message}")

    def test_bad_yaml_value(self, run_cli, tiny_config):
        result = run_cli("train", tiny_config(), "--set", "model.layers=[2,3")
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: --set model.layers: value: line 1, column 5: invalid YAML: ")
        assert result.stderr.count("\n") == 1

    def test_gradcheck_takes_set(self, run_cli, tiny_config):
        result = run_cli("gradcheck", tiny_config(), "--set", "model.layers=[2,5,2]", "--json")
        assert result.exit_code == 0, result.stderr
        assert '"layers": [\n    2,\n    5,\n    2\n  ]' in result.stdout


def test_a_key_given_twice_is_an_error_not_a_silent_override(run_cli, tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("model:\n  layers: [2, 3, 2]\nmodel:\n  layers: [2, 4, 2]\n", encoding="utf-8")
    result = run_cli("train", path, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}: invalid YAML: line 3: key 'model' given twice\n"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, got", [("[]\n", "got a list"), ("false\n", "got False"), ("0\n", "got 0"),
                                       ("'text'\n", "got 'text'")])
def test_a_file_that_holds_no_mapping_is_not_an_empty_config(run_cli, tmp_path, text, got):
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_cli("train", path, "--out", tmp_path / "run")
    assert result.exit_code == 2 and not (tmp_path / "run").exists()
    assert result.stderr == f"Error: {path}: top level: must be a mapping, {got}\n"
