"""CSV reading with the standard library and NumPy only (``predict`` must not import scikit-learn).

Training files have a header row. Which column is the label, which are dropped and which hold categories is
``columns.layout``'s (keys ``data.label``, ``data.drop``, ``data.categorical``); a number column's cells must
be finite numbers, and a missing cell is an error unless ``data.impute`` fills it. Errors name the file, the
line and the column.
"""
from __future__ import annotations

import codecs
import collections
import csv
import io
import os
import select
import stat

import numpy as np

from ..errors import DataError
from . import columns as columns_mod
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


def _is_header(row):
    """A header row has no cell that reads as a number, as a data cell would (a data row with one bad cell is
    still data)."""
    return not any(columns_mod.is_number(cell) for cell in row)


def read_labeled(text, where, data=None, columns=None, trained=False):
    """``(frame, labels)`` from CSV text with a header row, under the ``data`` section of a config (defaults
    when ``None``). ``columns`` (names and kinds, e.g. the train source's or a trained network's) fixes which
    columns are read and how, by header name; otherwise ``data.categorical: auto`` makes a category column of
    every feature column holding a cell that is neither a number nor missing."""
    data = data or {}
    rows = _rows(text, where)
    header = [cell.strip() for cell in rows[0][1]]
    body = rows[1:]
    if len(header) < 2:
        raise DataError(f"{where}: line {rows[0][0]}: need at least one feature column and a label column")
    counts = collections.Counter(header)  # linear: a header may have tens of thousands of columns
    twice = sorted(name for name, n in counts.items() if name and n > 1)
    if twice:
        raise DataError(f"{where}: line {rows[0][0]}: column {twice[0]!r} appears more than once in the header")
    if columns is None:
        label_at, features, chosen = columns_mod.layout(header, data, where)
    else:
        label_at = columns_mod.layout(header, {"label": data.get("label")}, where)[0]
        features = column_order(header, [c.name for c in columns], where)
        if label_at in features:
            raise DataError(f"{where}: column {header[label_at]!r} is the label, and a feature of the network")
    if not _is_header([header[i] for i in features]):
        numbers = [header[i] for i in features if columns_mod.is_number(header[i])]
        if len(numbers) < len(features):  # some names are text: a header whose other names are numbers
            raise DataError(f"{where}: line {rows[0][0]}: column name {numbers[0]!r} is a number; name the columns "
                            f"with text (e.g. y{numbers[0]})")
        raise DataError(f"{where}: line {rows[0][0]}: expected a header row of column names, got numbers; "
                        "add one, e.g. x1,x2,label")
    unnamed = [i for i in features if not header[i].isprintable() or not header[i]]
    if unnamed:
        what = "no name" if not header[unnamed[0]] else f"the name {header[unnamed[0]]!r}, not printable text"
        raise DataError(f"{where}: line {rows[0][0]}: column {unnamed[0]} (0-based) has {what}; name it, or add "
                        "its index to data.drop")
    if not body:
        raise DataError(f"{where}: only a header row, no data rows")
    for line, row in body:
        if len(row) != len(header):
            raise DataError(f"{where}: line {line}: expected {len(header)} cells as in the header, got {len(row)}")
    labels = [row[label_at].strip() for _, row in body]
    for (line, _), label in zip(body, labels):
        if not label or columns_mod.is_missing(label):
            raise DataError(f"{where}: line {line}, column {header[label_at]!r}: missing label"
                            + (f" ({label!r})" if label else "") + "; every training row needs its class")
        if not label.isprintable():  # a newline or control character would break predict's one line per row
            raise DataError(f"{where}: line {line}, column {header[label_at]!r}: the label {label!r} holds a "
                            "control character; class names must be printable text")
    categorical = data.get("categorical", "auto")
    hint = ""
    if columns is not None:
        kinds = [c.kind for c in columns]
    elif categorical == "auto":
        kinds = [_auto_kind(body, p, header[p], where) for p in features]
    else:
        kinds = ["category" if p in chosen else "number" for p in features]
        hint = "; list the column in data.categorical to read it as categories"
    if trained:  # a trained network's columns: each fills a missing cell if it was trained to
        fills, missing = [c.fill is not None for c in columns], "the network was trained without data.impute"
    else:
        fills, missing = [data.get("impute", "none") != "none"] * len(features), columns_mod.FILL_HINT
    return columns_mod.read_rows(body, header, features, kinds, fills, where, hint, missing), labels


def _auto_kind(body, at, name, where):
    """``data.categorical: auto``: a column of text is a category column, one of numbers a number column.
    A column holding both is refused: its text is likelier a typo than a category."""
    text = [(line, row[at]) for line, row in body
            if not columns_mod.is_number(row[at]) and not columns_mod.is_missing(row[at])]
    if not text:
        return "number"
    if len(text) < len(body) and any(columns_mod.is_number(row[at]) for _, row in body):
        line, cell = text[0]
        raise DataError(f"{where}: line {line}, column {name!r}: not a number: {cell.strip()!r}; the column holds "
                        "numbers elsewhere (list it in data.categorical to read its cells as categories)")
    return "category"


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


def iter_features(lines, where, columns, chunk=65536, id_column=None):
    """Feature rows for ``predict``, as ``Frame``s of up to ``chunk`` rows of the (fitted) ``columns`` a
    network reads, read as they arrive.

    ``lines`` is a file object (stdin too) or any iterable of text lines, read through ``lines_of``: what has
    arrived is answered when a pipe pauses, and no line may be longer than ``line_limit``. The header is
    optional. With one, every row is
    read through it: columns are picked by ``preprocess.column_order`` (by the training columns' names, so
    the training CSV itself can be piped in), and a row of another width is an error. Without one, the
    columns are the network's in order. A missing cell is allowed where its column has a fill
    (``data.impute``). A blank row before another row is an error: every row gets one answer. With
    ``id_column``, a column of the header, each frame's ``ids`` holds that column's cells.
    """
    def without_bom(lines):
        first = True
        for line in lines:
            yield line.removeprefix("\ufeff") if first else line
            first = False

    feature_names = [c.name for c in columns]
    kinds, fills = [c.kind for c in columns], [c.fill is not None for c in columns]
    n_features = len(feature_names)

    def frame(rows):
        out = columns_mod.read_rows(rows, names, range(n_features), kinds, fills, where,
                                    missing="the network was trained without data.impute")
        if id_at is not None:
            out.ids = ids[:len(rows)]
            del ids[:len(rows)]
        return out

    id_at, ids = None, []

    reader = csv.reader(without_bom(lines_of(lines, where, line_limit(n_features))))
    names, cols, width, blank, batch, seen_row, pauses = None, None, None, None, [], False, 0
    as_in = "as in the header"
    try:
        for row in reader:
            if row == [PAUSE]:
                pauses += 1
                if batch:
                    yield frame(batch)
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
                named = set(first) & set(feature_names)
                # a row of text is a header, unless the network reads text (categories) and it names none
                if named == set(feature_names) or _is_header(first) and ("category" not in kinds or named):
                    width = len(first)
                    cols = column_order(first, feature_names, where)
                    names = [first[i] for i in cols]
                    if id_column is not None:
                        if id_column not in first:
                            raise DataError(f"{where}: --id: no column named {id_column!r} in the header")
                        id_at = first.index(id_column)
                    continue
                if id_column is not None:
                    raise DataError(f"{where}: --id {id_column}: the input has no header row to find it in")
                names = [f"x{i + 1}" for i in range(len(first))]
                as_in = "as in the first row"
                width = len(names)
                if width != n_features:
                    raise DataError(f"{where}: the network takes {n_features} features per row, "
                                    f"the input has {width}")
            if len(row) != width:  # refused as soon as it is read, and never read by guess
                raise DataError(f"{where}: line {line}: expected {width} cells {as_in}, got {len(row)}")
            if id_at is not None:
                ids.append(row[id_at])
            if cols is not None:  # every row by the header
                row = [row[i] for i in cols]
            batch.append((line, row))
            if len(batch) == chunk:
                yield frame(batch)
                batch = []
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise DataError(f"{where}: line {reader.line_num}: not valid CSV ({exc})") from None
    if not seen_row:
        raise DataError(f"{where}: the file is empty")
    if batch or names is not None:
        yield frame(batch)


def read_features(text, where, columns):
    """``iter_features`` over a whole text, as one ``Frame``."""
    parts = list(iter_features(io.StringIO(text, newline=None), where, columns))
    return columns_mod.Frame(parts[0].columns, np.concatenate([p.numbers for p in parts]),
                             np.concatenate([p.texts for p in parts]))
