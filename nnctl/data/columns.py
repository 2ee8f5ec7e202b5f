"""A table's columns as a network reads them: which column is the label, which are dropped, which hold numbers
and which categories, and what is fitted on the train split to make them the network's inputs: the value a
missing cell gets (``data.impute``) and the categories of one-hot encoding (``data.categorical``).

Fitting uses scikit-learn's ``SimpleImputer`` and ``OneHotEncoder``; what they learn is kept as plain values
(a ``Column`` per column, JSON in the checkpoint), and applying it (``encode``) uses NumPy alone, so that
``predict`` imports no scikit-learn. A ``Frame`` holds a table's feature rows before anything is fitted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})  # a missing cell, compared casefolded
IMPUTE = ("none", "mean", "median", "most_frequent")
KINDS = ("number", "category")


def is_missing(cell):
    return cell.strip().casefold() in MISSING


@dataclass
class Column:
    """One column the network reads. ``fill``: what a missing cell becomes (``None``: a missing cell is an
    error); ``categories``: a category column's one-hot order, learnt from the train split."""

    name: str
    kind: str = "number"
    fill: object = None
    categories: list = None

    def inputs(self):
        """The names of the network inputs this column becomes."""
        if self.kind == "number":
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories]

    def to_json(self):
        out = {"name": self.name, "kind": self.kind, "fill": self.fill}
        if self.kind == "category":
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_json(cls, value):
        return cls(value["name"], value["kind"], value.get("fill"), value.get("categories"))


def valid_json(value):
    """Whether ``value`` is a list of columns as ``Column.to_json`` writes them (for the checkpoint check)."""
    if not isinstance(value, list) or not value:
        return False
    names = set()
    for c in value:
        if not isinstance(c, dict) or c.get("kind") not in KINDS or not isinstance(c.get("name"), str):
            return False
        names.add(c["name"])
        if c["kind"] == "number":
            if c.get("fill") is not None and not (isinstance(c["fill"], (int, float)) and np.isfinite(c["fill"])):
                return False
        else:
            cats = c.get("categories")
            if not isinstance(cats, list) or not all(isinstance(x, str) for x in cats) or cats != sorted(set(cats)):
                return False
            if c.get("fill") is not None and c["fill"] not in cats:  # a fill is one of the train split's values
                return False
    return len(names) == len(value)


def input_names(columns):
    return [name for c in columns for name in c.inputs()]


@dataclass
class Frame:
    """Feature rows of a table: ``columns`` (names and kinds, in the table's order), the number columns'
    values as floats (NaN where missing), the category columns' cells as text ("" where missing)."""

    columns: list
    numbers: np.ndarray  # (m, number columns) float64
    texts: np.ndarray = field(default=None)  # (m, category columns) str
    ids: list = None  # predict --id: the id column's cells

    def __post_init__(self):
        if self.texts is None:
            self.texts = np.empty((len(self.numbers), 0), dtype=str)

    def __len__(self):
        return len(self.numbers)

    @property
    def names(self):
        return [c.name for c in self.columns]

    def take(self, index):
        return Frame(self.columns, self.numbers[index], self.texts[index])


def _refer(ref, header, what, where):
    """The position of the column ``ref`` (a header name or a 0-based index) names."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        if not 0 <= ref < len(header):
            raise DataError(f"{where}: {what}: column index {ref} is outside 0..{len(header) - 1}")
        return ref
    if ref not in header:
        raise DataError(f"{where}: {what}: no column named {ref!r} in the header ({', '.join(header)})")
    return header.index(ref)


def layout(header, data, where):
    """``(label position, feature positions, category positions)`` of a header under ``data``'s keys
    ``label``, ``drop`` and ``categorical`` (a list there; ``auto`` is decided from the cells by the reader).
    A column named twice (in ``drop``, or as the label and a dropped column) is an error."""
    label = data.get("label")
    if label is None:
        label_at = header.index("label") if "label" in header else len(header) - 1
    else:
        label_at = _refer(label, header, "data.label", where)
    named = {label_at: "data.label"}
    for ref in data.get("drop") or []:
        at = _refer(ref, header, "data.drop", where)
        if at in named:
            raise DataError(f"{where}: data.drop: column {header[at]!r} is named twice ({named[at]} and data.drop)")
        named[at] = "data.drop"
    features = [i for i in range(len(header)) if i not in named]
    if not features:
        raise DataError(f"{where}: no feature column is left after data.label and data.drop")
    categorical = data.get("categorical", "auto")
    chosen = set()
    if isinstance(categorical, list):
        for ref in categorical:
            at = _refer(ref, header, "data.categorical", where)
            if at in named or at in chosen:
                raise DataError(f"{where}: data.categorical: column {header[at]!r} is named twice "
                                f"({named.get(at, 'data.categorical')} and data.categorical)")
            chosen.add(at)
    return label_at, features, chosen


def _float(cell):
    if "_" in cell:  # float() reads 1_000 as 1000 (Python literal syntax); a CSV number has no "_"
        raise ValueError
    return float(cell)


def is_number(cell):
    try:
        _float(cell)
    except ValueError:
        return False
    return True


FILL_HINT = "set data.impute to mean, median or most_frequent to fill missing cells"


def read_rows(body, header, positions, kinds, fills, where, hint="", missing=FILL_HINT):
    """A ``Frame`` of the cells at ``positions`` of ``body`` (``(line, cells)`` rows): ``kinds`` per position,
    and ``fills`` per position, whether a missing cell is allowed (its column fills it later). A missing cell
    elsewhere is an error (the message ends with ``missing``), as is a cell of a number column that is not a
    finite number (the message ends with ``hint``)."""
    columns = [Column(header[p], k) for p, k in zip(positions, kinds)]
    num = [(p, f) for p, k, f in zip(positions, kinds, fills) if k == "number"]
    cat = [(p, f) for p, k, f in zip(positions, kinds, fills) if k == "category"]
    numbers = np.empty((len(body), len(num)))
    texts = np.empty((len(body), len(cat)), dtype=object)
    for i, (line, row) in enumerate(body):
        for j, (p, fill) in enumerate(num):
            cell = row[p]
            try:
                value = _float(cell)
            except ValueError:
                if not is_missing(cell):
                    raise DataError(f"{where}: line {line}, column {header[p]!r}: not a number: {cell.strip()!r}"
                                    f"{hint}") from None
                value = np.nan
            if value != value:  # a missing cell (NaN is a usual spelling of one)
                if not fill:
                    raise DataError(f"{where}: line {line}, column {header[p]!r}: missing value; {missing}")
            elif value in (np.inf, -np.inf):
                raise DataError(f"{where}: line {line}, column {header[p]!r}: {cell.strip()} is not a finite number")
            numbers[i, j] = value
        for j, (p, fill) in enumerate(cat):
            cell = row[p].strip()
            if is_missing(cell):
                if not fill:
                    raise DataError(f"{where}: line {line}, column {header[p]!r}: missing value; {missing}")
                cell = ""
            texts[i, j] = cell
    return Frame(columns, numbers, texts.astype(str) if cat else np.empty((len(body), 0), dtype=str))


MAX_ID_LIKE = 20  # a text column with more categories than this and than half its rows looks like an id


def check_inputs(columns, rows, where, explicit=False):
    """Refuse what would make a network its checkpoint cannot describe, before anything is written: input names
    that are empty, not printable, or twice the same (a column ``colour`` with category ``red`` beside a column
    named ``colour=red``), and a text column with about as many categories as rows (an id: its one-hot block
    would be as wide as the data is long), unless ``data.categorical`` listed the columns (``explicit``)."""
    for c in columns:
        if c.kind == "category":
            if len(c.categories) > max(MAX_ID_LIKE, rows // 2) and not explicit:
                raise DataError(f"{where}: column {c.name!r} has {len(c.categories):,} different values in "
                                f"{rows:,} train rows; it looks like an id: add it to data.drop (or list it in "
                                "data.categorical to one-hot encode it anyway)")
            bad = [x for x in c.categories if not x.isprintable()]
            if bad:
                raise DataError(f"{where}: column {c.name!r}: the category {bad[0]!r} holds a control character; "
                                "categories must be printable text")
    names = input_names(columns)
    seen = set()
    for name in names:
        if name in seen:
            raise DataError(f"{where}: two inputs would be named {name!r} (a column of that name, and a category "
                            "of another column); rename or drop one")
        seen.add(name)


def fit(frame, impute, where):
    """The fitted columns of ``frame`` (a train split): each number column's fill (mean, median or most
    frequent value, by scikit-learn's ``SimpleImputer``), each category column's fill (its most frequent
    category) and categories (scikit-learn's ``OneHotEncoder``, sorted). With ``impute`` ``none`` nothing
    is filled."""
    columns = [Column(c.name, c.kind) for c in frame.columns]
    numeric = [c for c in columns if c.kind == "number"]
    category = [c for c in columns if c.kind == "category"]
    if not len(frame):
        raise DataError(f"{where}: the train split has no rows to fit the columns on")
    if impute != "none" and numeric:
        from sklearn.impute import SimpleImputer

        values = SimpleImputer(strategy=impute, keep_empty_features=True).fit(frame.numbers).statistics_
        empty = np.isnan(frame.numbers).all(axis=0)
        if empty.any():
            name = numeric[int(np.flatnonzero(empty)[0])].name
            raise DataError(f"{where}: column {name!r} has no value in the train split to impute from")
        for c, v in zip(numeric, values):
            c.fill = float(v)
    if category:
        texts = frame.texts
        if impute != "none":
            from sklearn.impute import SimpleImputer

            imputer = SimpleImputer(strategy="most_frequent", missing_values="", keep_empty_features=True)
            texts = imputer.fit_transform(texts.astype(object)).astype(str)
            for j, c in enumerate(category):
                if (frame.texts[:, j] == "").all():
                    raise DataError(f"{where}: column {c.name!r} has no value in the train split to impute from")
                c.fill = str(imputer.statistics_[j])
        from sklearn.preprocessing import OneHotEncoder

        encoder = OneHotEncoder(handle_unknown="ignore").fit(texts.astype(object))
        for c, cats in zip(category, encoder.categories_):
            c.categories = [str(x) for x in cats]
    return columns


def encode(columns, frame, where):
    """``(X, unseen)``: the network inputs ``(m, n0)`` for ``frame``'s rows under the fitted ``columns`` (same
    names and kinds, in order), and how many rows held a category the train split did not. Missing cells
    get their column's fill; a missing cell in a column without one is an error. An unseen category is
    all zeros in its column's one-hot block. Without category columns, ``X`` is ``frame.numbers`` itself."""
    m = len(frame)
    if all(c.kind == "number" for c in columns):  # numbers only: frame's own array, filled in place
        X = frame.numbers
        for j, c in enumerate(columns):
            gaps = np.isnan(X[:, j])
            if gaps.any():
                if c.fill is None:
                    raise DataError(f"{where}: row {int(np.flatnonzero(gaps)[0]) + 1}, column {c.name!r}: missing "
                                    "value, and the network was trained without data.impute")
                X[gaps, j] = c.fill
        return X, 0
    widths = [1 if c.kind == "number" else len(c.categories) for c in columns]
    X = np.zeros((m, sum(widths)))
    unseen = np.zeros(m, dtype=bool)
    at = num = cat = 0
    for c, width in zip(columns, widths):
        if c.kind == "number":
            values = frame.numbers[:, num]
            num += 1
            gaps = np.isnan(values)
            if gaps.any():
                if c.fill is None:
                    raise DataError(f"{where}: row {int(np.flatnonzero(gaps)[0]) + 1}, column {c.name!r}: missing "
                                    "value, and the network was trained without data.impute")
                values = np.where(gaps, c.fill, values)
            X[:, at] = values
        else:
            cells = frame.texts[:, cat]
            cat += 1
            gaps = cells == ""
            if gaps.any():
                if c.fill is None:
                    raise DataError(f"{where}: row {int(np.flatnonzero(gaps)[0]) + 1}, column {c.name!r}: missing "
                                    "value, and the network was trained without data.impute")
                cells = np.where(gaps, c.fill, cells)
            known = np.asarray(c.categories, dtype=str)
            where_in = np.searchsorted(known, cells)
            hit = where_in < len(known)
            hit[hit] = known[where_in[hit]] == cells[hit]
            X[np.flatnonzero(hit), at + where_in[hit]] = 1.0
            unseen |= ~hit
        at += width
    return X, int(unseen.sum())
