"""The thread policy: nnctl's hot path runs on NumPy's BLAS alone, and the thread count is the user's.

A second BLAS library in the training loop (SciPy's has a pool of its own) makes each pool's threads spin while
the other works; docs/performance.md has the measurements. These tests train a network with a fused layer
(W1 has 64×80 weights) through the command line in a fresh process and list the BLAS pools it ends with.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
POOLS = "[(p['filepath'], p['num_threads']) for p in threadpoolctl.threadpool_info()]"
TRAIN = f"""
import json, sys, threadpoolctl
from nnctl.cli import cli
try:
    cli(['train', sys.argv[1], '--out', sys.argv[2], '-q'], standalone_mode=False)
except SystemExit as e:
    assert not e.code, e.code
print(json.dumps({POOLS}))
"""
NUMPY_ALONE = f"import json, numpy, threadpoolctl; print(json.dumps({POOLS}))"


def pools(code, env, *args):
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return sorted(map(tuple, json.loads(out.stdout.splitlines()[-1])))


@pytest.fixture
def wide_config(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 64)), rng.integers(0, 3, size=300)
    np.savez(tmp_path / "wide.npz", X=X, y=y)
    path = tmp_path / "wide.yaml"
    path.write_text(f"model: {{layers: [64, 80, 3]}}\ndata: {{source: {tmp_path / 'wide.npz'}}}\n"
                    "train: {epochs: 2, batch_size: 32, alpha: 0.1, lambda: 0.001}\n")
    return path


@pytest.mark.parametrize("threads", [None, "1"])
def test_training_uses_numpys_blas_alone_with_the_users_thread_count(wide_config, tmp_path, threads):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    if threads:
        env["OPENBLAS_NUM_THREADS"] = threads
    trained = pools(TRAIN, env, wide_config, tmp_path / "run")
    # the same pools, with the same thread counts, as a process that only imported NumPy: no SciPy BLAS,
    # and no thread count of nnctl's own
    assert trained == pools(NUMPY_ALONE, env)
    if threads:
        assert {n for _, n in trained} == {1}
