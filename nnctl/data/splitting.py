"""A stratified shuffle split that returns exactly what scikit-learn's ``train_test_split`` returns.

``train_test_split(index, test_size=n_test, stratify=codes, random_state=seed)`` collects every chosen
index into a Python list (about 36 bytes per sample, ~350 MB for 10 million) and imports scikit-learn
(~80 MB). This does the same draws from the same ``RandomState`` in the same order with NumPy arrays,
so the splits are identical, in a fraction of the memory. Inputs it cannot split return ``None``, and
the caller asks scikit-learn, whose error message then says what is wrong.
"""
from __future__ import annotations

import math

import numpy as np

from .. import seeding
from ..errors import DataError

SPLITS = ("train", "val", "test")


def approximate_mode(class_counts, n_draws, rng):
    """scikit-learn's ``_approximate_mode``: per-class counts summing to ``n_draws``, ties broken by ``rng``."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        values = np.sort(np.unique(remainder))[::-1]
        for value in values:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def stratified_split(index, codes, n_test, random_state):
    """``(rest, test)``: ``index`` split so that ``test`` holds ``n_test`` entries, stratified by the
    non-negative integer ``codes`` (one per entry of ``index``); ``None`` when no valid split exists.
    ``index=None`` stands for ``arange(len(codes))`` and returns positions, in 32-bit integers when they fit."""
    n = len(codes)
    n_train = n - n_test
    counts = np.bincount(codes)
    classes = np.flatnonzero(counts)
    class_counts = counts[classes]
    if (n_test <= 0 or n_train <= 0 or class_counts.min() < 2
            or n_train < len(classes) or n_test < len(classes)):
        return None
    rng = np.random.RandomState(random_state)
    n_i = approximate_mode(class_counts, n_train, rng)
    t_i = approximate_mode(class_counts - n_i, n_test, rng)
    small = np.int32 if n < 2**31 else np.int64  # positions, half the memory of int64 when they fit
    train, test = [], []
    for i, c in enumerate(classes):
        members = _positions(codes, c, small)  # what a stable argsort groups by class
        # RandomState.permutation(k) is shuffle(arange(k)); the draws do not depend on the integer width.
        order = np.arange(class_counts[i], dtype=small)
        rng.shuffle(order)
        members = members.take(order)
        del order
        train.append(members[:n_i[i]])
        test.append(members[n_i[i]:n_i[i] + t_i[i]])
        del members
    train = np.concatenate(train)
    rng.shuffle(train)  # = rng.permutation(train), without the copy
    test = np.concatenate(test)
    rng.shuffle(test)
    if index is None:
        return train, test
    return index[train], index[test]


def _positions(codes, c, dtype, chunk=1 << 20):
    """``np.flatnonzero(codes == c)`` as ``dtype``, built in chunks to avoid int64 temporaries of size n."""
    parts = [np.flatnonzero(codes[s:s + chunk] == c).astype(dtype) + dtype(s) for s in range(0, len(codes), chunk)]
    return np.concatenate(parts) if parts else np.empty(0, dtype)


def _count(fraction, m):
    """``⌈fraction·m⌉`` as scikit-learn counts a split, without float noise (0.07 of 100 is 7, not 8)."""
    return math.ceil(round(fraction * m, 9))


def _split(index, codes, n_test, random_state):
    """``train_test_split(index, test_size=n_test, stratify=codes, random_state=…)``, computed by
    ``splitting`` (same result, far less memory); scikit-learn only to word the error when it fails."""
    parts = stratified_split(index, codes, n_test, random_state)
    if parts is None:
        from sklearn.model_selection import train_test_split

        index = np.arange(len(codes)) if index is None else index
        parts = train_test_split(index, test_size=n_test, stratify=codes, random_state=random_state)
    return parts


def split_indices(y, val_fraction, test_fraction, seed, where="data"):
    """Stratified, seeded index arrays for train, val and test; val and test get ``⌈fraction·m⌉`` samples."""
    rng = seeding.rng(seed, "split")
    # Narrow class codes and positions: the split of 10 million samples then needs tens of MB, not hundreds.
    codes = y.astype(np.int8 if len(y) == 0 or y.max() < 128 else np.int64, copy=False)
    out = {}
    try:
        rest = None  # every position
        if test_fraction > 0:
            rest, out["test"] = _split(rest, codes, _count(test_fraction, len(y)), seeding.sklearn_seed(rng))
        if val_fraction > 0:
            rest, out["val"] = _split(rest, codes if rest is None else codes[rest], _count(val_fraction, len(y)),
                                      seeding.sklearn_seed(rng))
    except ValueError as exc:
        raise DataError(f"{where}: cannot make a stratified split of {len(y)} samples: {exc}") from None
    out["train"] = np.arange(len(y)) if rest is None else rest
    empty = np.array([], dtype=np.int64)
    return {name: np.sort(out.get(name, empty)) for name in SPLITS}
