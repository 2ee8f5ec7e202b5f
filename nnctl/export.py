"""``nnctl export``: a trained network and everything in front of it as one ONNX graph, which onnxruntime
(or any ONNX runtime) serves without nnctl.

The graph computes what ``nnctl predict`` computes from the cells its CSV reader yields (a ``columns.Frame``):

- input ``features`` ``(N, number columns)``: the number columns, NaN where a cell is missing;
- input ``categories`` ``(N, category columns)`` of strings, only when the network has category columns:
  their cells, ``""`` (or ``na``, ``n/a``, ``nan``, ``null``, ``none``, ``?`` in any letter case) where missing;
- a missing cell gets its column's fitted fill (``Where(IsNaN)`` for numbers, ``LabelEncoder`` for categories),
  categories become one-hot blocks (an unseen one all zeros), the columns go in the network's order (``Concat``);
- ``Mul`` by ``data.input_scale``, then the scaler: ``Sub`` its centre, ``Div`` by its scale;
- per layer ``Gemm`` (``transB=1``: ``W(l)`` is ``(n(l), n(l-1))``) and the hidden activation;
- outputs ``probabilities`` ``(N, K)`` (``Softmax`` on the last axis) and ``label`` ``(N,)``, the class names
  (``ArgMax`` of the logits, as ``predict`` takes it, then ``Gather`` from a string constant).

Where nnctl refuses a row (a missing cell in a column trained without ``data.impute``, a value that overflows),
a graph cannot raise: that row's probabilities are NaN or not finite.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from .data.columns import MISSING
from .errors import CheckpointError, MissingExtra, RunDirError
from .files import atomic_write
from .training.checkpoint import TrainedModel

IR_VERSION = 8  # onnx ≥ 1.12 reads IR 8 with opset 17; onnxruntime ≥ 1.18 runs it (docs/export.md)
OPSET = 17  # the ai.onnx operator set: Where(16) is the newest operator version the graph uses
ML_OPSET = 2  # ai.onnx.ml: LabelEncoder's string → int64 map
PRODUCER = "nnctl"
MAX_BYTES = 2_000_000_000  # protobuf's limit on one message: an ONNX file without external data
ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}  # nnctl's name -> ONNX operator
DTYPES = {"float32": np.float32, "float64": np.float64}


def require_onnx():
    """The ``onnx`` module, or a ``MissingExtra`` saying what to install."""
    try:
        import onnx
    except ImportError:
        raise MissingExtra("nnctl export: needs the onnx package, which is not installed: "
                           "pip install 'nnctl[onnx]'") from None
    return onnx


def missing_spellings():
    """Every string nnctl reads as a missing cell once stripped: ``columns.MISSING`` in every letter case
    (no other character casefolds to their letters)."""
    return sorted({"".join(chars) for word in MISSING for chars in itertools.product(*({c.lower(), c.upper()}
                                                                                        for c in word))})


class _Graph:
    """Nodes and constants, each named after the tensor it makes."""

    def __init__(self, onnx, dtype, where):
        self.onnx, self.dtype, self.where = onnx, np.dtype(dtype), where
        self.nodes, self.constants = [], []

    def const(self, name, value, dtype=None):
        array = np.asarray(value, dtype=dtype or self.dtype)
        if array.dtype.kind == "f":
            exact = np.asarray(value, dtype=np.float64)
            lost = np.isfinite(exact) & ~np.isfinite(array)
            if name in ("input_scale", "scaler_scale"):  # a factor or divisor rounded to 0 is no rounding
                lost |= (exact != 0) & (array == 0)
            if lost.any():
                raise CheckpointError(f"{self.where}: {name} holds {exact[lost].flat[0]:g}, beyond {self.dtype.name}'s "
                                      "range; export with --dtype float64")
        self.constants.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, kind, inputs, output, domain="", **attributes):
        self.nodes.append(self.onnx.helper.make_node(kind, inputs, [output], name=output, domain=domain,
                                                     **attributes))
        return output


def _one_hot(g, cells, column, at):
    """The one-hot block ``(N, K)`` of category column ``column`` from its cells ``(N, 1)``: index ``k`` of each
    cell's category (a missing cell: the fill's), ``K`` for an unseen one, ``K + 1`` for a missing cell without
    a fill; ``Equal`` against ``0 … K-1`` makes the block, and the last case becomes NaN."""
    categories = column.categories
    K = len(categories)
    index = {name: k for k, name in enumerate(categories)}
    gap = K + 1 if column.fill is None else categories.index(column.fill)
    # as in nnctl, a missing spelling is missing even where a category has its name
    index.update((spelling, gap) for spelling in missing_spellings())
    keys = sorted(index)
    k = g.op("LabelEncoder", [cells], f"{at}_index", domain="ai.onnx.ml", keys_strings=keys,
             values_int64s=[index[key] for key in keys], default_int64=K)
    hit = g.op("Equal", [k, g.const(f"{at}_range", np.arange(K), np.int64)], f"{at}_hit")
    block = g.op("Cast", [hit], f"{at}_onehot", to=g.onnx.helper.np_dtype_to_tensor_dtype(g.dtype))
    if column.fill is None:
        unfilled = g.op("Equal", [k, g.const(f"{at}_gap", gap, np.int64)], f"{at}_missing")
        block = g.op("Where", [unfilled, g.const(f"{at}_nan", np.nan), block], f"{at}_onehot_or_nan")
    return block


def _inputs(g, columns):
    """The graph's input tensors (``features``, ``categories``) and the network's raw input ``(N, n0)``: every
    column in the network's order, missing cells filled, categories one-hot."""
    helper, tensor_type = g.onnx.helper, g.onnx.helper.np_dtype_to_tensor_dtype(g.dtype)
    numbers = [c for c in columns if c.kind == "number"]
    texts = [c for c in columns if c.kind == "category"]
    inputs, parts, run = [], [], []
    if numbers:
        inputs.append(helper.make_tensor_value_info("features", tensor_type, ["N", len(numbers)]))
        X = "features"
        if any(c.fill is not None for c in numbers):  # NaN → fill; a column without one keeps its NaN
            fills = [np.nan if c.fill is None else c.fill for c in numbers]
            X = g.op("Where", [g.op("IsNaN", [X], "features_missing"), g.const("fills", fills), X], "features_filled")
        if not texts:
            return inputs, X
    if texts:
        inputs.append(helper.make_tensor_value_info("categories", g.onnx.TensorProto.STRING, ["N", len(texts)]))

    def flush():  # a run of adjacent number columns, taken in one Gather
        if run:
            parts.append(g.op("Gather", [X, g.const(f"numbers_{run[0]}", run, np.int64)], f"numbers_{run[0]}_of",
                              axis=1))
            run.clear()

    n = t = 0
    for c in columns:
        if c.kind == "number":
            run.append(n)
            n += 1
            continue
        flush()
        cells = g.op("Gather", ["categories", g.const(f"category_{t}", [t], np.int64)], f"category_{t}_cells", axis=1)
        parts.append(_one_hot(g, cells, c, f"category_{t}"))
        t += 1
    flush()
    return inputs, g.op("Concat", parts, "encoded", axis=1)


def build(model, dtype):
    """The ONNX ``ModelProto`` of ``model`` (a ``TrainedModel``) computing in ``dtype`` (``float32``, ``float64``)."""
    onnx = require_onnx()
    from . import __version__

    helper = onnx.helper
    net, pre = model.net, model.preprocessor
    if net.activation not in ACTIVATIONS:
        raise CheckpointError(f"{model.path}: activation {net.activation!r} has no ONNX operator in nnctl export "
                              f"(it exports {', '.join(ACTIVATIONS)})")
    g = _Graph(onnx, DTYPES[dtype], model.path)
    inputs, A = _inputs(g, pre.read_columns)
    if pre.input_scale != 1.0:
        A = g.op("Mul", [A, g.const("input_scale", pre.input_scale)], "scaled")
    A = g.op("Sub", [A, g.const("scaler_center", pre.scaler["center"])], "centered")
    A = g.op("Div", [A, g.const("scaler_scale", pre.scaler["scale"])], "A0")
    for l in range(1, net.L + 1):  # Z(l) = A(l-1)·W(l)ᵀ + b(l); A(l) = g(Z(l)), the output layer stays linear
        Z = g.op("Gemm", [A, g.const(f"W{l}", net.params[f"W{l}"]), g.const(f"b{l}", net.params[f"b{l}"])], f"Z{l}",
                 transB=1)
        A = g.op(ACTIVATIONS[net.activation], [Z], f"A{l}") if l < net.L else Z
    g.op("Softmax", [A], "probabilities", axis=-1)
    k = g.op("ArgMax", [A], "class_index", axis=1, keepdims=0)
    g.op("Gather", [g.const("class_names", np.array(model.class_names, dtype=object), object), k], "label", axis=0)
    K = net.layers[-1]
    outputs = [helper.make_tensor_value_info("probabilities", helper.np_dtype_to_tensor_dtype(g.dtype), ["N", K]),
               helper.make_tensor_value_info("label", onnx.TensorProto.STRING, ["N"])]
    graph = helper.make_graph(g.nodes, "nnctl", inputs, outputs, g.constants)
    proto = helper.make_model(graph, ir_version=IR_VERSION, producer_name=PRODUCER, producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", OPSET),
                                             helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
                              doc_string=f"nnctl network {net.layers} ({net.activation}) with its preprocessing")
    columns = pre.read_columns
    helper.set_model_props(proto, {
        "nnctl_version": __version__,
        "feature_names": json.dumps(pre.feature_names),
        "class_names": json.dumps(model.class_names),
        "features_columns": json.dumps([c.name for c in columns if c.kind == "number"]),
        "categories_columns": json.dumps([c.name for c in columns if c.kind == "category"]),
    })
    return proto


def is_export(path, onnx):
    """Whether ``path`` is an ONNX model nnctl exported (which ``export`` may replace)."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - whatever the file is, it is not one
        return False
    return proto.producer_name == PRODUCER and any(p.key == "nnctl_version" for p in proto.metadata_props)


def export(checkpoint_path, out, dtype=None):
    """Write the ONNX model of the checkpoint at ``checkpoint_path`` to ``out`` atomically; return
    ``(model proto, bytes written)``. ``dtype`` (``float32``, ``float64``) defaults to the network's own.
    An existing ``out`` is replaced only when it is a model nnctl exported."""
    onnx = require_onnx()
    out = Path(out)
    if out.is_dir():
        raise RunDirError(f"{out}: is a directory; --out names the .onnx file to write")
    if out.exists() and not is_export(out, onnx):
        raise RunDirError(f"{out}: exists and is not a model nnctl exported; remove it or choose another --out")
    model = TrainedModel.open(checkpoint_path)
    proto = build(model, dtype or model.net.dtype.name)
    size = proto.ByteSize()
    if size > MAX_BYTES:  # before the checker, which serializes the model too
        raise CheckpointError(f"{checkpoint_path}: the network takes {size:,} bytes as ONNX; one ONNX file holds "
                              f"at most {MAX_BYTES:,} (try --dtype float32)")
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where the folder should be
        raise RunDirError(f"{out}: cannot write: {out.parent} is a file, not a folder") from None
    except OSError as exc:
        raise RunDirError(f"{out}: cannot write: {exc.strerror or exc}") from None
    atomic_write(out, lambda f: f.write(data))
    return proto, len(data)
