"""The stratified split is exactly scikit-learn's, in a fraction of the memory."""
import numpy as np
import pytest

from nnctl.data import splitting
from nnctl.errors import DataError


@pytest.mark.parametrize("seed", range(12))
def test_stratified_split_is_exactly_scikit_learns(seed):
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(20, 2000)), int(rng.integers(2, 6))
    codes = rng.choice(k, size=n, p=rng.dirichlet(np.ones(k))).astype(np.int8)
    codes[:2 * k] = np.repeat(np.arange(k), 2)  # every class at least twice
    n_test = int(rng.integers(k, n - k))
    state = int(rng.integers(0, 2**31 - 1))
    index = rng.permutation(n) + 3
    for idx in (index, None):
        rest, test = splitting.stratified_split(idx, codes, n_test, state)
        want_rest, want_test = train_test_split(np.arange(n) if idx is None else idx, test_size=n_test,
                                                stratify=codes, random_state=state)
        np.testing.assert_array_equal(rest, want_rest)
        np.testing.assert_array_equal(test, want_test)


def test_stratified_split_declines_what_scikit_learn_rejects():
    codes = np.array([0, 0, 0, 1], np.int8)  # class 1 has one member
    assert splitting.stratified_split(None, codes, 2, 0) is None
    with pytest.raises(DataError, match="cannot make a stratified split of 4 samples: .*least populated class"):
        splitting.split_indices(codes, 0.0, 0.5, seed=0)
