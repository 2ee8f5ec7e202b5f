"""Writing files so that a failure at any moment leaves every file whole: the one way nnctl writes."""
from __future__ import annotations

import contextvars
import os
import tempfile
from contextlib import contextmanager
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


_BATCH = contextvars.ContextVar("nnctl_write_batch", default=None)  # {path: write} inside write_batch()


@contextmanager
def write_batch():
    """A block whose ``atomic_write`` calls are deferred and done together when it ends (or at ``flush``).

    A path written twice in the block is written once, with the last contents. At the end every file goes to
    its temporary file, one ``os.sync()`` makes them all durable, they are renamed over their targets, and one
    more ``os.sync()`` makes the renames durable: the guarantee of ``atomic_write`` (every file whole, old or
    new, after a kill or a crash) at two syncs for the whole batch instead of two fsyncs a file. Until then
    the targets keep their old contents: nothing in the block may read what it wrote before ``flush``. A block
    left by an exception writes nothing more. Yields the ``flush`` function."""
    pending = {}
    token = _BATCH.set(pending)
    try:
        yield lambda: _flush(pending)
        _flush(pending)
    finally:
        _BATCH.reset(token)


def _flush(pending):
    if not pending:
        return
    written = []
    try:
        for path, write in pending.items():
            written.append((_write_temp(path, write, sync=False), path))
        os.sync()
        for tmp, path in written:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise RunDirError(f"{path}: cannot write: {exc.strerror or exc}") from None
        written.clear()
        os.sync()
    finally:
        pending.clear()
        for tmp, _ in written:
            _unlink(tmp)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_temp(path, write, sync=True):
    """``write(file)`` into a new temporary file beside ``path`` (fsynced if ``sync``); its name. Any failure
    removes it; an ``OSError`` becomes a ``RunDirError`` naming ``path``."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{TEMP_PREFIX}", suffix=TEMP_SUFFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _new_file_mode(path))
            write(f)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        return tmp
    except BaseException as exc:
        if tmp is not None:
            _unlink(tmp)
        if isinstance(exc, OSError):
            raise RunDirError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    Any failure (disk full, read-only directory, Ctrl-C) leaves ``path`` as it was and removes the
    temporary file; an ``OSError`` becomes a ``RunDirError`` naming ``path``. Inside ``write_batch`` the
    write is deferred to the batch's end (``write`` is then called later: it must not depend on state that
    changes meanwhile).
    """
    path = Path(path)
    pending = _BATCH.get()
    if pending is not None:
        pending.pop(path, None)  # the latest contents, in the order of the latest write
        pending[path] = write
        return
    tmp = _write_temp(path, write)
    try:
        os.replace(tmp, path)
    except BaseException as exc:
        _unlink(tmp)
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
