"""``nnctl sweep --repeat K``: every point of the sweep trained with K seeds, and the mean ± std per point.

The seeds are the config's ``seed`` (or ``--set seed=N``) and the K−1 integers after it, added to the sweep
as the last grid key ``seed``: each run keeps its own run directory and row, and a point's runs are
neighbours in ``results.csv``. The seed drives everything random in a run (the generated data and its split,
the initial weights, the shuffling), so the spread over seeds is the spread a user would see.
"""
from __future__ import annotations

import math

from . import config as config_mod
from .text import number

SUMMARY = "summary.csv"  # the sweep directory's table of points, beside results.csv


def with_seeds(config_path, grids, overrides, repeat):
    """``(grids, overrides)`` with ``--grid seed=s,…,s+K−1`` added (and a ``--set seed`` folded into it); a
    ``seed`` among the ``grids`` keys is refused before (``sweep.check_options``)."""
    if repeat == 1:
        return grids, overrides
    seed = config_mod.load(config_path, overrides)["seed"]
    rest = [o for o in overrides if config_mod.parse_override(o)[0] != "seed"]
    return [*grids, "seed=" + ",".join(str(seed + i) for i in range(repeat))], rest


def summarize(keys, rows):
    """``(point_keys, points)``: the rows grouped by every key but ``seed``, in sweep order; for each point
    the number of runs, how many ended ``ok``, and the mean and sample standard deviation (n−1) of each
    figure over its ``ok`` runs (no std below two)."""
    from .sweep import FIGURES

    point_keys = [k for k in keys if k != "seed"]
    groups = {}
    for row in rows:
        groups.setdefault(tuple(repr(row[k]) for k in point_keys), []).append(row)
    points = []
    for members in groups.values():
        ok = [r for r in members if r["status"] == "ok"]
        point = {k: members[0][k] for k in point_keys}
        point.update(runs=len(members), ok=len(ok))
        for figure in FIGURES:
            values = [r[figure] for r in ok if r[figure] is not None]
            mean = math.fsum(values) / len(values) if values else None
            std = (math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
                   if len(values) > 1 else None)
            point.update({f"{figure}_mean": mean, f"{figure}_std": std})
        points.append(point)
    return point_keys, points


def summary_columns(point_keys):
    from .sweep import FIGURES

    return [*point_keys, "runs", "ok", *(f"{f}_{s}" for f in FIGURES for s in ("mean", "std"))]


def to_csv(point_keys, points):
    from .sweep import to_csv as table

    return table(point_keys, points, summary_columns(point_keys))


def format_table(point_keys, points):
    """The points as an aligned text table: ``ok`` as ``ok/runs``, each figure as ``mean ± std``."""
    from .sweep import FIGURES, _cell

    head = [*point_keys, "ok", *FIGURES]
    cells = [[*(_cell(p[k]) for k in point_keys), f"{p['ok']}/{p['runs']}",
              *(_mean_std(p[f"{f}_mean"], p[f"{f}_std"]) for f in FIGURES)] for p in points]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *cells])


def _mean_std(mean, std):
    if mean is None:
        return "-"
    return f"{number(mean)} ± {number(std)}" if std is not None else number(mean)
