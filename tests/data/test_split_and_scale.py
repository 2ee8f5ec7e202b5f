"""The seeded stratified split, input_scale and the scalers fitted on the train split only."""
from __future__ import annotations

import numpy as np
import pytest
from data_helpers import prepare, write_csv

from nnctl import config
from nnctl.data import dataset as data
from nnctl.data import preprocess as scaling
from nnctl.data.preprocess import Preprocessor
from nnctl.errors import DataError


class TestSplit:
    def test_same_seed_same_split(self):
        y = np.repeat([0, 1, 2], [50, 30, 20])
        a = data.split_indices(y, 0.2, 0.2, seed=5)
        b = data.split_indices(y, 0.2, 0.2, seed=5)
        c = data.split_indices(y, 0.2, 0.2, seed=6)
        for name in data.SPLITS:
            np.testing.assert_array_equal(a[name], b[name])
        assert not np.array_equal(a["test"], c["test"])

    @pytest.mark.parametrize("val, test, sizes", [
        (0.2, 0.2, (60, 20, 20)),
        (0.1, 0.3, (60, 10, 30)),  # 0.1/(1 − 0.3) of the 70 left is 10.000000000000002: not 11
        (0.07, 0.07, (86, 7, 7)),  # 0.07·100 is 7.000000000000001
        (0.0, 0.25, (75, 0, 25)),
        (0.25, 0.0, (75, 25, 0)),
        (0.0, 0.0, (100, 0, 0)),
        (0.155, 0.155, (68, 16, 16)),  # a fraction of a sample rounds up, as scikit-learn counts
    ])
    def test_partition(self, val, test, sizes):
        y = np.repeat([0, 1, 2], [60, 30, 10])
        index = data.split_indices(y, val, test, seed=0)
        joined = np.concatenate([index[name] for name in data.SPLITS])
        assert len(joined) == len(y) and set(joined) == set(range(len(y)))  # no overlap, nothing left out
        assert tuple(len(index[name]) for name in data.SPLITS) == sizes

    def test_class_proportions_are_kept(self):
        y = np.repeat([0, 1, 2], [500, 300, 200])
        index = data.split_indices(y, 0.2, 0.2, seed=0)
        for name in data.SPLITS:
            share = np.bincount(y[index[name]], minlength=3) / len(index[name])
            np.testing.assert_allclose(share, [0.5, 0.3, 0.2], atol=1.0 / len(index[name]))

    def test_prepare_uses_the_config_seed(self):
        a = prepare("moons", n_samples=100)
        b = data.prepare(config.resolve({"seed": 3, "data": {"n_samples": 100}}))
        c = prepare("moons", n_samples=100)
        np.testing.assert_array_equal(a.splits["test"][0], c.splits["test"][0])
        assert not np.array_equal(a.splits["test"][0], b.splits["test"][0])

    def test_too_few_samples_to_stratify(self, tmp_path):
        path = write_csv(tmp_path / "few.csv", "x,label\n1,a\n2,a\n3,a\n4,b\n")
        with pytest.raises(DataError, match="cannot make a stratified split of 4 samples"):
            prepare(path)


class TestScaling:
    def test_input_scale_multiplies_raw_inputs(self):
        plain = prepare("moons", n_samples=80, scaler="none")
        scaled = prepare("moons", n_samples=80, scaler="none", input_scale=1000.0)
        for name in data.SPLITS:
            np.testing.assert_allclose(scaled.splits[name][0], 1000.0 * plain.splits[name][0], rtol=1e-15)
            np.testing.assert_array_equal(scaled.splits[name][1], plain.splits[name][1])
            np.testing.assert_array_equal(scaled.raw[name], scaled.splits[name][0])

    def test_input_scale_is_undone_by_a_standard_scaler(self):
        plain = prepare("moons", n_samples=80)
        scaled = prepare("moons", n_samples=80, input_scale=1000.0)
        np.testing.assert_allclose(scaled.splits["train"][0], plain.splits["train"][0], rtol=1e-9, atol=1e-12)

    @pytest.mark.parametrize("name, sk_name", [("standard", "StandardScaler"), ("minmax", "MinMaxScaler"),
                                               ("robust", "RobustScaler")])
    def test_numpy_reapplication_equals_scikit_learn(self, name, sk_name):
        from sklearn import preprocessing

        rng = np.random.default_rng(0)
        X_train = rng.normal(3.0, 5.0, size=(200, 4)) * [1.0, 10.0, 0.1, 1000.0]
        X_train[:, 2] = 7.0  # a constant feature
        X_other = rng.normal(3.0, 5.0, size=(50, 4)) * [1.0, 10.0, 0.1, 1000.0]
        fitted = scaling.fit(name, X_train)
        reference = getattr(preprocessing, sk_name)().fit(X_train)
        for X in (X_train, X_other):
            np.testing.assert_allclose(scaling.apply(fitted, X), reference.transform(X), rtol=0, atol=1e-12)
        assert set(fitted) == {"center", "scale"}
        assert all(v.shape == (4,) and v.dtype == np.float64 for v in fitted.values())

    def test_none_is_the_identity(self):
        X = np.arange(12.0).reshape(4, 3)
        np.testing.assert_array_equal(scaling.apply(scaling.fit("none", X), X), X)

    @pytest.mark.parametrize("name, center", [
        ("standard", lambda X: X.mean(axis=0)),
        ("minmax", lambda X: X.min(axis=0)),
        ("robust", lambda X: np.median(X, axis=0)),
    ])
    def test_fitted_on_the_train_split_only(self, name, center):
        d = prepare("wine", scaler=name)  # 13 features: some extreme lies outside the train split
        train = d.raw["train"]
        everything = np.concatenate([d.raw[n] for n in data.SPLITS])
        np.testing.assert_allclose(d.scaler["center"], center(train), rtol=1e-13, atol=0)  # equal to rounding
        assert np.abs(d.scaler["center"] - center(everything)).max() > 1e-4
        np.testing.assert_allclose(d.splits["val"][0], (d.raw["val"] - d.scaler["center"]) / d.scaler["scale"])

    def test_standard_scaled_train_split(self):
        X = prepare("wine").splits["train"][0]
        np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(X.std(axis=0), 1.0, rtol=1e-12)

    def test_a_given_scaler_is_applied_not_refitted(self):
        cfg = config.resolve({"data": {"n_samples": 80}})
        given = {"center": np.array([10.0, -10.0]), "scale": np.array([2.0, 4.0])}
        d = data.prepare(cfg, preprocessor=Preprocessor(["x1", "x2"], 1.0, given))
        assert d.scaler is given
        np.testing.assert_allclose(d.splits["test"][0], (d.raw["test"] - given["center"]) / given["scale"])
