"""CSV reading with the standard library and NumPy only (``predict`` must not import scikit-learn).

Training files have a header row; the label column is the one named ``label``, else the last.
Every feature cell must be a finite number; errors name the file, the line and the column.
"""
from __future__ import annotations

import csv
import io
import math

import numpy as np

from .errors import DataError


def _rows(text, where, blank_lines_ok=True):
    """``(line number, cells)`` of every non-blank row; with ``blank_lines_ok=False`` a blank row before
    the last data row is an error (``predict`` answers one line per row, so skipping one would shift them)."""
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
    if not blank_lines_ok:
        last = filled[-1][0]
        blank = next((n for n, row in rows if n < last and not (row and any(c.strip() for c in row))), None)
        if blank is not None:
            raise DataError(f"{where}: line {blank}: empty row; remove it (every row gets one prediction)")
    return filled


def _number(cell, where, line, column):
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{where}: line {line}, column {column!r}: not a number: {cell.strip()!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: line {line}, column {column!r}: {cell.strip()} is not a finite number")
    return value


def _features(rows, header, where):
    width = len(header)
    X = np.empty((len(rows), width))
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise DataError(f"{where}: line {line}: expected {width} cells as in the header, got {len(row)}")
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
    names = header[:label_at] + header[label_at + 1:]
    feature_rows = [(line, row[:label_at] + row[label_at + 1:]) for line, row in body]
    return _features(feature_rows, names, where), labels, names


def read_features(text, where, feature_names):
    """Feature rows for ``predict``, in the order of the network's ``feature_names``.

    The header is optional. With one, columns are picked by the training feature names when all are
    present (so the training CSV itself can be piped in), else a ``label`` column is dropped and the
    rest are taken in order. Without one, the columns are the features in order.
    """
    rows = _rows(text, where, blank_lines_ok=False)
    first = [cell.strip() for cell in rows[0][1]]
    n_features = len(feature_names)
    if _is_header(first):
        body = rows[1:]
        if set(feature_names) <= set(first) and len(set(feature_names)) == n_features:
            cols = [first.index(name) for name in feature_names]
        else:
            cols = [i for i, name in enumerate(first) if name != "label"]
        header = [first[i] for i in cols]
        if len(header) != n_features:
            raise DataError(f"{where}: the network takes {n_features} features per row "
                            f"({', '.join(feature_names)}), the input has {len(header)}")
        body = [(line, [row[i] for i in cols]) if len(row) == len(first) else (line, row) for line, row in body]
    else:
        header, body = [f"x{i + 1}" for i in range(len(first))], rows
        if len(header) != n_features:
            raise DataError(f"{where}: the network takes {n_features} features per row, the input has {len(header)}")
    return _features(body, header, where)
