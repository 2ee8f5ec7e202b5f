"""Config: every default in one place, YAML files and ``--set`` overrides validated against it.

A config file holds only what differs from ``DEFAULTS``; unknown keys and values of the wrong type
are errors that name the file, the dotted key and what was expected. The names a choice key accepts
are the keys of its owner's table (``ACTIVATIONS``, ``SCALERS``, ``OPTIMIZERS``…), so a name is added in
one place. YAML is imported only to read or write text, so that ``predict`` can resolve a checkpoint's
config without it.
"""
from __future__ import annotations

import copy
import difflib
import json
import os
import re
from pathlib import Path

from .data.columns import IMPUTE
from .data.preprocess import SCALERS
from .data.sources import BUNDLED, FILE_SUFFIXES, GENERATORS
from .errors import ConfigError
from .model.network import ACTIVATIONS, DTYPES, INITS
from .text import shown
from .training.loop import TRAIN_METRICS
from .training.optimizers import FULL_BATCH, OPTIMIZERS
from .training.schedules import SCHEDULES
from .training.stopping import MONITORS

DEFAULTS = {
    "seed": 0,                      # one seed for data, split, initialisation and shuffling
    "model": {
        "layers": [2, 3, 2],        # n(0) … n(L): inputs, hidden sizes, classes
        "hidden": None,             # instead of layers: the hidden sizes; n(0) and n(L) come from the data
        "activation": "sigmoid",    # hidden layers: sigmoid | tanh | relu
        "init": "xavier",           # xavier | he | normal (N(0, 0.01²))
        "dtype": "float64",         # float64 | float32 for training; gradcheck is always float64
    },
    "data": {
        "source": "moons",          # generator, bundled dataset, or a .csv / .npz path
        "n_samples": 1000,          # generators only
        "noise": 0.2,               # generators only
        "input_scale": 1.0,         # multiplies every raw input before scaling (the ×1000 experiment)
        "scaler": "standard",       # standard | minmax | robust | none, fitted on the train split only
        "label": None,              # .csv: the label column, by name or 0-based index (None: 'label', else the last)
        "drop": [],                 # .csv/.npz: columns to ignore (ids, leaks), by name or 0-based index
        "impute": "none",           # none (a missing cell is an error) | mean | median | most_frequent, fitted on train
        "categorical": "auto",      # auto (columns with text) | none | a list of columns: one-hot, fitted on train
        "val_source": None,         # a .csv/.npz for the val split (then val_fraction is not used)
        "test_source": None,        # a .csv/.npz for the test split (then test_fraction is not used)
        "val_fraction": 0.2,
        "test_fraction": 0.2,
    },
    "train": {
        "alpha": 0.5,               # learning rate α
        "lambda": 0.001,            # L2 strength λ, not divided by m
        "batch_size": 32,           # larger than the train split means full-batch gradient descent
        "epochs": 100,              # 0 writes the initialised network
        "shuffle": True,            # reshuffle the train split every epoch (seeded)
        "optimizer": "sgd",         # sgd (the derivation's rule) | momentum | adam | lbfgs (full batch)
        "momentum": 0.9,            # momentum: velocity decay μ in v ← μv − α∇
        "nesterov": False,          # momentum: Nesterov's look-ahead step
        "beta1": 0.9,               # adam: decay of the first-moment estimate
        "beta2": 0.999,             # adam: decay of the second-moment estimate
        "epsilon": 1.0e-8,          # adam: added to √v so the step stays finite
        "lbfgs_iters": 10,          # lbfgs: L-BFGS-B iterations per epoch (the curvature memory restarts each epoch)
        "schedule": "constant",     # constant | invscaling | step | plateau: how α changes between epochs
        "power_t": 0.5,             # invscaling: α / (samples seen + 1)^power_t, as scikit-learn
        "step_size": 10,            # step: multiply α by gamma every step_size epochs
        "gamma": 0.5,               # step and plateau: the factor α is multiplied by
        "plateau_patience": 5,      # plateau: epochs without a val-loss improvement > min_delta before α decays
        "early_stopping": False,    # stop when the monitored metric stalls; restore the best epoch's weights
        "monitor": "val_loss",      # early stopping: val_loss | val_acc
        "patience": 10,             # early stopping: epochs without an improvement > min_delta before stopping
        "min_delta": 1.0e-4,        # early stopping and plateau: smallest change that counts as improvement
    },
    "output": {
        "dir": None,                # the run directory; None: runs/<config file name> (see load)
        "checkpoint_every": 10,     # epochs; the last epoch is always saved
        "train_metrics": "running",  # train_loss/acc in metrics.jsonl: running (the epoch's minibatches) | full pass
        "tensorboard": False,       # also write TensorBoard event files under RUN_DIR/tensorboard/ (nnctl[tensorboard])
    },
}


def _type_name(value):
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping", type(None): "nothing"}.get(type(value), type(value).__name__)


def _got(value):
    return f"got {shown(value)}" if not isinstance(value, (dict, list)) else f"got {_type_name(value)}"


def _int(low=None, high=None):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, {_got(value)}")
        if low is not None and value < low:
            raise ValueError(f"must be an integer ≥ {low}, {_got(value)}")
        if high is not None and value > high:
            raise ValueError(f"must be an integer from {low} to {high:,}, {_got(value)}")
        return value
    return check


MAX_INT = 2**31 - 1          # counts (epochs, batch size…): beyond this no array index or loop is meant
MAX_SAMPLES = 10**9          # generated samples: 16 GB of float64 pairs already
MAX_UNITS = 10**6            # units in one layer: a network of two such layers holds 10^12 weights
MAX_DEPTH = 32               # nesting of YAML values: no key needs more than a list of lists


_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _number(low=None, high=None, low_open=False, high_open=False):
    def check(value):
        if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as text; everyone means the number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, {_got(value)}")
        value = float(value)
        bad = (value != value or value in (float("inf"), float("-inf"))
               or (low is not None and (value < low or (low_open and value == low)))
               or (high is not None and (value > high or (high_open and value == high))))
        if bad:
            lo = "" if low is None else f"{low} {'<' if low_open else '≤'} "
            hi = "" if high is None else f" {'<' if high_open else '≤'} {high}"
            raise ValueError(f"must be a number with {lo}x{hi}, got {value!r}")
        return value
    return check


def _choice(table):
    def check(value):
        if not isinstance(value, str) or value not in table:
            raise ValueError(f"must be one of {', '.join(table)}, {_got(value)}")
        return value
    return check


def _bool(value):
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, {_got(value)}")
    return value


def _string(value):
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a non-empty string, {_got(value)}")
    return value


def _optional_string(value):
    return None if value is None else _string(value)


def _units(value):
    """Each entry of a list of layer sizes: a positive integer up to ``MAX_UNITS``."""
    for i, n in enumerate(value):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"[{i}]: must be a positive integer, {_got(n)}")
        if n > MAX_UNITS:
            raise ValueError(f"[{i}]: must be at most {MAX_UNITS:,} units, {_got(n)}")
    return value


def _layers(value):
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError(f"must be a list of at least 2 positive integers [n0, …, nL], {_got(value)}")
    _units(value)
    if value[-1] < 2:
        raise ValueError(f"[{len(value) - 1}]: the output layer needs at least 2 classes, got {value[-1]}")
    return value


def _hidden(value):
    if value is None:
        return value
    if not isinstance(value, list):
        raise ValueError(f"must be a list of hidden layer sizes, e.g. [16, 8], {_got(value)}")
    return _units(value)


def _column(value, where=""):
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, int) and value < 0) \
            or value == "":
        raise ValueError(f"{where}must be a column name or a 0-based column index, {_got(value)}")
    return value


def _label(value):
    return None if value is None else _column(value)


def _columns(value):
    if not isinstance(value, list):
        raise ValueError(f"must be a list of column names or 0-based indexes, {_got(value)}")
    for i, ref in enumerate(value):
        _column(ref, f"[{i}]: ")
        if ref in value[:i]:
            raise ValueError(f"[{i}]: {ref!r} is named twice")
    return value


def _categorical(value):
    if value in ("auto", "none"):
        return value
    if not isinstance(value, list):
        raise ValueError(f"must be auto, none or a list of column names or indexes, {_got(value)}")
    return _columns(value)


def _optional_source(value):
    if value is None:
        return value
    value = _string(value)
    if not value.endswith(FILE_SUFFIXES):
        raise ValueError(f"must be a {'/'.join(FILE_SUFFIXES)} path, got {value!r}")
    return value


def _source(value):
    value = _string(value)
    if value in GENERATORS or value in BUNDLED or value.endswith(FILE_SUFFIXES):
        return value
    raise ValueError(f"must be a generator ({', '.join(GENERATORS)}), a bundled dataset "
                     f"({', '.join(BUNDLED)}) or a {'/'.join(FILE_SUFFIXES)} path, got {value!r}")


SCHEMA = {
    "seed": _int(0, 2**128 - 1),
    "model.layers": _layers,
    "model.hidden": _hidden,
    "model.activation": _choice(ACTIVATIONS),
    "model.init": _choice(INITS),
    "model.dtype": _choice(DTYPES),
    "data.source": _source,
    "data.n_samples": _int(4, MAX_SAMPLES),
    "data.noise": _number(0.0),
    "data.input_scale": _number(0.0, low_open=True),
    "data.scaler": _choice(SCALERS),
    "data.label": _label,
    "data.drop": _columns,
    "data.impute": _choice(IMPUTE),
    "data.categorical": _categorical,
    "data.val_source": _optional_source,
    "data.test_source": _optional_source,
    "data.val_fraction": _number(0.0, 1.0, high_open=True),
    "data.test_fraction": _number(0.0, 1.0, high_open=True),
    "train.alpha": _number(0.0, low_open=True),
    "train.lambda": _number(0.0),
    "train.batch_size": _int(1, MAX_INT),
    "train.epochs": _int(0, MAX_INT),
    "train.shuffle": _bool,
    "train.optimizer": _choice(OPTIMIZERS),
    "train.momentum": _number(0.0, 1.0, high_open=True),
    "train.nesterov": _bool,
    "train.beta1": _number(0.0, 1.0, high_open=True),
    "train.beta2": _number(0.0, 1.0, high_open=True),
    "train.epsilon": _number(0.0, low_open=True),
    "train.lbfgs_iters": _int(1, MAX_INT),
    "train.schedule": _choice(SCHEDULES),
    "train.power_t": _number(0.0),
    "train.step_size": _int(1, MAX_INT),
    "train.gamma": _number(0.0, 1.0, low_open=True),
    "train.plateau_patience": _int(1, MAX_INT),
    "train.early_stopping": _bool,
    "train.monitor": _choice(MONITORS),
    "train.patience": _int(1, MAX_INT),
    "train.min_delta": _number(0.0),
    "output.dir": _optional_string,
    "output.checkpoint_every": _int(1, MAX_INT),
    "output.train_metrics": _choice(TRAIN_METRICS),
    "output.tensorboard": _bool,
}


def get(config, key):
    """``get(cfg, "train.alpha")``: the value at a dotted key."""
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def _put(config, key, value):
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value


def show_key(key):
    """A key as the error message shows it: quoted when it is not plain text (keeps the message one line)."""
    return key if isinstance(key, str) and key.isprintable() and key.strip() == key and key else repr(key)


def _merge(config, mapping, where, prefix=""):
    """Copy ``mapping`` onto ``config``, refusing keys that ``DEFAULTS`` does not have."""
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'top level'}: must be a mapping, {_got(mapping)}")
    for key, value in mapping.items():
        dotted = f"{prefix}{show_key(key)}"
        if not isinstance(key, str) or key not in config:
            raise ConfigError(f"{where}: {dotted}: {_unknown(key, config, prefix)}")
        if isinstance(config[key], dict):
            if value is not None:  # a section whose keys are all commented out is empty, not an error
                _merge(config[key], value, where, dotted + ".")
        else:
            config[key] = value


def _unknown(key, section, prefix):
    """``unknown key (did you mean train.alpha? known here: …)``: the close matches of ``key`` among the keys
    of ``section`` (whose dotted prefix is ``prefix``), then all of them."""
    close = difflib.get_close_matches(key, list(section), n=3) if isinstance(key, str) else []
    guess = f"did you mean {' or '.join(prefix + k for k in close)}? " if close else ""
    return f"unknown key ({guess}known here: {', '.join(prefix + k for k in section)})"


def validate(config, where):
    """Check every key against ``SCHEMA``; return the config with numbers normalised."""
    inferred = config["model"]["hidden"] is not None and config["model"]["layers"] is None
    for key, check in SCHEMA.items():
        if key == "model.layers" and inferred:  # sizes come from the data: see data.dataset.prepare_sized
            continue
        try:
            _put(config, key, check(get(config, key)))
        except ValueError as exc:
            sep = "" if str(exc).startswith("[") else ": "
            raise ConfigError(f"{where}: {key}{sep}{exc}") from None
    if config["data"]["val_fraction"] + config["data"]["test_fraction"] >= 1.0:
        raise ConfigError(f"{where}: data.val_fraction + data.test_fraction: must be below 1, got "
                          f"{config['data']['val_fraction'] + config['data']['test_fraction']}")
    if config["train"]["optimizer"] in FULL_BATCH and config["train"]["schedule"] != "constant":
        raise ConfigError(f"{where}: train.schedule: must be constant with train.optimizer {config['train']['optimizer']} "
                          f"(its line search sets the step), got {config['train']['schedule']!r}")
    if config["train"]["early_stopping"] and config["data"]["val_fraction"] == 0:
        raise ConfigError(f"{where}: train.early_stopping: needs a validation split; set data.val_fraction above 0")
    return config


def parse_yaml(text, where):
    """``text`` parsed as YAML (plain data only), or a ``ConfigError`` saying where and what is wrong:
    invalid YAML, a key that is not plain text, or values nested deeper than ``MAX_DEPTH``.

    A sweep resolves its config file and override values once per run: a text parsed before is copied from
    ``_PARSED`` rather than parsed again."""
    key = (text, where)
    if key not in _PARSED:
        if len(_PARSED) >= 256:
            _PARSED.clear()
        _PARSED[key] = _parse_yaml(text, where)
    return copy.deepcopy(_PARSED[key])


_PARSED = {}


def _parse_yaml(text, where):
    import yaml

    try:
        value = yaml.load(text, Loader=unique_key_loader())  # noqa: S506 — a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: {at}invalid YAML: {problem}") from None
    except RecursionError:
        value = None
        depth = MAX_DEPTH + 1
    else:
        depth = _depth(value)
    if depth > MAX_DEPTH:
        raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep; no config value needs that")
    return value


def _depth(value):
    """How deeply lists and mappings nest in ``value`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            depth += 1
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            stack.extend((child, depth) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_override(text):
    """``"train.alpha=0.1"`` → ``("train.alpha", 0.1)``, the value parsed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {show_key(text)}: expected KEY=VALUE, e.g. --set train.alpha=0.1")
    value = parse_yaml(raw, f"--set {show_key(key)}: value") if raw.strip() else None
    node, prefix = DEFAULTS, ""
    for part in key.split("."):
        if not isinstance(node, dict):
            raise ConfigError(f"--set {show_key(key)}: unknown key ({prefix.rstrip('.')} has no keys below it)")
        if part not in node:
            raise ConfigError(f"--set {show_key(key)}: {_unknown(part, node, prefix)}")
        node, prefix = node[part], f"{prefix}{part}."
    if isinstance(node, dict):
        raise ConfigError(f"--set {key}: is a section; set one of its keys, e.g. --set {key}.{next(iter(node))}=…")
    return key, value


def resolve(mapping=None, overrides=(), where="config"):
    """Defaults, then ``mapping`` (a parsed file), then ``--set`` overrides; validated. A config that gives
    ``model.hidden`` has ``model.layers`` None until ``data.dataset.prepare_sized`` fills it from the data."""
    config = copy.deepcopy(DEFAULTS)
    if mapping is not None:
        _merge(config, mapping, where)
    for text in overrides:
        key, value = parse_override(text)
        _put(config, key, value)
        try:
            check = SCHEMA[key]
            _put(config, key, check(value))
        except ValueError as exc:
            sep = "" if str(exc).startswith("[") else ": "
            raise ConfigError(f"--set {key}{sep}{exc}") from None
    _one_of_layers_and_hidden(config, mapping, overrides, where)
    return validate(config, where)


def _one_of_layers_and_hidden(config, mapping, overrides, where):
    """A file gives at most one of ``model.layers`` and ``model.hidden``, and so does the command line, whose
    choice replaces the file's."""
    model = mapping.get("model") if isinstance(mapping, dict) else None
    model = model if isinstance(model, dict) else {}
    given = {key.partition("=")[0].strip() for key in overrides}
    for there, keys in ((where, {k for k in ("layers", "hidden") if model.get(k) is not None}),
                        ("--set", {k for k in ("layers", "hidden") if f"model.{k}" in given
                                   and config["model"][k] is not None})):
        if len(keys) == 2:
            raise ConfigError(f"{there}: model.hidden: give model.layers or model.hidden, not both")
    if "model.layers" in given and config["model"]["layers"] is not None:
        config["model"]["hidden"] = None
    elif config["model"]["hidden"] is not None:
        config["model"]["layers"] = None


def of_checkpoint(stored, where):
    """A checkpoint's stored config, resolved like a file: keys added to ``DEFAULTS`` since the run was
    written get their defaults, so older runs keep resuming and evaluating."""
    return resolve(stored, where=str(where))


def unique_key_loader():
    """``yaml.SafeLoader`` (plain data only) that refuses a key given twice in one mapping: YAML would
    silently keep the last, so a duplicated ``model:`` section would undo the first without a word."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, (list, dict, set)):
                    raise yaml.YAMLError(f"line {key_node.start_mark.line + 1}: a key must be plain text, "
                                         f"got {_type_name(key)}")
                if key in seen:
                    raise yaml.YAMLError(f"line {key_node.start_mark.line + 1}: key {key!r} given twice")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


DATA_PATHS = ("source", "val_source", "test_source")  # the data keys that may name a file


def load(path, overrides=()):
    """Read a YAML config file (plain data only, duplicate keys refused) and resolve it.

    A relative data path (``DATA_PATHS``) is read from the file's folder, one given with ``--set`` from the
    current directory (where it was typed); both become absolute, so the run's ``config.yaml`` finds the data
    from anywhere. A config without ``output.dir`` writes to ``runs/<file name without .yaml>``, relative to
    the current directory like any ``output.dir``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    mapping = parse_yaml(text, str(path))
    # an empty file (or one of comments only) is the defaults; `[]` or `false` is not a config
    mapping = {} if mapping is None else mapping
    if isinstance(mapping, dict) and isinstance(mapping.get("data"), dict):
        data = mapping["data"] = dict(mapping["data"])
        for key in DATA_PATHS:
            if key in data:
                data[key] = _absolute(data[key], path.parent)
    config = resolve(mapping, overrides, where=str(path))
    for key in DATA_PATHS:
        if key in config["data"]:
            config["data"][key] = _absolute(config["data"][key], Path.cwd())
    if config["output"]["dir"] is None:
        config["output"]["dir"] = str(Path("runs") / path.stem)
    return config


def _absolute(source, folder):
    """``source`` as an absolute path when it names a data file by a relative path (read from ``folder``);
    anything else (a generator, a bundled dataset, an absolute path, a value of the wrong kind) unchanged."""
    if not isinstance(source, str) or source in GENERATORS or source in BUNDLED or not source.endswith(FILE_SUFFIXES):
        return source
    source = os.path.expanduser(source)
    return source if os.path.isabs(source) else os.path.normpath(os.path.join(os.path.abspath(folder), source))


def dump(config):
    """The config as YAML text in block style, one key a line, keys in ``DEFAULTS`` order and a blank line
    between sections, as ``configs/testnet.yaml`` is written; list values (``layers``) stay inline."""
    lines = []
    for key, value in config.items():
        if isinstance(value, dict):
            lines += [*([""] if lines else []), f"{key}:"]
            lines += [f"  {k}: {_inline(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {_inline(value)}")
    return "\n".join(lines) + "\n"


def _inline(value):
    """One value as YAML on one line (a list in flow style), quoted where YAML would misread it."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**9)
    text = text.removesuffix("\n...\n").rstrip("\n")
    # a text holding a line break would span lines; JSON, which YAML reads too, escapes it
    return json.dumps(value, ensure_ascii=False) if "\n" in text else text
