"""Checkpoints: one ``.npz`` of plain arrays plus a JSON ``meta`` string; no pickle anywhere.

Arrays: ``W1…WL`` ``(n(l), n(l-1))``, ``b1…bL`` ``(n(l),)``, ``scaler_center``/``scaler_scale`` ``(n0,)``,
``opt_<name>`` for optimizer state. ``meta`` holds the resolved config, epoch, class names, RNG state,
format version and a SHA-256 of every array, verified on load. Writes are atomic.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CheckpointError, RunDirError

FORMAT_VERSION = 2  # 2: the checksum covers the meta too
TEMP_SUFFIX = ".tmp"  # atomic_write's temporary files: .<name>.<random>.tmp beside the target


@dataclass
class Checkpoint:
    params: dict
    scaler: dict
    meta: dict
    opt_state: dict = field(default_factory=dict)

    @property
    def config(self):
        return self.meta["config"]


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


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_file_mode(path):
    """The mode ``path`` has, or the umask's default: mkstemp's 0600 must not leak into the result."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    Any failure (disk full, read-only directory, Ctrl-C) leaves ``path`` as it was and removes the
    temporary file; an ``OSError`` becomes a ``RunDirError`` naming ``path``.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _new_file_mode(path))
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise RunDirError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
    _fsync_dir(path.parent)


def remove_stale_temps(directory):
    """Delete temporary files a killed ``atomic_write`` left in ``directory``; they are never read."""
    for stale in Path(directory).glob(f".*{TEMP_SUFFIX}"):
        try:
            stale.unlink()
        except OSError:
            pass


def save(path, ckpt):
    """Write ``ckpt`` to ``path`` atomically."""
    arrays = dict(ckpt.params)
    arrays["scaler_center"] = ckpt.scaler["center"]
    arrays["scaler_scale"] = ckpt.scaler["scale"]
    arrays.update({f"opt_{k}": v for k, v in ckpt.opt_state.items()})
    meta = dict(ckpt.meta, format_version=FORMAT_VERSION)
    meta["checksum"] = checksum(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path):
    """Read and verify a checkpoint; any problem is a ``CheckpointError`` naming the file."""
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
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        reason = "holds pickled objects" if "allow_pickle" in str(exc) else f"damaged .npz archive ({exc})"
        raise CheckpointError(f"{path}: {reason}") from None
    except Exception as exc:  # a damaged zip can fail deep inside zlib or zipfile
        raise CheckpointError(f"{path}: damaged checkpoint ({type(exc).__name__}: {exc})") from None
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: not an nnctl checkpoint (no meta array)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
        version = meta["format_version"]
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: meta is not valid checkpoint JSON") from None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version}; this nnctl reads version {FORMAT_VERSION}")
    if meta.get("checksum") != checksum(arrays, meta):
        raise CheckpointError(f"{path}: checksum mismatch: the file is damaged or was modified")
    layers = _check_meta(path, meta)
    try:
        params = {}
        for l in range(1, len(layers)):
            for name, shape in ((f"W{l}", (layers[l], layers[l - 1])), (f"b{l}", (layers[l],))):
                if name not in arrays:
                    raise CheckpointError(f"{path}: missing array {name}")
                if arrays[name].shape != shape:
                    raise CheckpointError(f"{path}: {name} has shape {arrays[name].shape}, expected {shape}")
                if arrays[name].dtype.kind != "f":
                    raise CheckpointError(f"{path}: {name} has dtype {arrays[name].dtype}, expected floats")
                params[name] = arrays[name]
        scaler = {"center": arrays["scaler_center"], "scale": arrays["scaler_scale"]}
    except KeyError as exc:
        raise CheckpointError(f"{path}: missing {exc.args[0]}") from None
    if scaler["center"].shape != (layers[0],) or scaler["scale"].shape != (layers[0],):
        raise CheckpointError(f"{path}: scaler arrays do not have {layers[0]} entries")
    opt_state = {k[4:]: v for k, v in arrays.items() if k.startswith("opt_")}
    return Checkpoint(params, scaler, meta, opt_state)


def _check_meta(path, meta):
    """The meta fields every command relies on, checked so that a malformed meta (even one whose
    checksum was recomputed) gives a ``CheckpointError`` rather than a crash further on."""
    try:
        layers, names, epoch = meta["config"]["model"]["layers"], meta["class_names"], meta["epoch"]
        ok = (isinstance(layers, list) and len(layers) >= 2
              and all(type(n) is int and n >= 1 for n in layers)
              and isinstance(names, list) and len(names) == layers[-1] and all(isinstance(c, str) for c in names)
              and type(epoch) is int and epoch >= 0)
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise CheckpointError(f"{path}: meta does not describe an nnctl network "
                              "(needs config.model.layers, class_names and epoch)")
    return layers


def is_checkpoint_path(path):
    return str(path).endswith(".npz")
