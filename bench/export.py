"""`nnctl export` measured as a user meets it: how long the command takes, how large the file is, and how far
onnxruntime's probabilities are from nnctl's.

- Time and size: `nnctl export` run as a subprocess (median of ``--repeats``) for TestNet (configs/testnet.yaml)
  and a [784, 256, 10] network (random weights: the size and the time do not depend on training).
- Accuracy: the cases of tests/interop/test_export.py (every activation, binary and multi-class data, every
  scaler, input_scale ≠ 1, data/cellar.csv with categories and missing cells): the largest |Δp| between
  onnxruntime and the probabilities ``nnctl predict`` computes, on 10,000 rows each, per float type.

Usage: python bench/export.py [--repeats N]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROWS = 10_000
CASES = [("moons", "sigmoid", "standard", 1.0), ("moons", "tanh", "minmax", 1000.0),
         ("moons", "relu", "robust", 0.001), ("blobs", "sigmoid", "none", 1000.0),
         ("blobs", "tanh", "robust", 1.0), ("blobs", "relu", "standard", 7.5),
         ("wine", "relu", "minmax", 1.0), ("wine", "sigmoid", "robust", 1000.0)]


def nnctl(*args):
    subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=ROOT)


def timed_export(run, out, repeats, *args):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        nnctl("export", run, "--out", out, *args)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), out.stat().st_size


def train(tmp, name, config, *args):
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    nnctl("train", path, "--out", tmp / name, "-q", *args)
    return tmp / name


def worst_difference(run, tmp, texts_of=None):
    """The largest |Δp| between onnxruntime and nnctl's own probabilities, per float type, on ``ROWS`` rows."""
    import onnxruntime as ort

    from nnctl.data.sources import load_source
    from nnctl.training.checkpoint import TrainedModel

    model = TrainedModel.open(run / "checkpoints" / "best.npz")
    frame, texts = texts_of(model) if texts_of else (load_source(dict(model.config, data=dict(
        model.config["data"], n_samples=ROWS)))[0], None)
    if len(frame) < ROWS:  # a bundled set: its rows again, jittered
        rng = np.random.default_rng(0)
        frame.numbers = frame.numbers[rng.integers(len(frame), size=ROWS)] \
            * (1 + 0.01 * rng.standard_normal((ROWS, frame.numbers.shape[1])))
    X, _ = model.preprocessor.encode(frame, "rows")
    p_ref = model.net.predict_proba(model.preprocessor.transform(X).astype(model.net.dtype))
    worst = {}
    for dtype, np_dtype in (("float64", np.float64), ("float32", np.float32)):
        out = tmp / f"{run.name}-{dtype}.onnx"
        nnctl("export", run, "--out", out, "--dtype", dtype)
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        feeds = {"features": frame.numbers.astype(np_dtype)}
        if texts is not None:
            feeds["categories"] = texts
        worst[dtype] = float(np.abs(session.run(["probabilities"], feeds)[0] - p_ref).max())
    return worst


def cellar_frame(model):
    from nnctl.data.csvfile import read_features

    text = (ROOT / "data" / "cellar.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    rng = np.random.default_rng(1)
    body = [lines[1 + i] for i in rng.integers(len(lines) - 1, size=ROWS)]
    frame = read_features("\n".join([lines[0], *body]) + "\n", "cellar", model.preprocessor.read_columns)
    return frame, frame.texts.astype(object)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nnctl("train", "configs/testnet.yaml", "--out", tmp / "testnet", "-q")
        rng = np.random.default_rng(0)
        np.savez(tmp / "mnist-sized.npz", X=rng.random((500, 784)), y=np.arange(500) % 10)
        big = train(tmp, "784-256-10", {"model": {"layers": [784, 256, 10], "activation": "relu"},
                                        "data": {"source": str(tmp / "mnist-sized.npz")}, "train": {"epochs": 0}})
        print("network          dtype    export s  file bytes")
        for name, run in (("TestNet [2,3,2]", tmp / "testnet"), ("[784,256,10]", big)):
            for dtype in ("float64", "float32"):
                seconds, size = timed_export(run, tmp / f"{run.name}.onnx", args.repeats, "--dtype", dtype)
                print(f"{name:16} {dtype:8} {seconds:8.3f}  {size:10,}")
        worst = {"float64": 0.0, "float32": 0.0}
        for source, activation, scaler, scale in CASES:
            run = train(tmp, f"{source}-{activation}-{scaler}", {
                "model": {"hidden": [6, 5], "activation": activation},
                "data": {"source": source, "n_samples": 300, "scaler": scaler, "input_scale": scale},
                "train": {"epochs": 4, "batch_size": 64}})
            for dtype, value in worst_difference(run, tmp).items():
                worst[dtype] = max(worst[dtype], value)
        cellar = train(tmp, "cellar", yaml.safe_load((ROOT / "configs" / "cellar.yaml").read_text()),
                       "--set", f"data.source={ROOT / 'data' / 'cellar.csv'}")
        for dtype, value in worst_difference(cellar, tmp, cellar_frame).items():
            worst[dtype] = max(worst[dtype], value)
        print(f"max |Δp| over {len(CASES) + 1} cases × {ROWS:,} rows: float64 {worst['float64']:.3g}, "
              f"float32 {worst['float32']:.3g}")


if __name__ == "__main__":
    main()
