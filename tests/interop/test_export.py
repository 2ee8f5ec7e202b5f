"""``nnctl export``: onnxruntime serving the exported graph answers as ``nnctl predict`` does.

Every case trains a small run through the CLI, exports it, and feeds 10,000 rows of the run's own data source to
onnxruntime and to ``nnctl predict --proba --label --digits 17`` (every bit of a float64 printed), within 1e-12
(float64) and 1e-5 (float32). The probabilities predict computes before printing, by its own steps
(``TrainedModel.open``, ``read_features``, ``encode``, ``transform``, ``predict_proba``), are checked too.
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from nnctl.data.columns import MISSING  # noqa: E402
from nnctl.data.csvfile import read_features  # noqa: E402
from nnctl.data.sources import load_source  # noqa: E402
from nnctl.training.checkpoint import TrainedModel  # noqa: E402

ROWS = 10_000
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
SMALL = {"train": {"epochs": 4, "batch_size": 64}}


def export(run_cli, source, out, *args):
    result = run_cli("export", source, "--out", out, *args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{out}\n"
    return out


def serve(path, frame, texts=None):
    """onnxruntime's ``(probabilities, labels)`` for ``frame``'s rows (``texts``: the category cells as given)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {}
    for i in session.get_inputs():
        if i.name == "features":
            feeds[i.name] = frame.numbers.astype(np.float32 if i.type == "tensor(float)" else np.float64)
        else:
            feeds[i.name] = np.asarray(frame.texts if texts is None else texts, dtype=object)
    return session.run(["probabilities", "label"], feeds)


def reference(checkpoint, frame, where):
    """The probabilities and labels ``nnctl predict`` computes for ``frame``, at full precision."""
    model = TrainedModel.open(checkpoint)
    X, _ = model.preprocessor.encode(frame, where)
    X = model.preprocessor.transform(X).astype(model.net.dtype, copy=False)
    return model.net.predict_proba(X), np.array(model.class_names)[model.net.predict(X)]


def cli_predict(run_cli, checkpoint, csv_path):
    """``nnctl predict --proba --label --digits 17``'s probabilities (as printed, exact) and labels."""
    result = run_cli("predict", checkpoint, csv_path, "--proba", "--label", "--digits", "17")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    return np.array([r[:-1] for r in rows[1:]], dtype=np.float64), np.array([r[-1] for r in rows[1:]])


def check_case(run_cli, tmp_path, run, csv_path, texts=None):
    """Export ``run`` in both float types and compare onnxruntime with predict on ``csv_path``; return the
    largest |Δp| per float type."""
    checkpoint = run / "checkpoints" / "best.npz"
    model = TrainedModel.open(checkpoint)
    frame = read_features(csv_path.read_text(encoding="utf-8"), str(csv_path), model.preprocessor.read_columns)
    assert len(frame) == ROWS
    p_ref, labels_ref = reference(checkpoint, frame, str(csv_path))
    p_cli, labels_cli = cli_predict(run_cli, run, csv_path)
    assert (labels_cli == labels_ref).all()
    assert np.array_equal(p_cli, p_ref)  # 17 significant digits print a float64 exactly
    worst = {}
    for dtype in ("float64", "float32"):
        path = export(run_cli, run, tmp_path / f"{run.name}-{dtype}.onnx", "--dtype", dtype)
        onnx.checker.check_model(str(path), full_check=True)
        p, labels = serve(path, frame, texts)
        assert p.dtype == np.dtype(dtype) and p.shape == p_ref.shape
        worst[dtype] = float(np.abs(p - p_ref).max())
        assert worst[dtype] <= TOLERANCE[dtype], (dtype, worst[dtype])
        assert float(np.abs(p - p_cli).max()) <= TOLERANCE[dtype]
        if dtype == "float64":
            assert (labels == labels_cli).all()
        else:  # float32 rounding may flip a row whose two best classes are within it of each other
            top = np.sort(p_ref, axis=1)
            clear = top[:, -1] - top[:, -2] > 1e-4
            assert (labels[clear] == labels_cli[clear]).all()
            assert clear.mean() > 0.99
    return worst


def write_csv(path, names, X):
    path.write_text(",".join(names) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in X),
                    encoding="utf-8")
    return path


# (source, activation, scaler, input_scale): every activation on binary and multi-class data, every scaler,
# input_scale above and below 1; wine has 13 inputs and 3 classes.
CASES = [
    ("moons", "sigmoid", "standard", 1.0),
    ("moons", "tanh", "minmax", 1000.0),
    ("moons", "relu", "robust", 0.001),
    ("blobs", "sigmoid", "none", 1000.0),
    ("blobs", "tanh", "robust", 1.0),
    ("blobs", "relu", "standard", 7.5),
    ("wine", "relu", "minmax", 1.0),
    ("wine", "sigmoid", "robust", 1000.0),
]


@pytest.mark.parametrize("source, activation, scaler, input_scale", CASES, ids=lambda v: str(v))
def test_onnxruntime_answers_as_predict(run_cli, tiny_config, train_run, tmp_path, source, activation, scaler,
                                        input_scale):
    config = tiny_config(model={"hidden": [6, 5], "layers": None, "activation": activation},
                         data={"source": source, "n_samples": 300, "scaler": scaler, "input_scale": input_scale},
                         **SMALL)
    run = train_run(config)
    model = TrainedModel.open(run / "checkpoints" / "best.npz")
    cfg = dict(model.config, data=dict(model.config["data"], n_samples=ROWS))
    frame, _, _ = load_source(cfg)
    X = frame.numbers
    if len(X) < ROWS:  # a bundled set: its rows again, jittered by 1% of each feature's spread
        rng = np.random.default_rng(0)
        X = X[rng.integers(len(X), size=ROWS)] * (1 + 0.01 * rng.standard_normal((ROWS, X.shape[1])))
    check_case(run_cli, tmp_path, run, write_csv(tmp_path / "rows.csv", frame.names, X))


def test_float32_network_exports_as_float32(run_cli, tiny_config, train_run, tmp_path):
    run = train_run(tiny_config(model={"dtype": "float32", "activation": "tanh"}, data={"n_samples": 300}, **SMALL))
    path = export(run_cli, run, tmp_path / "net.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"
    model = TrainedModel.open(run / "checkpoints" / "best.npz")
    frame, _, _ = load_source(dict(model.config, data=dict(model.config["data"], n_samples=ROWS)))
    p, _ = serve(path, frame)
    p_ref, _ = reference(run / "checkpoints" / "best.npz", frame, "rows")
    assert np.abs(p - p_ref).max() <= TOLERANCE["float32"]


def cellar_rows(root, tmp_path):
    """10,000 rows of data/cellar.csv's columns: its rows drawn at random, one cell in eight made missing in one of
    nnctl's spellings (in any letter case, with spaces around), some colours unseen in training."""
    header, *body = list(csv.reader(io.StringIO((root / "data" / "cellar.csv").read_text(encoding="utf-8"))))
    rng = np.random.default_rng(1)
    spellings = sorted(MISSING) + ["NA", "None", "NaN", "N/A", "NULL"]
    rows = []
    for i in rng.integers(len(body), size=ROWS):
        row = list(body[i])
        for j, name in enumerate(header):
            if name in ("alcohol", "acidity", "colour", "region") and rng.random() < 1 / 8:
                row[j] = f" {spellings[rng.integers(len(spellings))]} " if rng.random() < 0.5 else \
                    spellings[rng.integers(len(spellings))]
        if rng.random() < 0.02:
            row[header.index("colour")] = "orange"
        rows.append(row)
    path = tmp_path / "cellar-rows.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows([header, *rows])
    # the category cells as a program holding this table passes them: surrounding spaces removed
    texts = np.array([[r[header.index("colour")].strip(), r[header.index("region")].strip()] for r in rows],
                     dtype=object)
    return path, texts


def test_categories_and_missing_cells(run_cli, train_run, root, tmp_path):
    """data/cellar.csv: a text label, an id column dropped, two category columns, missing cells filled by
    the train split's median or most frequent value; unseen categories are all zeros."""
    run = train_run(root / "configs" / "cellar.yaml", "--set", "train.epochs=5")
    path, texts = cellar_rows(root, tmp_path)
    assert {"", "?", "NA", "None"} <= set(texts.ravel())  # the graph itself maps every missing spelling
    check_case(run_cli, tmp_path, run, path, texts)
    proto = onnx.load(str(tmp_path / f"{run.name}-float64.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["feature_names"]) == ["alcohol", "acidity", "colour=red", "colour=rose", "colour=white",
                                                 "region=alba", "region=asti"]
    assert json.loads(meta["features_columns"]) == ["alcohol", "acidity"]
    assert json.loads(meta["categories_columns"]) == ["colour", "region"]
    assert json.loads(meta["class_names"]) == ["barbera", "dolcetto", "nebbiolo"]


def test_a_missing_cell_without_a_fill_makes_its_row_nan(run_cli, train_run, tiny_config, tmp_path):
    """Where nnctl refuses a row (a missing cell, no data.impute), the graph cannot raise: the row is NaN."""
    rng = np.random.default_rng(2)
    lines = ["x,c,label"] + [f"{rng.normal():.4f},{'ab'[i % 2]},{'pq'[i % 3 == 0]}" for i in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = train_run(tiny_config(data={"source": str(tmp_path / "t.csv")}, model={"hidden": [3], "layers": None}))
    path = export(run_cli, run, tmp_path / "t.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    p, _ = session.run(None, {"features": np.array([[0.5], [np.nan], [0.5], [0.5]]),
                              "categories": np.array([["a"], ["a"], [""], ["NA"]], dtype=object)})
    assert np.isfinite(p[0]).all() and np.isnan(p[1:]).all(axis=1).all()


def test_the_graph_inputs_outputs_and_metadata(run_cli, tiny_config, train_run, tmp_path):
    run = train_run(tiny_config(data={"input_scale": 1000.0}))
    proto = onnx.load(str(export(run_cli, run, tmp_path / "m.onnx")))
    onnx.checker.check_model(proto, full_check=True)
    graph = proto.graph
    shape = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert [i.name for i in graph.input] == ["features"] and shape == ["N", 2]
    assert [o.name for o in graph.output] == ["probabilities", "label"]
    assert [n.op_type for n in graph.node] == ["Mul", "Sub", "Div", "Gemm", "Sigmoid", "Gemm", "Softmax", "ArgMax",
                                               "Gather"]
    assert all(a.i == 1 for n in graph.node if n.op_type == "Gemm" for a in n.attribute if a.name == "transB")
    assert proto.ir_version == 8 and {o.domain: o.version for o in proto.opset_import}[""] == 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["feature_names"]) == ["x1", "x2"] and json.loads(meta["class_names"]) == ["0", "1"]
    from nnctl import __version__

    assert meta["nnctl_version"] == __version__


def one_error_line(result):
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("nnctl: using ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_bad_checkpoints_and_outputs(run_cli, tiny_config, train_run, tmp_path):
    run = train_run(tiny_config())
    best = run / "checkpoints" / "best.npz"
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    assert "not an .npz archive" in one_error_line(run_cli("export", text, "--out", tmp_path / "a.onnx"))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    assert str(cut) in one_error_line(run_cli("export", cut, "--out", tmp_path / "a.onnx"))
    assert str(tmp_path) in one_error_line(run_cli("export", tmp_path, "--out", tmp_path / "a.onnx"))  # not a run
    # a file where the output's folder would be: nothing can be written there, whoever runs the test
    line = one_error_line(run_cli("export", run, "--out", text / "m.onnx"))
    assert "cannot write" in line and str(text / "m.onnx") in line
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*.tmp"))


def test_an_existing_output_is_replaced_only_when_nnctl_exported_it(run_cli, tiny_config, train_run, tmp_path):
    run = train_run(tiny_config())
    other = tmp_path / "other.onnx"
    other.write_bytes(b"someone else's model")
    line = one_error_line(run_cli("export", run, "--out", other))
    assert "not a model nnctl exported" in line and other.read_bytes() == b"someone else's model"
    assert one_error_line(run_cli("export", run, "--out", run / "checkpoints" / "best.npz"))
    TrainedModel.open(run / "checkpoints" / "best.npz")  # still whole
    out = export(run_cli, run, tmp_path / "m.onnx", "--dtype", "float32")
    export(run_cli, run, out, "--dtype", "float64")  # a re-export replaces the earlier one
    assert onnx.load(str(out)).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert "is a directory" in one_error_line(run_cli("export", run, "--out", tmp_path))


def test_without_onnx_it_says_what_to_install(tiny_config, train_run, tmp_path):
    run = train_run(tiny_config())
    block = "import sys; sys.modules['onnx'] = None; from nnctl.cli import main; sys.argv[0] = 'nnctl'; main()"
    proc = subprocess.run([sys.executable, "-c", block, "export", str(run), "--out", str(tmp_path / "m.onnx")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "Error: nnctl export: needs the onnx package, which is not installed: " \
                          "pip install 'nnctl[onnx]'\n"
    assert not (tmp_path / "m.onnx").exists()


def test_a_network_of_category_columns_only(run_cli, train_run, tiny_config, tmp_path):
    rng = np.random.default_rng(3)
    lines = ["c,d,label"] + [f"{'abc'[rng.integers(3)]},{['x', 'y', ''][rng.integers(3)]},{'pq'[i % 3 == 0]}"
                             for i in range(90)]
    (tmp_path / "c.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = train_run(tiny_config(data={"source": str(tmp_path / "c.csv"), "impute": "most_frequent"},
                                model={"hidden": [4], "layers": None}))
    session = ort.InferenceSession(str(export(run_cli, run, tmp_path / "c.onnx")), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["categories"]
    rows = "a,x\nb,\nzz,NA\n"
    frame = read_features(rows, "rows", TrainedModel.open(run / "checkpoints" / "best.npz").preprocessor.read_columns)
    p, labels = session.run(None, {"categories": np.array([["a", "x"], ["b", ""], ["zz", "NA"]], dtype=object)})
    p_ref, labels_ref = reference(run / "checkpoints" / "best.npz", frame, "rows")
    assert np.abs(p - p_ref).max() <= TOLERANCE["float64"] and (labels == labels_ref).all()


def test_float32_refuses_what_it_cannot_hold(run_cli, tmp_path, root):
    """A value beyond float32 (an input_scale of 1e-50 makes the scaler's scale 1e-50 too) is refused rather
    than turned into 0 or inf."""
    import yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"data": {"n_samples": 100, "input_scale": 1e-50}, "train": {"epochs": 1}}))
    run = tmp_path / "run"
    assert run_cli("train", config, "--out", run, "-q").exit_code == 0
    line = one_error_line(run_cli("export", run, "--out", tmp_path / "m.onnx", "--dtype", "float32"))
    assert "input_scale holds 1e-50, beyond float32's range; export with --dtype float64" in line
    export(run_cli, run, tmp_path / "m.onnx", "--dtype", "float64")


@pytest.mark.parametrize("fault", [OSError(28, "No space left on device"), KeyboardInterrupt()], ids=["enospc", "ctrl-c"])
@pytest.mark.parametrize("target", ["fsync", "replace"])
def test_a_failed_write_keeps_the_earlier_export_whole(run_cli, tiny_config, train_run, tmp_path, monkeypatch, fault,
                                                       target):
    """The disk filling up, or Ctrl-C, while the model is written (faults raised by the OS calls themselves)."""
    import os

    run = train_run(tiny_config())
    out = export(run_cli, run, tmp_path / "m.onnx", "--dtype", "float32")
    before = out.read_bytes()

    def fail(*args, **kwargs):
        raise fault

    monkeypatch.setattr(os, target, fail)
    result = run_cli("export", run, "--out", out, "--dtype", "float64")
    monkeypatch.undo()
    if isinstance(fault, OSError):
        assert one_error_line(result) == f"Error: {out}: cannot write: No space left on device"
    else:
        assert result.exit_code == 130
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".onnx", ".tmp")) == ["m.onnx"]
