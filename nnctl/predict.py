"""``nnctl predict``: NumPy only (no scikit-learn, no YAML) so that it starts fast in pipelines.

Input is read and answered in chunks of rows, so a long or endless stream (``yes 0.5,0.1 | nnctl predict``)
gets its answers as it goes, in bounded memory.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from .data.csvfile import iter_features
from .data.preprocess import first_non_finite_row
from .errors import DataError
from .training.checkpoint import TrainedModel


def predict_lines(checkpoint_path, lines, where, proba=False, write=None, chunk=65536, id_column=None,
                  with_label=False, digits=6):
    """Answer the CSV feature rows of ``lines`` (any iterable of text lines) chunk by chunk through
    ``write(text)``: one class name per line, or a probability CSV headed by the class names. With
    ``id_column`` (a column of the input's header) every answer starts with that row's id, under a header
    row; ``with_label`` adds the predicted class as a last column ``label`` to the probabilities; ``digits``
    is how many significant digits a probability is printed with (17 keeps every bit of a float64). Returns how
    many rows held a category the network's training data did not (encoded as all zeros)."""
    model = TrainedModel.open(checkpoint_path)
    net, classes, preprocessor = model.net, model.class_names, model.preprocessor
    plain = not proba and id_column is None  # one class name per line, no header
    head = ([id_column] if id_column is not None else []) + (classes if proba else []) \
        + (["label"] if with_label or not proba else [])
    done = unseen = 0
    for frame in iter_features(lines, where, preprocessor.read_columns, chunk, id_column):
        X, count = preprocessor.encode(frame, where)
        unseen += count
        X = preprocessor.transform(X).astype(net.dtype, copy=False)  # float32 overflows sooner than float64
        bad = first_non_finite_row(X)
        if bad is not None:  # a silent NaN would become class 0
            raise DataError(f"{where}: data row {done + bad + 1} overflows after the network's input scaling")
        out = io.StringIO()
        if plain:
            out.writelines(classes[k] + "\n" for k in net.predict(X))
        elif proba and id_column is None and not with_label:
            if done == 0:  # the header goes out with the first answers, so a bad first chunk prints nothing
                csv.writer(out, lineterminator="\n").writerow(classes)  # quoted where a name holds , or "
            np.savetxt(out, net.predict_proba(X), fmt=f"%.{digits}g", delimiter=",")
        else:
            writer = csv.writer(out, lineterminator="\n")
            if done == 0:
                writer.writerow(head)
            columns = [frame.ids] if id_column is not None else []
            if proba:
                columns += [[format(p, f".{digits}g") for p in col] for col in net.predict_proba(X).T]
            if with_label or not proba:
                columns.append([classes[k] for k in net.predict(X)])
            writer.writerows(zip(*columns))
        write(out.getvalue())
        done += len(X)
    return unseen


def predict_text(checkpoint_path, text, where, proba=False):
    """``predict_lines`` over a whole text, returning the whole answer."""
    parts = []
    predict_lines(checkpoint_path, io.StringIO(text, newline=None), where, proba, parts.append)
    return "".join(parts)
