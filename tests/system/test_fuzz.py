"""Hostile inputs, generated: whatever the bytes, the answer is a result or the project's own error.

Random config mappings and YAML text give a valid config or ``ConfigError``; random CSV text and bytes
give data or ``DataError``; random and mutated checkpoint files give the original arrays or
``CheckpointError`` — never another exception, never silently different weights.
"""
from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from nnctl import config as config_mod
from nnctl.config import DEFAULTS
from nnctl.data import csvfile as csvdata
from nnctl.data.columns import Column
from nnctl.data import dataset as data_mod
from nnctl.errors import CheckpointError, ConfigError, DataError
from nnctl.training import checkpoint

SRC = Path(__file__).resolve().parents[2] / "nnctl"
GOOD = Path(__file__).parent / "corpus" / "good.npz"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Config values: plausible ones (every choice name, edge numbers) mixed with any YAML-shaped value.
CHOICES = ["sigmoid", "tanh", "relu", "xavier", "he", "normal", "float64", "float32", "moons", "iris",
           "standard", "minmax", "robust", "none", "x.csv", "y.npz", "1e-3", "yes", ""]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(CHOICES), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=3), max_leaves=8)


def section(name):
    keys = st.sampled_from(list(DEFAULTS[name])) | st.text(max_size=8) | st.integers()
    return st.dictionaries(keys, values, max_size=5) | values




def nest(flat):
    out = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


# Mostly valid: each key either keeps its default or, now and then, gets an arbitrary value.
near_valid = st.fixed_dictionaries(
    {}, optional={key: st.one_of(st.just(config_mod.get(DEFAULTS, key)), st.just(config_mod.get(DEFAULTS, key)),
                                 scalars, values)
                  for key in config_mod.SCHEMA}).map(nest)

config_mappings = st.one_of(
    near_valid,
    st.fixed_dictionaries({}, optional={k: section(k) if isinstance(v, dict) else values
                                        for k, v in DEFAULTS.items()}),
    st.dictionaries(st.text(max_size=8) | st.integers() | st.none(), values, max_size=3),
    values,
)
override_keys = st.sampled_from([k for k in config_mod.SCHEMA] + ["model", "train.nope", "", "a.b.c", "seed.x"]) \
    | st.text(max_size=6)
overrides = st.builds(lambda k, sep, v: f"{k}{sep}{v}", override_keys, st.sampled_from(["=", "", "=="]),
                      st.text(max_size=12) | st.sampled_from(["[2, 3, 2]", "0.1", "true", "{a: 1}", "[", "nan"]))


@FUZZ
@given(config_mappings, st.lists(overrides, max_size=2))
def test_random_config_mappings_give_a_config_or_config_error(mapping, sets):
    try:
        config = config_mod.resolve(mapping, sets, where="fuzz.yaml")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(("fuzz.yaml: ", "--set ")) and "\n" not in message
        event("ConfigError")
        return
    event("valid config")
    # What comes out is a complete, valid config: validating it again changes nothing.
    assert config_mod.validate(json.loads(json.dumps(config)), "again") == config
    assert set(config) == set(DEFAULTS)


yaml_text = st.one_of(
    st.text(max_size=80),
    st.builds(lambda m: config_mod.dump(m) if isinstance(m, dict) else str(m), config_mappings),
    st.sampled_from(["model: {layers: [2, 3", "!!python/object/apply:os.system ['echo pwned']",
                     "train: &a {alpha: *a}", "- 1\n- 2", "seed: 0\nseed: 1", "\t", "%YAML 9.9\n---\n"]),
)


@FUZZ
@given(st.one_of(yaml_text.map(lambda t: t.encode("utf-8")), st.binary(max_size=80)))
def test_random_config_files_give_a_config_or_config_error(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_bytes(raw)
        try:
            config_mod.load(path)
        except ConfigError as exc:
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)


def test_yaml_python_tags_are_refused_not_executed(tmp_path):
    path = tmp_path / "evil.yaml"
    marker = tmp_path / "pwned"
    path.write_text(f"seed: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match=r"evil\.yaml: line 1, column 7: invalid YAML"):
        config_mod.load(path)
    assert not marker.exists()


CELLS = ["0", "1.5", "-2e3", "nan", "inf", "-inf", "", " ", "a", "b", "label", "x1", "1,5", '"q"', '"', "0x1", "1_0"]
csv_rows = st.lists(st.lists(st.sampled_from(CELLS) | st.text(max_size=4), max_size=4), max_size=7)
NUMBERS = st.sampled_from(["0", "1", "-1.5", "2e-3", " 3 ", "1e308"]) | st.floats(-1e6, 1e6).map(repr)
labeled_rows = st.lists(st.tuples(NUMBERS, NUMBERS, st.sampled_from(["a", "b", "c", "1", "2.0"])),
                        min_size=0, max_size=14)
structured_csv = st.builds(
    lambda rows, damage: "x1,x2,label\n" + "".join(",".join(r) + "\n" for r in rows) + damage,
    labeled_rows, st.sampled_from(["", "", "", "1,2\n", "nan,1,a\n", "1,2,\n", "1,2,a,4\n", "\x00\n"]))
csv_text = st.one_of(
    structured_csv,
    st.builds(lambda rows, nl: nl.join(",".join(r) for r in rows), csv_rows, st.sampled_from(["\n", "\r\n", "\r"])),
    st.text(max_size=60),
)


def check_labeled(frame, labels):
    X, texts = frame.numbers, frame.texts
    assert X.ndim == 2 and X.dtype == np.float64 and np.isfinite(X).all()  # no data.impute: nothing missing
    assert len(labels) == len(X) == len(texts) >= 1 and len(frame.columns) == X.shape[1] + texts.shape[1] >= 1
    assert all(cell for cell in texts.ravel().tolist())  # a category cell is never empty without data.impute
    assert all(isinstance(label, str) and label for label in labels)


@FUZZ
@given(csv_text)
@example("x1,x2,label\n1,2,a\n3,4,b\n")
def test_random_csv_text_gives_data_or_data_error(text):
    try:
        check_labeled(*csvdata.read_labeled(text, "fuzz.csv"))
    except DataError as exc:
        assert str(exc).startswith("fuzz.csv: ")
    try:
        X = csvdata.read_features(text, "fuzz.csv", [Column("x1"), Column("x2")]).numbers
        assert X.shape[1] == 2 and np.isfinite(X).all()
    except DataError as exc:
        assert str(exc).startswith("fuzz.csv: ")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(csv_text.map(lambda t: t.encode("utf-8")), st.binary(max_size=60)),
       st.sampled_from([1.0, 1.0, 1e-300, 1e300]), st.sampled_from(["standard", "minmax", "robust", "none"]))
@example(b"x1,x2,label\n0,1e308,a\n1,-1e308,b\n0,3,a\n1,2,b\n", 10.0, "standard")
def test_random_csv_files_through_the_whole_data_path(raw, input_scale, scaler):
    """Loading, label encoding, input scaling, the stratified split and the scaler: data or ``DataError``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(raw)
        config = config_mod.resolve({"data": {"source": str(path), "val_fraction": 0.0, "test_fraction": 0.25,
                                              "input_scale": input_scale, "scaler": scaler}})
        try:
            data = data_mod.prepare(config, str(path))
        except DataError as exc:
            assert str(exc).startswith((f"{path}: ", "data: "))
            event("DataError")
            return
        event("data")
        X, y = data.splits["train"]
        assert np.isfinite(X).all() and len(y) and y.max() < len(data.class_names) >= 2


@FUZZ
@given(csv_text)
@example("1e308,-1e308\n")
def test_random_prediction_input_gives_predictions_or_data_error(text):
    from nnctl.predict import predict_text

    try:
        out = predict_text(GOOD, text, "fuzz.csv")
    except DataError as exc:
        assert str(exc).startswith("fuzz.csv: ")
        return
    assert set(out.splitlines()) <= set(ORIGINAL.meta["class_names"])


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
                 st.binary(max_size=200).map(lambda b: b"\x93NUMPY" + b)))
def test_random_checkpoint_bytes_give_checkpoint_error(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.npz"
        path.write_bytes(raw)
        with pytest.raises(CheckpointError, match=re.escape(f"{path}: ")):
            checkpoint.load(path)


ORIGINAL = checkpoint.load(GOOD)
GOOD_BYTES = GOOD.read_bytes()


def same_as_original(ckpt):
    pairs = list(zip(ORIGINAL.params.values(), ckpt.params.values())) + \
        [(ORIGINAL.scaler[k], ckpt.scaler[k]) for k in ("center", "scale")]
    return (ckpt.params.keys() == ORIGINAL.params.keys() and ckpt.meta == ORIGINAL.meta
            and all(a.dtype == b.dtype and a.tobytes() == b.tobytes() for a, b in pairs))


mutations = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, len(GOOD_BYTES) - 1), st.just(0)),
    st.tuples(st.just("flip"), st.integers(0, len(GOOD_BYTES) - 1), st.integers(1, 255)),
    st.tuples(st.just("zero"), st.integers(0, len(GOOD_BYTES) - 1), st.integers(1, 64)),
    st.tuples(st.just("insert"), st.integers(0, len(GOOD_BYTES)), st.integers(0, 255)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutations, min_size=1, max_size=3))
def test_mutated_checkpoints_load_unchanged_or_give_checkpoint_error(edits):
    raw = bytearray(GOOD_BYTES)
    for kind, at, arg in edits:
        at = min(at, len(raw))
        if kind == "truncate":
            raw = raw[:at]
        elif kind == "flip" and at < len(raw):
            raw[at] ^= arg
        elif kind == "zero":
            raw[at:at + arg] = bytes(len(raw[at:at + arg]))
        elif kind == "insert":
            raw[at:at] = bytes([arg])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutant.npz"
        path.write_bytes(bytes(raw))
        try:
            ckpt = checkpoint.load(path)
        except CheckpointError as exc:
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
            event("CheckpointError")
            return
    event("loaded unchanged")
    # Some bytes (zip timestamps, padding) carry no data: then the checkpoint must read back unchanged.
    assert same_as_original(ckpt)


def rewrite(path, arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def test_checksum_covers_every_array(tmp_path):
    """The zip CRC only catches accidents; an edited array in a well-formed file is caught by the checksum."""
    with np.load(GOOD, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    names = [k for k in arrays if k != "meta"]
    assert {"W1", "b1", "W2", "b2", "scaler_center", "scaler_scale"} <= set(names)
    for name in names:
        changed = dict(arrays)
        if arrays[name].size:
            changed[name] = arrays[name].copy()
            changed[name].flat[0] = changed[name].flat[0] + 1 if changed[name].dtype.kind != "b" else True
        else:
            changed[name] = np.zeros(1, dtype=arrays[name].dtype)
        path = tmp_path / f"{name}.npz"
        rewrite(path, changed)
        with pytest.raises(CheckpointError, match="checksum mismatch"):
            checkpoint.load(path)
    # Removing an array is a change too.
    rewrite(tmp_path / "fewer.npz", {k: v for k, v in arrays.items() if k != "b2"})
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        checkpoint.load(tmp_path / "fewer.npz")


@pytest.mark.parametrize("meta_change", [
    {"config": {"model": {"layers": "2,3,2"}}}, {"class_names": ["only one"]}, {"epoch": -1},
    {"config": None}, {"class_names": None}, {"feature_names": "x1,x2"}, {"feature_names": ["x1"]},
    {"rng_state": {"bit_generator": "MT19937"}}, {"best_val_loss": "low"}, {"seconds": -1}, {"best_epoch": 1.5},
    {"schedule": {"alpha": "fast"}}, {"early_stopping": []}, {"optimizer": "adam"}, {"n_features": 3},
    {"config": {"model": {"layers": [[[[]]]]}}}, {"config": {"train": {"epochs": "many"}}},
    {"class_names": ["zero\nZERO", "one"]}, {"class_names": ["a", "a"]}, {"class_names": ["", "b"]},
])
def test_hand_edited_meta_is_a_checkpoint_error(tmp_path, meta_change):
    """Even with its checksum recomputed, a meta that does not describe a network is refused."""
    with np.load(GOOD, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("meta")))
    meta.update(meta_change)
    meta["checksum"] = checkpoint.checksum(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    rewrite(tmp_path / "edited.npz", arrays)
    with pytest.raises(CheckpointError, match=r"edited\.npz: meta ") as info:
        checkpoint.load(tmp_path / "edited.npz")
    assert "\n" not in str(info.value)


def test_a_bomb_within_what_a_forged_meta_allows_is_refused_before_unpacking(tmp_path):
    """The meta says [2, 10000, 10000, 2] (800 MB of W2 allowed); W2 is 80 MB of zeros in 80 kB."""
    with np.load(GOOD, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
    meta["config"]["model"]["layers"] = [2, 10000, 10000, 2]
    shapes = {"W1": (10000, 2), "b1": (10000,), "W2": (10000, 10000), "b2": (10000,), "W3": (2, 10000), "b3": (2,),
              "scaler_center": (2,), "scaler_scale": (2,)}
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in [("meta", np.array(json.dumps(meta))),
                            *((k, np.zeros((1000, 10000)) if k == "W2" else np.random.default_rng(0).normal(size=s))
                              for k, s in shapes.items())]:
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    with pytest.raises(CheckpointError, match=r"array W2 would unpack to 80,000,128 bytes from [\d,]+; a network "):
        checkpoint.load(path)  # refused from the declared sizes: nothing was unpacked


@pytest.mark.parametrize("field", ["epoch", "class_names", "feature_names", "rng_state", "schedule", "best_epoch",
                                   "seconds", "nnctl_version"])
def test_a_meta_without_a_field_is_a_checkpoint_error(tmp_path, field):
    with np.load(GOOD, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("meta")))
    del meta[field]
    meta["checksum"] = checkpoint.checksum(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    rewrite(tmp_path / "edited.npz", arrays)
    with pytest.raises(CheckpointError, match=f"edited\\.npz: meta has no {field}$"):
        checkpoint.load(tmp_path / "edited.npz")


@pytest.mark.parametrize("meta_change", [{"epoch": 7}, {"class_names": ["b", "a"]}, {"best_epoch": 0}])
def test_checksum_covers_the_meta(tmp_path, meta_change):
    """A well-formed edit of the meta (another epoch, swapped class names) is caught by the checksum."""
    with np.load(GOOD, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    meta.update(meta_change)
    arrays["meta"] = np.array(json.dumps(meta))
    rewrite(tmp_path / "edited.npz", arrays)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        checkpoint.load(tmp_path / "edited.npz")


def source_files():
    return sorted(SRC.rglob("*.py"))


def test_no_pickle_and_yaml_only_through_safe_load():
    """Review by grep: nothing in nnctl can unpickle or construct Python objects from YAML."""
    assert source_files()
    for path in source_files():
        text = path.read_text(encoding="utf-8")
        where = path.name
        assert not re.search(r"^\s*(import|from)\s+(c?pickle|shelve|marshal|dill)\b", text, re.M), where
        assert not re.search(r"joblib\.load|\bload\b.*from joblib|from joblib import .*\bload\b", text), where
        assert "allow_pickle=True" not in text, where
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=False" in call, (where, call)
        for call in re.findall(r"yaml\.\w+", text):
            assert call in ("yaml.safe_load", "yaml.safe_dump", "yaml.YAMLError", "yaml.SafeLoader", "yaml.load"), \
                (where, call)
        for call in re.findall(r"yaml\.load\([^)]*\)", text):
            assert "Loader=unique_key_loader()" in call, (where, call)
        assert not re.search(r"\b(eval|exec)\(", text), where
    from nnctl.config import unique_key_loader

    assert issubclass(unique_key_loader(), yaml.SafeLoader)
