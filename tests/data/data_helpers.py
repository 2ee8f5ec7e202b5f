"""Helpers the data tests share: prepare a source by name, put its splits back together, write a CSV."""
from __future__ import annotations

import numpy as np

from nnctl import config
from nnctl.data import dataset as data


def prepare(source, **data_keys):
    return data.prepare(config.resolve({"data": {"source": str(source), **data_keys}}))


def all_rows(d):
    """The split rows put back together: raw X (after input_scale) and y, by original order of index."""
    X = np.concatenate([d.raw[name] for name in data.SPLITS])
    y = np.concatenate([d.splits[name][1] for name in data.SPLITS])
    return X, y


def write_csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path
