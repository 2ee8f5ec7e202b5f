"""``nnctl export``: a network and its preprocessing as one ONNX graph, for serving without nnctl."""
from __future__ import annotations

from pathlib import Path

import click

from .options import OutFile, checkpoint_of, emit, note


@click.command(name="export")
@click.argument("checkpoint_path", metavar="CHECKPOINT|RUN_DIR", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=OutFile(),
              help="The .onnx file to write (an earlier export there is replaced; any other file is not).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]),
              help="The graph's float type, of its inputs, weights and probabilities (default: the network's).")
def export(checkpoint_path, out, dtype):
    """Write the whole prediction of a network as one ONNX model, to serve without nnctl.

    The graph holds the missing-value fills, one-hot categories, input_scale, the scaler, every layer and the
    softmax. Inputs: features (N × number columns, NaN where a cell is missing) and, for a network with category
    columns, categories (N × category columns, strings). Outputs: probabilities (N × K) and label (N, class
    names). Prints the file's path; docs/export.md shows how to serve it.
    """
    from ..export import export as write_onnx, require_onnx

    require_onnx()  # before anything else: the one thing to install
    checkpoint_path = checkpoint_of(checkpoint_path)  # a run directory: its best.npz, else last.npz
    proto, size = write_onnx(checkpoint_path, out, dtype)
    inputs = ", ".join(f"{i.name}[{','.join(str(d.dim_param or d.dim_value) for d in i.type.tensor_type.shape.dim)}]"
                       for i in proto.graph.input)
    note(f"nnctl: wrote {size:,} bytes, inputs {inputs}, opset {proto.opset_import[0].version}")
    emit(str(out))
