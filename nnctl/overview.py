"""What a run will train, before it trains: the network (layers, parameters), the data (rows per split, the
columns read and the inputs they make), and the class balance of the train split. ``train`` writes the
paragraph on stderr; ``train --dry-run`` prints it (or its facts as JSON) and stops.
"""
from __future__ import annotations

import os
import textwrap

import numpy as np

from .data.splitting import SPLITS

SHOWN_COLUMNS = 6  # columns named in the paragraph; more are counted


def facts(config, data):
    """The overview as plain data (``--dry-run --json``)."""
    layers = config["model"]["layers"]
    y = data.splits["train"][1]
    counts = np.bincount(y, minlength=len(data.class_names))
    columns = []
    for c in data.preprocessor.read_columns:
        column = {"name": c.name, "kind": c.kind, "fill": c.fill}
        if c.kind == "category":
            column["categories"] = list(c.categories)
        columns.append(column)
    return {
        "layers": layers,
        "activation": config["model"]["activation"],
        "parameters": sum(n * m + n for m, n in zip(layers, layers[1:])),
        "source": data.source,
        "rows": {name: int(len(data.splits[name][1])) for name in SPLITS},
        "columns": columns,
        "inputs": data.n_features,
        "impute": config["data"]["impute"],
        "classes": {name: int(n) for name, n in zip(data.class_names, counts)},
        "unseen_categories": {name: int(data.unseen.get(name, 0)) for name in SPLITS},
    }


def paragraph(f, width=100, prefix="nnctl: "):
    """The overview as one wrapped paragraph."""
    rows = ", ".join(f"{n:,} {name}" for name, n in f["rows"].items())
    named = []
    for c in f["columns"][:SHOWN_COLUMNS]:
        named.append(c["name"] if c["kind"] == "number" else f"{c['name']}: {len(c['categories'])} categories")
    if len(f["columns"]) > SHOWN_COLUMNS:
        named.append(f"{len(f['columns']) - SHOWN_COLUMNS} more")
    filled = any(c["fill"] is not None for c in f["columns"])
    total = sum(f["classes"].values()) or 1
    balance = ", ".join(f"{name} {n:,} ({100 * n / total:.0f}%)" for name, n in f["classes"].items())
    source = f["source"]
    if os.path.isabs(source) and not os.path.relpath(source).startswith(".."):
        source = os.path.relpath(source)  # as the user would type it here
    text = (f"{prefix}network {f['layers']} ({f['activation']}), {f['parameters']:,} parameters. "
            f"Data {source}: {rows} rows; {f['inputs']} inputs from {len(f['columns'])} columns "
            f"({', '.join(named)})"
            + (f"; a missing cell gets its column's {f['impute'].replace('_', ' ')} value in the train split"
               if filled else "")
            + f". Classes in the train split: {balance}."
            + "".join(f" {n:,} {name} rows hold a category the train split lacks (all zeros in its one-hot "
                      "columns)." for name, n in f["unseen_categories"].items() if n))
    return textwrap.fill(text, width, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False)
