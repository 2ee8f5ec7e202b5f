"""Data sources: every generator and bundled set, CSV and .npz files, label encoding, and their errors."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from data_helpers import all_rows, prepare, write_csv

from nnctl import config
from nnctl.data import dataset as data
from nnctl.errors import DataError

SOURCES = [
    # source, features, class names (None: just count them)
    ("moons", 2, ["0", "1"]),
    ("circles", 2, ["0", "1"]),
    ("blobs", 2, ["0", "1", "2"]),
    ("xor", 2, ["0", "1"]),
    ("spiral", 2, ["0", "1", "2"]),
    ("iris", 4, ["setosa", "versicolor", "virginica"]),
    ("wine", 13, ["class_0", "class_1", "class_2"]),
    ("breast_cancer", 30, ["malignant", "benign"]),
    ("digits", 64, [str(k) for k in range(10)]),
]


BUNDLED_ROWS = {"iris": 150, "wine": 178, "breast_cancer": 569, "digits": 1797}


class TestSources:
    @pytest.mark.parametrize("source, n_features, class_names", SOURCES, ids=[s[0] for s in SOURCES])
    def test_loads(self, source, n_features, class_names):
        d = prepare(source, n_samples=150)
        assert d.class_names == class_names
        assert d.n_features == n_features == len(d.feature_names)
        total = sum(len(d.splits[name][1]) for name in data.SPLITS)
        assert total == BUNDLED_ROWS.get(source, 150)  # generators honour n_samples
        for name in data.SPLITS:
            X, y = d.splits[name]
            assert X.dtype == np.float64 and X.shape == (len(y), n_features)
            assert y.dtype == np.int64 and set(np.unique(y)) <= set(range(len(class_names)))
            assert np.isfinite(X).all()
        assert set(np.unique(d.splits["train"][1])) == set(range(len(class_names)))  # every class trains

    @pytest.mark.parametrize("source", ["moons", "circles", "blobs", "xor", "spiral"])
    def test_generators_are_seeded(self, source):
        a = config.resolve({"data": {"source": source, "n_samples": 60}})
        b = config.resolve({"seed": 1, "data": {"source": source, "n_samples": 60}})
        Xa, ya, *_ = data.load_source(a)
        Xa2, ya2, *_ = data.load_source(a)
        Xb, *_ = data.load_source(b)
        np.testing.assert_array_equal(Xa.numbers, Xa2.numbers)
        np.testing.assert_array_equal(ya, ya2)
        assert not np.array_equal(Xa.numbers, Xb.numbers)

    def test_noise_changes_the_points(self):
        quiet = data.load_source(config.resolve({"data": {"noise": 0.0, "n_samples": 60}}))[0].numbers
        noisy = data.load_source(config.resolve({"data": {"noise": 0.3, "n_samples": 60}}))[0].numbers
        assert not np.allclose(quiet, noisy)

    def test_csv_with_a_label_column_anywhere(self, tmp_path):
        path = write_csv(tmp_path / "a.csv", "label,height,width\nb,1.0,10\na,2.0,20\nb,3.0,30\na,4.0,40\n"
                                             "b,5.0,50\na,6.0,60\nb,7.0,70\na,8.0,80\nb,9.0,90\na,10.0,100\n")
        d = prepare(path, scaler="none")
        assert d.feature_names == ["height", "width"]
        assert d.class_names == ["a", "b"]
        X, y = all_rows(d)
        np.testing.assert_array_equal(X[:, 1], 10 * X[:, 0])  # the label column is not a feature
        np.testing.assert_array_equal(y, (X[:, 0] % 2 == 1).astype(int))  # odd heights are 'b'

    def test_csv_whose_label_is_the_last_column(self, tmp_path):
        rows = "".join(f"{i},{-i},{'yes' if i % 3 else 'no'}\n" for i in range(12))
        d = prepare(write_csv(tmp_path / "b.csv", "x1,x2,answer\n" + rows), scaler="none")
        assert d.feature_names == ["x1", "x2"] and d.class_names == ["no", "yes"]
        X, y = all_rows(d)
        np.testing.assert_array_equal(X[:, 1], -X[:, 0])
        np.testing.assert_array_equal(y, (X[:, 0] % 3 != 0).astype(int))

    def test_csv_with_byte_order_mark_and_spaces(self, tmp_path):
        text = "\ufefflabel, x1 , x2\n" + "".join(f"{i % 2}, {i}.5 ,{i}\n" for i in range(10))
        path = tmp_path / "bom.csv"
        path.write_text(text, encoding="utf-8")
        d = prepare(path, scaler="none")
        assert d.feature_names == ["x1", "x2"] and d.class_names == ["0", "1"]

    def test_npz(self, tmp_path):
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(40, 3)), np.repeat([7, 3], 20)
        np.savez(tmp_path / "d.npz", X=X, y=y)
        d = prepare(tmp_path / "d.npz", scaler="none")
        assert d.n_features == 3 and d.feature_names == ["x1", "x2", "x3"]
        assert d.class_names == ["3", "7"]
        Xs, ys = all_rows(d)
        order = np.lexsort(Xs.T)
        expected = np.lexsort(X.T)
        np.testing.assert_array_equal(Xs[order], X[expected])
        np.testing.assert_array_equal(ys[order], (y[expected] == 7).astype(int))

    def test_npz_with_text_labels(self, tmp_path):
        np.savez(tmp_path / "t.npz", X=np.arange(20.0).reshape(10, 2), y=np.array(["cat", "dog"] * 5))
        assert prepare(tmp_path / "t.npz", val_fraction=0.0, test_fraction=0.0).class_names == ["cat", "dog"]

    def test_the_shipped_csv_files(self, root, monkeypatch):
        monkeypatch.chdir(root)
        moons = prepare("data/moons.csv")
        assert moons.feature_names == ["x1", "x2"] and moons.class_names == ["0", "1"]
        assert sum(len(moons.splits[n][1]) for n in data.SPLITS) == 300
        iris = prepare("data/iris.csv")
        assert iris.class_names == ["setosa", "versicolor", "virginica"]
        assert iris.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        bundled = prepare("iris")
        np.testing.assert_allclose(np.sort(all_rows(iris)[0], axis=0), np.sort(all_rows(bundled)[0], axis=0))


class TestLabels:
    @pytest.mark.parametrize("labels, names, y", [
        (["2", "10", "2", "1"], ["1", "2", "10"], [1, 2, 1, 0]),  # numbers sort as numbers: "2" < "10"
        (["-1", "1", "-1", "1"], ["-1", "1"], [0, 1, 0, 1]),
        (["1.5", "0.5", "1.0"], ["0.5", "1", "1.5"], [2, 0, 1]),
        (["dog", "cat", "bird", "cat"], ["bird", "cat", "dog"], [2, 1, 0, 1]),
        (["B", "a", "A"], ["A", "B", "a"], [1, 2, 0]),  # text sorts by code point
        (["10", "x", "9"], ["10", "9", "x"], [0, 2, 1]),  # any text among them: all are text
        ([2, 10, 2], ["2", "10"], [0, 1, 0]),
        ([1.0, 0.0, 1.0], ["0", "1"], [1, 0, 1]),
        ([True, False], ["False", "True"], [1, 0]),
    ])
    def test_any_labels_map_to_0_to_k_minus_1(self, labels, names, y):
        codes, class_names = data.encode_labels(labels, "x.csv")
        assert class_names == names
        np.testing.assert_array_equal(codes, y)
        assert codes.dtype == np.int64

    def test_a_single_class_is_an_error(self):
        with pytest.raises(DataError, match=r"^x\.csv: the labels hold a single class \(7\)"):
            data.encode_labels(["7", "7", "7"], "x.csv")

    def test_csv_labels_keep_their_names_through_training(self, run_cli, tiny_config, tmp_path):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(90, 2))
        labels = np.where(X[:, 0] > 0.3, "10", np.where(X[:, 0] < -0.3, "2", "3"))
        text = "x1,x2,label\n" + "".join(f"{a:.5f},{b:.5f},{c}\n" for (a, b), c in zip(X, labels))
        path = write_csv(tmp_path / "three.csv", text)
        cfg = tiny_config(data={"source": str(path)}, model={"layers": [2, 4, 3]}, train={"epochs": 1})
        out = tmp_path / "out"
        assert run_cli("train", cfg, "--out", out, "-q").exit_code == 0
        result = run_cli("predict", out / "checkpoints" / "last.npz", "--proba", input="x1,x2\n1,0\n")
        assert result.stdout.splitlines()[0] == "2,3,10"


MIXED = "; the column holds numbers elsewhere (list it in data.categorical to read its cells as categories)"

class TestErrors:
    @pytest.mark.parametrize("layers, message", [
        ([3, 4, 2], "model.layers[0] is 3 but the data has 2 features"),
        ([2, 4, 3], "model.layers[-1] is 3 but the data has 2 classes"),
    ])
    def test_layers_that_do_not_fit(self, run_cli, tiny_config, layers, message):
        path = tiny_config(model={"layers": layers})
        result = run_cli("train", path, "-q")
        assert result.exit_code == 2
        assert result.stderr == f"Error: {path}: {message}\n"

    def test_default_layers_on_iris(self, run_cli, tiny_config):
        path = tiny_config(data={"source": "iris"})
        result = run_cli("train", path, "-q")
        assert result.exit_code == 2
        assert result.stderr == f"Error: {path}: model.layers[0] is 2 but the data has 4 features\n"

    @pytest.mark.parametrize("text, message", [
        ("", "the file is empty"),
        ("x1,x2,label\n", "only a header row, no data rows"),
        ("x1,x2,label\n1,2,a\n3,4\n", "line 3: expected 3 cells as in the header, got 2"),
        ("x1,x2,label\n1,2,a\n3,four,b\n", "line 3, column 'x2': not a number: 'four'" + MIXED),
        ("x1,x2,label\n1,2,a\n3,1_000,b\n", "line 3, column 'x2': not a number: '1_000'" + MIXED),
        ("x1,x2,label\n1,2,a\n3,inf,b\n", "line 3, column 'x2': inf is not a finite number"),
        ("x1,x2,label\n1,2,a\n3,nan,b\n", "line 3, column 'x2': missing value; set data.impute to mean, median or most_frequent to fill missing cells"),
        ("x1,x2,label\n1,2,a\n3,4, \n", "line 3, column 'label': missing label; every training row needs its class"),
        ("label\na\nb\n", "line 1: need at least one feature column and a label column"),
        ("0.5,1.5,0\n0.1,0.2,1\n", "line 1: expected a header row of column names, got numbers; add one, e.g. x1,x2,label"),
        ('x1,x2,label\n1,2,a\n3,4,"b\nc"\n', "line 3, column 'label': the label 'b\\nc' holds a control "
         "character; class names must be printable text"),
        ("x1,x2,label\n1,2,a\n3,4,b\x07\n", "line 3, column 'label': the label 'b\\x07' holds a control "
         "character; class names must be printable text"),
        ("x1,x2,label\n1,2,a\n3,4,b\x1b[31m\n", "line 3, column 'label': the label 'b\\x1b[31m' holds a "
         "control character; class names must be printable text"),
        ("x1,label,x2,label\n1,a,2,a\n3,b,4,b\n", "line 1: column 'label' appears more than once in the header"),
        ("x1,x1,label\n1,2,a\n3,4,b\n", "line 1: column 'x1' appears more than once in the header"),
    ])
    def test_bad_csv(self, run_cli, tiny_config, tmp_path, text, message):
        path = write_csv(tmp_path / "bad.csv", text)
        cfg = tiny_config(data={"source": str(path)})
        result = run_cli("train", cfg, "-q")
        assert result.exit_code == 2
        assert result.stderr == f"Error: {path}: {message}\n"

    @pytest.mark.parametrize("y, message", [
        (np.array([0.0, 1.0, np.nan, 1.0] * 5), "label of row 3 is nan; labels must be class numbers or names"),
        (np.array([0, 1, np.inf, 1] * 5), "label of row 3 is inf; labels must be class numbers or names"),
        (np.array([1 + 2j, 0j] * 10), "labels of dtype complex128 cannot be class names; use integers or text"),
        (np.array([b"a", b"b"] * 10), "labels of dtype |S1 cannot be class names; use integers or text"),
        (np.array(["a", "b\nc"] * 10), "label of row 2 is 'b\\nc'; class names must be printable, non-empty text"),
    ])
    def test_npz_labels_that_cannot_be_class_names(self, run_cli, tiny_config, tmp_path, y, message):
        path = tmp_path / "bad.npz"
        np.savez(path, X=np.arange(2.0 * len(y)).reshape(-1, 2), y=y)
        result = run_cli("train", tiny_config(data={"source": str(path)}), "-q")
        assert result.exit_code == 2
        assert result.stderr == f"Error: {path}: {message}\n"

    def test_missing_file(self, run_cli, tiny_config, tmp_path):
        cfg = tiny_config(data={"source": str(tmp_path / "nope.csv")})
        result = run_cli("train", cfg, "-q")
        assert result.exit_code == 2
        assert result.stderr == f"Error: {tmp_path / 'nope.csv'}: no such data file\n"

    def test_npz_without_y(self, tmp_path):
        np.savez(tmp_path / "x.npz", X=np.zeros((4, 2)))
        with pytest.raises(DataError, match=r"missing array y \(an \.npz needs arrays X and y\)"):
            prepare(tmp_path / "x.npz")

    def test_npz_with_pickled_objects(self, tmp_path):
        np.savez(tmp_path / "o.npz", X=np.zeros((4, 2)), y=np.array([{"a": 1}] * 4, dtype=object))
        with pytest.raises(DataError, match="not a readable .npz file without pickled objects"):
            prepare(tmp_path / "o.npz")


def test_train_on_the_shipped_csv(run_cli, root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the config names ../data/moons.csv relative to its own folder: any directory works
    out = tmp_path / "moons-csv"
    result = run_cli("train", root / "configs" / "moons-csv.yaml", "--out", out, "-q", "--json")
    assert result.exit_code == 0, result.stderr
    summary = yaml.safe_load(result.stdout)
    assert summary["epochs"] == 300
    assert summary["test_acc"] >= 0.9 and summary["val_acc"] >= 0.9
    written = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert written["data"]["source"] == str(root / "data" / "moons.csv")
    result = run_cli("predict", out / "checkpoints" / "best.npz", input="x1,x2\n1.0,-0.5\n-1.0,0.5\n")
    assert result.stdout == "1\n0\n"
