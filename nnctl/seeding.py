"""Independent, reproducible random streams derived from the config's one seed.

Each purpose gets its own child of ``SeedSequence(seed)`` so that, say, changing ``n_samples`` does not
change the initial weights, and ``eval`` can rebuild the exact split without replaying training.
"""
import numpy as np

STREAMS = {"data": 0, "split": 1, "init": 2, "shuffle": 3, "gradcheck": 4, "sample": 5, "search": 6}


def rng(seed, purpose):
    """The ``numpy.random.Generator`` for one purpose (``data``, ``split``, ``init``, ``shuffle``, …)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAMS[purpose],)))


def sklearn_seed(generator):
    """An integer ``random_state`` for scikit-learn functions, drawn from ``generator``."""
    return int(generator.integers(2**31 - 1))
