"""Regenerate the binary files of the bad-input corpus (the text files are written by hand).

Run from anywhere: ``python tests/corpus/make_corpus.py``. Every file is derived from ``good.npz``, a
real two-epoch checkpoint, so each one breaks exactly one thing. The expected errors live in cases.yaml.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from nnctl.training import checkpoint
from nnctl.cli import cli

HERE = Path(__file__).resolve().parent


def arrays_of(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_npz(path, arrays, allow_pickle=False):
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=allow_pickle, **arrays)
    path.write_bytes(buf.getvalue())


def npy_bytes(array):
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def with_meta(arrays, **changes):
    """``arrays`` with ``meta`` updated and the checksum recomputed, so only ``changes`` are wrong."""
    arrays = dict(arrays)
    meta = json.loads(str(arrays.pop("meta")))
    meta.update(changes)
    meta["checksum"] = checkpoint.checksum(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    return arrays


def make_good():
    work = Path(tempfile.mkdtemp())
    try:
        cfg = work / "tiny.yaml"
        cfg.write_text("seed: 1\ndata: {source: moons, n_samples: 60}\ntrain: {epochs: 2}\n"
                       "output: {dir: run}\n")
        old = os.getcwd()
        os.chdir(work)
        try:
            cli.main(["train", str(cfg), "-q"], standalone_mode=False)
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        finally:
            os.chdir(old)
        shutil.copy(work / "run" / "checkpoints" / "last.npz", HERE / "good.npz")
    finally:
        shutil.rmtree(work)


def main():
    make_good()
    good = (HERE / "good.npz").read_bytes()
    arrays = arrays_of(HERE / "good.npz")

    (HERE / "ckpt_truncated.npz").write_bytes(good[: len(good) // 2])

    # One flipped bit inside W1's stored bytes: the zip member's CRC no longer matches.
    with zipfile.ZipFile(HERE / "good.npz") as z:
        info = z.getinfo("W1.npy")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    flipped = bytearray(good)
    flipped[start + info.compress_size - 1] ^= 0x01
    (HERE / "ckpt_flipped_byte.npz").write_bytes(bytes(flipped))

    # A consistent zip whose W1 was edited after saving: only the nnctl checksum can tell.
    tampered = dict(arrays)
    tampered["W1"] = tampered["W1"].copy()
    tampered["W1"][0, 0] += 1.0
    write_npz(HERE / "ckpt_tampered.npz", tampered)

    wrong = dict(arrays)
    wrong["W1"] = np.zeros((4, 2))
    write_npz(HERE / "ckpt_wrong_shape.npz", with_meta(wrong))

    pickled = dict(arrays)
    pickled["opt_extra"] = np.array([{"evil": "object"}], dtype=object)
    write_npz(HERE / "ckpt_pickled.npz", pickled, allow_pickle=True)

    write_npz(HERE / "ckpt_version99.npz", with_meta(arrays, format_version=99))

    no_meta = {k: v for k, v in arrays.items() if k != "meta"}
    write_npz(HERE / "ckpt_no_meta.npz", no_meta)

    write_npz(HERE / "data_no_xy.npz", {"features": np.zeros((4, 2)), "labels": np.array([0, 1, 0, 1])})
    write_npz(HERE / "data_pickled.npz", {"X": np.array([[1, 2]] * 4, dtype=object), "y": np.array([0, 1, 0, 1])},
              allow_pickle=True)
    make_hostile(arrays)


def make_hostile(arrays):
    """Checkpoints whose checksum is valid but whose meta or arrays are not what they claim, and data
    files whose labels cannot be class names."""
    meta = json.loads(str(arrays["meta"]))
    config = meta["config"]
    write_npz(HERE / "ckpt_meta_no_epoch.npz", with_meta({k: v for k, v in arrays.items()}, epoch=None))
    no_rng = with_meta(arrays)
    body = json.loads(str(no_rng["meta"]))
    del body["rng_state"]
    body["checksum"] = checkpoint.checksum({k: v for k, v in no_rng.items() if k != "meta"}, body)
    no_rng["meta"] = np.array(json.dumps(body))
    write_npz(HERE / "ckpt_meta_no_rng_state.npz", no_rng)
    write_npz(HERE / "ckpt_meta_feature_names.npz", with_meta(arrays, feature_names="x1,x2"))
    write_npz(HERE / "ckpt_meta_input_scale.npz",
              with_meta(arrays, config={**config, "data": {**config["data"], "input_scale": "big"}}))
    write_npz(HERE / "ckpt_meta_dtype.npz",
              with_meta(arrays, config={**config, "model": {**config["model"], "dtype": "float16"}}))
    write_npz(HERE / "ckpt_meta_best_loss.npz", with_meta(arrays, best_val_loss="low"))
    deep = "[" * 5000 + "]" * 5000  # JSON that Python's json module cannot read back (recursion)
    write_npz(HERE / "ckpt_meta_deep.npz", {**{k: v for k, v in arrays.items() if k != "meta"},
                                            "meta": np.array(json.dumps({**meta, "schedule": "X"}).replace('"X"', deep))})
    int_scaler = dict(arrays)
    int_scaler["scaler_scale"] = np.array([1, 2])
    write_npz(HERE / "ckpt_scaler_int.npz", with_meta(int_scaler))
    nan_weights = dict(arrays)
    nan_weights["W2"] = arrays["W2"].copy()
    nan_weights["W2"][0, 0] = np.nan
    write_npz(HERE / "ckpt_weights_nan.npz", with_meta(nan_weights))
    # Small files that would unpack into 128 MB: refused from their declared sizes, before any data is read
    good = HERE / "good.npz"
    shutil.copy(good, HERE / "ckpt_bomb_appended.npz")
    with zipfile.ZipFile(HERE / "ckpt_bomb_appended.npz", "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("opt_extra.npy", npy_bytes(np.zeros(1 << 24)))
    with zipfile.ZipFile(HERE / "ckpt_bomb_weights.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, value in arrays.items():
            z.writestr(f"{name}.npy", npy_bytes(np.zeros(1 << 24) if name == "W1" else value))
    with zipfile.ZipFile(HERE / "ckpt_bomb_header.npz", "w") as z:  # a header that claims 10^10 numbers
        for name, value in arrays.items():
            data = npy_bytes(value)
            if name == "b1":
                header = np.lib.format.header_data_from_array_1_0(value)
                header["shape"] = (10**10,)
                out = io.BytesIO()
                np.lib.format.write_array_header_1_0(out, header)
                data = out.getvalue() + value.tobytes()
            z.writestr(f"{name}.npy", data)
    X = np.arange(40.0).reshape(20, 2)
    write_npz(HERE / "data_labels_nan.npz", {"X": X, "y": np.array([0.0, 1.0, np.nan, 1.0] * 5)})
    write_npz(HERE / "data_labels_complex.npz", {"X": X, "y": np.array([1j, 0j] * 10)})
    write_npz(HERE / "data_labels_bytes.npz", {"X": X, "y": np.array([b"a", b"b"] * 10)})


if __name__ == "__main__":
    main()
