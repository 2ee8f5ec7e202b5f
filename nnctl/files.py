"""Writing files so that a failure at any moment leaves every file whole: the one way nnctl writes."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import RunDirError

# atomic_write's temporary files: .<name>.nnctl-<random>.tmp beside the target. The name is nnctl's own,
# so that clearing what a killed write left behind never touches a file of the user's.
TEMP_PREFIX = "nnctl-"
TEMP_SUFFIX = ".tmp"


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
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{TEMP_PREFIX}", suffix=TEMP_SUFFIX, dir=path.parent)
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


def write_text(path, text):
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def remove_stale_temps(directory):
    """Delete the temporary files a killed ``atomic_write`` left in ``directory`` (regular files with
    nnctl's own name pattern only; they are never read)."""
    for stale in Path(directory).glob(f".*.{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        try:
            if stale.is_file() and not stale.is_symlink():
                stale.unlink()
        except OSError:
            pass
