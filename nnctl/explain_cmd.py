"""``nnctl explain``: pick one sample, run ``explain.explain`` on it, print it as text, Markdown or JSON."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .options import set_option
from .errors import NnctlError


class SampleError(NnctlError):
    """A sample selection (--index, --x, --y) that does not fit the data."""


def class_index(label, class_names, where="--y"):
    """The index of class ``label``: a class name, or an index when no class name looks like one."""
    if label in class_names:
        return class_names.index(label)
    names_look_numeric = any(name.lstrip("-").isdigit() for name in class_names)
    if label.lstrip("-").isdigit() and not names_look_numeric:
        i = int(label)
        if 0 <= i < len(class_names):
            return i
    raise SampleError(f"{where} {label}: not one of the classes ({', '.join(class_names)})"
                      + ("" if names_look_numeric else f" or an index 0..{len(class_names) - 1}"))


def parse_features(text, n_features):
    """``"0.5,-1"`` → a float array of length ``n_features``."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise SampleError(f"--x {text}: expected {n_features} comma-separated numbers") from None
    if len(values) != n_features:
        raise SampleError(f"--x {text}: expected {n_features} values (the network's n(0)), got {len(values)}")
    if not all(v == v and abs(v) != float("inf") for v in values):
        raise SampleError(f"--x {text}: every value must be a finite number")
    return values


def select_sample(data, config, split, index, x_text, label):
    """``(x scaled (n0,), y index, context)`` for the sample the options name."""
    import numpy as np

    from . import scaling

    if x_text is not None and index is not None:
        raise SampleError("--index and --x: give one of them, not both")
    if (x_text is None) != (label is None):
        raise SampleError("--x and --y: a sample given directly needs both its features (--x) and its label (--y)")
    context = {"split": split, "index": index, "scaler": config["data"]["scaler"],
               "input_scale": config["data"]["input_scale"], "class_names": list(data.class_names)}
    if x_text is not None:
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, as predict does
            raw = np.array(parse_features(x_text, data.n_features)) * config["data"]["input_scale"]
            x = scaling.apply(data.scaler, raw[None, :])[0]
        if not np.isfinite(x).all():
            raise SampleError(f"--x {x_text}: overflows after the network's input scaling")
        context.update(split=None, x_raw=raw.tolist())
        return x, class_index(label, list(data.class_names)), context
    X, y = data.splits[split]
    index = 0 if index is None else index
    if not 0 <= index < len(y):
        raise SampleError(f"--index {index}: the {split} split has {len(y)} samples (0..{len(y) - 1})"
                          if len(y) else f"--index {index}: the {split} split is empty")
    context.update(index=index, x_raw=data.raw[split][index].tolist() if split in data.raw else None)
    return X[index], int(y[index]), context


@click.command()
@click.argument("target", metavar="CONFIG|CHECKPOINT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
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
def explain(target, overrides, index, x_text, label, split, fmt, full):
    """Show the derivation's forward pass, backward pass and update with one sample's numbers."""
    from . import explain as explain_mod, explain_render
    from .loading import network_and_data

    net, data, config = network_and_data(target, overrides)
    x, y, context = select_sample(data, config, split, index, x_text, label)
    context.update(target=str(target), optimizer=config["train"].get("optimizer", "sgd"))
    ex = explain_mod.explain(net.params, x, y, net.activation, net.lam, config["train"]["alpha"])
    if fmt == "json":
        click.echo(json.dumps(explain_render.to_json(ex, context), indent=2))
    elif fmt == "markdown":
        click.echo(explain_render.format_markdown(ex, context, full), nl=False)
    else:
        click.echo(explain_render.format_text(ex, context, full))
