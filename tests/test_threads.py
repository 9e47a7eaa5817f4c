"""Threads: the same seed gives the same result whatever the thread count or chunking,
and modcore called from several Python threads at once neither deadlocks nor mixes up."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import modcore
from modcore import _core
from modcore.method.null import shuffled_scores
from modcore.method.settings import ClusterSettings
from modcore.network.network import Network
from modcore.network.synthetic import random_pruned_mlp


def test_same_seed_same_result_whatever_the_threads_and_chunks():
    # k-means alone, on points without structure: its restarts end in different
    # minima, so which thread runs which restart must not matter.
    x = np.random.default_rng(0).normal(size=(500, 8))
    labels = [_core.kmeans(x, 7, 8, 300, 42, n_jobs)["labels"] for n_jobs in (1, 2)]
    np.testing.assert_array_equal(labels[0], labels[1])
    # The whole clustering.
    weights = random_pruned_mlp((300, 200, 200, 10), sparsity=0.9, seed=0)
    a, b = (modcore.spectral_cluster(weights, seed=7, n_jobs=n) for n in (1, 2))
    assert a.ncut == b.ncut
    for la, lb in zip(a.labels, b.labels):
        np.testing.assert_array_equal(la, lb)
    # A Generator seed becomes the integer in the result, which redoes the clustering.
    c = modcore.spectral_cluster(weights, seed=np.random.default_rng(1), n_jobs=2)
    assert modcore.spectral_cluster(weights, seed=c.seed, n_jobs=1).ncut == c.ncut
    # The null, in any number of threads and any chunks.
    small = random_pruned_mlp((60, 50, 40, 10), sparsity=0.7, seed=0)
    args = dict(n_clusters=4, n_shuffles=12, shuffle="layer", seed=11, progress=False)
    one = modcore.ncut_significance(small, n_jobs=1, **args).shuffled_ncuts
    np.testing.assert_array_equal(
        modcore.ncut_significance(small, n_jobs=2, **args).shuffled_ncuts, one
    )
    for chunk in (1, 5, 12):
        chunked = shuffled_scores(
            Network.from_weights(small),
            "layer",
            12,
            ClusterSettings(n_clusters=4),
            11,
            2,
            False,
            chunk_size=chunk,
        ).ncut[:, 0]
        np.testing.assert_array_equal(chunked, one)


def test_concurrent_calls_from_python_threads():
    weights = random_pruned_mlp((120, 80, 80, 10), sparsity=0.8, seed=0)
    expected_cluster = modcore.spectral_cluster(weights, n_clusters=5, seed=1).ncut
    expected_null = modcore.ncut_significance(
        weights, n_clusters=5, n_shuffles=6, seed=2, progress=False
    ).shuffled_ncuts

    def job(i):
        if i % 2:
            return modcore.spectral_cluster(weights, n_clusters=5, seed=1, n_jobs=2).ncut
        return modcore.ncut_significance(
            weights, n_clusters=5, n_shuffles=6, seed=2, n_jobs=2, progress=False
        ).shuffled_ncuts

    with ThreadPoolExecutor(4) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(job, i) for i in range(8)]]
    for i, r in enumerate(results):
        if i % 2:
            assert r == expected_cluster
        else:
            np.testing.assert_array_equal(r, expected_null)
