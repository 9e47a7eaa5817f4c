"""modcore called from several Python threads at once: no deadlock, same answers."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import modcore
from modcore.synthetic import random_pruned_mlp


def test_concurrent_calls_from_python_threads():
    weights = random_pruned_mlp((120, 80, 80, 10), sparsity=0.8, seed=0)
    expected_cluster = modcore.spectral_cluster(weights, n_clusters=5, seed=1).ncut
    expected_null = modcore.ncut_significance(weights, n_clusters=5, n_shuffles=6, seed=2,
                                              progress=False).shuffled_ncuts

    def job(i):
        if i % 2:
            return modcore.spectral_cluster(weights, n_clusters=5, seed=1, n_jobs=2).ncut
        return modcore.ncut_significance(weights, n_clusters=5, n_shuffles=6, seed=2, n_jobs=2,
                                         progress=False).shuffled_ncuts

    with ThreadPoolExecutor(4) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(job, i) for i in range(8)]]
    for i, r in enumerate(results):
        if i % 2:
            assert r == expected_cluster
        else:
            np.testing.assert_array_equal(r, expected_null)
