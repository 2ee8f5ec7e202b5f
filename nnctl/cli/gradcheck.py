"""``nnctl gradcheck``: analytic gradients against centred differences, per parameter tensor."""
from __future__ import annotations

from pathlib import Path

import click

from .options import checkpoint_of, FiniteFloat, emit, emit_json, json_option, set_option


@click.command()
@click.argument("target", metavar="CONFIG|CHECKPOINT|RUN_DIR", type=click.Path(exists=True, path_type=Path))
@set_option
@click.option("--samples", type=click.IntRange(min=1), default=16, show_default=True,
              help="How many training samples the loss is computed on.")
@click.option("--eps", type=FiniteFloat(1e-10, 0.1), default=1e-5, show_default=True,
              help="Step of the centred difference (J(θ+eps) − J(θ−eps)) / 2eps, from 1e-10 to 0.1 (a smaller "
                   "step is lost in rounding, a larger one measures the curvature).")
@click.option("--tol", type=FiniteFloat(1e-12, 1.0, max_open=True), default=1e-7, show_default=True,
              help="Largest relative error that passes, from 1e-12 (finer than centred differences resolve) to 1.")
@click.option("--max-entries", type=click.IntRange(min=1), default=200, show_default=True,
              help="Entries checked per tensor; larger tensors get a seeded random subset.")
@json_option
def gradcheck(target, overrides, samples, eps, tol, max_entries, as_json):
    """Compare analytic gradients with centred differences for every parameter tensor (exit 1 on FAIL)."""
    from ..model import gradcheck as gc
    from ..seeding import rng as seeded
    from ..targets import network_and_data

    target = checkpoint_of(target)  # a run directory: its best.npz, else last.npz
    net, data, config = network_and_data(target, overrides)
    X, y = data.splits["train"]
    rng = seeded(config["seed"], "gradcheck")
    take = rng.choice(len(y), size=min(samples, len(y)), replace=False)
    report = gc.check(net, X[take], y[take], eps=eps, tol=tol, max_entries=max_entries, rng=rng)
    if as_json:
        emit_json(report)
    else:
        emit(gc.format_report(report))
    return 0 if report["passed"] else 1
