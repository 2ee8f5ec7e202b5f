"""``nnctl explain``: pick one sample, run ``explain.compute.explain`` on it, print it as text, Markdown or JSON."""
from __future__ import annotations

from pathlib import Path

import click

from .options import checkpoint_of, emit, emit_json, set_option


@click.command()
@click.argument("target", metavar="CONFIG|CHECKPOINT|RUN_DIR", type=click.Path(exists=True, path_type=Path))
@set_option
@click.option("--index", type=int, help="Index of the sample in --split (default 0).")
@click.option("--x", "x_text", metavar="V1,V2,…",
              help="Raw feature values of a sample, scaled like the run's data (needs --y).")
@click.option("--y", "label", metavar="LABEL", help="The class of the --x sample: a class name (or its index).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="train", show_default=True,
              help="The split --index counts in.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True,
              help="Plain text, Markdown with LaTeX equations, or JSON with every array in full.")
@click.option("--full", is_flag=True, help="Print every entry of large matrices instead of a summary.")
@click.option("--batch", "m", type=click.IntRange(min=2, max=64), metavar="M",
              help="A minibatch step instead: the M samples from --index on, each one's gradient, their mean, "
                   "λW and the update.")
def explain(target, overrides, index, x_text, label, split, fmt, full, m):
    """Show the derivation's forward pass, backward pass and update with one sample's numbers
    (or, with --batch, one minibatch step's)."""
    from ..explain import compute, render
    from ..explain.sample import select_batch, select_sample
    from ..targets import network_and_data

    target = checkpoint_of(target)  # a run directory: its best.npz, else last.npz
    net, data, config = network_and_data(target, overrides)
    alpha = config["train"]["alpha"]
    if m is not None:
        if x_text is not None or label is not None:
            raise click.UsageError("--batch takes its samples and their classes from a split (--index, --split), "
                                   "not --x and --y")
        X, ys, context = select_batch(data, config, split, index or 0, m)
        ex = compute.explain_batch(net.params, X, ys, net.activation, net.lam, alpha)
        as_json, as_markdown, as_text = render.batch_to_json, render.format_batch_markdown, render.format_batch_text
    else:
        x, y, context = select_sample(data, config, split, index, x_text, label)
        ex = compute.explain(net.params, x, y, net.activation, net.lam, alpha)
        as_json, as_markdown, as_text = render.to_json, render.format_markdown, render.format_text
    context.update(target=str(target), optimizer=config["train"].get("optimizer", "sgd"))
    if fmt == "json":
        emit_json(as_json(ex, context))
    elif fmt == "markdown":
        emit(as_markdown(ex, context, full), nl=False)
    else:
        emit(as_text(ex, context, full))
