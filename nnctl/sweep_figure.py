"""A sweep's learning curves as small multiples: one panel per setting of the outer grid keys, one colour per
value of the innermost key, the seeds of a point in one colour, the best run marked, diverged runs crossed.

With one or two varying keys and up to ``OVERLAY_MAX`` runs, ``nnctl plot`` overlays every run instead
(``plot.plot_sweep``); past ``MAX_PANELS`` panels the runs share one panel and only the ``TOP`` best are coloured.
"""
from __future__ import annotations

import math

from .training.rundir import RunDir, read_metrics

OVERLAY_MAX = 10  # runs; more than this in one overlay cannot be told apart
MAX_PANELS = 24
TOP = 8
REPLICATE = "seed"  # a grid key whose runs are repeats of one point: drawn in one colour
METRICS = {"val_loss": "validation loss J", "train_loss": "train loss J", "val_acc": "validation accuracy",
           "train_acc": "train accuracy"}


def layout(keys, runs):
    """``(panel_keys, colour_key)`` from the keys whose values vary between ``runs`` (dicts with ``values``)."""
    varying = [k for k in keys if len({r["values"][k] for r in runs}) > 1]
    others = [k for k in varying if k.rsplit(".", 1)[-1] != REPLICATE]
    if not others:
        return [], None
    return others[:-1], others[-1]


def _is_grid(keys, runs):
    """Whether the runs' values of ``keys`` are every combination of each key's values (a grid's product)."""
    combos = {tuple(r["values"][k] for k in keys) for r in runs}
    return len(combos) == math.prod(len({r["values"][k] for r in runs}) for k in keys)


def best_run(runs):
    """The run with the lowest final validation loss (as ``nnctl runs`` marks it), among runs that ended well."""
    scored = [r for r in runs if r["status"] in ("ok", "") and _number(r["val_loss"]) is not None]
    return min(scored, key=lambda r: _number(r["val_loss"]), default=None)


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _label(keys, values):
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={values[k]}" for k in keys)


def _panels(panel_keys, runs):
    """``[(title, [runs])]`` in the sweep's order; and the grid shape ``(rows, cols)``."""
    order = []
    for r in runs:
        combo = tuple(r["values"][k] for k in panel_keys)
        if combo not in order:
            order.append(combo)
    panels = [(_label(panel_keys, dict(zip(panel_keys, c))), [r for r in runs if
               tuple(r["values"][k] for k in panel_keys) == c]) for c in order]
    if len(panel_keys) >= 2:
        cols = len({c[-1] for c in order})
        if cols * math.ceil(len(order) / cols) == len(order):
            return panels, (len(order) // cols, cols)
    cols = min(4, len(order))
    return panels, (math.ceil(len(order) / cols), cols)


def draw(plt, sweep_dir, keys, runs, metric="val_loss"):
    """The small-multiples figure of ``runs`` (dicts: ``values``, ``run_dir``, ``status``, ``val_loss``)."""
    from .plot import MAX_DRAWN, series

    panel_keys, colour_key = layout(keys, runs)
    panels, (rows, cols) = _panels(panel_keys, runs)
    top = None
    if len(panels) > MAX_PANELS or not _is_grid([*panel_keys, colour_key] if colour_key else [], runs):
        # too many panels, or points drawn rather than a grid (--sample, --search): one panel, the best in colour
        panels, (rows, cols), colour_key = [("", runs)], (1, 1), None
        ranked = sorted((r for r in runs if _number(r["val_loss"]) is not None), key=lambda r: _number(r["val_loss"]))
        top = ranked[:TOP]
    values = list(dict.fromkeys(r["values"][colour_key] for r in runs)) if colour_key else []
    palette = plt.get_cmap("tab10" if len(values) <= 10 else "viridis")
    colour = {v: palette(i if len(values) <= 10 else i / max(1, len(values) - 1)) for i, v in enumerate(values)}
    width = 3.6 * cols + 1.0 if top is None else 11.0  # one panel of the top runs: wide, for their legend
    fig, axes = plt.subplots(rows, cols, figsize=(width, 2.9 * rows + 1.0), sharex=True, sharey=True,
                             squeeze=False)
    best = best_run(runs)
    handles = {}
    for ax, (title, members) in zip(axes.ravel(), panels):
        for r in members:
            records = read_metrics(RunDir(r["run_dir"]).metrics, missing_ok=True)
            x, v = series(records, metric)
            if top is not None:
                c = palette(top.index(r) % 10) if r in top else "0.75"
                label = _label(keys, r["values"]) if r in top else "other runs"
            else:
                c = colour[r["values"][colour_key]] if colour_key else "C0"
                label = f"{colour_key.rsplit('.', 1)[-1]}={r['values'][colour_key]}" if colour_key else "runs"
            if x:
                (line,) = ax.plot(x, v, color=c, linewidth=1.0, alpha=0.85, zorder=2)
                handles.setdefault(label, line)
            diverged = r["status"] == "diverged" or (records and not _finite_last(records, metric))
            if diverged and x:
                handles.setdefault("diverged (last finite value)",
                                   ax.plot(x[-1], min(v[-1], MAX_DRAWN), "x", color="red", markersize=8, mew=2,
                                           zorder=4)[0])
            if r is best and x:
                ax.plot(x, v, color="black", linewidth=2.4, zorder=1)
                handles.setdefault(f"best: {_label(keys, r['values'])}",
                                   ax.plot(x[-1], v[-1], "*", color="black", markersize=13, zorder=5)[0])
        diverged = sum(r["status"] == "diverged" for r in members)  # those diverged at epoch 1 draw no line
        default = f"{len(members)} runs" if top is None else f"the {len(top)} lowest validation losses in colour"
        ax.set_title((title or default) + (f" ({diverged} diverged)" if diverged else ""), fontsize=9,
                     color="red" if diverged else "black")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(panels):]:
        ax.set_axis_off()
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel(METRICS[metric])
    if metric.endswith("loss"):
        from .plot import _loss_scale

        _loss_scale(axes.ravel(), shared=True)
    if top is None:  # every colour in the legend, in the grid's order, then the marks
        from matplotlib.lines import Line2D

        short = colour_key.rsplit(".", 1)[-1] if colour_key else None
        handles = {**{f"{short}={v}": Line2D([], [], color=colour[v]) for v in values},
                   **{k: h for k, h in handles.items() if not short or not k.startswith(f"{short}=")}}
    ncol = min(len(handles), 6 if top is None else 2)  # the top runs' labels name every key
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol, fontsize=9, frameon=False)
    seeds = any(k.rsplit(".", 1)[-1] == REPLICATE for k in keys if len({r["values"][k] for r in runs}) > 1)
    fig.suptitle(f"{sweep_dir}: {METRICS[metric]} of {len(runs)} runs"
                 + ("; the seeds of a setting share its colour" if seeds else ""), fontsize=11)
    legend = 0.3 * math.ceil(len(handles) / max(ncol, 1)) + 0.2  # inches under the panels
    fig.set_size_inches(width, 2.9 * rows + 0.6 + legend)
    fig.tight_layout(rect=(0, legend / (2.9 * rows + 0.6 + legend), 1, 0.97))
    return fig


def _finite_last(records, metric):
    """Whether the run's last record has a finite value of ``metric`` (a diverged run's does not)."""
    last = records[-1].get(metric)
    return type(last) in (int, float) and math.isfinite(float(last)) and abs(last) < 1e200
