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


def _rows(text, where):
    text = text.removeprefix("\ufeff")  # the byte-order mark spreadsheet programs put before the header
    # newline=None: a lone \r (old Mac files) ends a line instead of failing inside the csv module.
    reader = csv.reader(io.StringIO(text, newline=None))
    try:
        rows = [(n, row) for n, row in enumerate(reader, start=1) if row and any(cell.strip() for cell in row)]
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise DataError(f"{where}: line {reader.line_num}: not valid CSV ({exc})") from None
    if not rows:
        raise DataError(f"{where}: the file is empty")
    return rows


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
    try:
        [float(cell) for cell in row]
    except ValueError:
        return True
    return False


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


def read_features(text, where, n_features):
    """Feature rows for ``predict``: header optional; a ``label`` column, if named, is ignored."""
    rows = _rows(text, where)
    first = [cell.strip() for cell in rows[0][1]]
    if _is_header(first):
        header, body = first, rows[1:]
        if "label" in header:
            at = header.index("label")
            header = header[:at] + header[at + 1:]
            body = [(line, row[:at] + row[at + 1:]) if len(row) == len(first) else (line, row)
                    for line, row in body]
    else:
        header, body = [f"x{i + 1}" for i in range(len(first))], rows
    if len(header) != n_features:
        raise DataError(f"{where}: the network takes {n_features} features per row, the input has {len(header)}")
    return _features(body, header, where)
