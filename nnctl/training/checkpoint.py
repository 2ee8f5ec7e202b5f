"""Checkpoints: one ``.npz`` of plain arrays plus a JSON ``meta`` string; no pickle anywhere.

Arrays: ``W1…WL`` ``(n(l), n(l-1))``, ``b1…bL`` ``(n(l),)``, ``scaler_center``/``scaler_scale`` ``(n0,)``,
``opt_<name>`` for optimizer state. ``meta`` holds the resolved config, epoch, class and feature names,
RNG state, counters, format version and a SHA-256 of every array and of the meta itself, verified on
load. The whole meta is checked against ``META`` on load, so every command meets a damaged or forged
checkpoint with the same one-line error. Writes are atomic.

``TrainedModel.open`` is how every command opens a checkpoint as a usable network: the ``MLP``, the
``Preprocessor`` its inputs go through, and its class names.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import config as config_mod, seeding
from ..data.columns import Column, input_names, valid_json
from ..data.preprocess import Preprocessor
from ..errors import CheckpointError, ConfigError
from ..files import atomic_write
from ..model.network import MLP

FORMAT_VERSION = 2  # 2: the checksum covers the meta too
MAX_META_BYTES = 1 << 24  # a checkpoint's meta is a few kB of JSON; far more is not one
NPY_HEADER_BYTES = 1 << 12  # room for an .npy header beside an array's data
MAX_RATIO = 16  # the most an array may unpack to, in multiples of the bytes it takes in the file


@dataclass
class Checkpoint:
    params: dict
    scaler: dict
    meta: dict
    opt_state: dict = field(default_factory=dict)
    _serialised: object = field(default=None, repr=False, compare=False)  # see save

    @property
    def config(self):
        return self.meta["config"]


def build_network(config, params=None):
    """The network ``config`` describes, initialised from its seed (or holding the given ``params``)."""
    m = config["model"]
    return MLP(m["layers"], activation=m["activation"], lam=config["train"]["lambda"], init=m["init"],
               rng=seeding.rng(config["seed"], "init"), dtype=m["dtype"], params=params)


@dataclass
class TrainedModel:
    """A checkpoint opened for use: ``net``, ``preprocessor`` (raw rows → network input), ``class_names``."""

    path: Path
    checkpoint: Checkpoint
    config: dict
    net: MLP
    preprocessor: Preprocessor

    @classmethod
    def open(cls, path):
        path = Path(path)
        ckpt = load(path)
        config = ckpt.config
        columns = ckpt.meta.get("columns")
        preprocessor = Preprocessor(ckpt.meta["feature_names"], config["data"]["input_scale"], ckpt.scaler,
                                    None if columns is None else [Column.from_json(c) for c in columns])
        return cls(path, ckpt, config, build_network(config, params=ckpt.params), preprocessor)

    @property
    def class_names(self):
        return self.checkpoint.meta["class_names"]

    @property
    def epoch(self):
        return self.checkpoint.meta["epoch"]


def checksum(arrays, meta=None):
    """SHA-256 over ``meta`` (canonical JSON, without its ``checksum`` field) and every array's name,
    dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    if meta is not None:
        body = {k: v for k, v in meta.items() if k != "checksum"}
        h.update(json.dumps(body, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(path, ckpt):
    """Write ``ckpt`` to ``path`` atomically. The arrays are copied at the first save of ``ckpt`` (the network
    goes on training), and ``ckpt`` is serialised once however many files it goes to; inside
    ``files.write_batch`` that waits for the batch, and a checkpoint replaced before it is never serialised."""
    if ckpt._serialised is None:
        arrays = {k: np.array(v) for k, v in ckpt.params.items()}
        arrays["scaler_center"] = ckpt.scaler["center"]
        arrays["scaler_scale"] = ckpt.scaler["scale"]
        arrays.update({f"opt_{k}": np.array(v) for k, v in ckpt.opt_state.items()})
        meta = dict(ckpt.meta, format_version=FORMAT_VERSION)
        ckpt._serialised = _Serialised(arrays, meta)
    serialised = ckpt._serialised
    atomic_write(path, lambda f: f.write(serialised.data()))


class _Serialised:
    """A checkpoint's ``.npz`` bytes, made on first use."""

    def __init__(self, arrays, meta):
        self.arrays, self.meta, self._data = arrays, meta, None

    def data(self):
        if self._data is None:
            self.meta["checksum"] = checksum(self.arrays, self.meta)
            buf = io.BytesIO()
            np.savez(buf, **self.arrays, meta=np.array(json.dumps(self.meta)))
            self._data = buf.getbuffer()
        return self._data


def load(path):
    """Read and verify a checkpoint; any problem is a ``CheckpointError`` naming the file.

    The returned checkpoint's ``config`` is resolved (keys added to ``DEFAULTS`` since it was written
    get their defaults) and validated like a config file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    # np.load would take anything else for a .npy or a pickle; a checkpoint is always a zip archive.
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise CheckpointError(f"{path}: not an .npz archive (empty, truncated or another kind of file)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "meta" not in npz.files:
                raise CheckpointError(f"{path}: not an nnctl checkpoint (no meta array)")
            _check_size(path, npz.zip, "meta", MAX_META_BYTES)
            text = str(npz["meta"])
            meta, stored = _read_meta(path, text), _read_meta(path, text)  # stored: as written, for the checksum
            layers = _check_meta(path, meta)
            bounds = _array_bytes(layers)
            for name in (n for n in npz.files if n != "meta"):  # as the zip and .npy headers declare, before any data
                _check_size(path, npz.zip, name, bounds.get(name, NPY_HEADER_BYTES), layers)
            arrays = {k: npz[k] for k in npz.files if k != "meta"}
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        reason = "holds pickled objects" if "allow_pickle" in str(exc) else f"damaged .npz archive ({exc})"
        raise CheckpointError(f"{path}: {reason}") from None
    except Exception as exc:  # a damaged zip can fail deep inside zlib or zipfile
        raise CheckpointError(f"{path}: damaged checkpoint ({type(exc).__name__}: {exc})") from None
    try:
        intact = stored.get("checksum") == checksum(arrays, stored)
    except (TypeError, ValueError, RecursionError):  # a meta json.dumps cannot write back
        intact = False
    if not intact:
        raise CheckpointError(f"{path}: checksum mismatch: the file is damaged or was modified")
    params = {}
    for l in range(1, len(layers)):
        for name, shape in ((f"W{l}", (layers[l], layers[l - 1])), (f"b{l}", (layers[l],))):
            params[name] = _array(path, arrays, name, shape)
    scaler = {"center": _array(path, arrays, "scaler_center", (layers[0],), "scaler arrays"),
              "scale": _array(path, arrays, "scaler_scale", (layers[0],), "scaler arrays")}
    if not (scaler["scale"] != 0).all():
        raise CheckpointError(f"{path}: scaler_scale holds a zero (the scaler divides by it)")
    opt_state = {k[4:]: v for k, v in arrays.items() if k.startswith("opt_")}
    _check_opt_state(path, opt_state, params)
    return Checkpoint(params, scaler, meta, opt_state)


def _read_meta(path, text):
    try:
        meta = json.loads(text)
        version = meta["format_version"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise CheckpointError(f"{path}: meta is not valid checkpoint JSON") from None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version}; this nnctl reads version {FORMAT_VERSION}")
    return meta


def _array_bytes(layers):
    """The most bytes each array of a network of ``layers`` may take in a checkpoint (float64 data plus
    room for its header): what the zip members are held to before anything is decompressed."""
    shapes = {"scaler_center": layers[0], "scaler_scale": layers[0], "opt_t": 1}
    for l in range(1, len(layers)):
        shapes.update({f"W{l}": layers[l] * layers[l - 1], f"b{l}": layers[l]})
    for key in [k for k in shapes if k[0] in "Wb"]:
        shapes[f"opt_m_{key}"] = shapes[f"opt_v_{key}"] = shapes[key]
    return {name: 8 * n + NPY_HEADER_BYTES for name, n in shapes.items()}


def _check_size(path, archive, name, limit, layers=None):
    """Refuse member ``name`` of the zip ``archive`` if its declared size or its .npy header's shape and
    dtype exceed ``limit`` bytes: a small file must not unpack into gigabytes before it is refused."""
    info = archive.getinfo(f"{name}.npy")
    size = info.file_size
    # nnctl stores arrays uncompressed; recompressed weights shrink little. A member that unpacks to far
    # more than it takes in the file is a bomb, however large a network a forged meta describes.
    limit = min(limit, max(NPY_HEADER_BYTES, MAX_RATIO * info.compress_size))
    if size <= limit:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(member)
        if dtype.hasobject:
            return  # np.load refuses it without unpickling: "holds pickled objects"
        size = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if size <= limit:  # wrong shapes within the bound get their precise message once loaded
            return
    whose = f"a network of layers {layers}" if layers else "a checkpoint's meta"
    raise CheckpointError(f"{path}: array {name} would unpack to {size:,} bytes from {info.compress_size:,}; "
                          f"{whose} takes at most {limit:,} there; not unpacked")


def _array(path, arrays, name, shape, what=None):
    if name not in arrays:
        raise CheckpointError(f"{path}: missing array {name}")
    a = arrays[name]
    if a.shape != shape:
        if what:
            raise CheckpointError(f"{path}: {what} do not have {shape[0]} entries")
        raise CheckpointError(f"{path}: {name} has shape {a.shape}, expected {shape}")
    if a.dtype.kind != "f":
        raise CheckpointError(f"{path}: {name} has dtype {a.dtype}, expected floats")
    if not np.isfinite(a).all():
        raise CheckpointError(f"{path}: {name} holds values that are not finite numbers")
    return a


def _check_opt_state(path, state, params):
    for name, a in state.items():
        if name == "t":
            ok = a.shape == () and a.dtype.kind in "iu" and int(a) >= 0
        else:
            key = name[2:]
            ok = (name[:2] in ("m_", "v_") and key in params and a.shape == params[key].shape
                  and a.dtype.kind == "f" and bool(np.isfinite(a).all()))
        if not ok:
            raise CheckpointError(f"{path}: optimizer state opt_{name} does not fit the network")


def _int(v, low=0):
    return type(v) is int and v >= low


def _number(v):
    return type(v) in (int, float) and math.isfinite(v)


def _optional_number(v):
    return v is None or _number(v)


def _names(v, n):
    """``n`` distinct, non-empty, printable names: predict prints one of them per line."""
    return (isinstance(v, list) and len(v) == n and len(set(map(str, v))) == n
            and all(isinstance(c, str) and c.strip() and c.isprintable() for c in v))


def _rng_state(v):
    state = v.get("state") if isinstance(v, dict) else None
    return (isinstance(v, dict) and v.get("bit_generator") == "PCG64" and isinstance(state, dict)
            and _int(state.get("state")) and _int(state.get("inc"))
            and v.get("has_uint32") in (0, 1) and _int(v.get("uinteger")))


def _fingerprint(v, nested=True):
    keys = {"rows", "features", "X", "labels"}
    splits = {"val_source", "test_source"} if nested else set()  # the fingerprints of the split files
    return (isinstance(v, dict) and keys <= set(v) <= keys | splits and _int(v["rows"])
            and isinstance(v["features"], list) and all(isinstance(f, str) for f in v["features"])
            and all(isinstance(v[k], str) and len(v[k]) == 64 for k in ("X", "labels"))
            and all(_fingerprint(v[k], nested=False) for k in splits & set(v)))


def _schedule(v):
    return v is None or (isinstance(v, dict) and _number(v.get("alpha")) and _int(v.get("samples"))
                         and _optional_number(v.get("best")) and _int(v.get("bad_epochs")))


def _early_stopping(v):
    return v is None or (isinstance(v, dict) and _optional_number(v.get("best")) and _int(v.get("best_epoch"))
                         and _int(v.get("bad_epochs")) and (v.get("reason") is None or isinstance(v.get("reason"), str)))


# meta field -> (check(value, layers), what it must be); "config" is checked first, as a config file
META = {
    "epoch": (lambda v, n: _int(v), "an integer ≥ 0"),
    "class_names": (lambda v, n: _names(v, n[-1]), "a list of one distinct, printable name per class"),
    "feature_names": (lambda v, n: _names(v, n[0]), "a list of one distinct, printable name per input"),
    "n_features": (lambda v, n: v == n[0] and type(v) is int, "the number of inputs"),
    "rng_state": (lambda v, n: _rng_state(v), "a PCG64 generator state"),
    "optimizer": (lambda v, n: isinstance(v, str), "an optimizer name"),
    "schedule": (lambda v, n: _schedule(v), "a schedule state"),
    "early_stopping": (lambda v, n: _early_stopping(v), "an early-stopping state"),
    "best_val_loss": (lambda v, n: _optional_number(v), "a number"),
    "best_epoch": (lambda v, n: _int(v), "an integer ≥ 0"),
    "seconds": (lambda v, n: _number(v) and v >= 0, "a number ≥ 0"),
    "nnctl_version": (lambda v, n: isinstance(v, str), "a version string"),
}
OPTIONAL_META = {  # fields that checkpoints of earlier versions of this format lack
    "data_fingerprint": (lambda v, n: _fingerprint(v), "a data fingerprint (rows, features, X, labels)"),
    "initial_loss": (lambda v, n: _optional_number(v), "a number"),
    "columns": (lambda v, n: valid_json(v), "a list of the columns read (name, kind, fill, categories)"),
}


def _check_meta(path, meta):
    """Every meta field, so that a malformed meta (even one whose checksum was recomputed) gives a
    ``CheckpointError`` here rather than a crash in whichever command reads the field. Resolves
    ``meta["config"]`` in place; returns the layer sizes."""
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path}: meta does not describe an nnctl network (no config mapping)")
    try:
        meta["config"] = config_mod.of_checkpoint(meta["config"], f"{path}: meta config")
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None
    layers = meta["config"]["model"]["layers"]
    for name, (check, what) in [*META.items(), *OPTIONAL_META.items()]:
        if name not in meta:
            if name in OPTIONAL_META:
                continue
            raise CheckpointError(f"{path}: meta has no {name}")
        if not check(meta[name], layers):
            raise CheckpointError(f"{path}: meta {name} must be {what}, got {_short(meta[name])}")
    if "columns" in meta and input_names([Column.from_json(c) for c in meta["columns"]]) != meta["feature_names"]:
        raise CheckpointError(f"{path}: meta columns do not make the network's inputs {_short(meta['feature_names'])}")
    if meta["optimizer"] != meta["config"]["train"]["optimizer"]:
        raise CheckpointError(f"{path}: meta optimizer {meta['optimizer']!r} is not the config's "
                              f"{meta['config']['train']['optimizer']!r}")
    return layers


def _short(value, limit=60):
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "…"


def is_checkpoint_path(path):
    return str(path).endswith(".npz")
