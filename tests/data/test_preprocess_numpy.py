"""The scalers fitted with NumPy equal scikit-learn's; preparing without raw copies changes nothing; label encoding."""
import numpy as np
import pytest

from nnctl import config as config_mod
from nnctl.data import dataset as data_mod
from nnctl.data import preprocess as scaling


@pytest.mark.parametrize("name", ["standard", "minmax"])
def test_numpy_scalers_equal_scikit_learns(name):
    from sklearn import preprocessing

    rng = np.random.default_rng(5)
    X = rng.normal(size=(150_000, 4)) * [1.0, 1e3, 1e-3, 0.0] + [5.0, -2.0, 1e6, 7.0]  # last column constant
    fitted = scaling.fit(name, X)
    if name == "standard":
        s = preprocessing.StandardScaler().fit(X)
        center, scale = s.mean_, s.scale_
    else:
        s = preprocessing.MinMaxScaler().fit(X)
        center, scale = s.data_min_, np.where(s.data_range_ == 0, 1.0, s.data_range_)
    np.testing.assert_allclose(fitted["center"], center, rtol=1e-13)
    np.testing.assert_allclose(fitted["scale"], scale, rtol=1e-12)
    out = X[:10].copy()
    np.testing.assert_array_equal(scaling.apply(fitted, out, out=out), (X[:10] - fitted["center"]) / fitted["scale"])


def test_prepare_without_raw_gives_the_same_splits():
    config = config_mod.resolve(None, ["data.n_samples=500", "data.input_scale=1000"])
    kept, lean = data_mod.prepare(config), data_mod.prepare(config, keep_raw=False)
    assert lean.raw == {} and set(kept.raw) == set(data_mod.SPLITS)
    for name in data_mod.SPLITS:
        np.testing.assert_array_equal(kept.splits[name][0], lean.splits[name][0])
        np.testing.assert_array_equal(kept.splits[name][1], lean.splits[name][1])
        assert lean.splits[name][1].dtype == np.int64
        np.testing.assert_allclose(scaling.apply(kept.scaler, kept.raw[name]), kept.splits[name][0])


@pytest.mark.parametrize("labels", [np.array([5, 3, 5, 9]), np.array([1, 0, 1], np.uint8), np.array([0, 2, 1, 2]),
                                    np.array([-4, 7, -4])])
def test_integer_labels_encode_as_np_unique_does(labels):
    codes, names = data_mod.encode_labels(labels, "x")
    values, want = np.unique(labels, return_inverse=True)
    np.testing.assert_array_equal(codes, want)
    assert codes.dtype == np.int64
    assert names == [str(v) for v in values]
