"""CSV reading with the standard library and NumPy only (``predict`` must not import scikit-learn).

Training files have a header row; the label column is the one named ``label``, else the last.
Every feature cell must be a finite number; errors name the file, the line and the column.
"""
from __future__ import annotations

import codecs
import csv
import io
import math
import os
import select
import stat

import numpy as np

from ..errors import DataError
from .preprocess import column_order


def _rows(text, where):
    """``(line number, cells)`` of every non-blank row."""
    text = text.removeprefix("\ufeff")  # the byte-order mark spreadsheet programs put before the header
    # newline=None: a lone \r (old Mac files) ends a line instead of failing inside the csv module.
    reader = csv.reader(io.StringIO(text, newline=None))
    try:
        rows = [(n, row) for n, row in enumerate(reader, start=1)]
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise DataError(f"{where}: line {reader.line_num}: not valid CSV ({exc})") from None
    filled = [(n, row) for n, row in rows if row and any(cell.strip() for cell in row)]
    if not filled:
        raise DataError(f"{where}: the file is empty")
    return filled


def _number(cell, where, line, column):
    try:
        if "_" in cell:  # float() reads 1_000 as 1000 (Python literal syntax); a CSV number has no "_"
            raise ValueError
        value = float(cell)
    except ValueError:
        raise DataError(f"{where}: line {line}, column {column!r}: not a number: {cell.strip()!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: line {line}, column {column!r}: {cell.strip()} is not a finite number")
    return value


def _features(rows, header, where, as_in="as in the header"):
    width = len(header)
    X = np.empty((len(rows), width))
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise DataError(f"{where}: line {line}: expected {width} cells {as_in}, got {len(row)}")
        X[i] = [_number(cell, where, line, name) for cell, name in zip(row, header)]
    return X


def _is_header(row):
    """A header row has no cell that reads as a number (a data row with one bad cell is still data)."""
    for cell in row:
        try:
            float(cell)
        except ValueError:
            continue
        return False
    return True


def read_labeled(text, where):
    """Return ``(X, labels, feature_names)`` from CSV text with a header row."""
    rows = _rows(text, where)
    header = [cell.strip() for cell in rows[0][1]]
    body = rows[1:]
    if len(header) < 2:
        raise DataError(f"{where}: line {rows[0][0]}: need at least one feature column and a label column")
    twice = sorted({name for name in header if name and header.count(name) > 1})
    if twice:
        raise DataError(f"{where}: line {rows[0][0]}: column {twice[0]!r} appears more than once in the header")
    label_at = header.index("label") if "label" in header else len(header) - 1
    if not _is_header(header[:label_at] + header[label_at + 1:]):
        raise DataError(f"{where}: line {rows[0][0]}: expected a header row of column names, got numbers; "
                        "add one, e.g. x1,x2,label")
    if not body:
        raise DataError(f"{where}: only a header row, no data rows")
    for line, row in body:
        if len(row) != len(header):
            raise DataError(f"{where}: line {line}: expected {len(header)} cells as in the header, got {len(row)}")
    labels = [row[label_at].strip() for _, row in body]
    for (line, _), label in zip(body, labels):
        if not label:
            raise DataError(f"{where}: line {line}, column {header[label_at]!r}: empty label")
        if not label.isprintable():  # a newline or control character would break predict's one line per row
            raise DataError(f"{where}: line {line}, column {header[label_at]!r}: the label {label!r} holds a "
                            "control character; class names must be printable text")
    names = header[:label_at] + header[label_at + 1:]
    feature_rows = [(line, row[:label_at] + row[label_at + 1:]) for line, row in body]
    return _features(feature_rows, names, where), labels, names


PAUSE = "\x1fnnctl: nothing more for now\x1f"  # a line no CSV input holds: the source has nothing to read yet


def line_limit(n_features):
    """The longest input line a network of ``n_features`` inputs accepts: ample for the numbers and a few
    extra columns (ids, labels), and a bound on what one line may cost."""
    return max(1 << 16, 64 * n_features)


def lines_of(source, where, limit):
    """The text lines of ``source`` as they arrive, each at most ``limit`` characters (a longer one is a
    ``DataError`` as soon as that many have been read, however long the line goes on).

    ``source`` is a file object or any iterable of lines. A pipe or terminal is read as its data comes, and
    when it has nothing to read for the moment the line ``PAUSE`` comes first, so that a reader can answer
    what it has before waiting (``tail -f log.csv | nnctl predict``).
    """
    fd, regular = _descriptor(source)
    if fd is None:  # text in memory, a list of lines
        for number, line in enumerate(source, start=1):
            if len(line) > limit:
                raise DataError(f"{where}: line {number}: longer than {limit:,} characters; no row this network "
                                "reads is")
            yield line
        return
    decoder, pending, number, fresh = codecs.getincrementaldecoder("utf-8")(), "", 0, False
    while True:
        end = pending.find("\n")
        while end >= 0:
            line, pending = pending[:end + 1], pending[end + 1:]
            number += 1
            fresh = True  # lines went out since the last pause
            yield line
            end = pending.find("\n")
        if len(pending) > limit:
            raise DataError(f"{where}: line {number + 1}: longer than {limit:,} characters; no row this network "
                            "reads is")
        if fresh and not regular and not select.select([fd], [], [], 0)[0]:
            fresh = False
            yield PAUSE  # nothing to read for now: the reader answers what it has before os.read waits
        data = os.read(fd, 1 << 16)
        if not data:
            pending += decoder.decode(b"", final=True)
            if pending:
                yield pending
            return
        pending += decoder.decode(data)


def _descriptor(source):
    """``(fd, is a regular file)`` of ``source``, read in blocks; ``(None, False)`` for text in memory."""
    try:
        fd = source.fileno()
        return fd, stat.S_ISREG(os.fstat(fd).st_mode)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None, False


def iter_features(lines, where, feature_names, chunk=65536):
    """Feature rows for ``predict``, as float arrays of up to ``chunk`` rows, read as they arrive.

    ``lines`` is a file object (stdin too) or any iterable of text lines, read through ``lines_of``: what has
    arrived is answered when a pipe pauses, and no line may be longer than ``line_limit``. The header is
    optional. With one, every row is
    read through it: columns are picked by ``preprocess.column_order`` (by the training ``feature_names``
    when all are present, so the training CSV itself can be piped in), and a row of another width is an
    error. Without one, the columns are the features in order. A blank row before another row is an
    error: every row gets one answer.
    """
    def without_bom(lines):
        first = True
        for line in lines:
            yield line.removeprefix("\ufeff") if first else line
            first = False

    n_features = len(feature_names)
    reader = csv.reader(without_bom(lines_of(lines, where, line_limit(n_features))))
    names, cols, width, blank, batch, seen_row, pauses = None, None, None, None, [], False, 0
    as_in = "as in the header"
    try:
        for row in reader:
            if row == [PAUSE]:
                pauses += 1
                if batch:
                    yield _features(batch, names, where, as_in)
                    batch = []
                continue
            line = reader.line_num - pauses
            if not row or not any(cell.strip() for cell in row):
                blank = blank or line
                continue
            if blank is not None:
                raise DataError(f"{where}: line {blank}: empty row; remove it (every row gets one prediction)")
            if not seen_row:
                seen_row = True
                first = [cell.strip() for cell in row]
                if _is_header(first):
                    width = len(first)
                    cols = column_order(first, feature_names, where)
                    names = [first[i] for i in cols]
                    continue
                names = [f"x{i + 1}" for i in range(len(first))]
                as_in = "as in the first row"
                width = len(names)
                if width != n_features:
                    raise DataError(f"{where}: the network takes {n_features} features per row, "
                                    f"the input has {width}")
            if len(row) != width:  # refused as soon as it is read, and never read by guess
                raise DataError(f"{where}: line {line}: expected {width} cells {as_in}, got {len(row)}")
            if cols is not None:  # every row by the header
                row = [row[i] for i in cols]
            batch.append((line, row))
            if len(batch) == chunk:
                yield _features(batch, names, where, as_in)
                batch = []
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise DataError(f"{where}: line {reader.line_num}: not valid CSV ({exc})") from None
    if not seen_row:
        raise DataError(f"{where}: the file is empty")
    if batch or names is not None:
        yield _features(batch, names, where, as_in)


def read_features(text, where, feature_names):
    """``iter_features`` over a whole text, as one array."""
    parts = list(iter_features(io.StringIO(text, newline=None), where, feature_names))
    return np.concatenate(parts) if parts else np.empty((0, len(feature_names)))
